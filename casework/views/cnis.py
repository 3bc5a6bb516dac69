"""CME officers: their authority's children-not-in-school register (s.436B), an entry with its
s.436C(1) items and its duties (home-visit request, requests to parents and providers, the notice
and the school attendance order), the register as CSV and the DfE's termly return."""
from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from casework.audited import audited
from casework.database import register_engine
from casework.roles import authorities_of, case_authorities, requires
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
from cme import NoCmeList
from cnis import (
    BASES,
    OUTCOMES,
    SORTS,
    STEPS,
    DutyRefused,
    NoRegister,
    RegisterFilters,
    StaleEntry,
    ask_parents,
    ask_provider,
    authority_return,
    choices,
    cnis_settings,
    entries_of,
    entry_detail,
    export_columns,
    export_rows,
    failures_on_record,
    lived_here_under_a_year,
    narrowed,
    next_provider_request,
    provider_key,
    record_notice,
    record_outcome,
    register_as_of,
    save_extra_items,
    steps_of,
)
from cnis import COLUMNS as RETURN_COLUMNS
from register import today


def _as_of(engine) -> date | None:
    try:
        return register_as_of(engine, None)
    except NoRegister:
        return None


@require_GET
@requires("work_cases")
def cnis_register(request):
    """The register of the officer's authorities: filters and sorting from the query, paged."""
    engine = register_engine()
    las = authorities_of(request.user)
    as_of = _as_of(engine)
    filters = RegisterFilters.parse(request.GET)
    every = entries_of(engine, las, as_of, filters.status, today(), may_see_shielded(request)) if as_of else []
    items = narrowed(every, filters)
    shown, page, pages = one_page(request, items)
    audited(request, "view_cnis_register", [i.child_id for i in shown],
            {"status": filters.status, "page": page, "filters": filters.query()})
    query = filters.query()
    return render(request, "casework/cnis_list.html", {
        "as_of": as_of, "items": shown, "total": len(items), "page": page, "pages": pages, "filters": filters,
        "pager": pager(page, pages, lambda n: "?" + filters.query(page=n if n > 1 else "")),
        "sorts": sort_links(filters, SORTS),
        "choices": choices(every), "bases": BASES, "errors": filters.errors,
        "csv": "/not-in-school.csv" + ("?" + query if query else ""), "authorities": las})


@require_GET
@requires("work_cases")
def cnis_csv(request):
    """The register with the same filters as CSV: the columns `rollcall export cnis` writes,
    location withheld for a shielded child whoever asks (the file leaves the service)."""
    engine = register_engine()
    as_of = _as_of(engine)
    if as_of is None:
        raise Http404("The register has not been built yet")
    filters = RegisterFilters.parse(request.GET)
    items = narrowed(entries_of(engine, authorities_of(request.user), as_of, filters.status, today()), filters)
    response = csv_download(f"children-not-in-school-{as_of.isoformat()}.csv",
                            [export_columns(), *export_rows(engine, items)])
    audited(request, "export_cnis", [i.child_id for i in items], {"filters": filters.query(), "rows": len(items)})
    return response


@require_GET
@requires("work_cases")
def dfe_return(request):
    """The DfE's termly EHE and CME return for one of the officer's authorities, on the newest
    list's date or the census date asked (?census=YYYY-MM-DD), as CSV: counts only."""
    engine = register_engine()
    las = authorities_of(request.user)
    la = request.GET.get("la") or (las[0] if las else "")
    if la not in las:
        raise Http404("No such authority of yours")
    try:
        census = date.fromisoformat(request.GET["census"]) if request.GET.get("census") else _as_of(engine)
        rows = authority_return(engine, la, census) if census else None
    except (ValueError, NoCmeList):
        rows = None
    if rows is None:
        raise Http404("No CME list was computed for that census date")
    response = csv_download(f"dfe-return-{la}-{rows[0][1]}.csv", [RETURN_COLUMNS, *rows])
    audited(request, "export_dfe_return", detail={"census": rows[0][1], "la_code": la})
    return response


def _day(request, name: str) -> date:
    """The date a step happened: the form's date, today when none was entered."""
    on, given = date_from_form(request, name)
    if given and on is None:
        raise FieldErrors({name: "The date must be a real date, like 27 3 2027"})
    if on is not None and on > today():
        raise FieldErrors({name: "The date must be today or in the past"})
    return on or today()


