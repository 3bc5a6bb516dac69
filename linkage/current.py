"""Which records are current: every row of each provider's newest accepted extract, and the
earlier rows that stay current (carried forward), and the read model the linkage and CME
rules work from. Reads and flags rows; never changes a record's content."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import String, func, literal_column, select, update
from sqlalchemy.orm import Session

from register import ExtractFile, QuarantinedRow, SourceRecord, get_state, read_frame, set_state, utc_now

REFRESHED = "active_refreshed_at"  # when the last refresh began: providers with files since are redone


def refresh_active(engine) -> dict[str, int]:
    """Mark which records are current: every row of each provider's newest accepted extract,
    and, for school rolls, the latest row of each child an earlier extract listed and the
    newest one leaves out (carried forward). A roll that drops a child with no leaving record
    is how off-rolling shows, and a leaver dropped after a year must not vanish from tracking.
    Only providers with a file processed since the last refresh are looked at again (a file
    accepted, held, released or rejected); the first refresh looks at every provider."""
    began = utc_now()
    since = get_state(engine, REFRESHED)
    with Session(engine) as s:
        files = pd.DataFrame(s.execute(select(ExtractFile.id, ExtractFile.feed, ExtractFile.provider,
                                              ExtractFile.extract_date)
                                       .where(ExtractFile.status == "accepted")).all(),
                             columns=["file_id", "feed", "provider", "extract_date"])
        if since is not None:
            changed = set(s.execute(select(ExtractFile.provider).where(
                ExtractFile.processed_at >= datetime.fromisoformat(since))).scalars())
            files = files[files["provider"].isin(changed)]
        else:
            changed = None
        mine = (lambda q: q) if changed is None else (lambda q: q.where(SourceRecord.provider.in_(sorted(changed))))
        files = files.sort_values(["extract_date", "file_id"])
        newest = files.groupby(["feed", "provider"]).tail(1)
        current = sorted(int(f) for f in newest["file_id"])
        carried = _carried_forward(s, files, set(current), changed)  # record id -> why
        s.execute(mine(update(SourceRecord).where(SourceRecord.active.is_(True), SourceRecord.file_id.not_in(current),
                                                  SourceRecord.carried_forward.is_(False))).values(active=False))
        s.execute(update(SourceRecord).where(SourceRecord.file_id.in_(current))
                  .where((SourceRecord.active.is_(False)) | SourceRecord.carried_forward.is_(True))
                  .values(active=True, carried_forward=False, carried_because=None))
        was = dict(s.execute(mine(select(SourceRecord.id, SourceRecord.carried_because)
                                  .where(SourceRecord.carried_forward.is_(True)))).all())
        _set_flags(s, sorted(set(was) - set(carried)), active=False, carried_forward=False, carried_because=None)
        for why in ("left_out", "quarantined"):
            _set_flags(s, sorted(i for i, w in carried.items() if w == why and was.get(i) != why),
                       active=True, carried_forward=True, carried_because=why)
        s.commit()
        counts = dict(s.execute(select(SourceRecord.feed, func.count()).where(SourceRecord.active.is_(True))
                                .group_by(SourceRecord.feed)).all())
    set_state(engine, REFRESHED, began.isoformat())
    return {**{feed: int(n) for feed, n in counts.items()}, "carried_forward": len(carried),
            "providers_refreshed": len(changed) if changed is not None else "all"}


def _carried_forward(s: Session, files: pd.DataFrame, current: set[int], providers: set[str] | None = None
                     ) -> dict[int, str]:
    """Earlier rows that stay current, and why:
    - quarantined (any feed): the child's row in its provider's newest extract failed
      validation, but its identifier is valid; the latest earlier row with that key stands in;
    - left_out (school rolls): the newest extract does not list the child at all; the latest
      earlier row is the last thing the roll said (a leaver, or a pupil dropped off the roll)."""
    earlier_files = files[~files["file_id"].isin(current)]
    if earlier_files.empty:
        return {}
    bad_keys = set(s.execute(select(QuarantinedRow.record_key).where(
        QuarantinedRow.file_id.in_(current), QuarantinedRow.record_key.is_not(None))).scalars())
    q = select(SourceRecord.id, SourceRecord.file_id, SourceRecord.record_key, SourceRecord.feed)
    if providers is not None:
        q = q.where(SourceRecord.provider.in_(sorted(providers)))
    rows = pd.DataFrame(s.execute(q).all(), columns=["id", "file_id", "record_key", "feed"])
    rows = rows.merge(files[["file_id", "extract_date"]], on="file_id")
    in_newest = set(rows.loc[rows["file_id"].isin(current), "record_key"])
    older = rows[~rows["file_id"].isin(current) & ~rows["record_key"].isin(in_newest)]
    latest = older.sort_values(["extract_date", "file_id", "id"]).groupby("record_key").tail(1)
    why = pd.Series(None, index=latest.index, dtype=object)
    why[latest["feed"] == "school"] = "left_out"
    why[latest["record_key"].isin(bad_keys)] = "quarantined"
    return {int(i): w for i, w in zip(latest["id"], why) if w}


def _set_flags(s: Session, ids: list[int], **values) -> None:
    for i in range(0, len(ids), 5000):
        s.execute(update(SourceRecord).where(SourceRecord.id.in_(ids[i:i + 5000])).values(**values))


ACTIVE_COLUMNS = ["id", "record_key", "feed", "provider", "child_id", "upn", "former_upn", "nhs_number",
                  "la_child_id", "surname", "forename", "middle_names", "alt_surname", "dob", "sex",
                  "address_line1", "postcode", "residence_la", "start_date", "end_date", "end_reason",
                  "enrol_status", "record_type", "destination_laestab", "shielded", "carried_forward",
                  "carried_because"]


# Read only when asked for by name (the children-not-in-school register's).
ON_REQUEST_COLUMNS = ["arrangement", "hours_elsewhere", "register_items"]
_TEXT = {c for c in ACTIVE_COLUMNS + ON_REQUEST_COLUMNS if isinstance(getattr(SourceRecord, c).type, String)}


def active_records(engine, ids: list[int] | None = None, children: list[str] | None = None,
                   columns: list[str] | None = None, within=None) -> pd.DataFrame:
    """Current records, with the date of the extract each came from and, for a school row
    carried forward with no leaving date before that extract, gone_from_roll. With ids or
    children: only those records, and the records of those children (an incremental link).
    columns: only these of ACTIVE_COLUMNS (with id and what gone_from_roll is made of).
    within: a query of child ids; only their records, in one read."""
    wanted = ACTIVE_COLUMNS if columns is None else \
        [c for c in ACTIVE_COLUMNS + ON_REQUEST_COLUMNS
         if c in set(columns) | {"id", "feed", "end_date", "carried_because"}]
    # Text columns come as "" for NULL (nothing known), from the database.
    cols = [func.coalesce(getattr(SourceRecord, c), literal_column("''")).label(c) if c in _TEXT else getattr(SourceRecord, c)
            for c in wanted]
    base = select(*cols, ExtractFile.extract_date).join(ExtractFile, ExtractFile.id == SourceRecord.file_id) \
        .where(SourceRecord.active.is_(True))
    with engine.connect() as conn:
        if within is not None:
            df = read_frame(conn, base.where(SourceRecord.child_id.in_(within)).order_by(SourceRecord.id))
        elif ids is None and children is None:
            df = read_frame(conn, base.order_by(SourceRecord.id))
        else:
            rows, seen = [], set()
            for column, values in ((SourceRecord.id, sorted(ids or [])), (SourceRecord.child_id, sorted(children or []))):
                for i in range(0, len(values), 900):
                    for row in conn.execute(base.where(column.in_(values[i:i + 900]))):
                        if row[0] not in seen:
                            seen.add(row[0])
                            rows.append(row)
            rows.sort(key=lambda r: r[0])
            df = pd.DataFrame(rows, columns=wanted + ["extract_date"])
    left_before = pd.to_datetime(df["end_date"]).le(pd.to_datetime(df["extract_date"]))
    df["gone_from_roll"] = (df["carried_because"] == "left_out") & (df["feed"] == "school") & ~left_before
    return df
