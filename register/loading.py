"""Turn a collected file into register rows: validate it, store accepted rows with their
provenance and record key, quarantine bad rows with reasons, finish the ledger entry and build
its receipt. Never sends anything: sources/acknowledge.py sends the receipt."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pandas as pd
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from matching import CONFLICT_MARK
from register.db import begin_write, insert_frame
from register.keys import keyed, keyed_series, record_key_secret
from register.models import ExtractFile, QuarantinedRow, SourceRecord
from schemas.contract import FileRejected, RowFault
from schemas.identifiers import nhs_digits, nhs_valid, postcode_normalise, upn_valid
from schemas.reader import ParsedExtract, iter_extract
from schemas.receipt import Receipt
from schemas.validation import require_some_valid_rows, validate_extract, validate_extracts

log = logging.getLogger("rollcall.register")

# Each feed's columns mapped onto the register's common record columns.
RECORD_COLUMNS = {
    "school": {"upn": "upn", "former_upn": "former_upn", "surname": "surname", "forename": "forename",
               "middle_names": "middle_names", "preferred_surname": "alt_surname", "dob": "dob", "sex": "sex",
               "address_line1": "address_line1", "address_line2": "address_line2", "town": "town",
               "postcode": "postcode", "entry_date": "start_date", "leaving_date": "end_date",
               "leaving_reason": "end_reason", "enrol_status": "enrol_status",
               "destination_laestab": "destination_laestab"},
    "health": {"nhs_number": "nhs_number", "family_name": "surname", "given_name": "forename",
               "other_given_names": "middle_names", "dob": "dob", "gender": "sex", "address_line1": "address_line1",
               "address_line2": "address_line2", "town": "town", "postcode": "postcode",
               "residence_la": "residence_la", "registration_date": "start_date",
               "deregistration_date": "end_date", "deregistration_reason": "end_reason"},
    "la": {"la_child_id": "la_child_id", "upn": "upn", "nhs_number": "nhs_number", "surname": "surname",
           "forename": "forename", "dob": "dob", "sex": "sex", "address_line1": "address_line1",
           "postcode": "postcode", "record_type": "record_type", "status_date": "start_date",
           "shielded": "shielded"},
}
_GENDER_TO_SEX = {"1": "M", "2": "F"}


@dataclass
class LoadReport:
    accepted: int = 0
    rejected: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    warnings: int = 0
    failed: int = 0  # files that could not be loaded this run (left collected)
    held: int = 0  # files held for an operator: far smaller than their provider's current extract
    per_feed_rows: dict[str, int] = field(default_factory=dict)


def provider_identifiers(feed: str, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(identifier text to key on, where it is valid) from the provider's own id for the child:
    the UPN, the LA child id or the NHS number. Used for stored rows and quarantined rows alike,
    so a quarantined row gets the key its child's stored rows have."""
    if feed == "school":
        upn = frame["upn"].str.upper()
        return "upn:" + upn, upn_valid(upn)
    if feed == "la":
        return "la:" + frame["la_child_id"], frame["la_child_id"] != ""
    return "nhs:" + nhs_digits(frame["nhs_number"]), nhs_valid(frame["nhs_number"])


def record_keys(feed: str, provider: str, rec: pd.DataFrame, secret: bytes) -> pd.Series:
    """A key that names the same child at the same provider across that provider's extracts:
    the feed, the provider and a keyed hash of the provider's identifier for the child (a GP
    record with no NHS number: of its name and birth date). See register.keys."""
    ident, _ = provider_identifiers(feed, rec)
    if feed == "health":
        by_name = "name:" + rec["surname"].str.upper() + "|" + rec["forename"].str.upper() + "|" + rec["dob"].astype(str)
        ident = ident.where(rec["nhs_number"] != "", by_name)
    return f"{feed}:{provider}:" + keyed_series(secret, ident)


KEY_COLUMN = {"school": "upn", "la": "la_child_id", "health": "nhs_number"}


def clearly_different(a, b) -> bool:
    """Two rows one extract gives the same key, that cannot be one child: two different NHS
    numbers, or a different birth date and a different given name."""
    if a.nhs_number and b.nhs_number and a.nhs_number != b.nhs_number:
        return True
    return a.dob != b.dob and a.forename.strip().lower() != b.forename.strip().lower()


def split_key_conflicts(rec: pd.DataFrame, secret: bytes = b"") -> tuple[pd.DataFrame, list[list[int]]]:
    """A key (UPN, LA child id, NHS number) that one extract gives to clearly different
    children is a conflict, not a link: each child gets a key of its own (the shared key plus a
    hash of their name and birth date, stable from extract to extract) and linkage keeps them
    apart and sends them to review (matching.link). Returns the frame and, per conflict, the
    row numbers involved (for the receipt)."""
    shared = rec[rec["record_key"].duplicated(keep=False)]
    conflicts: list[list[int]] = []
    for _key, group in shared.groupby("record_key", sort=False):
        people: list = []
        owner = {}
        for row in group.itertuples():
            match = next((p for p in people if not clearly_different(p, row)), None)
            if match is None:
                people.append(row)
                match = row
            owner[row.Index] = match
        if len(people) > 1:
            conflicts.append(sorted(int(r.row_no) for r in group.itertuples()))
            for idx, person in owner.items():
                ident = f"{person.surname}|{person.forename}|{person.dob}".upper()
                rec.at[idx, "record_key"] += CONFLICT_MARK + keyed(secret, ident, 12)
    return rec, conflicts


