"""Which records and register children the shield covers. The shield holds even when linkage is
unsure: it spreads from every shielded record to any record that shares an NHS number, UPN or
LA child id with it, or that has a candidate pair with it no analyst has ruled different, and
then to the whole register child of each such record, until nothing more is reached. A
shielded child's location must never leave through a record that failed to link.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import or_, select

from register.models import CandidatePair, SourceRecord


@dataclass(frozen=True)
class ShieldScope:
    record_keys: frozenset[str]
    child_ids: frozenset[str]

    def covers(self, record_key: str | None, child_id: str | None) -> bool:
        return record_key in self.record_keys or child_id in self.child_ids


def shield_scope(engine, max_rounds: int = 20) -> ShieldScope:
    with engine.connect() as conn:
        recs = pd.DataFrame(conn.execute(
            select(SourceRecord.record_key, SourceRecord.child_id, SourceRecord.nhs_number, SourceRecord.upn,
                   SourceRecord.la_child_id, SourceRecord.provider, SourceRecord.shielded)).all(),
            columns=["key", "child", "nhs", "upn", "la_id", "provider", "shielded"])
        if recs.empty or not recs["shielded"].fillna(False).any():
            return ShieldScope(frozenset(), frozenset())
        pairs = pd.DataFrame(conn.execute(
            select(CandidatePair.key_a, CandidatePair.key_b)
            .where(or_(CandidatePair.analyst_decision.is_(None), CandidatePair.analyst_decision != "different"))
        ).all(), columns=["a", "b"])
    recs["la_id"] = recs["provider"] + ":" + recs["la_id"].fillna("")
    recs.loc[recs["la_id"].str.endswith(":"), "la_id"] = None
    keys = set(recs.loc[recs["shielded"].fillna(False).astype(bool), "key"])
    children: set[str] = set()
    partner = pd.concat([pairs.rename(columns={"a": "key", "b": "other"}),
                         pairs.rename(columns={"b": "key", "a": "other"})], ignore_index=True)
    for _ in range(max_rounds):
        mine = recs[recs["key"].isin(keys) | recs["child"].isin(children)]
        reached = set(mine["key"])
        for col in ("nhs", "upn", "la_id"):
            values = set(mine[col].dropna()) - {""}
            reached |= set(recs.loc[recs[col].isin(values), "key"])
        reached |= set(partner.loc[partner["key"].isin(reached), "other"])
        new_children = set(recs.loc[recs["key"].isin(reached), "child"].dropna())
        if reached <= keys and new_children <= children:
            break
        keys |= reached
        children |= new_children
    return ShieldScope(frozenset(keys), frozenset(children))


_CACHE: dict[str, tuple[tuple, ShieldScope]] = {}


def register_version(engine) -> tuple:
    """Cheap markers that change whenever the shield scope can: a new record, a re-link (child
    ids move), a queued or ruled pair."""
    from sqlalchemy import func

    from register.models import RegisterState, ReviewDecision

    with engine.connect() as conn:
        return (conn.execute(select(func.max(SourceRecord.id))).scalar(),
                conn.execute(select(RegisterState.value, RegisterState.updated_at)
                             .where(RegisterState.name == "links_inputs_fingerprint")).first(),
                conn.execute(select(func.max(CandidatePair.updated_at), func.max(CandidatePair.version),
                                    func.count(CandidatePair.id))).first(),
                conn.execute(select(func.max(ReviewDecision.id))).scalar())


def current_shield_scope(engine) -> ShieldScope:
    """shield_scope, computed again only when the register has changed since (for pages: the
    scope costs seconds on a large register, a version check a few milliseconds)."""
    key = str(engine.url)
    version = register_version(engine)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    scope = shield_scope(engine)
    _CACHE[key] = (version, scope)
    return scope
