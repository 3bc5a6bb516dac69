"""Reading the register for people at a screen: is a child within a user's authorities, a
child's records and review pairs, an authority's CME list. Every function takes the user's
authorities and returns nothing outside them. Reads only."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from linkage import current_child_id
from matching import LinkSettings
from oversight.shield import current_shield_scope
from register import (
    CandidatePair,
    CmeCase,
    CmeFlag,
    CmeList,
    CnisEntry,
    ExtractFile,
    Kept,
    ProviderStatus,
    RegisterState,
    ReviewDecision,
    SourceRecord,
)
from schemas import postcode_normalise


def in_authorities(la_codes: list[str]):
    """The condition a record meets when it belongs to one of these authorities: the
    authority's own record, a school of the authority (LAESTAB starts with its code), or a GP
    registration that states the child lives there."""
    return or_(and_(SourceRecord.feed == "la", SourceRecord.provider.in_(la_codes)),
               and_(SourceRecord.feed == "school", func.substr(SourceRecord.provider, 1, 3).in_(la_codes)),
               and_(SourceRecord.feed == "health", SourceRecord.residence_la.in_(la_codes)))


def record_authority(feed: str, provider: str, residence_la: str | None) -> str | None:
    """The authority one record already read belongs to, as in_authorities() reads it: the
    authority's own record, a school's (its LAESTAB's first three digits), or where a GP
    registration says the child lives."""
    return provider if feed == "la" else provider[:3] if feed == "school" else residence_la if feed == "health" else None


def record_in_authorities(feed: str, provider: str, residence_la: str | None, la_codes: set[str]) -> bool:
    """in_authorities() for one record already read."""
    return record_authority(feed, provider, residence_la) in la_codes


def child_visible(engine, child_id: str, la_codes: list[str]) -> bool:
    """A child is visible to a user when one of the child's records, or a CME flag, is in one
    of the user's authorities."""
    if not la_codes:
        return False
    with engine.connect() as conn:
        record = conn.execute(select(SourceRecord.id).where(SourceRecord.child_id == child_id,
                                                             in_authorities(la_codes)).limit(1)).first()
        if record is not None:
            return True
        return conn.execute(select(CmeFlag.id).where(CmeFlag.child_id == child_id,
                                                     CmeFlag.la_code.in_(la_codes)).limit(1)).first() is not None


def child_authorities(engine, child_id: str) -> set[str]:
    """The authorities a child belongs to: those of the child's records (as in_authorities()
    reads them) and of the child's CME flags."""
    with engine.connect() as conn:
        found = {record_authority(*r) for r in conn.execute(
            select(SourceRecord.feed, SourceRecord.provider, SourceRecord.residence_la)
            .where(SourceRecord.child_id == child_id).distinct())} - {None, ""}
        found |= set(conn.execute(select(CmeFlag.la_code).where(CmeFlag.child_id == child_id).distinct()).scalars())
    return found


def in_caseload(engine, child_id: str, la_codes: list[str]) -> bool:
    """A child is in a user's caseload when the child has a CME case or a children-not-in-school
    register entry in one of the user's authorities, or a pair waiting for review touches one of the child's records. Opening any
    other child needs a reason first (the audit log keeps it)."""
    if not la_codes:
        return False
    with engine.connect() as conn:
        if conn.execute(select(CmeCase.id).where(CmeCase.child_id == child_id, CmeCase.la_code.in_(la_codes))
                        .limit(1)).first() is not None:
            return True
        if conn.execute(select(CnisEntry.id).where(CnisEntry.child_id == child_id, CnisEntry.la_code.in_(la_codes))
                        .limit(1)).first() is not None:
            return True
        keys = select(SourceRecord.record_key).where(SourceRecord.child_id == child_id).scalar_subquery()
        waiting = or_(CandidatePair.analyst_decision.is_(None), CandidatePair.second_review.is_(True))
        return conn.execute(select(CandidatePair.id).where(
            waiting, or_(CandidatePair.key_a.in_(keys), CandidatePair.key_b.in_(keys))).limit(1)).first() is not None


@dataclass
class ChildPage:
    child_id: str
    records: list[dict]
    review_pairs: list[dict]
    flags: list[dict]
    shielded: bool
    location_withheld: bool
    notes: list[str] = field(default_factory=list)

    @property
    def identity(self) -> dict:
        """Who the child is, from their current records: names and birth date from the
        authority's record first, then a school's, then health's; the newest address; the school
        whose roll holds them now; the newest school they left, when and why; and every
        identifier the sources give. What the shield withholds (LOCATION_FIELDS) stays withheld,
        marked as such."""
        rank = {"la": 0, "school": 1, "health": 2}
        current = [r for r in self.records if r["active"]]
        ranked = sorted(current, key=lambda r: (rank.get(r["feed"], 3), -(r["extract_date"] or date.min).toordinal()))
        top = ranked[0] if ranked else {}
        newest = sorted(current, key=lambda r: r["extract_date"] or date.min, reverse=True)
        address = next((r for r in newest if r["address_line1"] or r["postcode"]), None)
        schools = sorted((r for r in current if r["feed"] == "school"), key=lambda r: r["start_date"] or date.min,
                         reverse=True)
        on_roll = next((r for r in schools if r["end_date"] is None), None)
        left = next((r for r in sorted(schools, key=lambda r: r["end_date"] or date.min, reverse=True)
                     if r["end_date"] is not None), None)

        def ids(field_name: str) -> list[str]:
            return sorted({r[field_name] for r in current if r.get(field_name)})
        return {
            "name": " ".join(p for p in (top.get("forename"), top.get("middle_names"), top.get("surname")) if p),
            "dob": top.get("dob"), "sex": top.get("sex") or "",
            "address": None if address is None else ", ".join(
                p for p in (address["address_line1"], address["address_line2"], address["town"], address["postcode"]) if p),
            "school": None if on_roll is None else {"laestab": on_roll["provider"], "since": on_roll["start_date"]},
            "left": None if left is None else {"laestab": left["provider"], "on": left["end_date"],
                                               "reason": left["end_reason"] or "",
                                               "destination": left["destination_laestab"] or ""},
            "upn": ids("upn"), "nhs_number": ids("nhs_number"), "la_child_id": ids("la_child_id"),
            "withheld": self.location_withheld,
        }


# What is withheld of a shielded child: where they live, and where they go to school or see a GP
# (a UPN's digits name the authority and the school that issued it). Pages link records by
# their opaque row reference, never by record key (which names the provider).
LOCATION_FIELDS = ("address_line1", "address_line2", "town", "postcode", "provider", "residence_la",
                   "destination_laestab", "upn", "former_upn")


def child_page(engine, child_id: str, la_codes: list[str], may_see_shielded: bool) -> ChildPage | None:
    """Every record linked to the child by source and date (current first), the review pairs
    that touch them, and the child's CME flags; None when the child is not visible to these
    authorities. A shielded child's location (address, postcode, school, GP) is withheld
    unless the user may see shielded records."""
    if not child_visible(engine, child_id, la_codes):
        return None
    with Session(engine) as s:
        rows = s.execute(
            select(SourceRecord, ExtractFile.extract_date, ExtractFile.name)
            .join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
            .where(SourceRecord.child_id == child_id)
            .order_by(SourceRecord.active.desc(), ExtractFile.extract_date.desc(), SourceRecord.id)).all()
        keys = sorted({r[0].record_key for r in rows})
        pairs = s.execute(select(CandidatePair).where(or_(CandidatePair.key_a.in_(keys),
                                                          CandidatePair.key_b.in_(keys)))).scalars().all()
        flags = s.execute(select(CmeFlag).where(CmeFlag.child_id == child_id)
                          .order_by(CmeFlag.as_of.desc())).scalars().all()
        stale = set(s.execute(select(ProviderStatus.provider).where(ProviderStatus.stale.is_(True))).scalars())
        s.expunge_all()
    scope = current_shield_scope(engine)
    shielded = child_id in scope.child_ids or any(k in scope.record_keys for k in keys)
    withheld = shielded and not may_see_shielded
    records = []
    for rec, extract_date, file_name in rows:
        shown = {c.name: getattr(rec, c.name) for c in SourceRecord.__table__.columns}
        shown["extract_date"], shown["file"] = extract_date, file_name
        # From a provider whose newest extract is older than the stale age (sources.deliveries).
        shown["stale"] = bool(rec.active and rec.provider in stale)
        if withheld:
            for name in LOCATION_FIELDS:
                shown[name] = None
            shown["file"] = None
        records.append(shown)
    review = [{"id": p.id, "key_a": p.key_a, "key_b": p.key_b, "analyst_decision": p.analyst_decision,
               "match_probability": p.match_probability} for p in pairs]
    return ChildPage(child_id, records, review, [{"as_of": f.as_of, "la_code": f.la_code, "reason": f.reason,
                                                  "possible_match_in_review": f.possible_match_in_review,
                                                  "on_stale_roll": bool(f.stale_rolls)}
                                                 for f in flags], shielded, withheld)


def cme_list(engine, la_codes: list[str], as_of: date | None = None) -> tuple[date | None, list[dict]]:
    """The newest CME list's flags in these authorities: child id, authority, reason, the date
    the child was first flagged, and the match-in-review mark."""
    if not la_codes:
        return None, []
    with engine.connect() as conn:
        when = as_of or conn.execute(select(func.max(CmeList.as_of))).scalar()
        if when is None:
            return None, []
        first = (select(CmeFlag.child_id, func.min(CmeFlag.as_of).label("first_flagged"))
                 .where(CmeFlag.la_code.in_(la_codes)).group_by(CmeFlag.child_id).subquery())
        rows = conn.execute(
            select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason, CmeFlag.possible_match_in_review,
                   first.c.first_flagged)
            .join(first, first.c.child_id == CmeFlag.child_id)
            .where(CmeFlag.as_of == when, CmeFlag.la_code.in_(la_codes))
            .order_by(CmeFlag.la_code, first.c.first_flagged, CmeFlag.child_id)).all()
    return when, [{"child_id": r.child_id, "la_code": r.la_code, "reason": r.reason,
                   "possible_match_in_review": r.possible_match_in_review, "first_flagged": r.first_flagged,
                   "days_missing": (when - r.first_flagged).days} for r in rows]