def quarantined_keys(feed: str, provider: str, frame: pd.DataFrame, rows, secret: bytes) -> dict[int, str]:
    """Record keys of quarantined rows whose identifier itself is valid (UPN, LA child id, NHS
    number): the same key the row would have had, so the child's previous record can stand in."""
    sub = frame.loc[[r for r in set(rows) if r in frame.index]]
    if sub.empty:
        return {}
    ident, ok = provider_identifiers(feed, sub)
    if not ok.any():
        return {}
    keys = f"{feed}:{provider}:" + keyed_series(secret, ident[ok])
    return {int(r): k for r, k in keys.items()}


def to_records(feed: str, provider: str, valid: pd.DataFrame, secret: bytes) -> pd.DataFrame:
    rec = valid.rename(columns=RECORD_COLUMNS[feed])[list(RECORD_COLUMNS[feed].values())].copy()
    if "nhs_number" in rec:
        rec["nhs_number"] = nhs_digits(rec["nhs_number"])
    if feed == "health":
        rec["sex"] = rec["sex"].map(_GENDER_TO_SEX).fillna("")
    elif feed == "la":
        rec["sex"] = rec["sex"].where(rec["sex"] != "U", "")
        rec["shielded"] = rec["shielded"] == "Y"
    rec["postcode"] = postcode_normalise(rec["postcode"])
    rec["record_key"] = record_keys(feed, provider, rec, secret)
    rec["row_no"] = rec.index.astype(int)
    rec["feed"], rec["provider"] = feed, provider
    return rec


def _db_rows(rec: pd.DataFrame, file_id: int) -> pd.DataFrame:
    # Empty string means "not known": stored as NULL, decided for the whole frame at once.
    rec = rec.astype(object)
    return rec.where(rec.notna() & rec.ne(""), None).assign(file_id=file_id, active=False)


# Database errors a row's own values cause (too long, out of range, a constraint it breaks).
ROW_FAULTS = (DataError, IntegrityError)


