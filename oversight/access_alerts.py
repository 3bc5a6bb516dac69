"""Alerts about how people use the register: a break-glass look at a shielded child's location,
and the unusual-access rules (assets/oversight.py). Each alert is raised once (a dedupe key per
rule, user and window), delivered to the privacy officers of the authorities it concerns
(alerts.channels), and waits on the administrators' page until someone handles it."""
from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from register import AccessAlert, utc_now


def raise_access_alert(engine, rule: str, actor: str, dedupe_key: str, *, la_codes: Iterable[str] = (),
                children: Iterable[str] = (), detail: dict | None = None) -> int | None:
    """Raise an alert unless one with this key exists; its id, or None when it was raised before."""
    row = {"raised_at": utc_now(), "rule": rule, "actor": actor[:150], "la_codes": " ".join(sorted(set(la_codes))) or None,
           "children": " ".join(sorted({c for c in children if c})) or None,
           "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None,
           "dedupe_key": dedupe_key[:200], "status": "open"}
    try:
        with engine.begin() as conn:
            return conn.execute(AccessAlert.__table__.insert().values(**row)).inserted_primary_key[0]
    except IntegrityError:
        return None


def undelivered(engine) -> list[AccessAlert]:
    with engine.connect() as conn:
        return list(conn.execute(select(AccessAlert).where(AccessAlert.delivered_at.is_(None))
                                 .order_by(AccessAlert.id)))


def mark_delivered(engine, alert_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(AccessAlert).where(AccessAlert.id == alert_id).values(delivered_at=utc_now()))


def alerts_for(engine, la_codes: list[str] | None, status: str = "open", limit: int = 200) -> list[dict]:
    """Alerts concerning these authorities (all when None), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(AccessAlert).where(AccessAlert.status == status)
                            .order_by(AccessAlert.id.desc()).limit(5000)).all()
    out = []
    for a in rows:
        las = (a.la_codes or "").split()
        if la_codes is not None and not set(las) & set(la_codes):
            continue
        out.append({"id": a.id, "raised_at": a.raised_at, "rule": a.rule, "actor": a.actor, "la_codes": las,
                    "children": (a.children or "").split(), "detail": json.loads(a.detail) if a.detail else {},
                    "delivered": a.delivered_at is not None, "status": a.status, "handled_by": a.handled_by})
        if len(out) >= limit:
            break
    return out


def handle_alert(engine, alert_id: int, by: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(AccessAlert).where(AccessAlert.id == alert_id, AccessAlert.status == "open")
                     .values(status="closed", handled_by=by[:150], handled_at=utc_now()))
