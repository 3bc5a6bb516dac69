"""The match-review queue: candidate pairs scored between the review and link thresholds,
keyed by record keys so an analyst's ruling holds across extracts; the rulings read back for
the next re-link; and the linkage models that scored the pairs, saved as data."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from register.models import CandidatePair, LinkageModel


def save_model(engine, parameters: str) -> int:
    """The id of this trained model (its JSON), saved the first time it is seen."""
    fingerprint = hashlib.sha256(parameters.encode()).hexdigest()
    with Session(engine) as s:
        found = s.scalar(select(LinkageModel.id).where(LinkageModel.fingerprint == fingerprint))
        if found is not None:
            return found
        row = LinkageModel(fingerprint=fingerprint, parameters=parameters,
                           trained_at=datetime.now(UTC).replace(tzinfo=None))
        s.add(row)
        try:
            s.commit()
        except IntegrityError:  # saved by another run a moment ago
            s.rollback()
            return s.scalar(select(LinkageModel.id).where(LinkageModel.fingerprint == fingerprint))
        return row.id


def analyst_rulings(engine) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(select(CandidatePair.key_a, CandidatePair.key_b, CandidatePair.analyst_decision)
                            .where(CandidatePair.analyst_decision.is_not(None))).all()
    return {(a, b): d for a, b, d in rows}


def undecided_pairs(engine) -> list[tuple[str, str]]:
    """Record-key pairs in the review queue that no analyst has ruled on yet."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(CandidatePair.key_a, CandidatePair.key_b)
                                               .where(CandidatePair.analyst_decision.is_(None)))]


def save_review_queue(engine, review: pd.DataFrame, model_id: int | None = None) -> int:
    """Upsert pairs for analysts, each naming the model that scored it; pairs no longer in review
    and with no decision are dropped."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with Session(engine) as s:
        existing = {(a, b): (pid, dec) for pid, a, b, dec in
                    s.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b,
                                     CandidatePair.analyst_decision))}
        wanted = set()
        new_rows, updates = [], []
        for rec in review.itertuples(index=False):
            key = (rec.key_a, rec.key_b)
            wanted.add(key)
            values = {"match_weight": float(rec.match_weight), "match_probability": float(rec.match_probability),
                      "explanation": rec.explanation, "decision": "review", "model_id": model_id,
                      "updated_at": now}
            if key in existing:
                updates.append({"pid": existing[key][0], **values})
            else:
                new_rows.append(CandidatePair(key_a=rec.key_a, key_b=rec.key_b, **values))
        s.add_all(new_rows)
        if updates:
            s.connection().execute(update(CandidatePair).where(CandidatePair.id == bindparam("pid")), updates)
        stale = [pid for key, (pid, dec) in existing.items() if key not in wanted and dec is None]
        if stale:
            s.execute(CandidatePair.__table__.delete().where(CandidatePair.id.in_(stale)))
        s.commit()
    return len(wanted)