def record_key_of(engine, ref: int) -> str | None:
    """The record key behind a page's opaque record reference (a source row's id)."""
    with engine.connect() as conn:
        return conn.execute(select(SourceRecord.record_key).where(SourceRecord.id == ref)).scalar()


def _record_of(s, key: str):
    """The newest row of a record key (current first)."""
    return s.execute(select(SourceRecord, ExtractFile.extract_date).join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
                     .where(SourceRecord.record_key == key)
                     .order_by(SourceRecord.active.desc(), SourceRecord.id.desc()).limit(1)).first()


def _visible_keys(s, keys: list[str], la_codes: list[str]) -> set[str]:
    if not la_codes or not keys:
        return set()
    return set(s.execute(select(SourceRecord.record_key).where(SourceRecord.record_key.in_(keys),
                                                               in_authorities(la_codes))).scalars())


COMPARED_FIELDS = [("forename", "Given name", ("forename",)), ("middle_name", "Middle names", ("middle_names",)),
                   ("surname", "Family name", ("surname", "alt_surname")), ("dob", "Date of birth", ("dob",)),
                   ("sex", "Sex", ("sex",)), ("postcode", "Postcode", ("postcode",)),
                   ("nhs_number", "NHS number", ("nhs_number",)), ("upn", "UPN", ("upn", "former_upn"))]


