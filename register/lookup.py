"""Reading the register for people at a screen: is a child within a user's authorities, a
child's records and review pairs, an authority's CME list. Every function takes the user's
authorities and returns nothing outside them. Reads only."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from register.models import CandidatePair, CmeFlag, CmeList, ExtractFile, SourceRecord
from register.shield import shield_scope


def in_authorities(la_codes: list[str]):
    """The condition a record meets when it belongs to one of these authorities: the
    authority's own record, a school of the authority (LAESTAB starts with its code), or a GP
    registration that states the child lives there."""
    return or_(and_(SourceRecord.feed == "la", SourceRecord.provider.in_(la_codes)),
               and_(SourceRecord.feed == "school", func.substr(SourceRecord.provider, 1, 3).in_(la_codes)),
               and_(SourceRecord.feed == "health", SourceRecord.residence_la.in_(la_codes)))


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


@dataclass
class ChildPage:
    child_id: str
    records: list[dict]
    review_pairs: list[dict]
    flags: list[dict]
    shielded: bool
    location_withheld: bool
    notes: list[str] = field(default_factory=list)


LOCATION_FIELDS = ("address_line1", "address_line2", "town", "postcode", "provider", "residence_la",
                   "destination_laestab")


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
        s.expunge_all()
    scope = shield_scope(engine)
    shielded = child_id in scope.child_ids or any(k in scope.record_keys for k in keys)
    withheld = shielded and not may_see_shielded
    records = []
    for rec, extract_date, file_name in rows:
        shown = {c.name: getattr(rec, c.name) for c in SourceRecord.__table__.columns}
        shown["extract_date"], shown["file"] = extract_date, file_name
        if withheld:
            for name in LOCATION_FIELDS:
                shown[name] = None
            shown["file"] = None
        records.append(shown)
    review = [{"id": p.id, "key_a": p.key_a, "key_b": p.key_b, "analyst_decision": p.analyst_decision,
               "match_probability": p.match_probability} for p in pairs]
    return ChildPage(child_id, records, review, [{"as_of": f.as_of, "la_code": f.la_code, "reason": f.reason,
                                                  "possible_match_in_review": f.possible_match_in_review}
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
