"""Pages. Thin: each checks the user's role and authorities, asks the register package, and
renders a GOV.UK page. A child outside the user's authorities is a 404, never a 403."""
from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from casework.access import ANALYST, CME_OFFICER, SHIELDED_ACCESS, authorities_of, requires, roles_of
from casework.database import register_engine
from casework.forms import SignInForm
from register.lookup import child_page, cme_list


class SignInView(auth_views.LoginView):
    template_name = "casework/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = False


@require_GET
@requires()
def home(request):
    return render(request, "casework/home.html", {"roles": sorted(roles_of(request.user)),
                                                  "authorities": authorities_of(request.user)})


@require_GET
@requires(ANALYST, CME_OFFICER)
def child(request, child_id: str):
    page = child_page(register_engine(), child_id, authorities_of(request.user),
                      may_see_shielded=SHIELDED_ACCESS in roles_of(request.user))
    if page is None:
        raise Http404("No child with that id in your authorities")
    return render(request, "casework/child.html", {"page": page})


@require_GET
@requires(CME_OFFICER)
def cme_cases(request):
    as_of, flags = cme_list(register_engine(), authorities_of(request.user))
    return render(request, "casework/cme_list.html", {"as_of": as_of, "flags": flags})
