"""Prepare a delivery's files to store: read each archived file in chunks, validate them and
map their valid rows to register rows, in worker processes for a large delivery, so storing in the
run's own process only writes. Small files are batched together; at most two batches read ahead."""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from register import ExtractFile, RowValues, SourceRecord
from schemas import FileRejected, ParsedExtract, RowFault, iter_extract, validate_extract, validate_extracts
from sources.mapping import db_rows, quarantined_keys, to_records

log = logging.getLogger("rollcall.register")

CHUNK_ROWS = 50_000  # rows validated and stored at a time: memory stays bounded whatever the file's size


def verify_archive(path: str, sha256: str) -> None:
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
                  faults: list[RowFault], secret: bytes, sqlite: bool, rows: RowValues | None = None) -> Prepared:
    """One chunk ready to store; rows: its register rows when already made with other files'."""
    if rows is None:
        rows = (RowValues.of(SourceRecord.__table__, db_rows(to_records(feed, provider, valid, secret), file_id),
                             sqlite) if len(valid) else RowValues([], []))
    bad = quarantined_keys(feed, provider, chunk.frame, [x.row for x in faults], secret) if faults else {}
    return Prepared(feed, provider, chunk.rows_total, chunk.warnings, faults, valid.index, rows, bad)


def prepared_chunks(f: ExtractFile, secret: bytes, sqlite: bool):
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
        validated = {file_id: next(results) for file_id, _info in batch if chunks[file_id] is not None}
    except Exception:  # noqa: BLE001 - each file is then prepared alone, by load_file_in
        log.warning("validating %d extracts together failed; each is validated alone", len(parts))
        validated = {}
    infos = dict(batch)
    try:
        rows = _register_rows_together(infos, validated, secret, sqlite)
    except Exception:  # noqa: BLE001 - each file's rows are then made alone (prepare_chunk)
        log.warning("making %d extracts' register rows together failed; each is made alone", len(validated))
        rows = {}
    for file_id, info in batch:
        prepared = None
        if file_id in validated:
            valid, faults = validated[file_id]
            chunk = chunks[file_id]
            try:
                prepared = [prepare_chunk(info.feed, info.provider, file_id, chunk, valid, faults, secret, sqlite,
                                          rows=rows.get(file_id))]
            except Exception:  # noqa: BLE001 - load_file_in meets the same fault and reports it
                prepared = None
        yield file_id, prepared


def _register_rows_together(infos: dict, validated: dict, secret: bytes, sqlite: bool) -> dict[int, RowValues]:
    """The register rows of many small files' valid rows, made feed by feed in one pass (mapping,
    keys and the driver's values cost mostly per call, and a delivery from thousands of providers
    is thousands of small files), then cut back into each file's."""
    out: dict[int, RowValues] = {}
    by_feed: dict[str, list[int]] = {}
    for file_id, (valid, _faults) in validated.items():
        if len(valid):
            by_feed.setdefault(infos[file_id].feed, []).append(file_id)
    for feed, files in by_feed.items():
        frames = [validated[f][0] for f in files]
        sizes = [len(f) for f in frames]
        combined = pd.concat(frames, ignore_index=True)
        providers = np.repeat([infos[f].provider for f in files], sizes)
        rec = to_records(feed, providers, combined, secret)
        rec["row_no"] = np.concatenate([f.index.to_numpy() for f in frames]).astype(int)
        values = RowValues.of(SourceRecord.__table__, db_rows(rec, np.repeat(files, sizes)), sqlite)
        start = 0
        for f, n in zip(files, sizes):
            out[f] = RowValues(values.names, values.rows[start:start + n])
            start += n
    return out


def _small_extract(f: _FileInfo | None) -> ParsedExtract | None:
    """The file's one chunk, verified; None for a file of more than one chunk (only the first
    two are read to find out) or one that cannot be read."""
    if f is None:
        return None
    try:
        verify_archive(f.archive_path, f.sha256)
        with open(f.archive_path, "rb") as fh:
            chunks = list(islice(iter_extract(fh, f.feed, CHUNK_ROWS), 2))
    except Exception:  # noqa: BLE001 - load_file_in meets the same fault and reports it
        return None
    return chunks[0] if len(chunks) == 1 else None

