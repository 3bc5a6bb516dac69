"""CME officers: the CME list, a case, the DfE's termly counts, providers' deliveries."""
from __future__ import annotations

import csv

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.roles import (
    authorities_of,
    requires,
)
from casework.views.common import PAGE, form_version, may_see_shielded, page_number
from cme import (
    NOTE_KINDS,
    OUTCOMES,
    CaseConflict,
    add_note,
    case_list,
    case_of,
    close_case,
    dfe_counts,
    latest_cme_date,
    likely_missed_link_of,
)
from schemas import safe_cell
from sources import provider_status


@require_GET
@requires("work_cases")
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


@require_GET
@requires("see_provider_status")
def providers(request):
    """Each provider of the user's authorities (and the health providers, which serve several):
    its newest extract, expected cadence, due date, and whether it is late or its roll stale."""
    rows = provider_status(register_engine(), authorities_of(request.user))
    return render(request, "casework/providers.html", {"providers": rows, "late": sum(p.late for p in rows)})


@require_GET
@requires("work_cases")
def dfe_export(request):
    """The counts the DfE's termly CME collection asks for, for the user's authorities, as CSV."""
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
@requires("work_cases")
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
                close_case(engine, case_id, form_version(request), request.POST.get("outcome", ""),
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
    likely = likely_missed_link_of(engine, the_case.child_id, may_see_shielded(request))
    return render(request, "casework/case.html", {"case": the_case, "notes": notes, "outcomes": OUTCOMES,
                                                  "kinds": NOTE_KINDS, "errors": errors, "likely": likely},
                  status=status)
