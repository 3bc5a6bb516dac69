"""Stable register child ids: each new clustering inherits the ids of the previous run by
majority of its records' keys, so a child keeps its id as extracts come and go. Ids are
opaque and never reused; a child no record names any more is retired.
"""
from __future__ import annotations

import secrets
from collections import Counter

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from linkage.histories import events_of_change, save_events
from register import Child, RecordCluster, SourceRecord, insert_frame, placeholder, utc_now

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U


def new_child_id() -> str:
    # 50 random bits, 5 to a character.
    bits = int.from_bytes(secrets.token_bytes(7), "big") >> 6
    return "RC" + "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(10))


def assign_ids(records: pd.DataFrame, clusters, prior: dict[str, str]) -> tuple[pd.Series, int]:
    """Child id per record row. prior: record_key -> child id from earlier runs."""
    votes: dict[int, Counter] = {}
    for label, key in zip(clusters, records["record_key"]):
        old = prior.get(key)
        if old:
            votes.setdefault(int(label), Counter())[old] += 1
    offers = sorted(((n, cid, label) for label, c in votes.items() for cid, n in c.items()),
                    key=lambda t: (-t[0], t[1], t[2]))
    chosen: dict[int, str] = {}
    taken: set[str] = set()
    for _, cid, label in offers:
        if label not in chosen and cid not in taken:
            chosen[label] = cid
            taken.add(cid)
    created = 0
    for label in sorted(set(int(x) for x in clusters)):
        if label not in chosen:
            chosen[label] = new_child_id()
            created += 1
    return pd.Series([chosen[int(x)] for x in clusters], index=records.index), created


def save_register(engine, records: pd.DataFrame, child_ids: pd.Series, cause: str = "a run",
                  decisions: dict[str, int] | None = None, scope_children: set[str] | None = None) -> dict[str, int]:
    """Give each record its child, create, revive and retire children, and write every change
    to the children's history (linkage.histories) with its cause, in one transaction. With
    scope_children (an incremental link): records are only those children's and the new
    ones, and only those children can be retired."""
    now = utc_now()
    changed = records.loc[records["child_id"] != child_ids, "id"]
    with Session(engine) as s:
        live = set(child_ids)
        if scope_children is None:
            existing = {cid: retired for cid, retired in s.execute(select(Child.child_id, Child.retired_at))}
        else:
            existing, ids = {}, sorted(live | scope_children)
            for i in range(0, len(ids), 900):
                existing.update(s.execute(select(Child.child_id, Child.retired_at)
                                          .where(Child.child_id.in_(ids[i:i + 900]))).all())
        created = sorted(live - existing.keys())
        # Straight to the driver, not ORM objects: a first load makes 200,000.
        insert_frame(s.connection(), Child.__table__, pd.DataFrame({"child_id": created, "created_at": now}))
        revived = [c for c in live if existing.get(c) is not None]
        if revived:
            s.execute(update(Child).where(Child.child_id.in_(revived)).values(retired_at=None))
        if len(changed):
            _set_child_ids(s, list(zip(changed.astype(int).tolist(), child_ids.loc[changed.index].tolist())))
        s.flush()
        # Rows of superseded files keep their child; a row never linked takes its key's child.
        orphans = s.execute(select(SourceRecord.id, SourceRecord.record_key)
                            .where(SourceRecord.child_id.is_(None))).all()
        if orphans:
            by_key = dict(s.execute(select(SourceRecord.record_key, func.max(SourceRecord.child_id))
                                    .where(SourceRecord.child_id.is_not(None))
                                    .where(SourceRecord.record_key.in_({k for _, k in orphans}))
                                    .group_by(SourceRecord.record_key)).all())
            fresh = {}
            for _, key in orphans:
                if key not in by_key and key not in fresh:
                    fresh[key] = new_child_id()
                    s.add(Child(child_id=fresh[key], created_at=now, retired_at=now))
            s.flush()
            _set_child_ids(s, [(rid, by_key.get(key) or fresh[key]) for rid, key in orphans])
        gone = [c for c, retired in existing.items() if retired is None and c not in live]
        successors = {}
        if gone:
            s.execute(update(Child).where(Child.child_id.in_(gone)).values(retired_at=now))
            successors = _successors(records["child_id"], child_ids, set(gone))
            if successors:
                s.connection().execute(update(Child).where(Child.child_id == bindparam("old"))
                                       .values(now_child_id=bindparam("new")),
                                       [{"old": o, "new": n} for o, n in successors.items()])
        events = events_of_change(records["child_id"].fillna(""), child_ids, records["record_key"],
                                  live - existing.keys(), successors, set(gone), set(revived))
        written = save_events(s.connection(), events, now, cause, decisions or {})
        s.commit()
    return {"children": len(live), "new_children": len(live - existing.keys()), "retired": len(gone),
            "records_moved": int(len(changed)), "history_events": written}