def store_rows(s: Session, rows: pd.DataFrame) -> list[RowFault]:
    """Insert the rows; should the database refuse the batch for what a row holds, insert them
    one at a time and return a fault for each row it refuses (quarantined with its reason, never
    its content). Any other database fault (locked, unreachable, full) is no row's fault: it is
    raised, so the whole file stays collected and is tried again."""
    table = SourceRecord.__table__
    try:
        with s.begin_nested():
            insert_frame(s.connection(), table, rows)
        return []
    except ROW_FAULTS:
        pass
    unstored = []
    for i in range(len(rows)):
        try:
            with s.begin_nested():
                insert_frame(s.connection(), table, rows.iloc[i:i + 1])
        except ROW_FAULTS as exc:
            unstored.append(RowFault(int(rows["row_no"].iloc[i]), "", "the row could not be stored in the register "
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


CHUNK_ROWS = 50_000  # rows validated and stored at a time: memory stays bounded whatever the file's size


def _verify_archive(path: str, sha256: str) -> None:
    """Re-hash the archived copy (in blocks) before loading: never load what was not received."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            if b"\x00" in block:
                raise FileRejected("the file holds NUL bytes: it is not a text CSV")
            h.update(block)
    if h.hexdigest() != sha256:
        log.error("an archived copy does not match its checksum: %s", Path(path).name[:12])
        raise FileRejected("the archived copy of the file no longer matches the checksum it arrived "
                           "with; please send the file again")


@dataclass
class _Loaded:
    """What loading a file's chunks adds up to."""
    rows_total: int = 0
    rows_accepted: int = 0
    warnings: list[str] = field(default_factory=list)
    faults: list[RowFault] = field(default_factory=list)


Validated = list[tuple[ParsedExtract, pd.DataFrame, list[RowFault]]]  # chunks, valid rows, row faults


def _validated_chunks(f: ExtractFile):
    with open(f.archive_path, "rb") as fh:
        for chunk in iter_extract(fh, f.feed, CHUNK_ROWS):
            yield (chunk, *validate_extract(chunk, f.extract_date))


def prepare_files(engine, file_ids: list[int], budget_rows: int = CHUNK_ROWS):
    """The files in order, each with its chunks already validated when it is small (one chunk)
    and could be validated in one pass with its neighbours, up to budget_rows rows at a time
    (Pandera's cost is mostly per pass, and most extracts are a few hundred rows); otherwise
    with None, and load_file reads and validates it alone. A file that cannot be read here for
    any reason is left to load_file, which reports it as it always has."""
    with engine.connect() as conn:
        files = {r.id: r for r in conn.execute(select(ExtractFile.id, ExtractFile.archive_path, ExtractFile.sha256,
                                                      ExtractFile.feed, ExtractFile.extract_date)
                                               .where(ExtractFile.id.in_(file_ids))).all()} if file_ids else {}
    batch: list[tuple[int, ParsedExtract | None]] = []
    rows = 0
    for file_id in file_ids:
        chunk = _small_extract(files.get(file_id))
        batch.append((file_id, chunk))
        rows += len(chunk.frame) if chunk is not None else 0
        if rows >= budget_rows:
            yield from _validated_together(batch, files)
            batch, rows = [], 0
    yield from _validated_together(batch, files)


SMALL_BYTES = 16 << 20  # a file larger than this is left to load_file whole, never read ahead


def _small_extract(f) -> ParsedExtract | None:
    """The file's one chunk, verified; None for a file of more than one chunk (only the first
    two are read to find out) or one that cannot be read."""
    if f is None or not f.archive_path or not f.feed:
        return None
    try:
        if Path(f.archive_path).stat().st_size > SMALL_BYTES:
            return None
        _verify_archive(f.archive_path, f.sha256)
        with open(f.archive_path, "rb") as fh:
            chunks = list(islice(iter_extract(fh, f.feed, CHUNK_ROWS), 2))
    except Exception:  # noqa: BLE001 - load_file meets the same fault and reports it
        return None
    return chunks[0] if len(chunks) == 1 else None


def _validated_together(batch: list[tuple[int, ParsedExtract | None]], files: dict):
    parts = [(chunk, files[file_id].extract_date) for file_id, chunk in batch if chunk is not None]
    try:
        results = iter(validate_extracts(parts)) if parts else iter(())
    except Exception:  # noqa: BLE001 - each file is then validated alone, as before
        log.warning("validating %d extracts together failed; each is validated alone", len(parts))
        results = None
    for file_id, chunk in batch:
        yield file_id, ([(chunk, *next(results))] if chunk is not None and results is not None else None)


def _load_chunks(s: Session, f: ExtractFile, secret: bytes, out: _Loaded, validated: Validated | None = None) -> None:
    """Validate and store the archived file a chunk at a time into `out` (or store the chunks
    prepare_files validated); quarantine bad rows with their keys. Raises FileRejected for a
    fault of the whole file (the caller rolls back; `out` keeps the row faults found so far
    for the receipt)."""
    for chunk, valid, faults in (validated if validated is not None else _validated_chunks(f)):
        if len(valid):
            rec = to_records(f.feed, f.provider, valid, secret)
            faults = sorted(faults + store_rows(s, _db_rows(rec, f.id)), key=lambda x: x.row)
        if faults:
            bad_keys = quarantined_keys(f.feed, f.provider, chunk.frame, [x.row for x in faults], secret)
            s.execute(insert(QuarantinedRow), [{"file_id": f.id, "row_no": x.row, "column": x.column or "(row)",
                                                "reason": x.reason, "record_key": bad_keys.get(x.row)}
                                               for x in faults])
        out.rows_total += chunk.rows_total
        out.rows_accepted += len(valid) - len({x.row for x in faults if x.row in valid.index})
        out.warnings += chunk.warnings
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


def load_file(engine, file_id: int, report: LoadReport, hold_below: float = 0.5,
              validated: Validated | None = None) -> tuple[str, Receipt]:
    """Validate and store one collected file in one transaction, finish its ledger row and
    return (its provider, its receipt) for the caller to send. validated: its chunks as
    prepare_files verified, read and validated them (None: read and validate it here)."""
    secret = record_key_secret(engine)
    with Session(engine) as s:
        begin_write(s)  # the file's rows, faults and ledger row are kept, or none of them
        f = s.get(ExtractFile, file_id)
        provider, name = f.provider, f.name
        receipt = Receipt(file=name, status="accepted", sha256=f.sha256, feed=f.feed, provider=f.provider,
                          extract_date=str(f.extract_date))
        loaded = _Loaded()
        try:
            if validated is None:
                _verify_archive(f.archive_path, f.sha256)
            _load_chunks(s, f, secret, loaded, validated)
        except FileRejected as exc:
            s.rollback()  # nothing of a rejected file stays
            f = s.get(ExtractFile, file_id)
            receipt.status, receipt.reason, receipt.faults = "rejected", str(exc), loaded.faults
            f.status, f.reason = "rejected", str(exc)
            report.rejected += 1
        else:
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
        f.processed_at = datetime.now(UTC).replace(tzinfo=None)
        s.commit()
    log.info("ledger file %s: %s", file_id, receipt.status)
    return provider, receipt
