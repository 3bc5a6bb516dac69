"""Auditors and administrators: the audit log and access alerts."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.roles import (
    authorities_of,
    may,
    other_user_of_mine,
    requires,
)
from casework.users import UserError, disable_user
from oversight import alerts_for, child_visible, handle_alert
from oversight import entries as audit_entries


@require_GET
@requires("read_the_audit_log")
def audit_log(request):
    """The audit log by user or by child: a child within the auditor's authorities, a user who
    works for one of them (a system administrator sees everyone's)."""
    engine = register_engine()
    las = authorities_of(request.user)
    everyone = may(request.user, "see_every_authority")
    user, child_id = request.GET.get("user", "").strip()[:150], request.GET.get("child", "").strip().upper()[:16]
    shown, asked = [], bool(user or child_id)
    if user and (everyone or get_user_model().objects.filter(username=user, authorities__la_code__in=las).exists()):
        shown = audit_entries(engine, actor=user)
    elif child_id and (everyone or child_visible(engine, child_id, las)):
        shown = audit_entries(engine, child_id=child_id)
    if asked:
        audited(request, "view_audit", [child_id] if child_id else [], {"user": user} if user else None)
    return render(request, "casework/audit.html", {"entries": shown, "searched_user": user, "child": child_id,
                                                        "asked": asked})


@require_http_methods(["GET", "POST"])
@requires("handle_access_alerts")
def alerts(request):
    """Access alerts for the user's authorities (all, for a system administrator): mark one
    handled, or suspend the account it is about (an authority administrator, for a user of their
    own authorities)."""


    engine = register_engine()
    las = authorities_of(request.user)
    everyone = may(request.user, "see_every_authority")
    shown = alerts_for(engine, None if everyone else las)
    errors = {}
    if request.method == "POST":
        alert = next((a for a in shown if str(a["id"]) == request.POST.get("alert")), None)
        if alert is None:
            raise Http404("No such alert for your authorities")
        if request.POST.get("action") == "suspend":
            if not may(request.user, "suspend_users") or \
                    other_user_of_mine(request.user, alert["actor"], everyone) is None:
                errors["alerts"] = "you can suspend other users of your own authorities only"
            else:
                try:
                    disable_user(alert["actor"])
                except UserError as exc:
                    errors["alerts"] = str(exc)
                else:
                    audited(request, "admin_user_suspend", detail={"user": alert["actor"], "alert": alert["id"]})
                    handle_alert(engine, alert["id"], request.user.get_username())
        else:
            handle_alert(engine, alert["id"], request.user.get_username())
            audited(request, "alert_handled", detail={"alert": alert["id"]})
        if not errors:
            return redirect("alerts")
    return render(request, "casework/alerts.html", {"alerts": shown, "errors": errors,
                                                    "may_suspend": may(request.user, "suspend_users")},
                  status=400 if errors else 200)