@require_http_methods(["GET", "POST"])
@requires("work_cases")
def cnis_entry(request, entry_id: int):
    """An entry: who the child is, the s.436C(1) items, the duties in order, and the forms to ask
    the parents or a provider, record an answer, and record the notice or an order."""
    engine = register_engine()
    las = case_authorities(request.user)
    shown = may_see_shielded(request)
    found = entries_of(engine, las, today(), today=today(), may_see_shielded=shown, entry_id=entry_id)
    if not found:
        raise Http404("No entry with that number in your authorities")
    item = found[0]
    errors, status = {}, 200
    user = request.user.get_username()
    if request.method == "POST":
        action = request.POST.get("action", "")
        child = [item.child_id]
        try:
            if action == "ask_parents":
                ask_parents(engine, entry_id, _day(request, "sent_on"), user, request.POST.get("note", "")[:2000])
                audited(request, "cnis_ask_parents", child, {"entry": entry_id})
                messages.success(request, "Request to the parents recorded")
            elif action == "ask_provider":
                name = request.POST.get("provider_name", "").strip()[:200]
                if not name:
                    raise FieldErrors({"provider_name": "Enter the provider's name"})
                ask_provider(engine, entry_id, name, request.POST.get("provider_postcode", "")[:10],
                             _day(request, "provider_sent_on"), user, request.POST.get("note", "")[:2000])
                audited(request, "cnis_ask_provider", child, {"entry": entry_id})
                messages.success(request, f"Request to {name} recorded")
            elif action == "outcome":
                step = request.POST.get("step", "")
                if not (step.isascii() and step.isdigit() and len(step) <= 9) or \
                        int(step) not in {s.id for s in steps_of(engine, entry_id, today())}:
                    raise FieldErrors({"step": "Select the step the answer is for"})
                try:
                    record_outcome(engine, int(step), request.POST.get("outcome", ""), _day(request, "answered_on"),
                                   user, request.POST.get("note", "")[:2000])
                except DutyRefused as exc:
                    raise FieldErrors({"outcome": sentence(str(exc))}) from None
                audited(request, "cnis_outcome", child, {"entry": entry_id, "step": int(step)})
                messages.success(request, "Answer recorded")
            elif action in ("NOTICE_S437", "SAO_ISSUED", "SAO_REVOKED"):
                record_notice(engine, entry_id, action, today(), user, request.POST.get("note", "")[:2000])
                audited(request, "cnis_notice", child, {"entry": entry_id, "kind": action})
                messages.success(request, f"{STEPS[action][0]} recorded")
            elif action == "extra_items":
                save_extra_items(engine, entry_id, form_version(request),
                                 {k: request.POST.get(f"item_{k}", "")[:500] for k in cnis_settings().extra_items})
                audited(request, "cnis_extra_items", child, {"entry": entry_id})
                messages.success(request, "Items saved")
            else:
                raise FieldErrors({"action": "Choose what to record"})
            return redirect("cnis-entry", entry_id=entry_id)
        except FieldErrors as exc:
            errors, status = exc.errors, 400
        except StaleEntry as exc:
            errors, status = {"conflict": sentence(str(exc))}, 409
        except DutyRefused as exc:
            field = "provider_name" if action == "ask_provider" else "notice"
            errors = {field: sentence(str(exc))}
            status = 409 if exc.allowed_from else 400
    detail = entry_detail(engine, item, shown)
    audited(request, "view_cnis_entry", [item.child_id], {"entry": entry_id, **({"error": sorted(errors)} if errors
                                                                                 else {})})
    steps = steps_of(engine, entry_id, today())
    asked = [{"name": e.name, "allowed_from": next_provider_request(engine, item.la_code, provider_key(e.name, e.postcode))}
             for e in detail.educators]
    return render(request, "casework/cnis_entry.html", {
        "item": item, "detail": detail, "steps": steps, "outcomes": OUTCOMES, "step_words": STEPS,
        "answerable": [s for s in steps if s.kind in OUTCOMES and s.done_on is None],
        "failures": failures_on_record(engine, entry_id, today()), "asked": asked,
        "previous_needed": lived_here_under_a_year(detail, today()), "today": today(),
        "extra_items": [(k, detail.extra.get(k, "")) for k in cnis_settings().extra_items], "version": item.version,
        "threshold": cnis_settings().provider_hours_threshold, "response_days": cnis_settings().response_days,
        "errors": errors,
        "posted": request.POST if errors else {}, "dates": dates_posted(request, "sent_on", "provider_sent_on", "answered_on")
        if errors else {}}, status=status)
