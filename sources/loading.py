"""Turn a collected file into register rows: validate it, store accepted rows with their
provenance and record key, quarantine bad rows with reasons, finish the ledger entry and build
its receipt. Never sends anything: sources/acknowledge.py sends the receipt."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pandas as pd
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from matching import CONFLICT_MARK
from register.clock import utc_now
from register.db import RowValues, insert_values
from register.models import ExtractFile, QuarantinedRow, SourceRecord
from schemas.contract import FileRejected, RowFault
from schemas.identifiers import nhs_digits, nhs_valid, postcode_normalise, upn_valid
from schemas.reader import ParsedExtract, iter_extract
from schemas.receipt import Receipt
from schemas.validation import require_some_valid_rows, validate_extract, validate_extracts
from sources.keys import keyed, keyed_series

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
    disk_full: int = 0  # of those, files a full disk stopped
    held: int = 0  # files held for an operator: far smaller than their provider's current extract
    per_feed_rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: LoadReport) -> None:
        for name in ("accepted", "rejected", "rows_accepted", "rows_quarantined", "warnings", "failed", "disk_full",
                     "held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for feed, rows in other.per_feed_rows.items():
            self.per_feed_rows[feed] = self.per_feed_rows.get(feed, 0) + rows


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
    record with no NHS number: of its name and birth date). See sources.keys."""
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


@dataclass
class Prepared:
    """One chunk of a file made ready to store: what validation found and the register rows of
    its valid rows, worked out without the database (so a second process can do it)."""
    feed: str
    provider: str
    rows_total: int
    warnings: list[str]
    faults: list[RowFault]  # validation's row faults
    valid_rows: pd.Index  # data row numbers of the rows that passed validation
    rows: RowValues  # their source_records rows
    bad_keys: dict[int, str]  # record keys of the faulted rows whose identifier is valid

    def keys_of(self, row_numbers: list[int], secret: bytes) -> dict[int, str]:
        """quarantined_keys for stored rows the database refused."""
        rec = self.rows.frame().fillna("").set_index("row_no", drop=False)
        return quarantined_keys(self.feed, self.provider, rec, row_numbers, secret)


def prepare_chunk(feed: str, provider: str, file_id: int, chunk: ParsedExtract, valid: pd.DataFrame,
                  faults: list[RowFault], secret: bytes, sqlite: bool) -> Prepared:
    rows = (RowValues.of(SourceRecord.__table__, _db_rows(to_records(feed, provider, valid, secret), file_id), sqlite)
            if len(valid) else RowValues([], []))
    bad = quarantined_keys(feed, provider, chunk.frame, [x.row for x in faults], secret) if faults else {}
    return Prepared(feed, provider, chunk.rows_total, chunk.warnings, faults, valid.index, rows, bad)


def _prepared_chunks(f: ExtractFile, secret: bytes, sqlite: bool):
    with open(f.archive_path, "rb") as fh:
        for chunk in iter_extract(fh, f.feed, CHUNK_ROWS):
            yield prepare_chunk(f.feed, f.provider, f.id, chunk, *validate_extract(chunk, f.extract_date), secret,
                                sqlite)


@dataclass(frozen=True)
class _FileInfo:
    id: int
    archive_path: str | None
    sha256: str
    feed: str | None
    provider: str
    extract_date: object


BATCH_BYTES = 3 << 20  # small files prepared together, about 30,000 rows a batch
WORKER_FROM_BYTES = 8 << 20  # a delivery smaller than this is prepared in the run's own process


def prepare_files(engine, file_ids: list[int], secret: bytes, workers: int = 1):
    """(file id, its chunks prepared, or None) for the files in order. Small files (one chunk)
    are read, verified, validated in one Pandera pass with their neighbours (its cost is mostly
    per pass, and most extracts are a few hundred rows) and turned into register rows, a batch
    at a time; a file of several chunks, or one that cannot be prepared here for any reason,
    gets None, and load_file_in prepares it itself and meets any fault as it always has.

    With workers, and a delivery of at least WORKER_FROM_BYTES, batches are prepared ahead in
    that many worker processes while this one stores, preparing the next untaken batch itself
    whenever it would wait for them; a worker that fails leaves its batches to this process.
    Workers only read the archive and compute: everything is stored here (load_file_in)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        infos = {r.id: _FileInfo(*r) for r in conn.execute(
            select(ExtractFile.id, ExtractFile.archive_path, ExtractFile.sha256, ExtractFile.feed, ExtractFile.provider,
                   ExtractFile.extract_date).where(ExtractFile.id.in_(file_ids))).all()} if file_ids else {}
    batches, batch, size, total = [], [], 0, 0
    for file_id in file_ids:
        info = infos.get(file_id)
        nbytes = _small_size(info)
        batch.append((file_id, info if nbytes is not None else None))
        size += nbytes or 0
        if size >= BATCH_BYTES:
            batches.append(batch)
            total += size
            batch, size = [], 0
    if batch:
        batches.append(batch)
        total += size
    if workers < 1 or total < WORKER_FROM_BYTES or len(batches) < 2:
        for b in batches:
            yield from _prepare_batch(b, secret, sqlite)
        return
    yield from _prepared_ahead(batches, secret, sqlite, workers)


def _small_size(f: _FileInfo | None) -> int | None:
    """The file's size when it may be small enough for one chunk; None otherwise."""
    if f is None or not f.archive_path or not f.feed:
        return None
    try:
        size = Path(f.archive_path).stat().st_size
    except OSError:
        return None
    return size if size <= SMALL_BYTES else None