def _successors(old: pd.Series, new: pd.Series, gone: set[str]) -> dict[str, str]:
    """For each retired child id, the child most of its records now belong to."""
    moved = pd.DataFrame({"old": old.to_numpy(), "new": new.to_numpy()})
    moved = moved[moved["old"].isin(gone)]
    if moved.empty:
        return {}
    counts = moved.value_counts().reset_index(name="n").sort_values(["old", "n", "new"], ascending=[True, False, True])
    return dict(zip(counts.drop_duplicates("old")["old"], counts.drop_duplicates("old")["new"]))


def _set_child_ids(s: Session, pairs: list[tuple[int, str]]) -> None:
    """One executemany UPDATE for (record id, child id) pairs, straight to the driver (a first
    load gives every record its child)."""
    if not pairs:
        return
    conn = s.connection()
    mark = placeholder(conn)
    conn.exec_driver_sql(f"UPDATE {SourceRecord.__tablename__} SET child_id = {mark} WHERE id = {mark}",
                         [(cid, rid) for rid, cid in pairs])


def save_clusters(engine, record_ids, clusters) -> None:
    """Replace the handed-over grouping in one transaction (record id -> cluster label)."""
    rows = pd.DataFrame({"record_id": np.asarray(record_ids, dtype=np.int64), "cluster": np.asarray(clusters, dtype=np.int64)})
    with engine.begin() as conn:
        conn.execute(RecordCluster.__table__.delete())
        insert_frame(conn, RecordCluster.__table__, rows)


def load_clusters(engine) -> pd.DataFrame:
    """The grouping the links asset handed over, with each record's key and current child."""
    with engine.connect() as conn:
        rows = conn.execute(select(SourceRecord.id, SourceRecord.record_key, SourceRecord.child_id,
                                   RecordCluster.cluster)
                            .join(RecordCluster, RecordCluster.record_id == SourceRecord.id)
                            .order_by(SourceRecord.id)).all()
    frame = pd.DataFrame(rows, columns=["id", "record_key", "child_id", "cluster"])
    frame["child_id"] = frame["child_id"].fillna("")
    return frame


def live_children(engine) -> int:
    """How many register children are not retired."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Child).where(Child.retired_at.is_(None))).scalar()


def children_with_two_nhs_numbers(engine) -> set[str]:
    """Register children whose current records carry two different NHS numbers: a conflict to
    hold for review (the clustering never makes one; a shared provider key or a ruling can)."""
    with engine.connect() as conn:
        return set(conn.execute(
            select(SourceRecord.child_id).where(SourceRecord.active.is_(True), SourceRecord.nhs_number.is_not(None))
            .group_by(SourceRecord.child_id).having(func.count(SourceRecord.nhs_number.distinct()) > 1)).scalars())


def prior_ids(engine, keys: set[str] | None = None) -> dict[str, str]:
    """record key -> the child its newest row with a child belongs to (only these keys, given)."""
    q = select(SourceRecord.record_key, SourceRecord.child_id, SourceRecord.id).where(SourceRecord.child_id.is_not(None))
    with engine.connect() as conn:
        if keys is None:
            rows = conn.execute(q.order_by(SourceRecord.id)).all()
        else:
            wanted, rows = sorted(keys), []
            for i in range(0, len(wanted), 900):
                rows += conn.execute(q.where(SourceRecord.record_key.in_(wanted[i:i + 900]))).all()
            rows.sort(key=lambda r: r[2])
    return {k: c for k, c, _ in rows}  # the newest row's child wins
