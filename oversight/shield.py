"""Which records and register children the shield covers. The shield holds even when linkage is
unsure: it spreads from every shielded record to any record that shares an NHS number, UPN or
LA child id with it, or that has a candidate pair with it no analyst has ruled different, and
then to the whole register child of each such record, until nothing more is reached. A
shielded child's location must never leave through a record that failed to link.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func, or_, select

from register import CandidatePair, Kept, RegisterState, ReviewDecision, ShieldedMember, SourceRecord, get_state, set_state


@dataclass(frozen=True)
class ShieldScope:
    record_keys: frozenset[str]
    child_ids: frozenset[str]

    def covers(self, record_key: str | None, child_id: str | None) -> bool:
        return record_key in self.record_keys or child_id in self.child_ids


def shield_scope(engine, max_rounds: int = 20) -> ShieldScope:
    with engine.connect() as conn:
        recs = pd.DataFrame(conn.execute(
            select(SourceRecord.record_key, SourceRecord.child_id, SourceRecord.nhs_number, SourceRecord.upn,
                   SourceRecord.la_child_id, SourceRecord.provider, SourceRecord.shielded)).all(),
            columns=["key", "child", "nhs", "upn", "la_id", "provider", "shielded"])
        if recs.empty or not recs["shielded"].fillna(False).any():
            return ShieldScope(frozenset(), frozenset())
        pairs = pd.DataFrame(conn.execute(
            select(CandidatePair.key_a, CandidatePair.key_b)
            .where(or_(CandidatePair.analyst_decision.is_(None), CandidatePair.analyst_decision != "different"))
        ).all(), columns=["a", "b"])
    recs["la_id"] = recs["provider"] + ":" + recs["la_id"].fillna("")
    recs.loc[recs["la_id"].str.endswith(":"), "la_id"] = None
    keys = set(recs.loc[recs["shielded"].fillna(False).astype(bool), "key"])
    children: set[str] = set()
    partner = pd.concat([pairs.rename(columns={"a": "key", "b": "other"}),
                         pairs.rename(columns={"b": "key", "a": "other"})], ignore_index=True)
    for _ in range(max_rounds):
        mine = recs[recs["key"].isin(keys) | recs["child"].isin(children)]
        reached = set(mine["key"])
        for col in ("nhs", "upn", "la_id"):
            values = set(mine[col].dropna()) - {""}
            reached |= set(recs.loc[recs[col].isin(values), "key"])
        reached |= set(partner.loc[partner["key"].isin(reached), "other"])
        new_children = set(recs.loc[recs["key"].isin(reached), "child"].dropna())
        if reached <= keys and new_children <= children:
            break
        keys |= reached
        children |= new_children
    return ShieldScope(frozenset(keys), frozenset(children))


# --- The scope kept for pages ---------------------------------------------------------------
#
# Between runs only analysts change what the scope depends on: a ruling of "different" can only
# shrink it (keeping the larger scope withholds more, never less, until the next run), while a
# new pair or a ruling taken back can join a covered record to one outside. So a kept scope
# stays valid for as long as the records and links are those it was made from, provided every
# pair queued and decision made since is checked: one that joins a covered record to an
# uncovered one (and is not ruled different) means computing the scope again.

SCOPE_STATE = "shield_scope"


@dataclass(frozen=True)
class _Marks:
    records: tuple  # (newest record id, links fingerprint and when it was set): only runs move them
    pair_id: int  # newest candidate pair and decision the scope took account of
    decision_id: int


def _record_marks(conn) -> tuple:
    links = conn.execute(select(RegisterState.value, RegisterState.updated_at)
                         .where(RegisterState.name == "links_inputs_fingerprint")).first()
    return (conn.execute(select(func.max(SourceRecord.id))).scalar() or 0,
            tuple(links) if links else None)


def _marks_now(conn) -> _Marks:
    return _Marks(_record_marks(conn), conn.execute(select(func.max(CandidatePair.id))).scalar() or 0,
                  conn.execute(select(func.max(ReviewDecision.id))).scalar() or 0)


def _compute(engine) -> tuple[_Marks, ShieldScope]:
    with engine.connect() as conn:
        marks = _marks_now(conn)  # read first: anything later is checked again, never missed
    return marks, shield_scope(engine)


def save_shield_scope(engine) -> int:
    """Compute the scope and keep it in the register for pages (the last step of a run that
    changed records or links). Returns how many records it covers."""
    marks, scope = _compute(engine)
    with engine.begin() as conn:
        conn.execute(ShieldedMember.__table__.delete())
        rows = [{"kind": "r", "value": k} for k in sorted(scope.record_keys)]
        rows += [{"kind": "c", "value": c} for c in sorted(scope.child_ids)]
        if rows:
            conn.execute(ShieldedMember.__table__.insert(), rows)
    set_state(engine, SCOPE_STATE, json.dumps({"records": _jsonable(marks.records), "pair_id": marks.pair_id,
                                               "decision_id": marks.decision_id}))
    return len(scope.record_keys)


def keep_shield_scope(engine) -> bool:
    """Keep a new scope for pages unless the one kept still holds. True when it saved one."""
    saved = _saved(engine)
    if saved is not None and _still_holds(engine, *saved) is not None:
        return False
    save_shield_scope(engine)
    return True


def _jsonable(records: tuple) -> list:
    newest, links = records
    return [newest, None if links is None else [links[0], links[1].isoformat() if links[1] else None]]


def _saved(engine) -> tuple[_Marks, ShieldScope] | None:
    """The scope the last run kept, with the marks it was made at; None when there is none or
    a run is writing a new one as we read."""
    before = get_state(engine, SCOPE_STATE)
    if before is None:
        return None
    with engine.connect() as conn:
        members = conn.execute(select(ShieldedMember.kind, ShieldedMember.value)).all()
    if get_state(engine, SCOPE_STATE) != before:
        return None
    saved = json.loads(before)
    newest, links = saved["records"]
    records = (newest, None if links is None else
               (links[0], datetime.fromisoformat(links[1]) if links[1] else None))
    scope = ShieldScope(frozenset(v for k, v in members if k == "r"), frozenset(v for k, v in members if k == "c"))
    return _Marks(records, saved["pair_id"], saved["decision_id"]), scope


def _still_holds(engine, marks: _Marks, scope: ShieldScope) -> _Marks | None:
    """The marks moved on to now when nothing queued or decided since `marks` can widen the
    scope; None when something can (compute again)."""
    with engine.connect() as conn:
        now = _marks_now(conn)
        joins = conn.execute(select(CandidatePair.key_a, CandidatePair.key_b, CandidatePair.analyst_decision)
                             .where(CandidatePair.id > marks.pair_id)).all()
        joins += conn.execute(select(ReviewDecision.key_a, ReviewDecision.key_b, ReviewDecision.decision)
                              .where(ReviewDecision.id > marks.decision_id)).all()
    if now.records != marks.records:
        return None
    for a, b, decision in joins:
        if decision != "different" and (a in scope.record_keys) != (b in scope.record_keys):
            return None
    return now


_KEPT: Kept[tuple[_Marks, ShieldScope]] = Kept()


def current_shield_scope(engine) -> ShieldScope:
    """The shield's scope for a page: the one kept in this process or by the last run while it
    still holds (a few indexed reads), else computed again (seconds on a large register)."""
    kept = _KEPT.peek(engine)
    candidate = kept[1] if kept else None
    with engine.connect() as conn:
        records_now = _record_marks(conn)
    if candidate is None or candidate[0].records != records_now:
        candidate = _saved(engine)
    moved = _still_holds(engine, *candidate) if candidate else None
    if moved is None:
        candidate = _compute(engine)
        moved = candidate[0]
    _KEPT.put(engine, None, (moved, candidate[1]))
    return candidate[1]
