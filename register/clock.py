"""The one clock: the time the register stores (UTC, without a zone: the columns are naive
DateTime), the time stamps people read (UTC with its zone), and today's date. Everything above
`schemas` asks here (ruff's banned-API rule holds them to it), so a test can set the time in one
place and no module mixes zones."""
from __future__ import annotations

from datetime import UTC, date, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # noqa: TID251 - the clock itself


def utc_stamp() -> str:
    """Now as an ISO 8601 stamp with its zone, to the second (receipts of backups, alert lines)."""
    return datetime.now(UTC).isoformat(timespec="seconds")  # noqa: TID251 - the clock itself


def today() -> date:
    """Today's date where Rollcall runs (its services run on London time)."""
    return date.today()  # noqa: TID251 - the clock itself
