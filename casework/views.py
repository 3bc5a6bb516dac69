"""Pages. Thin: each checks the user's role and authorities, asks the register package, and
renders a GOV.UK page. A child, pair or case outside the user's authorities is a 404, never a
403, so a page never says whether it exists."""
from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.forms import SignInForm
from casework.roles import (
    ANALYST,
    AUDITOR,
    AUTHORITY_ADMIN,
    CME_OFFICER,
    SEES_WHO_LOOKED,
    SHIELDED_ACCESS,
    SYSTEM_ADMIN,
    authorities_of,
    requires,
    roles_of,
)
from cme.cases import (
    NOTE_KINDS,
    OUTCOMES,
    CaseConflict,
    add_note,
    case_list,
    case_of,
    cases_of_child,
    close_case,
    dfe_counts,
)
from cme.reports import latest_cme_date
from linkage.history import current_children
from linkage.history import history as child_history
from linkage.review import (
    DecisionConflict,
    ReasonRequired,
    decide,
    decision_history,
    review_quality,
    rule_records,
    split_record,
    undo,
)
from oversight.audit import entries as audit_entries
from oversight.lookup import (
    child_authorities,
    child_page,
    child_visible,
    in_caseload,
    pair_for_review,
    record_candidates,
    record_key_of,
    review_queue,
    search_children,
)
from schemas.cells import safe_cell
from sources.deliveries import provider_status


class SignInView(auth_views.LoginView):
    template_name = "casework/sign_in.html"
    authentication_form = SignInForm


def _shielded(request) -> bool:
    return SHIELDED_ACCESS in roles_of(request.user)


@require_GET
@requires()
def home(request):
    return render(request, "casework/home.html", {"roles": sorted(roles_of(request.user)),
                                                  "authorities": authorities_of(request.user)})


def _reason_for(request, child_id: str) -> str | None:
    return request.session.get("reasons", {}).get(child_id)


@require_http_methods(["GET", "POST"])
@requires(ANALYST, CME_OFFICER, AUDITOR)
def child(request, child_id: str):
    """A child's page. A child outside the user's caseload (no case in their authorities, no pair
    waiting in their queue) opens only after the user says why; the reason is audited with the
    look and kept for this session."""
    engine = register_engine()
    las = authorities_of(request.user)
    now = current_children(engine, child_id)
    if now and now != [child_id]:
        # An old id: the child its records went to, or, after a split, the children.
        visible = [c for c in now if child_visible(engine, c, las)]
        if len(visible) == 1:
            return redirect("child", child_id=visible[0])
        if not visible:
            raise Http404("No child with that id in your authorities")
        return render(request, "casework/moved.html", {"child_id": child_id, "children": visible})
    if not child_visible(engine, child_id, las):
        raise Http404("No child with that id in your authorities")
    reason = _reason_for(request, child_id)
    if reason is None and not in_caseload(engine, child_id, las):
        error = None
        if request.method == "POST":
            stated = request.POST.get("reason", "").strip()
            if len(stated) >= 10:
                request.session["reasons"] = {**request.session.get("reasons", {}), child_id: stated[:500]}
                return redirect("child", child_id=child_id)
            error = "say why you are opening this child's record (at least 10 characters)"
        return render(request, "casework/reason.html", {"child_id": child_id, "errors": {"reason": error} if error
                                                        else {}}, status=400 if error else 200)
    if request.method == "POST":
        return redirect("child", child_id=child_id)
    glass = request.session.get("glass", {}).get(child_id)
    page = child_page(engine, child_id, las, may_see_shielded=_shielded(request) or glass is not None)
    if page is None:
        raise Http404("No child with that id in your authorities")
    location = "withheld" if page.location_withheld else "break-glass" if page.shielded and glass else "shown"
    audited(request, "view_child", [child_id], {"location": location}, reason=glass or reason)
    looked = None
    if roles_of(request.user) & set(SEES_WHO_LOOKED):
        looked = [e for e in audit_entries(engine, child_id=child_id, limit=100) if e["action"].startswith("view")]
    return render(request, "casework/child.html", {
        "page": page, "cases": cases_of_child(engine, child_id, las), "outcomes": OUTCOMES,
        "history": child_history(engine, child_id),
        "analyst": ANALYST in roles_of(request.user), "ruled": request.GET.get("ruled") == "1", "looked": looked,
        "glass": glass, "errors": _errors_of_page(request, child_id)})


