"""The duties on a register entry, as case work: the home-visit request a new entry opens (s.436B,
within 15 days of registering the child), requests to the parents (s.436D) and to providers
(s.436E) with the dates their answers are due, and the notice that starts the school attendance
order process (s.437(1)) after a parent fails to give the information or to allow the first visit,
then the order issued or revoked. A provider is asked no more often than the configured interval
(three months until regulations say): an earlier request is refused with the date the next is
allowed. Every step is dated and kept; the authority's counts come from them (cnis.dfe_return)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert, select, update

from cnis.settings import cnis_settings
from register import CnisEntry, CnisStep

# Each step: its words, and whether it waits for an answer (has a due date).
STEPS = {
    "HOME_VISIT_REQUEST": ("Ask the parents for a home visit (s.436B)", True),
    "PARENT_REQUEST": ("Ask the parents for the register's information (s.436D)", True),
    "PROVIDER_REQUEST": ("Ask a provider for information (s.436E)", True),
    "NOTICE_S437": ("Notice that starts the school attendance order process (s.437(1))", False),
    "SAO_ISSUED": ("School attendance order issued", False),
    "SAO_REVOKED": ("School attendance order revoked", False),
}
# The answers a step can get, per step that waits for one.
OUTCOMES = {
    "HOME_VISIT_REQUEST": {"VISIT_ALLOWED": "The parents allowed the visit",
                           "VISIT_REFUSED": "The parents refused the first visit",
                           "NOT_ASKED": "The authority decided not to ask for a visit"},
    "PARENT_REQUEST": {"ANSWERED": "The parents gave the information",
                       "NOT_ANSWERED": "The parents did not give the information"},
    "PROVIDER_REQUEST": {"ANSWERED": "The provider answered", "NOT_ANSWERED": "The provider did not answer"},
}
FAILURES = {("HOME_VISIT_REQUEST", "VISIT_REFUSED"), ("PARENT_REQUEST", "NOT_ANSWERED")}


class DutyRefused(Exception):
    """A step the law or the register's rules do not allow now; the message says why, and when
    it would be allowed if a date decides it."""

    def __init__(self, message: str, allowed_from: date | None = None):
        super().__init__(message)
        self.allowed_from = allowed_from


@dataclass(frozen=True)
class Step:
    id: int
    kind: str
    words: str
    opened_on: date
    due_on: date | None
    done_on: date | None
    outcome: str
    outcome_words: str
    provider_name: str
    author: str
    note: str
    overdue: bool


def provider_key(name: str, postcode: str = "") -> str:
    """The same provider however its name is typed: letters and digits, lower case, with the
    postcode's."""
    squeeze = lambda s: re.sub(r"[^0-9a-z]+", "", s.lower())  # noqa: E731
    return f"{squeeze(name)}|{squeeze(postcode)}"[:64]


def steps_of(engine, entry_id: int, today: date) -> list[Step]:
    with engine.connect() as conn:
        rows = conn.execute(select(CnisStep.__table__).where(CnisStep.entry_id == entry_id)
                            .order_by(CnisStep.opened_on, CnisStep.id)).all()
    return [Step(s.id, s.kind, STEPS[s.kind][0], s.opened_on, s.due_on, s.done_on, s.outcome or "",
                 OUTCOMES.get(s.kind, {}).get(s.outcome or "", ""), s.provider_name or "", s.author, s.note or "",
                 s.done_on is None and s.due_on is not None and s.due_on < today) for s in rows]


def _entry(conn, entry_id: int):
    e = conn.execute(select(CnisEntry.__table__).where(CnisEntry.id == entry_id)).first()
    if e is None:
        raise DutyRefused("there is no such entry")
    return e


def ask_parents(engine, entry_id: int, on: date, author: str, note: str = "") -> int:
    """A request to the parents for the register's information (s.436D)."""
    with engine.begin() as conn:
        e = _entry(conn, entry_id)
        return conn.execute(insert(CnisStep).values(
            entry_id=entry_id, la_code=e.la_code, kind="PARENT_REQUEST", opened_on=on,
            due_on=on + timedelta(days=cnis_settings().response_days), author=author,
            note=note or None)).inserted_primary_key[0]


def next_provider_request(engine, la_code: str, key: str) -> date | None:
    """The first day the authority may ask this provider again (None: now)."""
    with engine.connect() as conn:
        last = conn.execute(select(CnisStep.opened_on).where(
            CnisStep.la_code == la_code, CnisStep.kind == "PROVIDER_REQUEST", CnisStep.provider_key == key)
            .order_by(CnisStep.opened_on.desc()).limit(1)).scalar()
    return None if last is None else last + relativedelta(months=cnis_settings().provider_interval_months)


