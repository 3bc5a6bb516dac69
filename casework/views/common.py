"""What every page shares: who may see a shielded child's location, the reason a user gave for opening a
child outside their caseload, errors carried back to a child's page, page numbers and form versions."""
from __future__ import annotations

from django.http import Http404

from casework.roles import (
    may,
)


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


PAGE = 100  # cases per page of the list


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
