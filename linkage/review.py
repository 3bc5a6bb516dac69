"""The match-review queue: candidate pairs scored between the review and link thresholds,
keyed by record keys so an analyst's ruling holds across extracts; the rulings read back for
the next re-link; and the linkage models that scored the pairs, saved as data."""
from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from register import CandidatePair, LinkageModel, ReviewDecision, insert_frame, utc_now


def save_model(engine, parameters: str) -> int:
    """The id of this trained model (its JSON), saved the first time it is seen."""
    fingerprint = hashlib.sha256(parameters.encode()).hexdigest()
    with Session(engine) as s:
        found = s.scalar(select(LinkageModel.id).where(LinkageModel.fingerprint == fingerprint))
        if found is not None:
            return found
        row = LinkageModel(fingerprint=fingerprint, parameters=parameters,
                           trained_at=utc_now())
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


def save_review_queue(engine, review: pd.DataFrame, model_id: int | None = None, scope: set[str] | None = None,
                      changed: set[str] = frozenset()) -> int:
    """Upsert pairs for analysts, each naming the model that scored it; pairs no longer in review
    and with no decision are dropped. With a scope (an incremental link of those record keys):
    only pairs within it, or touching a changed or removed record, can be dropped; the rest of
    the queue stands."""
    now = utc_now()
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
                new_rows.append({"key_a": rec.key_a, "key_b": rec.key_b, "created_at": now, **values})
        if new_rows:  # straight to the driver: a first link queues tens of thousands
            insert_frame(s.connection(), CandidatePair.__table__, pd.DataFrame(new_rows))
        if updates:
            s.connection().execute(update(CandidatePair).where(CandidatePair.id == bindparam("pid")), updates)
        stale = [pid for key, (pid, dec) in existing.items() if key not in wanted and dec is None
                 and (scope is None or (key[0] in scope and key[1] in scope) or key[0] in changed
                      or key[1] in changed)]
        if stale:
            s.execute(CandidatePair.__table__.delete().where(CandidatePair.id.in_(stale)))
        s.commit()
    return len(wanted)


# --- Analysts' decisions (the casework service) ---------------------------------------------

DECISIONS = ("same", "different", "unsure", "skip")
MODEL_LEANS_SAME_AT = 0.5  # the review threshold: at or above it the model leans to "same"
SECOND_REVIEW_SHARE = 10  # one decided pair in this many goes blind to a second analyst


class DecisionConflict(Exception):
    """Someone decided this pair since the page was loaded: nothing was overwritten."""
    safe_message = True


class ReasonRequired(Exception):
    """A decision against the model needs a reason."""
    safe_message = True


def against_model(decision: str, probability: float) -> bool:
    return (decision == "same" and probability < MODEL_LEANS_SAME_AT) or \
        (decision == "different" and probability >= MODEL_LEANS_SAME_AT)


def decide(engine, pair_id: int, version: int, decision: str, user: str, reason: str = "",
           score_shown: bool = False) -> int:
    """Record an analyst's decision on a pair, keyed by its records, in one transaction: the
    history row always; the pair's ruling for same and different (replayed by every later run
    as must-link or cannot-link, never overridden by the model). `version` is the pair's
    version the analyst saw: if another decision came first, DecisionConflict and no change.
    Returns the pair's new version."""
    if decision not in DECISIONS:
        raise ValueError(f"a decision is one of {', '.join(DECISIONS)}")
    now = utc_now()
    with Session(engine) as s:
        pair = s.get(CandidatePair, pair_id)
        if pair is None:
            raise DecisionConflict("this pair is no longer in the review queue")
        second = bool(pair.second_review and pair.analyst_decision and decision in ("same", "different"))
        if second and user in set(s.execute(select(ReviewDecision.decided_by).where(
                ReviewDecision.key_a == pair.key_a, ReviewDecision.key_b == pair.key_b,
                ReviewDecision.decision.in_(("same", "different")))).scalars()):
            raise DecisionConflict("you decided this pair already: its blind second review is another analyst's")
        contrary = against_model(decision, pair.match_probability)
        if contrary and not reason.strip():
            raise ReasonRequired("say why: this decision goes against the model")
        values: dict = {"version": CandidatePair.version + 1}
        if decision in ("same", "different") and not second:
            values["analyst_decision"] = decision
            values["second_review"] = (pair.id % SECOND_REVIEW_SHARE) == 0
        elif second:
            values["second_review"] = False
        done = s.execute(update(CandidatePair).where(CandidatePair.id == pair_id, CandidatePair.version == version)
                         .values(**values))
        if done.rowcount != 1:
            s.rollback()
            raise DecisionConflict("another analyst decided this pair while you were looking at it; "
                                   "here is their decision")
        s.add(ReviewDecision(key_a=pair.key_a, key_b=pair.key_b, decision=decision, reason=reason.strip() or None,
                             decided_by=user, decided_at=now, score_shown=score_shown, against_model=contrary,
                             model_id=pair.model_id, blind_second=second))
        s.commit()
        return version + 1