def ask_provider(engine, entry_id: int, name: str, postcode: str, on: date, author: str, note: str = "") -> int:
    """A request to a provider for information (s.436E); refused (DutyRefused, with the date the
    next is allowed) when the authority asked the same provider within the interval."""
    if not name.strip():
        raise DutyRefused("Enter the provider's name")
    key = provider_key(name, postcode)
    with engine.begin() as conn:
        e = _entry(conn, entry_id)
        allowed = next_provider_request(engine, e.la_code, key)
        if allowed is not None and on < allowed:
            raise DutyRefused(f"This authority asked {name.strip()} less than "
                              f"{cnis_settings().provider_interval_months} months ago; the next request is "
                              f"allowed from {allowed:%-d %B %Y}", allowed)
        return conn.execute(insert(CnisStep).values(
            entry_id=entry_id, la_code=e.la_code, kind="PROVIDER_REQUEST", opened_on=on,
            due_on=on + timedelta(days=cnis_settings().response_days), provider_key=key,
            provider_name=name.strip()[:200], author=author, note=note or None)).inserted_primary_key[0]


def record_outcome(engine, step_id: int, outcome: str, on: date, author: str, note: str = "") -> None:
    """The answer to a step that waits for one."""
    with engine.begin() as conn:
        s = conn.execute(select(CnisStep.__table__).where(CnisStep.id == step_id)).first()
        if s is None:
            raise DutyRefused("there is no such step")
        if outcome not in OUTCOMES.get(s.kind, {}):
            raise DutyRefused("Select what happened")
        if s.done_on is not None:
            raise DutyRefused("This step already has its answer")
        if on < s.opened_on:
            raise DutyRefused("The date of the answer must be on or after the date the step was opened")
        conn.execute(update(CnisStep).where(CnisStep.id == step_id).values(
            done_on=on, outcome=outcome, note=((s.note or "") + ("\n" if s.note and note else "") + note) or None))


def failures_on_record(engine, entry_id: int, on: date) -> list[str]:
    """What allows the notice (s.437(1)): a request to the parents unanswered (answered "not
    given", or past its due date with no answer) or the first visit refused."""
    with engine.connect() as conn:
        return _failures(conn.execute(select(CnisStep.__table__).where(CnisStep.entry_id == entry_id)).all(), on)


def _failures(steps, on: date) -> list[str]:
    found = []
    for s in steps:
        if (s.kind, s.outcome) in FAILURES:
            found.append(OUTCOMES[s.kind][s.outcome])
        elif s.kind == "PARENT_REQUEST" and s.done_on is None and s.due_on is not None and s.due_on < on:
            found.append(f"The parents' answer was due on {s.due_on:%-d %B %Y} and has not come")
    return found


def record_notice(engine, entry_id: int, kind: str, on: date, author: str, note: str = "") -> int:
    """The notice (NOTICE_S437), or a school attendance order issued (SAO_ISSUED) or revoked
    (SAO_REVOKED). The notice needs a failure on record; an order, the notice; revoking, an
    order. Checked and recorded in one transaction."""
    if kind not in ("NOTICE_S437", "SAO_ISSUED", "SAO_REVOKED"):
        raise DutyRefused("Select a step")
    with engine.begin() as conn:
        e = _entry(conn, entry_id)
        steps = conn.execute(select(CnisStep.__table__).where(CnisStep.entry_id == entry_id)
                             .order_by(CnisStep.opened_on, CnisStep.id)).all()
        done = [s.kind for s in steps]
        if kind == "NOTICE_S437" and not _failures(steps, on):
            raise DutyRefused("The notice can be served only after the parents failed to give the information or "
                              "refused the first visit; record that first")
        if kind == "SAO_ISSUED" and "NOTICE_S437" not in done:
            raise DutyRefused("An order can be issued only after the notice (s.437(1)) was served")
        if kind == "SAO_REVOKED" and done.count("SAO_ISSUED") <= done.count("SAO_REVOKED"):
            raise DutyRefused("There is no order in force to revoke")
        return conn.execute(insert(CnisStep).values(
            entry_id=entry_id, la_code=e.la_code, kind=kind, opened_on=on, done_on=on, author=author,
            note=note or None)).inserted_primary_key[0]