_KNOWN: Kept[dict] = Kept()
_WAITING: Kept[list] = Kept()


def _waiting_pairs(s, engine) -> list:
    """Pairs waiting for a first or a blind second review, kept between requests until a pair
    is queued, ruled or changed (every change raises a pair's version or its update time)."""
    version = tuple(s.execute(select(func.count(CandidatePair.id), func.max(CandidatePair.version),
                                     func.sum(CandidatePair.version), func.max(CandidatePair.updated_at))).one())
    return _WAITING.get(engine, version, lambda: s.execute(
        select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b, CandidatePair.created_at,
               CandidatePair.analyst_decision, CandidatePair.second_review, CandidatePair.match_probability)
        .where(or_(CandidatePair.analyst_decision.is_(None), CandidatePair.second_review.is_(True)))).all())


def _known_records(s, engine, keys: set[str]) -> dict[str, tuple]:
    """record key -> (feed, provider, residence_la, current child id) for these keys, kept
    between requests until a run changes the register (records or links)."""
    version = (s.execute(select(func.max(SourceRecord.id))).scalar(),
               s.execute(select(RegisterState.value).where(RegisterState.name == "links_inputs_fingerprint")).scalar())
    known = _KNOWN.get(engine, version, dict)  # filled as keys are asked for
    missing = sorted(keys - known.keys())
    for i in range(0, len(missing), 5000):
        chunk = missing[i:i + 5000]
        for key in chunk:
            known.setdefault(key, ("", "", None, None))
        # One indexed read per chunk; the authority test is the one in_authorities() states.
        for key, feed, provider, residence_la, child_id, active in s.execute(
                select(SourceRecord.record_key, SourceRecord.feed, SourceRecord.provider, SourceRecord.residence_la,
                       SourceRecord.child_id, SourceRecord.active)
                .where(SourceRecord.record_key.in_(chunk)).order_by(SourceRecord.active, SourceRecord.id)):
            known[key] = (feed, provider, residence_la, child_id if active else known[key][3])
    return {k: known[k] for k in keys}