def _prepared_ahead(batches, secret: bytes, sqlite: bool, workers: int, ahead: int = 2):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # A fresh interpreter, not a fork: the run's process holds open database connections and
    # threads that a forked copy must never touch. This process prepares the first batch
    # itself while the workers start, and whenever it would wait for a worker it prepares the
    # next batch nobody has taken, keeping it until its turn.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    futures: dict[int, object] = {}
    kept: dict[int, list] = {}
    untaken, broken = 1, False
    try:
        for i, batch in enumerate(batches):
            while not broken and untaken < len(batches) and untaken <= i + ahead * workers:
                try:
                    futures[untaken] = pool.submit(_prepare_batch_list, batches[untaken], secret, sqlite)
                except Exception:  # noqa: BLE001 - a broken pool: this process prepares the rest
                    broken = True
                    break
                untaken += 1
            done = kept.pop(i, None)
            future = futures.pop(i, None)
            if future is not None:
                while not future.done() and untaken < len(batches) and len(kept) < ahead * workers:
                    kept[untaken] = list(_prepare_batch(batches[untaken], secret, sqlite))
                    untaken += 1
                try:
                    done = future.result()
                except Exception:  # noqa: BLE001 - the worker failed; this process prepares the batch
                    log.warning("an intake worker failed; its batch of %d files is prepared in the run's process",
                                len(batch))
            yield from (done if done is not None else _prepare_batch(batch, secret, sqlite))
    finally:
        for future in futures.values():
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _prepare_batch_list(batch, secret: bytes, sqlite: bool) -> list:
    return list(_prepare_batch(batch, secret, sqlite))


SMALL_BYTES = 16 << 20  # a file larger than this is left to load_file_in whole, never read ahead


def _prepare_batch(batch: list[tuple[int, _FileInfo | None]], secret: bytes, sqlite: bool):
    chunks = {file_id: _small_extract(info) for file_id, info in batch}
    parts = [(chunks[file_id], info.extract_date) for file_id, info in batch if chunks[file_id] is not None]
    try:
        results = iter(validate_extracts(parts)) if parts else iter(())
    except Exception:  # noqa: BLE001 - each file is then prepared alone, by load_file_in
        log.warning("validating %d extracts together failed; each is validated alone", len(parts))
        results = None
    for file_id, info in batch:
        chunk = chunks[file_id]
        prepared = None
        if chunk is not None and results is not None:
            valid, faults = next(results)
            try:
                prepared = [prepare_chunk(info.feed, info.provider, file_id, chunk, valid, faults, secret, sqlite)]
            except Exception:  # noqa: BLE001 - load_file_in meets the same fault and reports it
                prepared = None
        yield file_id, prepared


def _small_extract(f: _FileInfo | None) -> ParsedExtract | None:
    """The file's one chunk, verified; None for a file of more than one chunk (only the first
    two are read to find out) or one that cannot be read."""
    if f is None:
        return None
    try:
        _verify_archive(f.archive_path, f.sha256)
        with open(f.archive_path, "rb") as fh:
            chunks = list(islice(iter_extract(fh, f.feed, CHUNK_ROWS), 2))
    except Exception:  # noqa: BLE001 - load_file_in meets the same fault and reports it
        return None
    return chunks[0] if len(chunks) == 1 else None


def _load_chunks(s: Session, f: ExtractFile, secret: bytes, out: _Loaded,
                 prepared: list[Prepared] | None = None) -> None:
    """Store the archived file's chunks (as prepare_files prepared them, or read, validated and
    prepared here a chunk at a time) into `out`; quarantine bad rows with their keys. Raises
    FileRejected for a fault of the whole file (the caller rolls back; `out` keeps the row
    faults found so far for the receipt)."""
    sqlite = s.get_bind().dialect.name == "sqlite"
    for p in (prepared if prepared is not None else _prepared_chunks(f, secret, sqlite)):
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
            _verify_archive(f.archive_path, f.sha256)
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