@require_http_methods(["POST"])
@requires(ANALYST, CME_OFFICER, AUDITOR)
def child_break_glass(request, child_id: str):
    """Break-glass: a user without shielded-records access opens a shielded child's location
    after stating why. The look is audited and an alert goes to the privacy officers at once."""
    from alerts.channels import deliver
    from oversight.access_alerts import raise_access_alert

    engine = register_engine()
    las = authorities_of(request.user)
    page = child_page(engine, child_id, las, may_see_shielded=False)
    if page is None:
        raise Http404("No child with that id in your authorities")
    if not page.location_withheld:
        return redirect("child", child_id=child_id)
    reason = request.POST.get("reason", "").strip()[:500]
    if len(reason) < 10:
        _errors_for_page(request, child_id, {"glass": "say why you need this child's location (at least 10 "
                                                      "characters)"})
        return redirect("child", child_id=child_id)
    entry = audited(request, "break_glass", [child_id], reason=reason)
    # The privacy officer of the child's authority is told, not those of every authority the
    # user works for.
    theirs = sorted(child_authorities(engine, child_id) & set(las))
    raise_access_alert(engine, "break_glass", request.user.get_username(), f"break_glass:{entry}", la_codes=theirs,
                children=[child_id], detail={"audit_entry": entry})
    deliver(engine)  # at once; one that cannot be sent now is sent by the next access check
    request.session["glass"] = {**request.session.get("glass", {}), child_id: reason}
    return redirect("child", child_id=child_id)


@require_http_methods(["POST"])
@requires(ANALYST)
def child_cluster(request, child_id: str):
    """The cluster view's two actions, each with a reason: take a record out of this child
    (split) or join this child with another (merge). They take effect at the next run. The
    caseload rule is the page's: a child outside it is ruled on only after the user said why they
    opened it; an error goes back to the child's page (which audits the look), never a page of
    its own."""
    engine = register_engine()
    las = authorities_of(request.user)
    if not child_visible(engine, child_id, las):
        raise Http404("No child with that id in your authorities")
    if _reason_for(request, child_id) is None and not in_caseload(engine, child_id, las):
        return redirect("child", child_id=child_id)  # which asks why first
    page = child_page(engine, child_id, las, may_see_shielded=_shielded(request))
    if page is None:
        raise Http404("No child with that id in your authorities")
    keys = sorted({r["record_key"] for r in page.records if r["active"]})
    reason, user = request.POST.get("reason", ""), request.user.get_username()
    try:
        if request.POST.get("action") == "split":
            refs = {str(r["id"]): r["record_key"] for r in page.records if r["active"]}
            key = refs.get(request.POST.get("record", ""))
            if key is None:
                raise ValueError("choose a current record of this child")
            split_record(engine, key, keys, user, reason)
            audited(request, "split", [child_id], reason=reason)
        else:
            other_id = request.POST.get("other_child", "").strip()[:16]
            other = child_page(engine, other_id, las, _shielded(request)) if other_id else None
            if other is None or other.child_id == child_id:
                raise LookupError("give the id of another child in your authorities")
            other_key = next(r["record_key"] for r in other.records if r["active"])
            rule_records(engine, keys[0], other_key, "same", user, reason)
            audited(request, "merge", [child_id, other.child_id], reason=reason)
        return redirect(reverse("child", args=[child_id]) + "?ruled=1")
    except ReasonRequired as exc:
        _errors_for_page(request, child_id, {"split" if request.POST.get("action") == "split" else "reason": str(exc)})
    except LookupError as exc:
        _errors_for_page(request, child_id, {"other_child": str(exc)})
    except ValueError as exc:
        _errors_for_page(request, child_id, {"split": str(exc)})
    return redirect("child", child_id=child_id)


def _errors_for_page(request, child_id: str, errors: dict) -> None:
    """Errors a form on a child's page met, shown by that page at the redirect."""
    request.session["child_errors"] = {"child": child_id, "errors": errors}


def _errors_of_page(request, child_id: str) -> dict:
    kept = request.session.pop("child_errors", None) or {}
    return kept.get("errors", {}) if kept.get("child") == child_id else {}