def review_queue(engine, la_codes: list[str], user: str, limit: int = 50) -> list[dict]:
    """Pairs waiting for this analyst, in their authorities: undecided pairs, and pairs sampled
    for a blind second review that someone else decided. First the pairs whose answer may clear a
    CME flag (a flagged child and a child who is not), likeliest first; then other pairs that touch
    the CME list; then the pairs the model is least sure of (an answer there teaches it most);
    within each, the longest waiting. No score is shown (it biases reviewers)."""
    if not la_codes:
        return []
    with Session(engine) as s:
        flagged = set(s.execute(select(CmeFlag.child_id).where(
            CmeFlag.as_of == select(func.max(CmeList.as_of)).scalar_subquery())).scalars())
        pairs = _waiting_pairs(s, engine)
        known = _known_records(s, engine, {k for p in pairs for k in (p.key_a, p.key_b)})
        decided_by_me = set(s.execute(select(ReviewDecision.key_a, ReviewDecision.key_b).where(
            ReviewDecision.decided_by == user, ReviewDecision.decision.in_(("same", "different")))).all())
    wanted = set(la_codes)
    ranked = []
    for p in pairs:
        a, b = known[p.key_a], known[p.key_b]
        if not (record_in_authorities(a[0], a[1], a[2], wanted) or record_in_authorities(b[0], b[1], b[2], wanted)):
            continue
        if p.analyst_decision and (p.key_a, p.key_b) in decided_by_me:
            continue  # a blind second review goes to someone else
        prob = float(p.match_probability or 0.0)
        clears = (a[3] in flagged) != (b[3] in flagged) and a[3] != b[3]
        touches_cme = a[3] in flagged or b[3] in flagged
        rank = (0, -prob) if clears else (1, -prob) if touches_cme else (2, abs(prob - 0.5))
        ranked.append((rank, p.created_at or datetime.min, p.id, bool(p.analyst_decision), touches_cme))
    ranked.sort()
    ranked = [(not touches, since, pid, second) for _rank, since, pid, second, touches in ranked]
    return [{"id": pid, "touches_cme": not away, "waiting_since": since, "second_review": second}
            for away, since, pid, second in ranked[:limit]]


def pair_for_review(engine, pair_id: int, la_codes: list[str], may_see_shielded: bool) -> dict | None:
    """Two records side by side, field by field, with each field's level and its share of the
    score (from the explanation the linkage stored; they add up with the prior); None when
    neither record is in the user's authorities. The score itself is returned separately so a
    page can keep it hidden until the analyst decides."""
    with Session(engine) as s:
        pair = s.get(CandidatePair, pair_id)
        if pair is None or not _visible_keys(s, [pair.key_a, pair.key_b], la_codes):
            return None
        left, right = _record_of(s, pair.key_a), _record_of(s, pair.key_b)
        s.expunge_all()
    if left is None or right is None:
        return None
    scope = current_shield_scope(engine)
    withheld = not may_see_shielded and bool({pair.key_a, pair.key_b} & scope.record_keys
                                             or {left[0].child_id, right[0].child_id} & scope.child_ids)
    explanation = json.loads(pair.explanation or "{}")
    fields = []
    for name, label, columns in COMPARED_FIELDS:
        def shown(rec, cols=columns):
            values = [str(getattr(rec, c)) for c in cols if getattr(rec, c) not in (None, "")]
            return " / ".join(values)
        part = explanation.get(name, {})
        hide = withheld and name in ("postcode", "upn")
        fields.append({"name": label, "left": "Withheld" if hide else shown(left[0]),
                       "right": "Withheld" if hide else shown(right[0]),
                       "level": part.get("level", ""), "weight": part.get("weight")})
    side = {"left": left, "right": right}
    return {"id": pair.id, "version": pair.version, "key_a": pair.key_a, "key_b": pair.key_b,
            "fields": fields, "prior": explanation.get("prior"), "held": explanation.get("held"),
            "probability": pair.match_probability, "match_weight": pair.match_weight,
            "score_words": score_in_words(pair.match_probability, bool(explanation.get("held"))),
            "ruling": pair.analyst_decision, "model_id": pair.model_id, "location_withheld": withheld,
            "sources": {k: ("withheld" if withheld else f"{v[0].feed} {v[0].provider}") for k, v in side.items()},
            "children": {k: v[0].child_id for k, v in side.items()},
            "refs": {k: v[0].id for k, v in side.items()},
            "extract_dates": {k: v[1] for k, v in side.items()}}


