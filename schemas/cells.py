"""What a receipt or an export may show of a provider's cell: formula-safe text, and personal
values withheld."""
from __future__ import annotations

from schemas.contract import FEED_COLUMNS, PERSONAL_KINDS


def safe_cell(value: str) -> str:
    """Neutralise a value a spreadsheet would run as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def display_value(feed: str, column: str, value: str) -> str:
    """What a receipt may show of a rejected cell: codes in full, personal data never."""
    kind = FEED_COLUMNS[feed][column].kind if column in FEED_COLUMNS.get(feed, {}) else "text"
    if not column or kind in PERSONAL_KINDS:
        return f"(withheld, {len(value)} characters)" if value else "(empty)"
    shown = value[:40].replace("\n", " ").replace("\r", " ")
    return safe_cell(shown) if shown else "(empty)"
