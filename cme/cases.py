"""CME cases: one per flagged child and authority, lasting across runs. The CME list opens a
case for a newly flagged child; an officer records dated enquiry notes and closes the case
with an outcome from a fixed list. A closed case stays closed unless newer evidence arrives
(a record or status the register did not hold when it was closed), and then it reopens."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cme.missed_links import LikelyMissedLink, likely_missed_links
from cme.reports import cme_children, latest_cme_date
from oversight import shield_scope
from register import CaseNote, CaseTimescale, CmeCase, CmeFlag, SourceRecord, today, utc_now

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


# Note kinds the service writes itself (never chosen on the enquiry form).
CHANGE_KINDS = {"assigned": "Assigned", "next_action": "Next action set", "closed": "Closed", "reopened": "Reopened"}

# The steps of a case an officer sets as its next action, each with the working days it is due
# in by default. Each authority's CME policy sets its own (the table case_timescales, on the
# Timescales page); the law sets none of these steps' times (`../shared/domain.md`).
NEXT_ACTIONS: dict[str, tuple[str, int]] = {
    "first_checks": ("First checks with the last school, admissions and health", 5),
    "contact_family": ("Contact the family by phone or letter", 5),
    "home_visit": ("Home visit", 10),
    "agency_checks": ("Checks with social care, housing and the police", 10),
    "other_authority": ("Ask another authority's CME officer", 10),
    "lost_pupils": ("Search the Lost Pupils Database", 5),
    "escalate": ("Escalate to a senior officer", 5),
    "decide_outcome": ("Decide the outcome and close the case", 10),
}
MAX_WORKING_DAYS = 260  # the longest timescale an authority may set for a step: a school year and more
# Outcomes that name where the child was found: closing with one asks for the school or authority.
FOUND_SOMEWHERE = {"ON_ROLL_HERE", "ON_ROLL_ELSEWHERE", "ALTERNATIVE_PROVISION"}


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
                s.add(CaseNote(case_id=case.id, written_at=now, author="rollcall", kind="reopened",
                               text="Reopened: the register holds newer evidence than the case was closed on."))
                reopened += 1
        s.commit()
    return {"cases_opened": opened, "cases_reopened": reopened}


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


@dataclass(frozen=True)
class Closing:
    """What closing a case records: the outcome, the school or authority the child was found at
    (asked for the outcomes in FOUND_SOMEWHERE), the date it was established, and the evidence."""
    outcome: str
    found_at: str
    found_on: date | None
    evidence: str


def closing_errors(closing: Closing, today: date) -> dict[str, str]:
    """Field -> what to do, in GOV.UK's words; empty when the closing can be recorded."""
    errors = {}
    if closing.outcome not in OUTCOMES:
        errors["outcome"] = "Select the outcome of the case"
    elif closing.outcome in FOUND_SOMEWHERE and not closing.found_at.strip():
        errors["found_at"] = "Enter the school or authority where the child was found"
    if len(closing.found_at) > 120:
        errors["found_at"] = "The school or authority must be 120 characters or fewer"
    if closing.found_on is None:
        errors["found_on"] = "Enter the date the outcome was established, as a real date"
    elif closing.found_on > today:
        errors["found_on"] = "The date the outcome was established must be today or in the past"
    if not closing.evidence.strip():
        errors["evidence"] = "Enter how the outcome was established"
    return errors


def _change(s: Session, case_id: int, version: int, values: dict, note_kind: str, note: str, author: str) -> None:
    """Change an open case of this version and note it, or CaseConflict (nothing changed)."""
    done = s.execute(update(CmeCase).where(CmeCase.id == case_id, CmeCase.version == version, CmeCase.status == "open")
                     .values(**values, version=CmeCase.version + 1))
    if done.rowcount != 1:
        s.rollback()
        raise CaseConflict("someone changed this case while you were looking at it; here it is as it is now")
    s.add(CaseNote(case_id=case_id, written_at=utc_now(), author=author, kind=note_kind, text=note))
    s.commit()


def close_case(engine, case_id: int, version: int, closing: Closing, author: str) -> None:
    """Close with an outcome, keeping the evidence the register holds now, so the case comes
    back only when something newer arrives. A stale version is a CaseConflict; a closing with
    errors (closing_errors) a ValueError."""
    if closing_errors(closing, today()):
        raise ValueError("the closing is not complete")
    with Session(engine) as s:
        case = s.get(CmeCase, case_id)
        evidence = json.dumps(evidence_of(s, case.child_id), sort_keys=True)
        where = f" ({closing.found_at.strip()})" if closing.found_at.strip() else ""
        _change(s, case_id, version, {"status": "closed", "outcome": closing.outcome, "closed_at": utc_now(),
                                      "closed_by": author, "evidence": evidence, "found_at": closing.found_at.strip(),
                                      "found_on": closing.found_on, "found_evidence": closing.evidence.strip(),
                                      "next_action": None, "due_on": None},
                "closed", f"Closed: {OUTCOMES[closing.outcome]}{where}, established {closing.found_on:%-d %B %Y}. "
                          f"Evidence: {closing.evidence.strip()}", author)


