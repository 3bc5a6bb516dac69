"""What every page shares: who may see a shielded child's location, the reason a user gave for opening a
child outside their caseload, errors carried back to a child's page, page numbers and form versions."""
from __future__ import annotations

import csv
from datetime import date

from django.conf import settings
from django.http import Http404, HttpResponse

from casework.roles import (
    may,
)
from schemas import safe_cell


def may_see_shielded(request) -> bool:
    return may(request.user, "see_shielded_locations")


def reason_given(request, child_id: str) -> str | None:
    return request.session.get("reasons", {}).get(child_id)


def errors_for_page(request, child_id: str, errors: dict) -> None:
    """Errors a form on a child's page met, shown by that page at the redirect."""
    request.session["child_errors"] = {"child": child_id, "errors": errors}


def errors_of_page(request, child_id: str) -> dict:
    kept = request.session.pop("child_errors", None) or {}
    return kept.get("errors", {}) if kept.get("child") == child_id else {}


def page_size() -> int:
    """Rows a page of a work list (settings.ROLLCALL_LIST_PAGE_SIZE)."""
    return settings.ROLLCALL_LIST_PAGE_SIZE


def one_page(request, items: list) -> tuple[list, int, int]:
    """The page of items the request asks for (page_size() a page): (its items, the page, the
    number of pages); a page past the last is no page."""
    page, size = page_number(request), page_size()
    pages = max(1, -(-len(items) // size))
    if page > pages:
        raise Http404("No such page")
    return items[(page - 1) * size:page * size], page, pages


def sentence(text: str) -> str:
    """A message as a sentence on a page: its first letter a capital."""
    return text[:1].upper() + text[1:]


def form_version(request) -> int:
    """The version a form was made from; anything else is a version no row has (a conflict)."""
    given = request.POST.get("version", "").strip()
    return int(given) if given.isascii() and given.isdigit() and len(given) <= 9 else -1


def page_number(request) -> int:
    """The page asked for: 1 when none; a page that is not a small whole number is no page."""
    asked = request.GET.get("page", "1").strip()
    if not asked.isascii() or not asked.isdigit() or len(asked) > 6 or int(asked) < 1:
        raise Http404("No such page")
    return int(asked)


def pager(page: int, pages: int, href) -> dict:
    """GOV.UK pagination: previous and next, the first and last page, the pages either side of
    this one, and ellipses between. `href(n)` is page n's link."""
    shown = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    items, last = [], 0
    for n in shown:
        if n - last > 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": href(n), "current": n == page})
        last = n
    return {"items": items if pages > 1 else [], "page": page, "pages": pages,
            "previous": href(page - 1) if page > 1 else None, "next": href(page + 1) if page < pages else None}


def date_from_form(request, name: str) -> tuple[date | None, bool]:
    """A GOV.UK date input's date (fields name_day, name_month, name_year): (the date or None,
    whether anything was entered)."""
    parts = [request.POST.get(f"{name}_{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None, False
    if not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts) or len(parts[2]) != 4:
        return None, True
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0])), True
    except ValueError:
        return None, True


def dates_posted(request, *names: str) -> dict:
    """What was typed in each date input, to show again beside an error."""
    return {n: {p: request.POST.get(f"{n}_{p}", "")[:4] for p in ("day", "month", "year")} for n in names}


def csv_download(filename: str, rows) -> HttpResponse:
    """A CSV file to download (the first row its header), every cell formula-safe."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell("" if v is None else str(v)) for v in row])
    return response


class FieldErrors(ValueError):
    """A form's problems, field -> what to do, each shown beside its own field."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def sort_links(filters, sorts: dict[str, str]) -> list[dict]:
    """A work list's sort links, keeping its filters: each key's words, whether it is the sort in
    use, and its link (the sort in use turns round; another starts at its own default order)."""
    def order(key: str) -> str:
        if filters.sort != key:
            return ""
        return "ascending" if filters.descending else "descending"

    return [{"key": k, "words": w, "active": filters.sort == k, "href": "?" + filters.query(sort=k, order=order(k),
                                                                                          page="")}
            for k, w in sorts.items()]
