"""A child's page, its break-glass and cluster forms, and finding a child."""
from __future__ import annotations

import pandas as pd
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from alerts import deliver
from casework.audited import audited
from casework.database import register_engine
from casework.roles import (
    authorities_of,
    may,
    requires,
)
from casework.views.common import errors_for_page, errors_of_page, may_see_shielded, reason_given
from cme import OUTCOMES, cases_of_child
from cnis import entries_of, entry_detail
from linkage import ReasonRequired, current_children, rule_records, split_record
from linkage import history as child_history
from oversight import child_authorities, child_page, child_visible, in_caseload, raise_access_alert, search_children
from oversight import entries as audit_entries
from register import today
from schemas import postcode_normalise


@require_http_methods(["GET", "POST"])
@requires("see_children")
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
    reason = reason_given(request, child_id)
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
    page = child_page(engine, child_id, las, may_see_shielded=may_see_shielded(request) or glass is not None)
    if page is None:
        raise Http404("No child with that id in your authorities")
    location = "withheld" if page.location_withheld else "break-glass" if page.shielded and glass else "shown"
    audited(request, "view_child", [child_id], {"location": location}, reason=glass or reason)
    looked = None
    if may(request.user, "see_who_looked"):
        looked = [e for e in audit_entries(engine, child_id=child_id, limit=100) if e["action"].startswith("view")]
    shown = may_see_shielded(request) or glass is not None
    entries = entries_of(engine, las, today(), today=today(), may_see_shielded=shown, child_id=child_id)
    return render(request, "casework/child.html", {
        "page": page, "cases": cases_of_child(engine, child_id, las), "outcomes": OUTCOMES,
        "entries": [(e, entry_detail(engine, e, shown)) for e in entries],
        "history": child_history(engine, child_id),
        "ruled": request.GET.get("ruled") == "1", "looked": looked,
        "glass": glass, "errors": errors_of_page(request, child_id)})


@require_http_methods(["POST"])
@requires("see_children")
def child_break_glass(request, child_id: str):
    """Break-glass: a user without shielded-records access opens a shielded child's location
    after stating why. The look is audited and an alert goes to the privacy officers at once."""
    engine = register_engine()
    las = authorities_of(request.user)
    page = child_page(engine, child_id, las, may_see_shielded=False)
    if page is None:
        raise Http404("No child with that id in your authorities")
    if not page.location_withheld:
        return redirect("child", child_id=child_id)
    reason = request.POST.get("reason", "").strip()[:500]
    if len(reason) < 10:
        errors_for_page(request, child_id, {"glass": "say why you need this child's location (at least 10 "
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
@requires("review_matches")
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
    if reason_given(request, child_id) is None and not in_caseload(engine, child_id, las):
        return redirect("child", child_id=child_id)  # which asks why first
    page = child_page(engine, child_id, las, may_see_shielded=may_see_shielded(request))
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
            other = child_page(engine, other_id, las, may_see_shielded(request)) if other_id else None
            if other is None or other.child_id == child_id:
                raise LookupError("give the id of another child in your authorities")
            other_key = next(r["record_key"] for r in other.records if r["active"])
            rule_records(engine, keys[0], other_key, "same", user, reason)
            audited(request, "merge", [child_id, other.child_id], reason=reason)
        return redirect(reverse("child", args=[child_id]) + "?ruled=1")
    except ReasonRequired as exc:
        errors_for_page(request, child_id, {"split" if request.POST.get("action") == "split" else "reason": str(exc)})
    except LookupError as exc:
        errors_for_page(request, child_id, {"other_child": str(exc)})
    except ValueError as exc:
        errors_for_page(request, child_id, {"split": str(exc)})
    return redirect("child", child_id=child_id)


@require_GET
@requires("search_children")
def search(request):
    query = request.GET.get("q", "")[:40]
    found = search_children(register_engine(), query, authorities_of(request.user),
                            may_see_shielded=may_see_shielded(request)) if query else []
    if query:  # the kind of identifier searched for, never the identifier itself
        audited(request, "search", found, {"by": identifier_kind(query), "found": len(found)})
    return render(request, "casework/search.html", {"query": query, "found": found})


def identifier_kind(query: str) -> str:

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
