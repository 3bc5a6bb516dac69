"""Store a collected file's rows in the register: accepted rows with their provenance and record
key, bad rows quarantined with reasons, the hold rule for a file far smaller than its provider's
last, the ledger entry finished and its receipt built. Never sends anything:
sources/acknowledge.py sends the receipt. Mapping rows is sources.mapping; reading and
validating ahead, in worker processes, is sources.preparing."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from register import ExtractFile, QuarantinedRow, RowValues, SourceRecord, insert_values, utc_now
from schemas import FileRejected, Receipt, RowFault, require_some_valid_rows
from sources.mapping import KEY_COLUMN, split_key_conflicts
from sources.preparing import Prepared, prepared_chunks, verify_archive

log = logging.getLogger("rollcall.register")


@dataclass
class LoadReport:
    accepted: int = 0
    rejected: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    warnings: int = 0
    failed: int = 0  # files that could not be loaded this run (left collected)
    disk_full: int = 0  # of those, files a full disk stopped
    held: int = 0  # files held for an operator: far smaller than their provider's current extract
    per_feed_rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: LoadReport) -> None:
        for name in ("accepted", "rejected", "rows_accepted", "rows_quarantined", "warnings", "failed", "disk_full",
                     "held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for feed, rows in other.per_feed_rows.items():
            self.per_feed_rows[feed] = self.per_feed_rows.get(feed, 0) + rows





# Database errors a row's own values cause (too long, out of range, a constraint it breaks).
ROW_FAULTS = (DataError, IntegrityError)


def store_rows(s: Session, rows: RowValues) -> list[RowFault]:
    """Insert the rows; should the database refuse the batch for what a row holds, insert them
    one at a time and return a fault for each row it refuses (quarantined with its reason, never
    its content). Any other database fault (locked, unreachable, full) is no row's fault: it is
    raised, so the whole file stays collected and is tried again."""
    table = SourceRecord.__table__
    try:
        with s.begin_nested():
            insert_values(s.connection(), table, rows)
        return []
    except ROW_FAULTS:
        pass
    unstored = []
    row_no = rows.names.index("row_no")
    for row in rows.rows:
        try:
            with s.begin_nested():
                insert_values(s.connection(), table, RowValues(rows.names, [row]))
        except ROW_FAULTS as exc:
            unstored.append(RowFault(int(row[row_no]), "", "the row could not be stored in the register "
                                     f"({type(exc.orig).__name__}); please check its values"))
    return unstored


HOLD_MIN_PREVIOUS_ROWS = 20  # a provider this small can shrink by half in a month


def _hold_reason(s: Session, f: ExtractFile, rows: int, hold_below: float) -> str | None:
    """A newer extract far smaller than the provider's current one (a partial export, the wrong
    file) would drop most of its children at once: hold it for an operator instead."""
    if not hold_below:
        return None
    current = s.execute(select(ExtractFile.rows_accepted, ExtractFile.extract_date)
                        .where(ExtractFile.feed == f.feed, ExtractFile.provider == f.provider,
                               ExtractFile.status == "accepted", ExtractFile.id != f.id)
                        .order_by(ExtractFile.extract_date.desc(), ExtractFile.id.desc()).limit(1)).first()
    if current is None or current.rows_accepted is None or current.rows_accepted < HOLD_MIN_PREVIOUS_ROWS:
        return None
    if f.extract_date is not None and current.extract_date is not None and f.extract_date < current.extract_date:
        return None  # an older extract arriving late replaces nothing anyway
    if rows >= hold_below * current.rows_accepted:
        return None
    return (f"held: the extract has {rows} accepted rows, far fewer than the {current.rows_accepted} of your "
            "current extract; it is applied only when the register's operators confirm it. If it is a partial "
            "export, send the full extract instead")



@dataclass
class _Loaded:
    """What loading a file's chunks adds up to."""
    rows_total: int = 0
    rows_accepted: int = 0
    warnings: list[str] = field(default_factory=list)
    faults: list[RowFault] = field(default_factory=list)



def _load_chunks(s: Session, f: ExtractFile, secret: bytes, out: _Loaded,
                 prepared: list[Prepared] | None = None) -> None:
    """Store the archived file's chunks (as prepare_files prepared them, or read, validated and
    prepared here a chunk at a time) into `out`; quarantine bad rows with their keys. Raises
    FileRejected for a fault of the whole file (the caller rolls back; `out` keeps the row
    faults found so far for the receipt)."""
    sqlite = s.get_bind().dialect.name == "sqlite"
    for p in (prepared if prepared is not None else prepared_chunks(f, secret, sqlite)):
        faults, bad_keys = p.faults, p.bad_keys
        if len(p.rows):
            refused = store_rows(s, p.rows)
            if refused:
                faults = sorted(faults + refused, key=lambda x: x.row)
                bad_keys = {**bad_keys, **p.keys_of([x.row for x in refused], secret)}
        if faults:
            s.execute(insert(QuarantinedRow), [{"file_id": f.id, "row_no": x.row, "column": x.column or "(row)",
                                                "reason": x.reason, "record_key": bad_keys.get(x.row)}
                                               for x in faults])
        out.rows_total += p.rows_total
        out.rows_accepted += len(p.valid_rows) - len({x.row for x in faults if x.row in p.valid_rows})
        out.warnings += p.warnings
        out.faults += faults
    require_some_valid_rows(out.rows_total, out.rows_accepted)


