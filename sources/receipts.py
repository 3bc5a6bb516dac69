"""Receipts to providers' outboxes: sent after each file is processed, marked sent in the
ledger, and rebuilt from the ledger when a crash kept one from the outbox. Carries reasons and
safe display values, never personal data."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from register import ExtractFile, QuarantinedRow, utc_now
from schemas import Receipt, RowFault
from sources.landing import ExtractSource

log = logging.getLogger("rollcall.sources")


def send_receipt(source, provider: str, receipt: Receipt) -> None:
    source.put_outbox(provider, f"{receipt.file}.receipt.json", receipt.to_json())
    source.put_outbox(provider, f"{receipt.file}.receipt.csv", receipt.to_csv())


def mark_receipt_sent(engine, ledger_id: int) -> None:
    mark_receipts_sent(engine, [ledger_id])


def mark_receipts_sent(engine, ledger_ids: list[int]) -> None:
    if not ledger_ids:
        return
    with Session(engine) as s:
        s.execute(update(ExtractFile).where(ExtractFile.id.in_(ledger_ids))
                  .values(receipt_sent_at=utc_now()))
        s.commit()


def receipt_from_ledger(engine, ledger_id: int) -> Receipt:
    """The receipt of a processed file, rebuilt from its ledger row and quarantined rows (the
    offending values are not kept, so the CSV's value column is left empty)."""
    with Session(engine) as s:
        f = s.get(ExtractFile, ledger_id)
        faults = [RowFault(q.row_no, "" if q.column == "(row)" else q.column, q.reason)
                  for q in s.scalars(select(QuarantinedRow).where(QuarantinedRow.file_id == ledger_id)
                                     .order_by(QuarantinedRow.row_no, QuarantinedRow.id))]
        return Receipt(file=f.name, status=f.status, sha256=f.sha256, feed=f.feed, provider=f.provider if f.feed else None,
                       extract_date=str(f.extract_date) if f.extract_date else None, reason=f.reason,
                       rows_total=f.rows_total or 0, rows_accepted=f.rows_accepted or 0,
                       warnings=json.loads(f.warnings) if f.warnings else [], faults=faults)


def resend_missing_receipts(source: ExtractSource, engine, provider: str) -> int:
    """Receipts a crash kept from the outbox (the ledger row was committed, the receipt not yet
    written) are rebuilt from the ledger and sent."""
    with Session(engine) as s:
        ids = list(s.scalars(select(ExtractFile.id).where(
            ExtractFile.provider == provider, ExtractFile.status != "collected",
            ExtractFile.receipt_sent_at.is_(None)).order_by(ExtractFile.id)))
    for ledger_id in ids:
        send_receipt(source, provider, receipt_from_ledger(engine, ledger_id))
        mark_receipt_sent(engine, ledger_id)
        log.warning("ledger file %s: its receipt was missing and has been rebuilt", ledger_id)
    return len(ids)