def score_in_words(probability: float | None, held: bool = False) -> str:
    """The model's score as the DfE's matcher says it: Match, Potential match, Low confidence, No
    match; "Many" when a rule holds the pair back although it may score as a match."""
    settings = LinkSettings()
    p = probability or 0.0
    if held:
        return "Many: too close to call between children (held for review)"
    return ("Match" if p >= settings.link_at else "Potential match" if p >= settings.review_at
            else "Low confidence" if p >= 0.2 else "No match")


def record_candidates(engine, record_key: str, la_codes: list[str], may_see_shielded: bool,
                      limit: int = 5) -> dict | None:
    """A record with its top few candidates: the pairs it is in, strongest first (the order is
    the model's; the scores stay hidden), each with the other record in brief and its ruling.
    Only pairs the user may review are listed (one record or the other in their authorities, as
    for the pair's own page); None when there is none and the record itself is not in their
    authorities."""
    with Session(engine) as s:
        pairs = s.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b,
                                 CandidatePair.analyst_decision)
                          .where(or_(CandidatePair.key_a == record_key, CandidatePair.key_b == record_key))
                          .order_by(CandidatePair.match_weight.desc(), CandidatePair.id)).all()
        other = {p.id: p.key_b if p.key_a == record_key else p.key_a for p in pairs}
        visible = _visible_keys(s, [record_key, *other.values()], la_codes)
        if record_key not in visible:
            pairs = [p for p in pairs if other[p.id] in visible]
        pairs = pairs[:limit]
        if not pairs and record_key not in visible:
            return None
        mine = _record_of(s, record_key)
        others = {p.id: _record_of(s, other[p.id]) for p in pairs}
        s.expunge_all()
    if mine is None:
        return None
    scope = current_shield_scope(engine)

    def brief(row) -> dict:
        rec, extract_date = row
        withheld = not may_see_shielded and scope.covers(rec.record_key, rec.child_id)
        return {"ref": rec.id, "record_key": rec.record_key, "child_id": rec.child_id, "active": rec.active,
                "name": " ".join(x for x in (rec.forename, rec.middle_names, rec.surname) if x),
                "dob": rec.dob, "sex": rec.sex, "extract_date": extract_date,
                "source": rec.feed if withheld else f"{rec.feed} {rec.provider}",
                "postcode": "Withheld" if withheld else (rec.postcode or "")}

    return {"record": brief(mine),
            "candidates": [{"pair_id": p.id, "ruling": p.analyst_decision, "other": brief(others[p.id])}
                           for p in pairs if others[p.id] is not None]}


def search_children(engine, query: str, la_codes: list[str], limit: int = 20,
                    may_see_shielded: bool = False) -> list[str]:
    """Children found by an exact identifier (a child id, a UPN or an NHS number) or by a
    postcode, only those visible in these authorities: a child elsewhere is not found, not even
    as a count. An old child id finds the child its records went to. A search by postcode or UPN
    never finds a shielded child for a user without shielded-records access (as the NHS spine does
    for its S flag): their location must not be inferable from the answer."""


    q = query.strip().upper().replace(" ", "")
    if not q or not la_codes:
        return []
    postcode = postcode_normalise(pd.Series([q])).iloc[0]
    if postcode:
        with engine.connect() as conn:
            found = set(conn.execute(select(SourceRecord.child_id).where(
                SourceRecord.postcode == postcode, SourceRecord.child_id.is_not(None)).limit(500)).scalars())
        if not may_see_shielded:
            scope = current_shield_scope(engine)
            found = {c for c in found if c not in scope.child_ids}
        return sorted(c for c in found if child_visible(engine, c, la_codes))[:limit]
    with engine.connect() as conn:
        found = set(conn.execute(select(SourceRecord.child_id).where(
            or_(SourceRecord.child_id == q, SourceRecord.nhs_number == q), SourceRecord.child_id.is_not(None))
            .limit(100)).scalars())
        by_upn = set(conn.execute(select(SourceRecord.child_id).where(
            or_(SourceRecord.upn == q, SourceRecord.former_upn == q), SourceRecord.child_id.is_not(None))
            .limit(100)).scalars())
    if by_upn and not may_see_shielded:
        # A UPN names the school that issued it: finding a shielded child by it would place them.
        by_upn -= current_shield_scope(engine).child_ids
    found |= by_upn
    now = current_child_id(engine, q)
    if now:
        found.add(now)
    return sorted(c for c in found if child_visible(engine, c, la_codes))[:limit]
