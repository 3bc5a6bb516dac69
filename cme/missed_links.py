"""When a CME flag is probably a missed link: a flagged child one of whose records is in an
undecided review pair (under the link threshold, at or above the review floor) with a record of
another child who is on a school roll. The officer sees that school and the pair before making
enquiries: if the analyst finds the two records are one child, the flag goes."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from register import CandidatePair, SourceRecord


@dataclass(frozen=True)
class LikelyMissedLink:
    pair_id: int  # the review pair (the analyst's queue)
    probability: float  # the model's match probability for it
    school: str  # the LAESTAB of the other child's newest school record ("" when they have none)
    other_child: str


def likely_missed_links(engine, flagged: set[str]) -> dict[str, LikelyMissedLink]:
    """For each flagged child with an undecided review pair to a child who is not flagged: the
    likeliest such pair (highest probability, a school record first), with the other child's
    school."""
    if not flagged:
        return {}
    with engine.connect() as conn:
        pairs = conn.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b,
                                    CandidatePair.match_probability)
                             .where(CandidatePair.analyst_decision.is_(None))).all()
        keys = {k for p in pairs for k in (p.key_a, p.key_b)}
        owner = {}
        for part in _chunks(sorted(keys), 900):
            owner.update({r.record_key: (r.child_id, r.feed, r.provider, r.start_date or "")
                          for r in conn.execute(select(SourceRecord.record_key, SourceRecord.child_id, SourceRecord.feed,
                                                       SourceRecord.provider, SourceRecord.start_date)
                                                .where(SourceRecord.active.is_(True),
                                                       SourceRecord.record_key.in_(part)))})
        others = {o[0] for o in owner.values() if o[0] and o[0] not in flagged}
        schools = {}
        for part in _chunks(sorted(others), 900):
            for r in conn.execute(select(SourceRecord.child_id, SourceRecord.provider, SourceRecord.start_date)
                                  .where(SourceRecord.active.is_(True), SourceRecord.feed == "school",
                                         SourceRecord.end_date.is_(None), SourceRecord.child_id.in_(part))):
                if r.child_id not in schools or (r.start_date or "") > schools[r.child_id][1]:
                    schools[r.child_id] = (r.provider, r.start_date or "")
    best: dict[str, LikelyMissedLink] = {}
    for p in pairs:
        a, b = owner.get(p.key_a), owner.get(p.key_b)
        if not a or not b or a[0] == b[0]:
            continue
        for mine, theirs, their_record in ((a[0], b[0], b), (b[0], a[0], a)):
            if mine in flagged and theirs and theirs not in flagged:
                school = their_record[2] if their_record[1] == "school" else schools.get(theirs, ("", ""))[0]
                found = LikelyMissedLink(p.id, float(p.match_probability), school, theirs)
                now = best.get(mine)
                if now is None or (bool(found.school), found.probability) > (bool(now.school), now.probability):
                    best[mine] = found
    return best


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