@require_GET
@requires(ANALYST, CME_OFFICER)
def search(request):
    query = request.GET.get("q", "")[:40]
    found = search_children(register_engine(), query, authorities_of(request.user),
                            may_see_shielded=_shielded(request)) if query else []
    if query:  # the kind of identifier searched for, never the identifier itself
        audited(request, "search", found, {"by": identifier_kind(query), "found": len(found)})
    return render(request, "casework/search.html", {"query": query, "found": found})


def identifier_kind(query: str) -> str:
    import pandas as pd

    from schemas.identifiers import postcode_normalise

    q = query.strip().upper().replace(" ", "")
    if postcode_normalise(pd.Series([q])).iloc[0]:
        return "postcode"
    if q.startswith("RC"):
        return "child id"
    if q.isdigit() and len(q) == 10:
        return "NHS number"
    if len(q) == 13 and q[0].isalpha():
        return "UPN"
    return "other"


# --- Authority administrators -----------------------------------------------------------------

ASSIGNABLE_ROLES = (ANALYST, CME_OFFICER, AUTHORITY_ADMIN)


@require_http_methods(["GET", "POST"])
@requires(AUTHORITY_ADMIN)
def users(request):
    """An authority administrator manages the users of their own authorities: add one (with
    roles an administrator may give and authorities of their own), or disable one."""
    from django.contrib.auth import get_user_model

    from casework.users import UserError, add_user, disable_user, totp_secret, user_name

    mine = authorities_of(request.user)
    errors, added = {}, None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "disable":
                name = request.POST.get("name", "")
                target = get_user_model().objects.filter(username=name, authorities__la_code__in=mine).first()
                if target is None or target == request.user:
                    raise UserError("you can disable other users of your own authorities only")
                disable_user(name)
                audited(request, "admin_user_disable", detail={"user": name})
            else:
                roles = [r for r in request.POST.getlist("roles") if r in ASSIGNABLE_ROLES]
                las = request.POST.getlist("authorities")
                if not roles:
                    raise UserError("choose at least one role")
                if not las or not set(las) <= set(mine):
                    raise UserError("choose authorities of your own")
                name = user_name(request.POST.get("name", ""))
                uri = add_user(name, request.POST.get("password", ""), roles, las)
                added = {"name": name, "secret": totp_secret(uri)}
                audited(request, "admin_user_add", detail={"user": added["name"], "roles": roles, "authorities": las})
        except UserError as exc:
            errors["name"] = str(exc)
    people = (get_user_model().objects.filter(authorities__la_code__in=mine).distinct().order_by("username")
              .prefetch_related("groups", "authorities"))
    return render(request, "casework/users.html", {
        "people": [{"name": u.get_username(), "active": u.is_active, "roles": sorted(roles_of(u)),
                    "authorities": authorities_of(u)} for u in people],
        "mine": mine, "roles": ASSIGNABLE_ROLES, "errors": errors, "added": added},
        status=400 if errors else 200)


# --- CME officers -----------------------------------------------------------------------------

@require_GET
@requires(CME_OFFICER)
def cme_cases(request):
    engine = register_engine()
    status = "closed" if request.GET.get("status") == "closed" else "open"
    as_of = latest_cme_date(engine)
    page = page_number(request)
    total, cases = case_list(engine, authorities_of(request.user), as_of, status, limit=PAGE, offset=(page - 1) * PAGE)
    audited(request, "view_cme_list", [c["child_id"] for c in cases], {"status": status, "page": page})
    late = sum(p.late for p in provider_status(engine, authorities_of(request.user)))
    return render(request, "casework/cme_list.html", {
        "as_of": as_of, "cases": cases, "status": status, "total": total, "page": page, "late": late,
        "previous": page - 1 if page > 1 else None, "next": page + 1 if page * PAGE < total else None})


PAGE = 100  # cases per page of the list


def _version(request) -> int:
    """The version a form was made from; anything else is a version no row has (a conflict)."""
    given = request.POST.get("version", "").strip()
    return int(given) if given.isascii() and given.isdigit() and len(given) <= 9 else -1


def page_number(request) -> int:
    """The page asked for: 1 when none; a page that is not a small whole number is no page."""
    asked = request.GET.get("page", "1").strip()
    if not asked.isascii() or not asked.isdigit() or len(asked) > 6 or int(asked) < 1:
        raise Http404("No such page")
    return int(asked)