def undo(engine, pair_id: int, version: int, user: str) -> int:
    """Take back the pair's ruling: it waits for an analyst again (the history keeps both)."""
    now = utc_now()
    with Session(engine) as s:
        pair = s.get(CandidatePair, pair_id)
        if pair is None:
            raise DecisionConflict("this pair is no longer in the review queue")
        done = s.execute(update(CandidatePair).where(CandidatePair.id == pair_id, CandidatePair.version == version)
                         .values(analyst_decision=None, second_review=False, version=CandidatePair.version + 1))
        if done.rowcount != 1:
            s.rollback()
            raise DecisionConflict("another analyst changed this pair while you were looking at it")
        s.add(ReviewDecision(key_a=pair.key_a, key_b=pair.key_b, decision="undo", reason=None, decided_by=user,
                             decided_at=now, score_shown=False, against_model=False, model_id=pair.model_id))
        s.commit()
        return version + 1


def newest_ruling_change(engine) -> datetime | None:
    """When a ruling last changed (same, different or undo): the relink sensor's cursor."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(ReviewDecision.decided_at)).where(
            ReviewDecision.decision.in_(("same", "different", "undo")), ReviewDecision.blind_second.is_(False))
        ).scalar()


def decision_history(engine, key_a: str, key_b: str) -> list[ReviewDecision]:
    with Session(engine) as s:
        rows = s.execute(select(ReviewDecision).where(ReviewDecision.key_a == key_a, ReviewDecision.key_b == key_b)
                         .order_by(ReviewDecision.decided_at, ReviewDecision.id)).scalars().all()
        s.expunge_all()
        return list(rows)


def review_quality(engine, now: datetime | None = None) -> dict:
    """Agreement of blind second reviews with the first, decisions per hour over the last day,
    and the backlog: pairs waiting and how long the oldest has waited."""
    now = now or utc_now()
    with engine.connect() as conn:
        decisions = conn.execute(select(ReviewDecision.key_a, ReviewDecision.key_b, ReviewDecision.decision,
                                        ReviewDecision.blind_second, ReviewDecision.decided_at)
                                 .order_by(ReviewDecision.id)).all()
        waiting, oldest = conn.execute(select(func.count(), func.min(CandidatePair.created_at))
                                       .where(CandidatePair.analyst_decision.is_(None))).one()
    first: dict = {}
    agree = compared = 0
    for d in decisions:
        if d.decision not in ("same", "different"):
            continue
        if d.blind_second:
            if (d.key_a, d.key_b) in first:
                compared += 1
                agree += first[(d.key_a, d.key_b)] == d.decision
        else:
            first[(d.key_a, d.key_b)] = d.decision
    day = [d for d in decisions if d.decision in DECISIONS and d.decided_at >= now - pd.Timedelta(hours=24)]
    return {"second_reviews": compared, "agreement": (agree / compared) if compared else None,
            "decisions_last_24h": len(day), "decisions_per_hour": round(len(day) / 24, 2),
            "backlog": int(waiting), "oldest_waiting_days": (now - oldest).days if oldest else 0}


def rule_records(engine, key_a: str, key_b: str, decision: str, user: str, reason: str) -> None:
    """An analyst's ruling on two records that may not be a queued pair: the cluster view's
    split (different) and merge (same). The pair is added to the queue's table if it is not
    there, ruled, and the ruling kept in the history; a reason is always required."""
    if decision not in ("same", "different"):
        raise ValueError("a split rules records different; a merge rules them the same")
    if not reason.strip():
        raise ReasonRequired("say why these records are split or joined")
    key_a, key_b = sorted((key_a, key_b))
    now = utc_now()
    with Session(engine) as s:
        pair = s.execute(select(CandidatePair).where(CandidatePair.key_a == key_a, CandidatePair.key_b == key_b)
                         ).scalar_one_or_none()
        if pair is None:
            pair = CandidatePair(key_a=key_a, key_b=key_b, match_weight=0.0, match_probability=0.0, decision="manual",
                                 explanation='{"manual": true}', updated_at=now, created_at=now, version=0)
            s.add(pair)
        pair.analyst_decision, pair.version = decision, (pair.version or 0) + 1
        s.add(ReviewDecision(key_a=key_a, key_b=key_b, decision=decision, reason=reason.strip(), decided_by=user,
                             decided_at=now, score_shown=False, against_model=False, model_id=pair.model_id))
        s.commit()


def split_record(engine, record_key: str, other_keys: list[str], user: str, reason: str) -> int:
    """Take a record out of its child: ruled different from each of the child's other records."""
    for other in sorted(set(other_keys) - {record_key}):
        rule_records(engine, record_key, other, "different", user, reason)
    return len(set(other_keys) - {record_key})
