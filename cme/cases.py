"""CME cases: one per flagged child and authority, lasting across runs. The CME list opens a
case for a newly flagged child; an officer records dated enquiry notes and closes the case
with an outcome from a fixed list. A closed case stays closed unless newer evidence arrives
(a record or status the register did not hold when it was closed), and then it reopens."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cme.missed_links import LikelyMissedLink, likely_missed_links
from cme.reports import cme_children, latest_cme_date
from oversight import shield_scope
from register import CaseNote, CmeCase, CmeFlag, CmeList, Kept, SourceRecord, utc_now

OUTCOMES = {
    "ON_ROLL_HERE": "On roll at a school in this authority",
    "ON_ROLL_ELSEWHERE": "On roll in another authority",
    "EHE_ASSESSED": "Electively home educated, assessed as suitable",
    "EHE_NOT_YET_ASSESSED": "Electively home educated, not yet assessed",
    "ALTERNATIVE_PROVISION": "In alternative provision",
    "MOVED_ABROAD": "Moved abroad",
    "WHEREABOUTS_UNKNOWN": "Whereabouts unknown: sent to the Lost Pupils Database",
    "DECEASED": "Deceased",
    "END_OF_COMPULSORY_AGE": "Reached the end of compulsory school age",
}
NOTE_KINDS = {"call": "Phone call", "letter": "Letter or email", "visit": "Home visit",
              "admissions": "Check with admissions", "social_care": "Check with social care",
              "health": "Check with health", "housing": "Check with housing",
              "other_authority": "Check with another authority's CME officer",
              "lost_pupils": "Lost Pupils Database", "other": "Other"}


class CaseConflict(Exception):
    """The case changed since the page was loaded: nothing was overwritten."""
    safe_message = True


def evidence_of(s: Session, child_id: str) -> dict:
    """What the register holds about a child that could change a case: each current record's
    key and its newest dated fact (entry, registration or status date; leaving date)."""
    rows = s.execute(select(SourceRecord.record_key, func.max(SourceRecord.start_date), func.max(SourceRecord.end_date))
                     .where(SourceRecord.child_id == child_id, SourceRecord.active.is_(True))
                     .group_by(SourceRecord.record_key)).all()
    return {key: max((d.isoformat() for d in (start, end) if d), default="") for key, start, end in rows}


def newer_evidence(then: dict, now: dict) -> bool:
    """A record the case did not see, or a newer dated fact on one it did."""
    return any(key not in then or fact > then[key] for key, fact in now.items())


def open_cases(engine, as_of: date) -> dict[str, int]:
    """After a CME list is computed: open a case for each flag with no case, and reopen a
    closed case whose child has newer evidence than it was closed on."""
    now = utc_now()
    opened = reopened = 0
    with Session(engine) as s:
        flags = s.execute(select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason).where(CmeFlag.as_of == as_of)).all()
        cases = {(c.child_id, c.la_code): c for c in s.execute(select(CmeCase)).scalars()}
        for f in flags:
            case = cases.get((f.child_id, f.la_code))
            if case is None:
                s.add(CmeCase(child_id=f.child_id, la_code=f.la_code, opened_on=as_of, reason=f.reason, status="open",
                              version=0))
                opened += 1
            elif case.status == "closed" and newer_evidence(json.loads(case.evidence or "{}"),
                                                            evidence_of(s, f.child_id)):
                case.status, case.outcome, case.reason, case.version = "open", None, f.reason, case.version + 1
                s.add(CaseNote(case_id=case.id, written_at=now, author="rollcall", kind="other",
                               text="Reopened: the register holds newer evidence than the case was closed on."))
                reopened += 1
        s.commit()
    return {"cases_opened": opened, "cases_reopened": reopened}


_FLAGS: Kept[dict] = Kept()


def _flags_of_list(conn, engine, as_of: date) -> dict:
    """(child id, LA code) -> flag of the list of this date, kept until the list is computed
    again (a list never changes otherwise)."""
    version = (as_of, conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar())
    return _FLAGS.get(engine, version, lambda: {(r.child_id, r.la_code): r for r in conn.execute(
        select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason, CmeFlag.possible_match_in_review,
               CmeFlag.stale_rolls).where(CmeFlag.as_of == as_of))})


def case_list(engine, la_codes: list[str], as_of: date | None, status: str = "open", limit: int = 100,
              offset: int = 0) -> tuple[int, list[dict]]:
    """An authority's cases (open ones by default), the longest missing first: (how many in
    all, one page of them), each marked with whether the child is on the newest CME list."""
    if not la_codes or as_of is None:
        return 0, []
    where = (CmeCase.la_code.in_(la_codes), CmeCase.status == status)
    with engine.connect() as conn:
        flags = _flags_of_list(conn, engine, as_of)
        total = conn.execute(select(func.count()).select_from(CmeCase).where(*where)).scalar()
        cases = conn.execute(select(CmeCase.id, CmeCase.child_id, CmeCase.la_code, CmeCase.opened_on, CmeCase.status,
                                    CmeCase.outcome, CmeCase.reason)
                             .where(*where).order_by(CmeCase.opened_on, CmeCase.child_id)
                             .limit(limit).offset(offset)).all()
    out = []
    for c in cases:
        flag = flags.get((c.child_id, c.la_code))
        out.append({"id": c.id, "child_id": c.child_id, "la_code": c.la_code, "first_flagged": c.opened_on,
                    "days_missing": (as_of - c.opened_on).days, "reason": flag.reason if flag else c.reason,
                    "status": c.status, "outcome": c.outcome, "on_list": flag is not None,
                    "possible_match_in_review": bool(flag and flag.possible_match_in_review),
                    "on_stale_roll": bool(flag and flag.stale_rolls)})
    return total, out


def case_of(engine, case_id: int, la_codes: list[str]) -> tuple[CmeCase, list[CaseNote]] | None:
    with Session(engine) as s:
        case = s.get(CmeCase, case_id)
        if case is None or case.la_code not in la_codes:
            return None
        notes = s.execute(select(CaseNote).where(CaseNote.case_id == case_id)
                          .order_by(CaseNote.written_at, CaseNote.id)).scalars().all()
        s.expunge_all()
        return case, list(notes)


def cases_of_child(engine, child_id: str, la_codes: list[str]) -> list[CmeCase]:
    with Session(engine) as s:
        rows = s.execute(select(CmeCase).where(CmeCase.child_id == child_id, CmeCase.la_code.in_(la_codes))
                         .order_by(CmeCase.opened_on)).scalars().all()
        s.expunge_all()
        return list(rows)


def add_note(engine, case_id: int, kind: str, text: str, author: str) -> None:
    if kind not in NOTE_KINDS:
        raise ValueError("choose what kind of enquiry this was")
    if not text.strip():
        raise ValueError("write what was found")
    with Session(engine) as s:
        s.add(CaseNote(case_id=case_id, written_at=utc_now(), author=author, kind=kind,
                       text=text.strip()))
        s.commit()


def close_case(engine, case_id: int, version: int, outcome: str, author: str) -> None:
    """Close with an outcome, keeping the evidence the register holds now, so the case comes
    back only when something newer arrives. A stale version is a CaseConflict."""
    if outcome not in OUTCOMES:
        raise ValueError("choose an outcome")
    now = utc_now()
    with Session(engine) as s:
        case = s.get(CmeCase, case_id)
        evidence = json.dumps(evidence_of(s, case.child_id), sort_keys=True)
        done = s.execute(update(CmeCase).where(CmeCase.id == case_id, CmeCase.version == version, CmeCase.status == "open")
                         .values(status="closed", outcome=outcome, closed_at=now, closed_by=author, evidence=evidence,
                                 version=CmeCase.version + 1))
        if done.rowcount != 1:
            s.rollback()
            raise CaseConflict("someone changed this case while you were looking at it; here it is as it is now")
        s.add(CaseNote(case_id=case_id, written_at=now, author=author, kind="other",
                       text=f"Closed: {OUTCOMES[outcome]}."))
        s.commit()


TIME_MISSING_BANDS = ((28, "under 4 weeks"), (91, "4 weeks to under 3 months"), (182, "3 to under 6 months"),
                      (None, "6 months or more"))


def year_group(dob: date, as_of: date) -> str:
    """The national curriculum year group on the date: age on the 31 August that began the
    school year, less 4 (Reception at 4); outside school age, by age."""
    start_year = as_of.year if (as_of.month, as_of.day) >= (9, 1) else as_of.year - 1
    aug31 = date(start_year, 8, 31)
    age = aug31.year - dob.year - ((aug31.month, aug31.day) < (dob.month, dob.day))
    return "Reception" if age == 4 else f"Year {age - 4}" if 5 <= age <= 15 else f"age {age}"


def time_missing(days: int) -> str:
    return next(label for limit, label in TIME_MISSING_BANDS if limit is None or days < limit)


def dfe_counts(engine, la_codes: list[str], as_of: date) -> list[tuple]:
    """Counts for the DfE's termly CME data collection, per authority: flagged children on the
    list of this date by sex, year group, time missing (since first flagged) and reason.
    Counts only: no child's data."""
    if not la_codes:
        return []
    with engine.connect() as conn:
        flags = conn.execute(select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason)
                             .where(CmeFlag.as_of == as_of, CmeFlag.la_code.in_(la_codes))).all()
        first = dict(conn.execute(select(CmeFlag.child_id, func.min(CmeFlag.as_of))
                                  .where(CmeFlag.la_code.in_(la_codes)).group_by(CmeFlag.child_id)).all())
        ids = [f.child_id for f in flags]
        facts: dict[str, tuple] = {}
        for i in range(0, len(ids), 5000):
            for child_id, feed, dob, sex in conn.execute(
                    select(SourceRecord.child_id, SourceRecord.feed, SourceRecord.dob, SourceRecord.sex)
                    .where(SourceRecord.child_id.in_(ids[i:i + 5000]), SourceRecord.active.is_(True))):
                rank = {"la": 0, "school": 1, "health": 2}.get(feed, 3)
                if child_id not in facts or rank < facts[child_id][0]:
                    facts[child_id] = (rank, dob, sex)
    counts: dict[tuple, int] = {}
    for f in flags:
        _rank, dob, sex = facts.get(f.child_id, (3, None, ""))
        key = (f.la_code, {"M": "boy", "F": "girl"}.get(sex or "", "not known"),
               year_group(dob, as_of) if dob else "not known", time_missing((as_of - first[f.child_id]).days), f.reason)
        counts[key] = counts.get(key, 0) + 1
    return [(*k, n) for k, n in sorted(counts.items())]


def likely_missed_link_of(engine, child_id: str, may_see_shielded: bool = False) -> LikelyMissedLink | None:
    """The likely missed link of one child on the newest CME list (a case page), or None. The
    other child's school is withheld ("") when they are shielded and the reader may not see it."""
    newest = latest_cme_date(engine)
    if newest is None:
        return None
    flagged = set(cme_children(engine, newest))
    if child_id not in flagged:
        return None
    found = likely_missed_links(engine, flagged).get(child_id)
    if found is not None and found.school and not may_see_shielded and found.other_child in shield_scope(engine).child_ids:
        found = LikelyMissedLink(found.pair_id, found.probability, "", found.other_child)
    return found