@require_GET
@requires(CME_OFFICER, ANALYST, AUTHORITY_ADMIN, SYSTEM_ADMIN)
def providers(request):
    """Each provider of the user's authorities (and the health providers, which serve several):
    its newest extract, expected cadence, due date, and whether it is late or its roll stale."""
    rows = provider_status(register_engine(), authorities_of(request.user))
    return render(request, "casework/providers.html", {"providers": rows, "late": sum(p.late for p in rows)})


@require_GET
@requires(CME_OFFICER)
def dfe_export(request):
    """The counts the DfE's termly CME collection asks for, for the user's authorities, as CSV."""
    import csv

    engine = register_engine()
    as_of = latest_cme_date(engine)
    if as_of is None:
        raise Http404("No CME list has been computed yet")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cme-counts-{as_of.isoformat()}.csv"'
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(["as_of", "la_code", "sex", "year_group", "time_missing", "reason", "children"])
    for row in dfe_counts(engine, authorities_of(request.user), as_of):
        writer.writerow([safe_cell(str(v)) for v in (as_of.isoformat(), *row)])
    audited(request, "export_dfe_counts", detail={"as_of": as_of.isoformat(), "authorities": authorities_of(request.user)})
    return response


@require_http_methods(["GET", "POST"])
@requires(CME_OFFICER)
def case(request, case_id: int):
    engine = register_engine()
    found = case_of(engine, case_id, authorities_of(request.user))
    if found is None:
        raise Http404("No case with that number in your authorities")
    errors, status = {}, 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "note":
                add_note(engine, case_id, request.POST.get("kind", ""), request.POST.get("text", ""),
                         request.user.get_username())
                audited(request, "case_note", [found[0].child_id], {"case": case_id, "kind": request.POST.get("kind")})
            elif action == "close":
                close_case(engine, case_id, _version(request), request.POST.get("outcome", ""),
                           request.user.get_username())
                audited(request, "case_outcome", [found[0].child_id],
                        {"case": case_id, "outcome": request.POST.get("outcome")})
            return redirect("case", case_id=case_id)
        except CaseConflict as exc:
            errors["conflict"], status = str(exc), 409
        except ValueError as exc:
            errors["note" if action == "note" else "outcome"] = str(exc)
            status = 400
        found = case_of(engine, case_id, authorities_of(request.user))
    the_case, notes = found
    audited(request, "view_case", [the_case.child_id], {"case": case_id, **({"error": sorted(errors)} if errors else {})})
    return render(request, "casework/case.html", {"case": the_case, "notes": notes, "outcomes": OUTCOMES,
                                                  "kinds": NOTE_KINDS, "errors": errors}, status=status)


# --- Analysts ---------------------------------------------------------------------------------

@require_GET
@requires(ANALYST)
def review(request):
    engine = register_engine()
    queue = review_queue(engine, authorities_of(request.user), request.user.get_username())
    return render(request, "casework/review_queue.html", {"queue": queue, "quality": review_quality(engine)})


@require_http_methods(["GET", "POST"])
@requires(ANALYST)
def review_pair(request, pair_id: int):
    engine = register_engine()
    las = authorities_of(request.user)
    pair = pair_for_review(engine, pair_id, las, may_see_shielded=_shielded(request))
    if pair is None:
        raise Http404("No pair with that number in your authorities")
    errors, status = {}, 200
    show_score = request.GET.get("score") == "shown" or request.POST.get("score_shown") == "1"
    if request.method == "POST":
        user = request.user.get_username()
        try:
            if request.POST.get("action") == "undo":
                undo(engine, pair_id, _version(request), user)
                audited(request, "review_undo", pair["children"].values(), {"pair": pair_id})
                return redirect("review-pair", pair_id=pair_id)
            decision = request.POST.get("decision", "")
            if decision not in ("same", "different", "unsure", "skip"):
                raise ValueError("choose whether the two records are the same child")
            if decision != "skip":
                decide(engine, pair_id, _version(request), decision, user,
                       request.POST.get("reason", ""), score_shown=show_score)
                audited(request, "review_decision", pair["children"].values(),
                        {"pair": pair_id, "decision": decision, "score_shown": show_score},
                        reason=request.POST.get("reason", ""))
            nxt = next((p["id"] for p in review_queue(engine, las, user) if p["id"] != pair_id), None)
            return redirect(reverse("review-pair", args=[nxt]) if nxt and decision == "skip" else
                            reverse("review-pair", args=[pair_id]) + "?decided=1")
        except DecisionConflict as exc:
            errors["conflict"], status = str(exc), 409
        except ReasonRequired as exc:
            errors["reason"], status = str(exc), 400
        except ValueError as exc:
            errors["decision"], status = str(exc), 400
        pair = pair_for_review(engine, pair_id, las, may_see_shielded=_shielded(request))
    decided = bool(pair["ruling"]) or request.GET.get("decided") == "1"
    # Every page that shows the two records is a look, an error page as much as the page itself.
    audited(request, "view_pair", pair["children"].values(), {"pair": pair_id, "score_shown": show_score or decided,
                                                              **({"error": sorted(errors)} if errors else {})})
    return render(request, "casework/review_pair.html", {
        "pair": pair, "errors": errors, "show_score": show_score or decided, "decided": decided,
        "history": decision_history(engine, pair["key_a"], pair["key_b"]), "posted": request.POST},
        status=status)


