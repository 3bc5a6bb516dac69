"""The link index: what the last link knew of each current record (register.models.RecordIndex),
so an incremental link reads only what changed. A new delivery's records are compared with
it by key and content: a record whose key and linkage fields are unchanged keeps its child
untouched; a new or changed record finds its candidates through the blocking keys kept here
(never by reading the register), and the children it may join, with the children that lost
or changed a record or whose records an analyst has ruled on since, are re-linked together.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, delete, func, or_, select

from linkage.current import ACTIVE_COLUMNS
from matching import block_cap, block_keys, key_columns, standardise
from register import KEY_SLOTS, RecordIndex, ReviewDecision, SourceRecord, insert_frame, make_engine

# What linkage reads of a record: a change to any of these re-links its child.
LINK_FIELDS = ["record_key", "feed", "provider", "upn", "former_upn", "nhs_number", "surname", "forename",
               "middle_names", "alt_surname", "dob", "sex", "postcode", "shielded"]
SLOTS = [f"k{i}" for i in range(KEY_SLOTS)]
log = logging.getLogger("rollcall.register")
assert len(key_columns()) <= KEY_SLOTS, "more blocking keys than record_index has slots"


@dataclass
class IndexParts:
    """record_index rows as arrays (cheap to hand to another process): one row per record."""
    record_id: np.ndarray  # int64
    record_key: np.ndarray  # object
    content: np.ndarray  # uint64, content_hashes before formatting
    given: np.ndarray  # object
    family: np.ndarray  # object
    keys: np.ndarray  # int64, one column per slot in use, 0 for no key

    def __len__(self) -> int:
        return len(self.record_id)


def index_parts(records: pd.DataFrame, standardised: pd.DataFrame | None = None,
                keys: pd.DataFrame | None = None) -> IndexParts:
    """The index rows of these records (as records' order); standardised and their block keys
    are made here unless given (a full link has made both)."""
    if not len(records):
        return IndexParts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), np.zeros(0, dtype=np.uint64),
                          np.zeros(0, dtype=object), np.zeros(0, dtype=object),
                          np.zeros((0, len(key_columns())), dtype=np.int64))
    standardised = standardise(records) if standardised is None else standardised
    keys = block_keys(standardised) if keys is None else keys
    return IndexParts(records["id"].astype(np.int64).to_numpy(), records["record_key"].to_numpy(dtype=object),
                      _content_values(records), standardised["given"].to_numpy(dtype=object),
                      standardised["family"].to_numpy(dtype=object),
                      np.column_stack([keys[c].to_numpy(dtype=np.int64) for c in key_columns()]))


def _content_values(records: pd.DataFrame) -> np.ndarray:
    parts = pd.DataFrame({c: records[c].astype(str) if c in records else "" for c in LINK_FIELDS},
                         index=records.index).fillna("")
    if parts.empty:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_pandas_object(parts, index=False).to_numpy()  # one stable hash per row


def content_hashes(records: pd.DataFrame) -> pd.Series:
    return pd.Series(_hex(_content_values(records)), index=records.index, dtype=object)


def _hex(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%016x", values) if len(values) else np.zeros(0, dtype=object)


def parts_frame(parts: IndexParts) -> pd.DataFrame:
    out = pd.DataFrame({"record_id": parts.record_id, "record_key": parts.record_key, "content": _hex(parts.content),
                        "given": parts.given, "family": parts.family})
    for i, slot in enumerate(SLOTS[:parts.keys.shape[1]]):
        values = parts.keys[:, i]
        out[slot] = np.where(values == 0, None, values.astype(object))  # Python ints, None for no key
    return out


def index_frame(records: pd.DataFrame, standardised: pd.DataFrame | None = None,
                keys: pd.DataFrame | None = None) -> pd.DataFrame:
    """record_index rows for these records (one per row, as records' order)."""
    return parts_frame(index_parts(records, standardised, keys))


def _insert(conn, frame: pd.DataFrame) -> None:
    """At a full link the rows are every current record: straight to the driver."""
    insert_frame(conn, RecordIndex.__table__, frame)


def rebuild_index(engine, records: pd.DataFrame, standardised: pd.DataFrame | None = None,
                  keys: pd.DataFrame | None = None) -> int:
    """After a full link: the index holds exactly these (the current) records."""
    return write_index(engine, index_parts(records, standardised, keys))


def write_index(engine, parts: IndexParts) -> int:
    """Replace the index with these rows in one transaction. Its indexes are dropped and built
    again around the load (a sorted build is several times faster)."""
    frame = parts_frame(parts) if len(parts) else None
    with engine.begin() as conn:
        conn.execute(delete(RecordIndex))
        if frame is not None:
            indexes = list(RecordIndex.__table__.indexes)
            for ix in indexes:
                ix.drop(conn)
            _insert(conn, frame)
            for ix in indexes:
                ix.create(conn)
    return len(parts)


class IndexWriter:
    """write_index in a spawned process while this one goes on (a full link rebuilds the index
    while it scores and clusters: the index depends only on the records and their keys). The
    writer has its own connection and transaction; wait() returns once the index is written,
    and writes it here if the process failed. Nothing else may write the index meanwhile."""

    def __init__(self, engine, parts: IndexParts):
        self.engine, self.parts = engine, parts
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            self.future = self.pool.submit(_write_index_at, engine.url.render_as_string(hide_password=False), parts)
        except Exception:  # noqa: BLE001 - no process: wait() writes it here
            self.future = None

    def wait(self) -> int:
        try:
            if self.future is not None:
                return self.future.result()
        except Exception as exc:  # noqa: BLE001 - written here instead
            log.warning("the link index could not be written in its own process (%s); writing it in the run's",
                        type(exc).__name__)
        finally:
            self.pool.shutdown(wait=True)
        return write_index(self.engine, self.parts)


def _write_index_at(url: str, parts: IndexParts) -> int:
    engine = make_engine(url)
    try:
        return write_index(engine, parts)
    finally:
        engine.dispose()


def index_size(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(RecordIndex)).scalar()


def name_counts(engine) -> dict[str, pd.Series]:
    """The register's given and family names with how many current records carry each."""
    out = {}
    with engine.connect() as conn:
        for name, column in (("forename", RecordIndex.given), ("surname", RecordIndex.family)):
            rows = conn.execute(select(column, func.count()).where(column != "").group_by(column)).all()
            out[name] = pd.Series({v: n for v, n in rows}, dtype="int64")
    return out


@dataclass
class Increment:
    """What changed since the last link, and what must be linked again."""
    fresh: pd.DataFrame  # new or changed current records (ACTIVE_COLUMNS)
    kept: dict[int, str] = field(default_factory=dict)  # unchanged new row id -> its key's child
    removed: list[int] = field(default_factory=list)  # index rows no longer current
    removed_keys: set[str] = field(default_factory=set)  # keys gone or changed (their old pairs are stale)
    affected: set[str] = field(default_factory=set)  # children to re-link whole
    candidates: int = 0
    moved: list[tuple[int, int]] = field(default_factory=list)  # (old row, new row) of each unchanged record

    @property
    def empty(self) -> bool:
        return self.fresh.empty and not self.kept and not self.removed and not self.affected


def plan_increment(engine, since_decision: int) -> Increment:
    """Compare the current records with the index: which rows are new, which changed, which
    went; find the new and changed rows' candidates through the kept blocking keys; and the
    children to re-link (their candidates', their old ones, those that lost a record, and
    those with records an analyst ruled on since decision `since_decision`)."""
    cols = [getattr(SourceRecord, c) for c in ACTIVE_COLUMNS]
    with engine.connect() as conn:
        new_rows = conn.execute(select(*cols).outerjoin(RecordIndex, RecordIndex.record_id == SourceRecord.id)
                                .where(SourceRecord.active.is_(True), RecordIndex.record_id.is_(None))).all()
        # Rows no longer current, and rows retention deleted (their entry must go too).
        gone = conn.execute(select(RecordIndex.record_id, RecordIndex.record_key, RecordIndex.content,
                                   SourceRecord.child_id)
                            .outerjoin(SourceRecord, SourceRecord.id == RecordIndex.record_id)
                            .where(or_(SourceRecord.active.is_(False), SourceRecord.id.is_(None)))).all()
        ruled = conn.execute(select(ReviewDecision.key_a, ReviewDecision.key_b)
                             .where(ReviewDecision.id > since_decision)).all()
    new = pd.DataFrame(new_rows, columns=ACTIVE_COLUMNS)
    for c in ACTIVE_COLUMNS:
        if new[c].dtype == object and c not in ("dob", "start_date", "end_date", "shielded", "carried_forward"):
            new[c] = new[c].fillna("")
    was = {key: (content, child) for _, key, content, child in gone}
    hashes = content_hashes(new) if len(new) else pd.Series([], dtype=object)
    same = np.array([was.get(k, ("", None))[0] == h for k, h in zip(new["record_key"], hashes)], dtype=bool)
    old_row = {key: int(rid) for rid, key, _, _ in gone}
    kept = {int(i): was[k][1] for i, k in zip(new.loc[same, "id"], new.loc[same, "record_key"]) if was[k][1]}
    moved = [(old_row[k], int(i)) for i, k in zip(new["id"], new["record_key"]) if int(i) in kept]
    fresh = new[~new["id"].isin(list(kept))].reset_index(drop=True)
    unchanged_keys = set(new.loc[same, "record_key"])
    affected = {child for key, (_, child) in was.items() if child and key not in unchanged_keys}
    ruled_keys = {k for pair in ruled for k in pair}
    if ruled_keys:
        affected |= _children_where(engine, SourceRecord.record_key, ruled_keys, SourceRecord.active.is_(True))
    plan = Increment(fresh, kept, [int(r[0]) for r in gone], {k for k in was if k not in unchanged_keys}, affected,
                     moved=moved)
    if len(fresh):
        # An unchanged record is still in the index under its old row, which finds its child;
        # only rows whose record went or changed are no candidates.
        stale = {int(rid) for rid, key, _, _ in gone if key not in unchanged_keys}
        ids = candidate_ids(engine, index_frame(fresh), exclude=stale)
        plan.candidates = len(ids)
        affected |= _children_where(engine, SourceRecord.id, ids)
    plan.affected = {c for c in affected if c}
    return plan


def candidate_ids(engine, wanted: pd.DataFrame, exclude: set[int]) -> set[int]:
    """Index rows sharing a blocking key with any of these rows (a key held by more records
    than its rule's cap, matching.block.block_cap, is too common to be evidence, as in a full
    link). An asymmetric rule's
    left key meets the other side's right key and the other way round."""
    found: set[int] = set()
    names = key_columns()
    slot_of = dict(zip(names, SLOTS))
    with engine.connect() as conn:
        for name in names:
            mine = slot_of[name]
            theirs = slot_of[name[:-1] + (">" if name.endswith("<") else "<")] if name[-1] in "<>" else mine
            cap = block_cap(name.rstrip("<>"))
            values = sorted({int(v) for v in wanted[mine].dropna()})
            column = getattr(RecordIndex, theirs)
            for i in range(0, len(values), 900):
                chunk = values[i:i + 900]
                rows = conn.execute(select(column, RecordIndex.record_id).where(column.in_(chunk))).all()
                sizes: dict[int, int] = {}
                for value, _ in rows:
                    sizes[value] = sizes.get(value, 0) + 1
                found |= {rid for value, rid in rows if sizes[value] < cap and rid not in exclude}
    return found


def _children_where(engine, column, values, *also) -> set[str]:
    """Children of the records whose column holds one of the values (900 to a query)."""
    out, wanted = set(), sorted(values)
    with engine.connect() as conn:
        for i in range(0, len(wanted), 900):
            out |= set(conn.execute(select(SourceRecord.child_id).where(column.in_(wanted[i:i + 900]), *also)
                                    ).scalars())
    return {c for c in out if c}


def apply_increment(engine, plan: Increment) -> None:
    """The index after this link: an unchanged record's entry moved to its new row (nothing
    about it is computed again) and its child kept; removed and changed rows out; new and
    changed rows in."""
    moved_from = {old for old, _ in plan.moved}
    out = [rid for rid in plan.removed if rid not in moved_from]
    with engine.begin() as conn:
        for i in range(0, len(out), 900):
            conn.execute(delete(RecordIndex).where(RecordIndex.record_id.in_(out[i:i + 900])))
        if plan.moved:
            conn.execute(RecordIndex.__table__.update().where(RecordIndex.record_id == bindparam("old"))
                         .values(record_id=bindparam("new")),
                         [{"old": old, "new": new} for old, new in plan.moved])
            conn.execute(SourceRecord.__table__.update().where(SourceRecord.id == bindparam("rid"))
                         .values(child_id=bindparam("cid")),
                         [{"rid": rid, "cid": cid} for rid, cid in plan.kept.items()])
        if len(plan.fresh):
            _insert(conn, index_frame(plan.fresh))


def newest_decision(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(ReviewDecision.id), 0))).scalar()
