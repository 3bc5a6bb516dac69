"""CME officers: the CME list, a case, the DfE's termly counts, providers' deliveries."""
from __future__ import annotations

import csv

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.roles import (
    authorities_of,
    case_authorities,
    may,
    officers_of,
    requires,
)
from casework.views.common import (
    FieldErrors,
    csv_download,
    date_from_form,
    dates_posted,
    form_version,
    may_see_shielded,
    one_page,
    pager,
    sentence,
    sort_links,
)
from cme import (
    CHANGE_KINDS,
    FOUND_SOMEWHERE,
    MAX_WORKING_DAYS,
    NEXT_ACTIONS,
    NOTE_KINDS,
    OUTCOMES,
    REASONS,
    SORTS,
    CaseConflict,
    Closing,
    Filters,
    add_note,
    assign_case,
    case_of,
    cases_of,
    choices,
    close_case,
    closing_errors,
    cme_csv_rows,
    dfe_counts,
    latest_cme_date,
    likely_missed_link_of,
    narrowed,
    set_next_action,
    set_timescales,
    timescales_of,
    work_list,
)
from register import today
from schemas import safe_cell
from sources import delivery_problems, provider_status


@require_GET
@requires("work_cases")
def cme_cases(request):
    """The CME list of the officer's authorities as a work list."""
    return _work_list_page(request, authorities_of(request.user), "Children missing education", "cme")


@require_GET
@requires("work_unowned_cases")
def unowned(request):
    """The cases of children no source places in any authority, for the CME coordinators who
    find where each lives."""
    return _work_list_page(request, [""], "Children no authority owns", "unowned")


def _work_list_page(request, la_codes: list[str], heading: str, url: str):
    """Filters and sorting from the query, page_size() rows a page."""
    engine = register_engine()
    me = request.user.get_username()
    as_of = latest_cme_date(engine)
    filters = Filters.parse(request.GET, me)
    every = cases_of(engine, la_codes, as_of, filters.status, today(), may_see_shielded(request))
    items = narrowed(every, filters)
    shown, page, pages = one_page(request, items)
    audited(request, "view_cme_list", [i.child_id for i in shown],
            {"status": filters.status, "page": page, "filters": filters.query(), "list": url})
    late = sum(p.late for p in provider_status(engine, la_codes)) if url == "cme" else 0
    query = filters.query()
    return render(request, "casework/cme_list.html", {
        "heading": heading, "url": url, "as_of": as_of, "items": shown, "total": len(items), "page": page,
        "pages": pages, "filters": filters,
        "pager": pager(page, pages, lambda n: "?" + filters.query(page=n if n > 1 else "")),
        "sorts": sort_links(filters, SORTS),
        # What the filters can take: the values of every case of the list, not only those shown.
        "choices": choices(every),
        "officers": officers_of(la_codes), "reasons": REASONS, "late": late, "me": me,
        "csv": f"/cme.csv?list={url}" + ("&" + query if query else ""), "errors": filters.errors})


@require_GET
@requires("open_cases")
def cme_csv(request):
    """A work list with the same filters as CSV: the CME export's columns, then the case's
    (list=unowned: the cases no authority owns, for a CME coordinator)."""
    engine = register_engine()
    as_of = latest_cme_date(engine)
    if as_of is None:
        raise Http404("No CME list has been computed yet")
    filters = Filters.parse(request.GET, request.user.get_username())
    la_codes = [""] if request.GET.get("list") == "unowned" else authorities_of(request.user)
    if la_codes == [""] and not may(request.user, "work_unowned_cases"):
        raise Http404("No such list")
    items = work_list(engine, la_codes, as_of, filters, today(), may_see_shielded(request))
    response = csv_download(f"cme-{as_of.isoformat()}.csv", cme_csv_rows(items))
    audited(request, "export_cme_list", [i.child_id for i in items], {"filters": filters.query(), "rows": len(items)})
    return response