def _split_stored_conflicts(s: Session, file_id: int, secret: bytes) -> list[list[int]]:
    """split_key_conflicts over the file's stored rows that share a record key (found by the
    database, so no chunk needs to see the whole file)."""
    shared = select(SourceRecord.record_key).where(SourceRecord.file_id == file_id) \
        .group_by(SourceRecord.record_key).having(func.count() > 1)
    rows = pd.DataFrame(s.execute(select(SourceRecord.id, SourceRecord.record_key, SourceRecord.row_no,
                                         SourceRecord.surname, SourceRecord.forename, SourceRecord.dob,
                                         SourceRecord.nhs_number)
                                  .where(SourceRecord.file_id == file_id, SourceRecord.record_key.in_(shared))
                                  .order_by(SourceRecord.row_no)).all(),
                        columns=["id", "record_key", "row_no", "surname", "forename", "dob", "nhs_number"])
    if rows.empty:
        return []
    rows["nhs_number"] = rows["nhs_number"].fillna("")
    before = rows["record_key"].copy()
    rows, conflicts = split_key_conflicts(rows, secret)
    changed = rows[rows["record_key"] != before]
    if len(changed):
        s.connection().execute(update(SourceRecord).where(SourceRecord.id == bindparam("rid"))
                               .values(record_key=bindparam("key")),
                               [{"rid": int(i), "key": k} for i, k in zip(changed["id"], changed["record_key"])])
    return conflicts


def load_file_in(s: Session, file_id: int, report: LoadReport, secret: bytes, hold_below: float = 0.5,
                 prepared: list[Prepared] | None = None) -> tuple[str, Receipt]:
    """Validate and store one collected file, finish its ledger row and return (its provider,
    its receipt) for the caller to send, in the caller's open write transaction (which the
    caller commits, with other files': see sources.acknowledge). prepared: its chunks as
    prepare_files verified, read, validated and prepared them (None: all of that is done here).
    A rejected file's rows go back to a savepoint taken here, so only its ledger row and
    receipt say what happened; an unexpected fault is raised."""
    f = s.get(ExtractFile, file_id)
    provider, name = f.provider, f.name
    receipt = Receipt(file=name, status="accepted", sha256=f.sha256, feed=f.feed, provider=f.provider,
                      extract_date=str(f.extract_date))
    loaded = _Loaded()
    stored = s.begin_nested()
    try:
        if prepared is None:
            verify_archive(f.archive_path, f.sha256)
        _load_chunks(s, f, secret, loaded, prepared)
    except FileRejected as exc:
        stored.rollback()  # nothing of a rejected file stays
        f = s.get(ExtractFile, file_id)
        receipt.status, receipt.reason, receipt.faults = "rejected", str(exc), loaded.faults
        f.status, f.reason = "rejected", str(exc)
        report.rejected += 1
    except BaseException:
        stored.rollback()
        raise
    else:
        stored.commit()
        for rows in _split_stored_conflicts(s, f.id, secret):
            loaded.warnings.append(
                f"rows {', '.join(map(str, rows))} share one {KEY_COLUMN[f.feed]} but describe different "
                "children: they are kept apart and sent to the register's review queue; please correct "
                "the identifier")
        receipt.rows_total, receipt.rows_accepted = loaded.rows_total, loaded.rows_accepted
        receipt.warnings, receipt.faults = loaded.warnings, loaded.faults
        f.status = "accepted"
        held = _hold_reason(s, f, loaded.rows_accepted, hold_below)
        if held:
            # Stored but not applied: an operator releases or rejects it (rollcall held).
            f.status, f.reason = "held", held
            receipt.status, receipt.reason = "held", held
            report.held += 1
            log.warning("ledger file %s is held: far fewer rows than its provider's last extract", file_id)
        f.rows_total, f.rows_accepted = loaded.rows_total, loaded.rows_accepted
        f.rows_quarantined = receipt.rows_quarantined
        f.warnings = json.dumps(loaded.warnings) if loaded.warnings else None
        report.accepted += 1
        report.rows_accepted += loaded.rows_accepted
        report.rows_quarantined += receipt.rows_quarantined
        report.warnings += len(loaded.warnings)
        report.per_feed_rows[f.feed] = report.per_feed_rows.get(f.feed, 0) + loaded.rows_accepted
    f.processed_at = utc_now()
    s.flush()
    log.info("ledger file %s: %s", file_id, receipt.status)
    return provider, receipt