def assign_case(engine, case_id: int, version: int, officer: str, author: str) -> None:
    """Give the case to an officer ("" takes it from whoever has it)."""
    with Session(engine) as s:
        _change(s, case_id, version, {"officer": officer or None}, "assigned",
                f"Assigned to {officer}." if officer else "No longer assigned to an officer.", author)


def timescales_of(engine, la_code: str) -> dict[str, int]:
    """Working days each step is due in, for this authority: its own, else the default."""
    with engine.connect() as conn:
        own = dict(conn.execute(select(CaseTimescale.step, CaseTimescale.working_days)
                                .where(CaseTimescale.la_code == la_code)).all())
    return {step: own.get(step, days) for step, (_words, days) in NEXT_ACTIONS.items()}


def set_timescales(engine, la_code: str, days: dict[str, int]) -> None:
    if set(days) - set(NEXT_ACTIONS) or any(not 0 < d <= MAX_WORKING_DAYS for d in days.values()):
        raise ValueError(f"a timescale is a step of a case and 1 to {MAX_WORKING_DAYS} working days")
    with Session(engine) as s:
        for step, n in days.items():
            row = s.get(CaseTimescale, (la_code, step))
            if row is None:
                s.add(CaseTimescale(la_code=la_code, step=step, working_days=n))
            else:
                row.working_days = n
        s.commit()


def working_days_after(start: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `start`."""
    return numpy.busday_offset(numpy.datetime64(start, "D"), days, roll="forward").astype(date)


def default_due(engine, la_code: str, step: str, start: date) -> date:
    return working_days_after(start, timescales_of(engine, la_code)[step])


def set_next_action(engine, case_id: int, version: int, step: str, due_on: date | None, author: str) -> date:
    """Set the case's next action, due on the date given or else by the authority's timescale
    for the step; returns the due date."""
    if step not in NEXT_ACTIONS:
        raise ValueError("Select the next action")
    with Session(engine) as s:
        case = s.get(CmeCase, case_id)
        due = due_on or default_due(engine, case.la_code, step, today())
        _change(s, case_id, version, {"next_action": step, "due_on": due}, "next_action",
                f"Next action: {NEXT_ACTIONS[step][0]}, due {due:%-d %B %Y}.", author)
    return due


def case_counts(engine, la_codes: list[str], officer: str, as_of: date | None, on: date) -> dict[str, int]:
    """The home page's counts for an officer: open cases of their authorities, overdue, not
    assigned, opened in the last seven days, and their own."""
    if not la_codes:
        return {"open": 0, "overdue": 0, "unassigned": 0, "new_this_week": 0, "mine": 0}
    opened = (CmeCase.la_code.in_(la_codes), CmeCase.status == "open")
    with engine.connect() as conn:
        def count(*where) -> int:
            return conn.execute(select(func.count()).select_from(CmeCase).where(*opened, *where)).scalar()
        return {"open": count(), "overdue": count(CmeCase.due_on < on),
                "unassigned": count(CmeCase.officer.is_(None)),
                "new_this_week": count(CmeCase.opened_on > (as_of or on) - timedelta(days=7)),
                "mine": count(CmeCase.officer == officer)}


TIME_MISSING_BANDS = ((28, "under 4 weeks"), (91, "4 weeks to under 3 months"), (182, "3 to under 6 months"),
                      (None, "6 months or more"))


def age_on(dob: date, on: date) -> int:
    """Whole years of age on the date."""
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def year_group(dob: date, as_of: date) -> str:
    """The national curriculum year group on the date: age on the 31 August that began the
    school year, less 4 (Reception at 4); outside school age, by age."""
    start_year = as_of.year if (as_of.month, as_of.day) >= (9, 1) else as_of.year - 1
    age = age_on(dob, date(start_year, 8, 31))
    return "Reception" if age == 4 else f"Year {age - 4}" if 5 <= age <= 15 else f"age {age}"


def time_missing(days: int) -> str:
    return next(label for limit, label in TIME_MISSING_BANDS if limit is None or days < limit)


def birth_dates_and_sexes(conn, ids: list[str]) -> dict[str, tuple]:
    """(birth date, sex) of each child from their best current record: the authority's, then a
    school's, then a GP's."""
    out: dict[str, tuple] = {}
    for i in range(0, len(ids), 5000):
        for child_id, feed, dob, sex in conn.execute(
                select(SourceRecord.child_id, SourceRecord.feed, SourceRecord.dob, SourceRecord.sex)
                .where(SourceRecord.child_id.in_(ids[i:i + 5000]), SourceRecord.active.is_(True))):
            rank = {"la": 0, "school": 1, "health": 2}.get(feed, 3)
            if child_id not in out or rank < out[child_id][0]:
                out[child_id] = (rank, dob, sex)
    return {k: v[1:] for k, v in out.items()}


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
        facts = birth_dates_and_sexes(conn, [f.child_id for f in flags])
    counts: dict[tuple, int] = {}
    for f in flags:
        dob, sex = facts.get(f.child_id, (None, ""))
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
