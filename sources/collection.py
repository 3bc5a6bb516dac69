"""Collect complete extracts from every provider into the raw archive and the file ledger,
exactly once. A file leaves an inbox only after its bytes are archived and its ledger row is
committed; a CSV without its sidecar is never touched.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from register import ExtractFile, fsync_dir, private_dir, private_file, utc_now
from schemas import FileRejected, Receipt
from sources.landing import ExtractSource, InboxFile
from sources.naming import SIDECAR_SUFFIX, parse_name, parse_sidecar, safe_label
from sources.receipts import mark_receipt_sent, resend_missing_receipts, send_receipt

log = logging.getLogger("rollcall.sources")


DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024  # validating costs about 20 times a file's size in memory
DEFAULT_ARCHIVE = "var/archive"  # raw files by checksum, relative to where Rollcall runs
MAX_SIDECAR_BYTES = 1024  # a hex digest and a file name


class FileChanged(FileNotFoundError):
    """The file is not what was listed any more (grew, shrank, was replaced): try next run."""


@dataclass
class CollectionReport:
    collected: list[int] = field(default_factory=list)  # ledger ids waiting to be validated
    rejected: int = 0
    duplicates: int = 0
    waiting: int = 0  # CSVs whose sidecar has not arrived
    failed_providers: dict[str, str] = field(default_factory=dict)  # provider -> error class


def complete_files(names: list[str]) -> tuple[list[tuple[str, str]], list[str], int]:
    """Pair each file with its sidecar: (pairs, orphan sidecars, files still uploading)."""
    present = set(names)
    pairs, orphans, waiting = [], [], 0
    for name in sorted(present):
        if name.endswith(SIDECAR_SUFFIX):
            if name.removesuffix(SIDECAR_SUFFIX) not in present:
                orphans.append(name)
        elif name + SIDECAR_SUFFIX in present:
            pairs.append((name, name + SIDECAR_SUFFIX))
        elif not name.startswith("."):
            waiting += 1
    return pairs, orphans, waiting


def archive_path(archive: Path, sha256: str) -> Path:
    return archive / sha256[:2] / f"{sha256}.csv"


def _fetch_to_archive(source: ExtractSource, provider: str, name: str, size: int, archive: Path) -> tuple[str, Path]:
    """Download to a temp file beside the archive, check size, hash, move into place."""
    private_dir(archive)
    tmp_dir = private_dir(archive / "tmp")
    tmp = private_file(tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part")
    try:
        source.fetch(provider, name, tmp, limit=size + 1)  # never more than was listed
        got = tmp.stat().st_size
        if got != size:
            raise FileChanged(f"{got} bytes where {size} were listed")
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            os.fsync(fh.fileno())
        digest = h.hexdigest()
        dest = archive_path(archive, digest)
        private_dir(dest.parent)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)  # the archived copy survives a power cut before the inbox copy goes
        return digest, dest.resolve()
    finally:
        tmp.unlink(missing_ok=True)


def _ledger_row(provider: str, name: str, digest: str, size: int, path: Path) -> ExtractFile:
    return ExtractFile(provider=provider, name=name, sha256=digest, size_bytes=size, archive_path=str(path),
                       status="collected", collected_at=utc_now())


def _too_large(listing: dict[str, InboxFile], name: str, sidecar: str | None, max_bytes: int) -> str | None:
    if listing[name].size > max_bytes:
        return (f"the file is larger than the register accepts ({listing[name].size // 1048576} MB; "
                f"the limit is {max_bytes // 1048576} MB): split it or ask the register's operators")
    if sidecar and listing[sidecar].size > MAX_SIDECAR_BYTES:
        return "the .sha256 sidecar is larger than a checksum file can be"
    return None


def _record_rejection(source, provider: str, engine, report: CollectionReport, row: ExtractFile, reason: str) -> None:
    """Record a file rejected at collection, count it and send its receipt."""
    row.status, row.reason, row.processed_at = "rejected", reason, row.collected_at
    with Session(engine, expire_on_commit=False) as s:
        s.add(row)
        s.commit()
    report.rejected += 1
    send_receipt(source, provider, Receipt(file=row.name, status="rejected", sha256=row.sha256, reason=reason))
    mark_receipt_sent(engine, row.id)


def _record_unread(source, provider: str, engine, report: CollectionReport, entry: InboxFile, reason: str) -> None:
    """A ledger row and a receipt for an inbox entry rejected without reading it: no checksum,
    no archived copy."""
    row = ExtractFile(provider=provider, name=safe_label(entry.name), sha256="",
                      size_bytes=entry.size if entry.kind == "file" else 0, archive_path="", collected_at=utc_now())
    _record_rejection(source, provider, engine, report, row, reason)


def _reject_unread(source, provider: str, engine, report: CollectionReport, csv: InboxFile,
                   sidecar: InboxFile | None, reason: str) -> None:
    """Reject a file without downloading it (too large): a ledger row and a receipt, no archive."""
    _record_unread(source, provider, engine, report, csv, reason)
    if sidecar is not None:
        _clear(source, provider, csv, sidecar)
    elif _unchanged(source, provider, csv):
        source.remove(provider, csv.name)


def _reject_not_a_file(source, provider: str, engine, report: CollectionReport, entry: InboxFile) -> None:
    """An inbox entry that is not a file of its own (a symbolic or hard link, a named pipe, a
    device): rejected with a receipt without ever being opened, and taken out of the inbox (the
    link or node only; whatever it points at is not touched)."""
    _record_unread(source, provider, engine, report, entry,
                   f"this is a {entry.kind}, not a file of its own: upload the extract itself")
    source.remove(provider, entry.name)
    log.warning("provider %s: an inbox entry that is a %s was rejected unread", provider, entry.kind)


def collect_provider(source: ExtractSource, provider: str, engine, archive: Path, report: CollectionReport,
                     max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
    """Collect every complete file (CSV and sidecar) in one provider's inbox; orphan sidecars
    are rejected; CSVs still waiting for their sidecar are counted and left alone."""
    listing = {f.name: f for f in source.list_inbox(provider)}
    for f in [f for f in listing.values() if f.kind != "file"]:
        _reject_not_a_file(source, provider, engine, report, f)
        del listing[f.name]
        sidecar = listing.get(f.name + SIDECAR_SUFFIX)
        if sidecar is not None and sidecar.kind == "file" and _unchanged(source, provider, sidecar):
            source.remove(provider, sidecar.name)  # answered by the receipt of its CSV
            del listing[sidecar.name]
    pairs, orphans, waiting = complete_files(list(listing))
    report.waiting += waiting
    for orphan in orphans:
        if listing[orphan].size > MAX_SIDECAR_BYTES:
            _reject_unread(source, provider, engine, report, listing[orphan], None,
                           "a .sha256 sidecar arrived without its CSV, and is larger than a checksum file can be")
            continue
        _reject_orphan(source, provider, listing[orphan], engine, archive, report)
    for name, sidecar in pairs:
        too_large = _too_large(listing, name, sidecar, max_bytes)
        if too_large:
            _reject_unread(source, provider, engine, report, listing[name], listing[sidecar], too_large)
            continue
        _collect_pair(source, provider, listing[name], listing[sidecar], engine, archive, report)


def _collect_pair(source: ExtractSource, provider: str, csv: InboxFile, sidecar: InboxFile, engine, archive: Path,
                  report: CollectionReport) -> None:
    """Archive one CSV, record it in the ledger (collected, rejected or duplicate), answer a
    file that will not be loaded with its receipt, and clear the inbox, in that order."""
    try:  # the CSV or its sidecar may vanish under us: another collection run took them
        row = _archived_row(source, provider, csv, sidecar, archive)
    except FileNotFoundError:
        log.info("a file on provider %s was taken by another collection run", provider)
        return
    if row is None:
        return
    ledger_id = _record(source, provider, row, csv, sidecar, engine)
    if ledger_id is None:
        return
    if row.status == "collected":
        report.collected.append(ledger_id)
    else:
        if row.status == "rejected":
            report.rejected += 1
        else:
            report.duplicates += 1
        send_receipt(source, provider, Receipt(file=row.name, status=row.status, sha256=row.sha256, feed=row.feed,
                                               provider=row.provider if row.feed else None, reason=row.reason,
                                               extract_date=str(row.extract_date) if row.extract_date else None))
        mark_receipt_sent(engine, ledger_id)
    _clear(source, provider, csv, sidecar)
    log.info("ledger file %s from provider %s: %s", ledger_id, provider, row.status)


def _archived_row(source: ExtractSource, provider: str, csv: InboxFile, sidecar: InboxFile,
                  archive: Path) -> ExtractFile | None:
    """The CSV's bytes in the archive and its ledger row, not yet saved: collected, or rejected
    with the reason. None when the file changed while it was read (the next run takes it)."""
    name, size = csv.name, csv.size
    label = safe_label(name)  # what the ledger, logs and receipt call the file
    digest, path = _fetch_to_archive(source, provider, name, size, archive)
    if not (_unchanged(source, provider, csv) and _unchanged(source, provider, sidecar)):
        # Re-uploaded while we read it: what we hold may match neither the old sidecar nor the
        # new one. Record nothing; the next run takes the new upload whole.
        log.warning("a file on provider %s changed while it was collected; it waits for the next run", provider)
        return None
    row = _ledger_row(provider, label, digest, size, path)
    try:
        if label != name:
            raise FileRejected("the file name is not valid: it must be UTF-8, at most "
                               "200 bytes, with no control characters")
        meta = parse_name(name, provider)
        row.feed, row.provider, row.extract_date = meta.feed, meta.provider, meta.extract_date
        if size == 0:
            raise FileRejected("the file is empty")
        sidecar_bytes = source.read_head(provider, sidecar.name, MAX_SIDECAR_BYTES + 1)
        if len(sidecar_bytes) > MAX_SIDECAR_BYTES:
            raise FileRejected(f"the .sha256 sidecar is larger than {MAX_SIDECAR_BYTES} bytes")
        if parse_sidecar(sidecar_bytes) != digest:
            raise FileRejected("the SHA-256 in the sidecar does not match the file")
    except FileRejected as exc:
        row.status, row.reason = "rejected", str(exc)
    return row


def _record(source: ExtractSource, provider: str, row: ExtractFile, csv: InboxFile, sidecar: InboxFile,
            engine) -> int | None:
    """Commit the ledger row and return its id; None when another run owns the file or it was
    recorded and answered already (the inbox copy is then cleared)."""
    with Session(engine, expire_on_commit=False) as s:
        if row.status == "collected":
            first = s.scalars(select(ExtractFile).where(
                ExtractFile.provider == provider, ExtractFile.sha256 == row.sha256,
                ExtractFile.status.in_(("collected", "accepted", "held")))).first()
            if first is not None and first.status == "collected" and first.name == row.name:
                # Already archived and recorded (by a concurrent run, or a run that stopped
                # before clearing the inbox): only the inbox copy is left to clear.
                _clear(source, provider, csv, sidecar)
                return None
            if first is not None:
                row.status, row.reason = "duplicate", f"the same file was already received as {first.name}"
        if row.status != "collected" and s.scalars(select(ExtractFile.id).where(
                ExtractFile.provider == provider, ExtractFile.name == row.name, ExtractFile.sha256 == row.sha256,
                ExtractFile.status == row.status, ExtractFile.receipt_sent_at.is_not(None))).first():
            # Recorded and answered already; a run stopped before clearing the inbox.
            _clear(source, provider, csv, sidecar)
            return None
        row.processed_at = None if row.status == "collected" else row.collected_at
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            # Another run committed the same content first: it owns this file now.
            s.rollback()
            log.info("file on provider %s is being collected by another run", provider)
            return None
        return row.id


def _unchanged(source: ExtractSource, provider: str, listed: InboxFile) -> bool:
    """Still the file that was listed: the same size and time, and (where the source can tell)
    the same file, not another put in its place with its size and time copied."""
    now = source.stat(provider, listed.name)
    return now is not None and (now.size, now.mtime, now.ident) == (listed.size, listed.mtime, listed.ident)


def _clear(source: ExtractSource, provider: str, csv: InboxFile, sidecar: InboxFile) -> None:
    """Remove what was archived from the inbox, but never a file that changed since it was
    listed: a corrected re-upload under the same name waits for the next run.
    Sidecar first: a lone CSV left by an interruption is "still uploading" and never touched,
    where a lone sidecar would be rejected as an orphan by a concurrent run."""
    if not (_unchanged(source, provider, csv) and _unchanged(source, provider, sidecar)):
        log.warning("a file on provider %s changed while it was collected; it waits for the next run", provider)
        return
    source.remove(provider, sidecar.name)
    source.remove(provider, csv.name)


def _reject_orphan(source, provider, listed: InboxFile, engine, archive, report) -> None:
    name = listed.name
    try:
        digest, path = _fetch_to_archive(source, provider, name, listed.size, archive)
    except FileNotFoundError:
        return  # its CSV's collector cleared it
    row = _ledger_row(provider, safe_label(name), digest, listed.size, path)
    _record_rejection(source, provider, engine, report, row, "a .sha256 sidecar arrived without its CSV")
    if _unchanged(source, provider, listed):
        source.remove(provider, name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_parts(archive: Path, older_than_s: float = 600) -> int:
    """Partial downloads left by a killed run hold whole extracts: remove them. A part is named
    after the process writing it; it is stale when that process is gone, or (written from
    another machine sharing the archive) when nothing has written to it for a while."""
    tmp = archive / "tmp"
    if not tmp.is_dir():
        return 0
    now, removed = time.time(), 0
    for part in tmp.glob("*.part"):
        pid = part.name.split("-", 1)[0]
        try:
            if (pid.isdigit() and not _alive(int(pid))) or now - part.stat().st_mtime > older_than_s:
                part.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def collect(source: ExtractSource, engine, archive: Path, providers: list[str] | None = None,
            transient: tuple[type[BaseException], ...] = (), max_bytes: int = DEFAULT_MAX_FILE_BYTES
            ) -> CollectionReport:
    """Collect from each provider; a transient fault on one provider does not stop the others."""
    report = CollectionReport()
    clear_stale_parts(archive)
    for provider in (providers if providers is not None else source.providers()):
        try:
            resend_missing_receipts(source, engine, provider)
            collect_provider(source, provider, engine, archive, report, max_bytes)
        except transient as exc:
            report.failed_providers[provider] = type(exc).__name__
            log.warning("provider %s could not be collected (%s); its files stay for the next run",
                        provider, type(exc).__name__)
    return report


def pending_files(engine, providers: list[str] | None = None) -> list[int]:
    q = select(ExtractFile.id).where(ExtractFile.status == "collected").order_by(ExtractFile.id)
    if providers is not None:
        q = q.where(ExtractFile.provider.in_(providers))
    with Session(engine) as s:
        return list(s.scalars(q))
