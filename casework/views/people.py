"""Signing in, the home page, and an authority administrator's users."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.forms import SignInForm
from casework.roles import (
    ASSIGNABLE_ROLES,
    authorities_of,
    may,
    other_user_of_mine,
    requires,
    roles_of,
)
from casework.users import UserError, add_user, disable_user, totp_secret, user_name
from casework.views.common import sentence
from cme import case_counts, latest_cme_date
from cnis import register_counts
from oversight import review_queue
from register import today


class SignInView(auth_views.LoginView):
    template_name = "casework/sign_in.html"
    authentication_form = SignInForm


@require_GET
@requires(None)
def home(request):
    """Counts of the work waiting, by what the user may do: cases (open, overdue, not assigned,
    new this week, their own), the cases no authority owns, pairs waiting for review."""
    engine = register_engine()
    las, me = authorities_of(request.user), request.user.get_username()
    as_of = latest_cme_date(engine) if may(request.user, "work_cases") or may(request.user, "work_unowned_cases") else None
    counts = {}
    if may(request.user, "work_cases"):
        counts["cases"] = case_counts(engine, las, me, as_of, today())
        counts["register"] = register_counts(engine, las, today())
    if may(request.user, "work_unowned_cases"):
        counts["unowned"] = case_counts(engine, [""], me, as_of, today())
    if may(request.user, "review_matches"):
        counts["pairs"] = len(review_queue(engine, las, me, limit=1_000_000))
    return render(request, "casework/home.html", {"authorities": las, "counts": counts})


@require_http_methods(["GET", "POST"])
@requires("manage_users")
def users(request):
    """An authority administrator manages the users of their own authorities: add one (with
    roles an administrator may give and authorities of their own), or disable one."""


    mine = authorities_of(request.user)
    errors, added = {}, None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "disable":
                name = request.POST.get("name", "")
                if other_user_of_mine(request.user, name) is None:
                    raise UserError("you can disable other users of your own authorities only")
                disable_user(name)
                audited(request, "admin_user_disable", detail={"user": name})
            else:
                errors = _new_user_errors(request, mine)
                if not errors:
                    roles = [r for r in request.POST.getlist("roles") if r in ASSIGNABLE_ROLES]
                    las = request.POST.getlist("authorities")
                    name = user_name(request.POST.get("name", ""))
                    uri = add_user(name, request.POST.get("password", ""), roles, las)
                    added = {"name": name, "secret": totp_secret(uri)}
                    audited(request, "admin_user_add", detail={"user": added["name"], "roles": roles,
                                                               "authorities": las})
        except UserError as exc:
            message = sentence(str(exc))
            errors["password" if "password" in message else "name"] = message
    people = (get_user_model().objects.filter(authorities__la_code__in=mine).distinct().order_by("username")
              .prefetch_related("groups", "authorities"))
    return render(request, "casework/users.html", {
        "people": [{"name": u.get_username(), "active": u.is_active, "roles": sorted(roles_of(u)),
                    "authorities": authorities_of(u)} for u in people],
        "mine": mine, "roles": ASSIGNABLE_ROLES, "errors": errors, "added": added,
        "posted": {"name": request.POST.get("name", "")[:150], "roles": request.POST.getlist("roles"),
                   "authorities": request.POST.getlist("authorities")} if errors else {}},
        status=400 if errors else 200)


def _new_user_errors(request, mine: list[str]) -> dict[str, str]:
    """Every problem with the add-user form at once, each under its own field."""
    errors = {}
    try:
        user_name(request.POST.get("name", ""))
    except UserError as exc:
        errors["name"] = "Enter a user name: " + str(exc) if not request.POST.get("name", "").strip() else \
            sentence(str(exc))
    if not request.POST.get("password", ""):
        errors["password"] = "Enter their first password"
    if not [r for r in request.POST.getlist("roles") if r in ASSIGNABLE_ROLES]:
        errors["roles"] = "Select at least one role"
    las = request.POST.getlist("authorities")
    if not las or not set(las) <= set(mine):
        errors["authorities"] = "Select at least one of your authorities"
    return errors
