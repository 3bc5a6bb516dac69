"""Watching the CME list so it cannot silently stop or go wrong: flag counts that drop to zero
or move sharply, authorities with no current school roll, a falling share of linked records,
and a list not refreshed for a day. Each compares this run with what the last run kept in
the register's state; counts and authority codes only."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from linkage import RELINKED_FROM  # when the last relink that saved a CME list read its inputs
from register import CmeList, ProviderStatus, SourceRecord, get_state, set_state

COUNTS_STATE = "cme_flag_counts"
LINKED_STATE = "linked_share"
RELINK_STARTED = "relink_started_at"  # when the running (or last) relink read its inputs
MIN_COUNT_TO_COMPARE = 10  # below this a count moving by half is noise, not news


@dataclass(frozen=True)
class CountMove:
    la_code: str
    before: int
    now: int
    what: str  # "dropped to zero" or "moved"


def count_moves(before: dict[str, int], now: dict[str, int], share: float) -> list[CountMove]:
    """Authorities whose flag count dropped to zero (from any count) or moved by more than
    `share` of a count of at least MIN_COUNT_TO_COMPARE."""
    moves = []
    for la in sorted(set(before) | set(now)):
        old, new = int(before.get(la, 0)), int(now.get(la, 0))
        if old > 0 and new == 0:
            moves.append(CountMove(la, old, new, "dropped to zero"))
        elif old >= MIN_COUNT_TO_COMPARE and abs(new - old) > share * old:
            moves.append(CountMove(la, old, new, "moved"))
    return moves


def compare_flag_counts(engine, now: dict[str, int], share: float) -> list[CountMove]:
    """This run's counts against the last run's, which this run's replace."""
    before = json.loads(get_state(engine, COUNTS_STATE) or "{}")
    set_state(engine, COUNTS_STATE, json.dumps({k: int(v) for k, v in sorted(now.items())}))
    return count_moves(before, now, share)


def authorities_without_current_roll(engine, authorities: list[str]) -> list[str]:
    """Authorities none of whose schools has a current (not stale) roll, as the providers were
    last checked (sources.deliveries): their CME flags cannot be trusted."""
    with engine.connect() as conn:
        current = set(conn.execute(select(ProviderStatus.la_code).where(
            ProviderStatus.feed == "school", ProviderStatus.stale.is_(False))).scalars())
    return sorted(la for la in authorities if la and la not in current)


def linked_share(engine) -> float:
    """The share of current records that are linked to at least one other record (counted in
    the database: the register is not read into memory for one number)."""
    sizes = select(func.count().label("n")).where(SourceRecord.active.is_(True)).group_by(
        SourceRecord.child_id).subquery()
    with engine.connect() as conn:
        total, linked = conn.execute(select(func.coalesce(func.sum(sizes.c.n), 0),
                                            func.coalesce(func.sum(case((sizes.c.n > 1, sizes.c.n), else_=0)), 0))
                                     ).one()
    return float(linked) / float(total) if total else 0.0


def compare_linked_share(engine, now: float, drop: float) -> tuple[float | None, bool]:
    """(the last run's share, whether this one fell by more than `drop` from it)."""
    before = get_state(engine, LINKED_STATE)
    set_state(engine, LINKED_STATE, f"{now:.6f}")
    if before is None:
        return None, False
    return float(before), float(before) - now > drop


def newest_list_computed(engine) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(CmeList.computed_at))).scalar()


def list_overdue(engine, now: datetime, max_age: timedelta) -> datetime | None:
    """When the newest CME list was computed, if that is longer ago than max_age; None when the
    list is fresh, or none was ever computed (nothing to watch before the first run: a first
    run that fails raises its own alert)."""
    newest = newest_list_computed(engine)
    return newest if newest is not None and now - newest > max_age else None


def mark_relinked(engine) -> None:
    """A CME list was saved: everything older than its relink's start is in the register."""
    started = get_state(engine, RELINK_STARTED)
    if started:
        set_state(engine, RELINKED_FROM, started)


def relinked_since(engine, moment: datetime | None) -> bool:
    """Whether a relink that finished started after this moment (so it saw it)."""
    done = get_state(engine, RELINKED_FROM)
    return moment is not None and done is not None and moment <= datetime.fromisoformat(done)
