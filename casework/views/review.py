"""Analysts: the review queue, a pair side by side, a record and its candidates."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.roles import (
    authorities_of,
    requires,
)
from casework.views.common import form_version, may_see_shielded, one_page, pager
from linkage import DecisionConflict, ReasonRequired, decide, decision_history, review_quality, undo
from oversight import pair_for_review, record_candidates, record_key_of, review_queue


@require_GET
@requires("review_matches")
def review(request):
    """The pairs waiting for this analyst, in the queue's order, page_size() a page; filtered by
    whether a pair touches the CME list (touches=yes/no) and the kind of review (kind=first/second)."""
    engine = register_engine()
    queue = review_queue(engine, authorities_of(request.user), request.user.get_username(), limit=1_000_000)
    touches = request.GET.get("touches") if request.GET.get("touches") in ("yes", "no") else ""
    kind = request.GET.get("kind") if request.GET.get("kind") in ("first", "second") else ""
    shown = [p for p in queue if (not touches or p["touches_cme"] == (touches == "yes"))
             and (not kind or p["second_review"] == (kind == "second"))]
    page_of, page, pages = one_page(request, shown)
    query = "&".join(f"{k}={v}" for k, v in (("touches", touches), ("kind", kind)) if v)
    return render(request, "casework/review_queue.html", {
        "queue": page_of, "quality": review_quality(engine), "total": len(queue),
        "matching": len(shown), "touching": sum(p["touches_cme"] for p in queue), "touches": touches, "kind": kind,
        "pager": pager(page, pages, lambda n: "?" + "&".join(x for x in (query, f"page={n}" if n > 1 else "") if x))})


@require_http_methods(["GET", "POST"])
@requires("review_matches")
def review_pair(request, pair_id: int):
    engine = register_engine()
    las = authorities_of(request.user)
    pair = pair_for_review(engine, pair_id, las, may_see_shielded=may_see_shielded(request))
    if pair is None:
        raise Http404("No pair with that number in your authorities")
    errors, status = {}, 200
    show_score = request.GET.get("score") == "shown" or request.POST.get("score_shown") == "1"
    if request.method == "POST":
        user = request.user.get_username()
        try:
            if request.POST.get("action") == "undo":
                undo(engine, pair_id, form_version(request), user)
                audited(request, "review_undo", pair["children"].values(), {"pair": pair_id})
                return redirect("review-pair", pair_id=pair_id)
            decision = request.POST.get("decision", "")
            if decision not in ("same", "different", "unsure", "skip"):
                raise ValueError("Select whether the two records are the same child")
            if decision != "skip":
                decide(engine, pair_id, form_version(request), decision, user,
                       request.POST.get("reason", ""), score_shown=show_score)
                audited(request, "review_decision", pair["children"].values(),
                        {"pair": pair_id, "decision": decision, "score_shown": show_score},
                        reason=request.POST.get("reason", ""))
            nxt = next((p["id"] for p in review_queue(engine, las, user) if p["id"] != pair_id), None)
            onward = decision == "skip" or request.POST.get("then") == "next"
            if decision != "skip":
                messages.success(request, f"Decision on pair {pair_id} saved"
                                 + ("" if nxt or not onward else ": no more pairs are waiting"))
            return redirect(reverse("review-pair", args=[nxt]) if nxt and onward else
                            reverse("review-pair", args=[pair_id]) + "?decided=1")
        except DecisionConflict as exc:
            errors["conflict"], status = str(exc), 409
        except ReasonRequired as exc:
            errors["reason"], status = str(exc), 400
        except ValueError as exc:
            errors["decision"], status = str(exc), 400
        pair = pair_for_review(engine, pair_id, las, may_see_shielded=may_see_shielded(request))
    decided = bool(pair["ruling"]) or request.GET.get("decided") == "1"
    # Every page that shows the two records is a look, an error page as much as the page itself.
    audited(request, "view_pair", pair["children"].values(), {"pair": pair_id, "score_shown": show_score or decided,
                                                              **({"error": sorted(errors)} if errors else {})})
    return render(request, "casework/review_pair.html", {
        "pair": pair, "errors": errors, "show_score": show_score or decided, "decided": decided,
        "history": decision_history(engine, pair["key_a"], pair["key_b"]), "posted": request.POST},
        status=status)


@require_GET
@requires("review_matches")
def record(request, ref: int):
    """A record with its top few candidates, each a link to review the pair. A record is named
    by its opaque reference (a source row's id), never by its key, which names the provider."""
    engine = register_engine()
    record_key = record_key_of(engine, ref)
    found = record_key and record_candidates(engine, record_key, authorities_of(request.user),
                                             may_see_shielded=may_see_shielded(request))
    if found is None:
        raise Http404("No record with that key in your authorities")
    audited(request, "view_record", [found["record"]["child_id"], *(c["other"]["child_id"] for c in found["candidates"])],
            {"candidates": len(found["candidates"])})
    return render(request, "casework/record.html", found)