@require_GET
@requires("see_provider_status")
def providers(request):
    """Each provider of the user's authorities (and the health providers, which serve several):
    its newest extract, expected cadence, due date, and whether it is late or its roll stale; then
    the extracts held for the operator and the files whose rows were quarantined, with why."""
    engine = register_engine()
    rows = provider_status(engine, authorities_of(request.user))
    problems = delivery_problems(engine, authorities_of(request.user))
    return render(request, "casework/providers.html", {
        "providers": rows, "late": sum(p.late for p in rows), "held": [p for p in problems if p.status == "held"],
        "quarantined": [p for p in problems if p.status != "held"]})


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
@requires("open_cases")
def case(request, case_id: int):
    """A case: who the child is, its officer, next action and due date, the enquiries and
    changes in order, and the forms to add an enquiry, assign, set the next action and close
    (closing asks for the outcome, where the child was found, when and the evidence, then for a
    confirmation). Each change is confirmed by a banner after the redirect."""
    engine = register_engine()
    las = case_authorities(request.user)
    found = case_of(engine, case_id, las)
    if found is None:
        raise Http404("No case with that number in your authorities")
    errors, status, checking = {}, 200, None
    user = request.user.get_username()
    if request.method == "POST":
        action = request.POST.get("action")
        child = [found[0].child_id]
        try:
            if action == "note":
                add_note(engine, case_id, request.POST.get("kind", ""), request.POST.get("text", ""), user)
                audited(request, "case_note", child, {"case": case_id, "kind": request.POST.get("kind")})
                messages.success(request, "Enquiry added")
            elif action == "assign":
                officer = request.POST.get("officer", "")
                if officer and officer not in officers_of([found[0].la_code]):
                    raise FieldErrors({"officer": "Select an officer of this case's authority"})
                assign_case(engine, case_id, form_version(request), officer, user)
                audited(request, "case_assign", child, {"case": case_id, "officer": officer})
                messages.success(request, f"Case assigned to {officer}" if officer else "Case no longer assigned")
            elif action == "next_action":
                due, given = date_from_form(request, "due_on")
                if given and due is None:
                    raise FieldErrors({"due_on": "The due date must be a real date, like 27 3 2027"})
                if due is not None and due < today():
                    raise FieldErrors({"due_on": "The due date must be today or in the future"})
                step = request.POST.get("next_action", "")
                if step not in NEXT_ACTIONS:
                    raise FieldErrors({"next_action": "Select the next action"})
                due = set_next_action(engine, case_id, form_version(request), step, due, user)
                audited(request, "case_next_action", child, {"case": case_id, "step": step})
                messages.success(request, f"Next action set: due {due:%-d %B %Y}")
            elif action in ("close", "close_confirm"):
                on, _given = date_from_form(request, "found_on")
                closing = Closing(request.POST.get("outcome", ""), request.POST.get("found_at", ""), on,
                                  request.POST.get("evidence", ""))
                errors = closing_errors(closing, today())
                if errors:
                    raise FieldErrors(errors)
                if action == "close":  # check the answers before closing
                    checking = closing
                else:
                    close_case(engine, case_id, form_version(request), closing, user)
                    audited(request, "case_outcome", child, {"case": case_id, "outcome": closing.outcome})
                    messages.success(request, f"Case {case_id} closed: {OUTCOMES[closing.outcome]}")
            if checking is None:
                return redirect("case", case_id=case_id)
        except CaseConflict as exc:
            errors, status = {"conflict": sentence(str(exc))}, 409
        except FieldErrors as exc:
            errors, status = exc.errors, 400
        except ValueError as exc:
            errors = {"note" if action == "note" else "text": sentence(str(exc))}
            status = 400
        found = case_of(engine, case_id, las)
    the_case, notes = found
    audited(request, "view_case", [the_case.child_id], {"case": case_id, **({"error": sorted(errors)} if errors else {})})
    shown = may_see_shielded(request)
    item = next(iter(cases_of(engine, [the_case.la_code], latest_cme_date(engine), the_case.status, today(), shown,
                              case_id=case_id)), None)
    if checking is not None:
        return render(request, "casework/case_close_check.html", {"case": the_case, "item": item, "closing": checking,
                                                                  "outcome": OUTCOMES[checking.outcome]})
    return render(request, "casework/case.html", {
        "case": the_case, "item": item, "notes": notes, "outcomes": OUTCOMES, "kinds": NOTE_KINDS,
        "all_kinds": {**NOTE_KINDS, **CHANGE_KINDS}, "actions": {k: w for k, (w, _d) in NEXT_ACTIONS.items()},
        "timescales": timescales_of(engine, the_case.la_code), "officers": officers_of([the_case.la_code]),
        "found_somewhere": FOUND_SOMEWHERE, "errors": errors, "posted": request.POST if errors else {},
        "dates": dates_posted(request, "due_on", "found_on") if errors else {},
        "likely": likely_missed_link_of(engine, the_case.child_id, shown), "today": today(),
        "back": _back(request, the_case.la_code)},
        status=status)


def _back(request, la_code: str) -> str:
    """The list the officer came from (kept with its filters), else their list."""
    back = request.GET.get("back") or ""
    home = "/unowned" if la_code == "" else "/cme"
    return back if back.startswith((home + "?", home)) and "//" not in back and len(back) < 1000 else home


@require_http_methods(["GET", "POST"])
@requires("set_timescales")
def timescales(request):
    """An authority administrator sets their authority's CME policy: the working days each step
    of a case is due in. A new next action takes its due date from here."""
    engine = register_engine()
    mine = authorities_of(request.user)
    la = request.POST.get("la_code") or request.GET.get("la") or (mine[0] if mine else "")
    if la not in mine:
        raise Http404("No such authority of yours")
    errors, status = {}, 200
    if request.method == "POST":
        wanted = {}
        for step in NEXT_ACTIONS:
            given = request.POST.get(step, "").strip()
            if not (given.isascii() and given.isdigit() and 0 < int(given) <= MAX_WORKING_DAYS):
                errors[step] = (f"Enter the working days for “{NEXT_ACTIONS[step][0]}” as a whole number from 1 to "
                                f"{MAX_WORKING_DAYS}")
            else:
                wanted[step] = int(given)
        if not errors:
            before = timescales_of(engine, la)
            set_timescales(engine, la, wanted)
            audited(request, "admin_timescales", detail={"la_code": la, "changed": {
                k: v for k, v in wanted.items() if before.get(k) != v}})
            messages.success(request, f"Timescales saved for authority {la}")
            return redirect(f"{request.path}?la={la}")
        status = 400
    days = timescales_of(engine, la)
    steps = [{"key": k, "words": w, "default": d, "days": request.POST.get(k, days[k]) if errors else days[k]}
             for k, (w, d) in NEXT_ACTIONS.items()]
    return render(request, "casework/timescales.html", {"la": la, "mine": mine, "steps": steps, "errors": errors},
                  status=status)
