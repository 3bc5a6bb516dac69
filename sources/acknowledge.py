"""Apply collected files to the register and acknowledge each to its provider: load files
(sources.storing) a group at a time in one transaction, each file behind its own savepoint;
once the group is committed send each file's receipt, then mark them sent in the ledger, in
that order, so a crash between the last two is healed by resending from the ledger, and a
crash before the commit leaves the group's files collected, to be loaded again next run."""
from __future__ import annotations

import logging
import time

from sqlalchemy.orm import Session

from register import begin_write, disk_full
from sources.keys import record_key_secret
from sources.landing import ExtractSource
from sources.preparing import prepare_files
from sources.receipts import mark_receipts_sent, send_receipt
from sources.storing import LoadReport, load_file_in

log = logging.getLogger("rollcall.register")

# A group is committed once it holds this many files or rows, or has been open this long:
# one commit (a disk flush) per group rather than per file, and the write lock is never held
# for long (the casework service writes its audit trail to the same database).
GROUP_FILES, GROUP_ROWS, GROUP_SECONDS = 100, 50_000, 1.0


def load_and_acknowledge(engine, source: ExtractSource, file_ids: list[int], hold_below: float = 0.5,
                         on_file=None, workers: int = 1) -> LoadReport:
    """Load each file in turn. One file's failure never blocks another: the failed file's work
    goes back to its savepoint, it stays collected (tried again next run), is counted in
    files_failed and logged by its ledger id. on_file(done, total) is called after each file,
    for progress. workers: processes that prepare small extracts ahead of loading
    (sources.preparing.prepare_files); 0 for none."""
    report = LoadReport()
    secret = record_key_secret(engine)
    group: _Group | None = None
    try:
        for done, (file_id, prepared) in enumerate(prepare_files(engine, file_ids, secret, workers), 1):
            if on_file and done > 1:
                on_file(done - 1, len(file_ids))
            group = group or _Group(engine)
            group.load(file_id, prepared, secret, hold_below, report)
            if group.full():
                group.finish(source, report)
                group = None
        if group is not None:
            group.finish(source, report)
            group = None
    finally:
        if group is not None:  # an error outside any file's savepoint: nothing of the group stays
            group.session.close()
    if on_file and file_ids:
        on_file(len(file_ids), len(file_ids))
    return report


class _Group:
    def __init__(self, engine):
        self.engine = engine
        self.session = Session(engine)
        begin_write(self.session)
        self.started = time.monotonic()
        self.loaded: list[tuple[int, str, object, LoadReport]] = []
        self.rows = 0

    def load(self, file_id: int, prepared, secret: bytes, hold_below: float, report: LoadReport) -> None:
        part = LoadReport()
        try:
            with self.session.begin_nested():
                provider, receipt = load_file_in(self.session, file_id, part, secret, hold_below, prepared)
        except Exception as exc:  # noqa: BLE001 - counted and logged; the other files go on
            full = disk_full(exc)
            report.failed += 1
            report.disk_full += full
            log.error("ledger file %s could not be loaded (%s%s); it stays collected for the next run",
                      file_id, type(exc).__name__, ": the disk is full" if full else "")
            return
        self.loaded.append((file_id, provider, receipt, part))
        self.rows += part.rows_accepted + part.rows_quarantined

    def full(self) -> bool:
        return (len(self.loaded) >= GROUP_FILES or self.rows >= GROUP_ROWS
                or time.monotonic() - self.started >= GROUP_SECONDS)

    def finish(self, source: ExtractSource, report: LoadReport) -> None:
        """Commit the group, then send its receipts and mark them sent."""
        try:
            with self.session:
                self.session.commit()
        except Exception as exc:  # noqa: BLE001 - none of the group is stored; all stay collected
            full = disk_full(exc)
            report.failed += len(self.loaded)
            report.disk_full += len(self.loaded) if full else 0
            log.error("%d ledger files could not be committed (%s%s); they stay collected for the next run",
                      len(self.loaded), type(exc).__name__, ": the disk is full" if full else "")
            return
        sent = []
        for file_id, provider, receipt, part in self.loaded:
            report.add(part)
            try:
                send_receipt(source, provider, receipt)
            except Exception as exc:  # noqa: BLE001 - the file is stored; its receipt is sent again later
                log.error("the receipt of ledger file %s could not be sent (%s); it is sent at the next collection",
                          file_id, type(exc).__name__)
                continue
            sent.append(file_id)
        mark_receipts_sent(self.engine, sent)
