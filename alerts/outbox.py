"""The alert outbox: alerts waiting to reach people (alerts.channels sends them)."""
from __future__ import annotations

from sqlalchemy import select, update

from register import OutboxMessage, utc_now


def enqueue(engine, kind: str, subject: str, body: str, la_code: str | None = None) -> int:
    with engine.begin() as conn:
        return conn.execute(OutboxMessage.__table__.insert().values(
            created_at=utc_now(), kind=kind, la_code=la_code, subject=subject[:300], body=body, attempts=0)
        ).inserted_primary_key[0]


def unsent(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                                 .order_by(OutboxMessage.id)))


def mark_sent(engine, message_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                     .values(sent_at=utc_now(), attempts=OutboxMessage.attempts + 1, last_error=None))


def mark_failed(engine, message_id: int, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                     .values(attempts=OutboxMessage.attempts + 1, last_error=error[:200]))
