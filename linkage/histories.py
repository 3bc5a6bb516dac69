"""A child's history: every change to a register child is an event with its time and cause.
created, record_joined, record_left, merged_into (a retired child whose records went to
another), split_from (a new child made of records that were another's), retired (nobody
names the child any more), revived. The cause is the run that made the change and, when an
analyst's decision led to it, that decision. Record keys are keyed hashes (sources.keys);
no event holds a child's data."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import pandas as pd
from sqlalchemy import or_, select

from register import Child, ChildEvent, ReviewDecision, SourceRecord, insert_frame

EVENTS = ("created", "record_joined", "record_left", "merged_into", "split_from", "retired", "revived")


def events_of_change(old: pd.Series, new: pd.Series, keys: pd.Series, created: set[str],
                     successors: dict[str, str], gone: set[str], revived: set[str]) -> list[dict]:
    """The events one regrouping makes. old/new: each record's child before and after ("" for
    a record new to the register), keys: its record key; created, gone, revived: child ids;
    successors: retired child -> the child most of its records went to."""
    out: list[dict] = []
    came_from: dict[str, Counter] = {}
    for o, n, k in zip(old.to_numpy(), new.to_numpy(), keys.to_numpy()):
        if o == n:
            continue
        if o:
            out.append({"child_id": o, "event": "record_left", "record_key": k, "other_child_id": n})
            came_from.setdefault(n, Counter())[o] += 1
        out.append({"child_id": n, "event": "record_joined", "record_key": k, "other_child_id": o or None})
    for c in sorted(created):
        out.append({"child_id": c, "event": "created", "record_key": None, "other_child_id": None})
        source = came_from.get(c)
        if source:
            parent = source.most_common(1)[0][0]
            if parent not in gone:
                out.append({"child_id": c, "event": "split_from", "record_key": None, "other_child_id": parent})
    for c in sorted(gone):
        if successors.get(c):
            out.append({"child_id": c, "event": "merged_into", "record_key": None, "other_child_id": successors[c]})
        out.append({"child_id": c, "event": "retired", "record_key": None, "other_child_id": None})
    for c in sorted(revived):
        out.append({"child_id": c, "event": "revived", "record_key": None, "other_child_id": None})
    # Created first, then what joined, so a history reads in order.
    rank = {e: i for i, e in enumerate(("created", "split_from", "revived", "record_joined", "record_left",
                                        "merged_into", "retired"))}
    out.sort(key=lambda e: rank[e["event"]])
    return out


def decisions_since(engine, since: datetime | None) -> dict[str, int]:
    """Record key -> the newest same/different decision an analyst made on a pair with it since
    the last relink (the decisions this relink applies)."""
    q = select(ReviewDecision.id, ReviewDecision.key_a, ReviewDecision.key_b).where(
        ReviewDecision.decision.in_(("same", "different"))).order_by(ReviewDecision.id)
    if since is not None:
        q = q.where(ReviewDecision.decided_at >= since)
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for did, a, b in conn.execute(q):
            out[a] = out[b] = did
    return out


def save_events(conn, events: list[dict], at: datetime, cause: str, decisions: dict[str, int]) -> int:
    """Append the events in the caller's transaction; a record's event names the analyst
    decision on it, if any."""
    if not events:
        return 0
    rows = pd.DataFrame(events, columns=["child_id", "event", "record_key", "other_child_id"])
    rows["at"], rows["cause"] = at, cause
    rows["decision_id"] = pd.Series([decisions.get(k) if k else None for k in rows["record_key"]], dtype=object)
    insert_frame(conn, ChildEvent.__table__, rows)
    return len(rows)


def history(engine, child_id: str) -> list[ChildEvent]:
    """The child's events, oldest first."""
    with engine.connect() as conn:
        return list(conn.execute(select(ChildEvent).where(ChildEvent.child_id == child_id)
                                 .order_by(ChildEvent.at, ChildEvent.id)))


def current_children(engine, child_id: str) -> list[str]:
    """The children an id names now: itself while it lives; for a retired id, every live child
    now holding a record that was ever its (one for a merge, several for a split), or, for an id
    retired before histories were kept, the child most of its records went to."""
    with engine.connect() as conn:
        row = conn.execute(select(Child.retired_at).where(Child.child_id == child_id)).first()
        if row is None:
            return []
        if row.retired_at is None:
            return [child_id]
        keys = set(conn.execute(select(ChildEvent.record_key).where(
            ChildEvent.child_id == child_id, or_(ChildEvent.event == "record_joined",
                                                 ChildEvent.event == "record_left"))).scalars())
        keys |= set(conn.execute(select(SourceRecord.record_key).where(SourceRecord.child_id == child_id)).scalars())
        keys.discard(None)
        found: set[str] = set()
        key_list = sorted(keys)
        for i in range(0, len(key_list), 500):
            found |= set(conn.execute(select(SourceRecord.child_id).join(Child, Child.child_id == SourceRecord.child_id)
                                      .where(SourceRecord.record_key.in_(key_list[i:i + 500]),
                                             SourceRecord.active.is_(True), Child.retired_at.is_(None))).scalars())
    if not found:  # retired before histories were kept: where most of its records went
        now = current_child_id(engine, child_id)
        return [now] if now else []
    return sorted(found)


def current_child_id(engine, child_id: str) -> str | None:
    """The child an old id now names: itself, or where its records went when it was retired."""
    seen = set()
    with engine.connect() as conn:
        while child_id and child_id not in seen:
            seen.add(child_id)
            row = conn.execute(select(Child.retired_at, Child.now_child_id).where(Child.child_id == child_id)).first()
            if row is None:
                return None
            if row.retired_at is None or not row.now_child_id:
                return child_id
            child_id = row.now_child_id
    return child_id
