"""Extracts held for an operator because they were far smaller than their provider's current
one: list them, release one (it is applied at the next run) or reject it (its rows are
dropped). Either way the provider gets a new receipt at the next collection.
"""
from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from register import ExtractFile, SourceRecord, utc_now


class NotHeld(Exception):
    safe_message = True


def held_files(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(ExtractFile.id, ExtractFile.name, ExtractFile.provider, ExtractFile.rows_accepted,
                                   ExtractFile.collected_at).where(ExtractFile.status == "held")
                            .order_by(ExtractFile.id)).all()


def _decide(engine, ledger_id: int, status: str, reason: str | None) -> str:
    now = utc_now()
    with Session(engine) as s:
        f = s.get(ExtractFile, ledger_id)
        if f is None or f.status != "held":
            raise NotHeld(f"ledger file {ledger_id} is not held")
        if status == "rejected":
            s.execute(delete(SourceRecord).where(SourceRecord.file_id == ledger_id))
        # A new processing time starts the register sensor; no receipt yet: the next collection
        # sends the provider the decision (sources.receipts.resend_missing_receipts).
        s.execute(update(ExtractFile).where(ExtractFile.id == ledger_id)
                  .values(status=status, reason=reason, processed_at=now, receipt_sent_at=None))
        s.commit()
        return f.name


def release_held(engine, ledger_id: int) -> str:
    return _decide(engine, ledger_id, "accepted", None)


def reject_held(engine, ledger_id: int, reason: str) -> str:
    return _decide(engine, ledger_id, "rejected", f"rejected by the register's operators: {reason}")