@require_GET
@requires(ANALYST)
def record(request, ref: int):
    """A record with its top few candidates, each a link to review the pair. A record is named
    by its opaque reference (a source row's id), never by its key, which names the provider."""
    engine = register_engine()
    record_key = record_key_of(engine, ref)
    found = record_key and record_candidates(engine, record_key, authorities_of(request.user),
                                             may_see_shielded=_shielded(request))
    if found is None:
        raise Http404("No record with that key in your authorities")
    audited(request, "view_record", [found["record"]["child_id"], *(c["other"]["child_id"] for c in found["candidates"])],
            {"candidates": len(found["candidates"])})
    return render(request, "casework/record.html", found)


# --- Auditors ---------------------------------------------------------------------------------

@require_GET
@requires(AUDITOR, SYSTEM_ADMIN)
def audit_log(request):
    """The audit log by user or by child: a child within the auditor's authorities, a user who
    works for one of them (a system administrator sees everyone's)."""
    from django.contrib.auth import get_user_model

    engine = register_engine()
    las = authorities_of(request.user)
    everyone = SYSTEM_ADMIN in roles_of(request.user)
    user, child_id = request.GET.get("user", "").strip()[:150], request.GET.get("child", "").strip().upper()[:16]
    shown, asked = [], bool(user or child_id)
    if user and (everyone or get_user_model().objects.filter(username=user, authorities__la_code__in=las).exists()):
        shown = audit_entries(engine, actor=user)
    elif child_id and (everyone or child_visible(engine, child_id, las)):
        shown = audit_entries(engine, child_id=child_id)
    if asked:
        audited(request, "view_audit", [child_id] if child_id else [], {"user": user} if user else None)
    return render(request, "casework/audit.html", {"entries": shown, "user": user, "child": child_id, "asked": asked})


@require_http_methods(["GET", "POST"])
@requires(AUTHORITY_ADMIN, AUDITOR, SYSTEM_ADMIN)
def alerts(request):
    """Access alerts for the user's authorities (all, for a system administrator): mark one
    handled, or suspend the account it is about (an authority administrator, for a user of their
    own authorities)."""
    from django.contrib.auth import get_user_model

    from casework.users import UserError, disable_user
    from oversight.access_alerts import alerts_for, handle_alert

    engine = register_engine()
    las = authorities_of(request.user)
    everyone = SYSTEM_ADMIN in roles_of(request.user)
    shown = alerts_for(engine, None if everyone else las)
    errors = {}
    if request.method == "POST":
        alert = next((a for a in shown if str(a["id"]) == request.POST.get("alert")), None)
        if alert is None:
            raise Http404("No such alert for your authorities")
        if request.POST.get("action") == "suspend":
            may = roles_of(request.user) & {AUTHORITY_ADMIN, SYSTEM_ADMIN}
            target = get_user_model().objects.filter(username=alert["actor"])
            if not everyone:
                target = target.filter(authorities__la_code__in=las)
            if not may or not target.exists() or alert["actor"] == request.user.get_username():
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
                                                    "may_suspend": bool(roles_of(request.user) &
                                                                        {AUTHORITY_ADMIN, SYSTEM_ADMIN})},
                  status=400 if errors else 200)
