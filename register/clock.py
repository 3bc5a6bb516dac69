"""The time the register stores: UTC, without a zone (the columns are naive DateTime)."""
from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
