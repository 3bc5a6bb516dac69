"""Apply collected files to the register and acknowledge each to its provider: load one file
(register.loading), send its receipt, mark it sent in the ledger, in that order, so a crash
between the last two is healed by resending from the ledger."""
from __future__ import annotations

import logging

from register.keys import record_key_secret
from register.loading import LoadReport, load_file, prepare_files
from sources.landing import ExtractSource
from sources.receipts import mark_receipt_sent, send_receipt

log = logging.getLogger("rollcall.register")


def load_and_acknowledge(engine, source: ExtractSource, file_ids: list[int], hold_below: float = 0.5,
                         on_file=None, workers: int = 1) -> LoadReport:
    """Load each file in turn. One file's failure never blocks another: the failed file stays
    collected (tried again next run), is counted in files_failed and logged by its ledger id.
    on_file(done, total) is called after each file, for progress. workers: processes that
    prepare small extracts ahead of loading (register.loading.prepare_files); 0 for none."""
    report = LoadReport()
    secret = record_key_secret(engine)
    for done, (file_id, prepared) in enumerate(prepare_files(engine, file_ids, secret, workers), 1):
        if on_file and done > 1:
            on_file(done - 1, len(file_ids))
        try:
            provider, receipt = load_file(engine, file_id, report, hold_below, prepared)
            send_receipt(source, provider, receipt)
            mark_receipt_sent(engine, file_id)
        except Exception as exc:  # noqa: BLE001 - counted and logged; the other files go on
            report.failed += 1
            log.error("ledger file %s could not be loaded (%s); it stays collected for the next run",
                      file_id, type(exc).__name__)
    if on_file and file_ids:
        on_file(len(file_ids), len(file_ids))
    return report
