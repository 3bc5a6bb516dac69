"""The children-not-in-school register kept from run to run: each run opens an entry for a
child who joins an authority's register (with the home-visit request task, s.436B), keeps an
entry's basis up to date, and ends an entry, with its reason, when the child leaves (usually
when a school's roll takes them). Then what an entry holds (s.436C(1)): the child's name, birth
date and addresses, each parent's name and address and whether they educate the child, the hours
taught by the parents and by others, and each other educator above the configured hours; and
the export of an authority's register, a row per child."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, insert, or_, select, update

from cme import (
    BASIS,
    ChildFacts,
    ResidenceSettings,
    age_on,
    deceased,
    facts_of_children,
    latest_cme_date,
    learned_residence,
    of_compulsory_school_age,
    on_a_roll,
    prepared_records,
    roll_rows,
    write_private_csv,
    year_group,
)
from cnis.duties import STEPS
from cnis.membership import BASES, END_REASONS, OFF_ROLL, end_reason, register_members
from cnis.settings import cnis_settings
from linkage import active_records
from oversight import shield_scope
from register import CmeFlag, CmeList, CnisEntry, CnisStep, SourceRecord, get_state, set_state
from schemas import PARENTS, PROVIDERS
from sources import postcode_authorities

CNIS_BASIS = "cnis_basis"  # the CME list (date, computed_at) the register was last brought up to date from
READ_COLUMNS = ["id", "record_key", "child_id", "feed", "provider", "dob", "sex", "postcode", "residence_la",
                "start_date", "end_date", "end_reason", "enrol_status", "record_type", "destination_laestab",
                "carried_forward", "carried_because", "arrangement", "hours_elsewhere", "register_items"]


class NoRegister(Exception):
    """The register cannot be brought up to date or shown for the date; the message says why."""
    safe_message = True


def update_register(engine, as_of: date) -> dict:
    """Bring every authority's register up to date with the CME list of this date (computed
    first, in the same run). Returns counts: opened, ended, changed, open (per authority too).
    Skipped (mode "unchanged") when the list has not changed since the last time."""
    with engine.connect() as conn:
        computed = conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar()
    if computed is None:
        raise NoRegister(f"no CME list was computed for {as_of.isoformat()}: the register follows it")
    basis = json.dumps([as_of.isoformat(), str(computed)])
    if get_state(engine, CNIS_BASIS) == basis:
        return {"mode": "unchanged", **_open_counts(engine)}
    records = active_records(engine, within=may_be_members(as_of), columns=READ_COLUMNS)
    with engine.connect() as conn:
        flags = pd.DataFrame(conn.execute(select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason)
                                          .where(CmeFlag.as_of == as_of)).all(),
                             columns=["child_id", "la_code", "reason"])
    cme_basis = json.loads(get_state(engine, BASIS) or "null") or {}
    learned = cme_basis.get("learned") if cme_basis.get("as_of") == as_of.isoformat() else None
    if learned is None:  # what every record says of where people live, not only these children's
        learned = learned_residence(active_records(engine, columns=READ_COLUMNS), ResidenceSettings())
    members = register_members(records, as_of, flags, postcode_authorities(engine, records["postcode"]), learned)
    counts = _sync(engine, as_of, members, records)
    set_state(engine, CNIS_BASIS, basis)
    return {"mode": "full", **counts, **_open_counts(engine)}


def _sync(engine, as_of: date, members: pd.DataFrame, records: pd.DataFrame) -> dict:
    settings = cnis_settings()
    now = {(m.child_id, m.la_code): m for m in members.itertuples(index=False)}
    opened = ended = changed = 0
    with engine.begin() as conn:
        open_entries = conn.execute(select(CnisEntry.__table__).where(CnisEntry.ended_on.is_(None))).all()
        have = {(e.child_id, e.la_code): e for e in open_entries}
        leaving = [e for k, e in have.items() if k not in now]
        if leaving:
            # The leavers' own records: most are on a roll now, so not among those read.
            r = prepared_records(active_records(engine, children=sorted({e.child_id for e in leaving}),
                                                columns=READ_COLUMNS), as_of)
            ts = pd.Timestamp(as_of)
            of_age = of_compulsory_school_age(r, as_of)
            facts = dict(on_roll=on_a_roll(r, ts), of_age=set(of_age.index[of_age]), dead=deceased(r),
                         known=set(r["child_id"]))
            # The school whose roll holds each leaver now (the newest entry, if several).
            school = roll_rows(r, ts).sort_values("start_date")
            school_of = dict(zip(school["child_id"], school["provider"]))
            elsewhere = {c for c, _la in now}
            for e in leaving:
                why = end_reason(e.child_id, e.basis, e.child_id in elsewhere, **facts)
                conn.execute(update(CnisEntry).where(CnisEntry.id == e.id).values(
                    ended_on=as_of, end_reason=why, version=CnisEntry.version + 1,
                    ended_at_school=school_of.get(e.child_id) if why in ("ON_ROLL", "ARRANGEMENT_ENDED") else None))
                ended += 1
        new = []
        for key, m in now.items():
            e = have.get(key)
            hours = None if m.hours_elsewhere is None or pd.isna(m.hours_elsewhere) else float(m.hours_elsewhere)
            if e is None:
                new.append({"child_id": m.child_id, "la_code": m.la_code, "basis": m.basis, "detail": m.detail or None,
                            "hours_elsewhere": hours, "started_on": as_of, "basis_since": _since(m, as_of),
                            "version": 0})
            elif (e.basis, e.detail or "", e.hours_elsewhere) != (m.basis, m.detail or "", hours):
                conn.execute(update(CnisEntry).where(CnisEntry.id == e.id).values(
                    basis=m.basis, detail=m.detail or None, hours_elsewhere=hours, version=CnisEntry.version + 1,
                    basis_since=_since(m, as_of) if e.basis != m.basis else e.basis_since))
                changed += 1
        if new:
            # Thousands on a first run: inserted together, then each new entry's home-visit task.
            conn.execute(insert(CnisEntry), new)
            ids = conn.execute(select(CnisEntry.id, CnisEntry.la_code).where(
                CnisEntry.started_on == as_of, CnisEntry.ended_on.is_(None),
                CnisEntry.id.not_in(select(CnisStep.entry_id).where(CnisStep.kind == "HOME_VISIT_REQUEST")))).all()
            conn.execute(insert(CnisStep), [
                {"entry_id": i, "la_code": la, "kind": "HOME_VISIT_REQUEST", "opened_on": as_of,
                 "due_on": as_of + timedelta(days=settings.home_visit_days), "author": "rollcall"} for i, la in ids])
            opened = len(new)
    return {"opened": opened, "ended": ended, "changed": changed}


def may_be_members(as_of: date):
    """A query of the children who may be on a register on the date: those with a record whose
    birth date could make them of compulsory school age (born 4 to 17 years before it), but not
    those a school holds on its roll then with no arrangement to educate them elsewhere (nineteen
    in twenty), so the others' records are never read. A roll's row the newest extract left out
    does not count as holding the child (cme.rules.on_a_roll decides those)."""
    held = select(SourceRecord.child_id).where(
        SourceRecord.active.is_(True), SourceRecord.feed == "school",
        or_(SourceRecord.carried_because.is_(None), SourceRecord.carried_because != "left_out"),
        or_(SourceRecord.start_date.is_(None), SourceRecord.start_date <= as_of),
        or_(SourceRecord.end_date.is_(None), SourceRecord.end_date > as_of))
    arranged = select(SourceRecord.child_id).where(SourceRecord.active.is_(True), SourceRecord.feed == "school",
                                                   SourceRecord.arrangement.is_not(None))
    return select(SourceRecord.child_id).where(
        SourceRecord.active.is_(True), SourceRecord.child_id.is_not(None),
        SourceRecord.dob > as_of - relativedelta(years=17), SourceRecord.dob <= as_of - relativedelta(years=4),
        or_(SourceRecord.child_id.not_in(held), SourceRecord.child_id.in_(arranged))).distinct()


def _since(m, as_of: date) -> date:
    """When the basis began: the fact's date, never after the day it is entered."""
    since = m.since if isinstance(m.since, date) else None
    return min(since, as_of) if since else as_of


def _open_counts(engine) -> dict:
    with engine.connect() as conn:
        per_la = dict(conn.execute(select(CnisEntry.la_code, func.count()).where(CnisEntry.ended_on.is_(None))
                                   .group_by(CnisEntry.la_code)).all())
    return {"on_register": sum(per_la.values()), "per_authority": per_la}


@dataclass(frozen=True)
class EntryItem:
    """One child's entry as the register page lists it."""
    entry_id: int
    child_id: str
    la_code: str
    basis: str
    basis_words: str
    detail: str
    hours_elsewhere: float | None
    started_on: date
    ended_on: date | None
    end_reason: str
    end_words: str
    ended_at_school: str
    name: str
    dob: date | None
    sex: str
    age: int | None
    year_group: str
    school: str  # "" when none, or withheld
    school_withheld: bool
    days_on_register: int
    next_step: str
    due_on: date | None
    overdue: bool
    shielded: bool
    extra: dict  # the items regulations add, as officers recorded them (ROLLCALL_CNIS_EXTRA_ITEMS)
    version: int  # the entry's version, for a form made from it
    facts: ChildFacts | None = field(default=None, compare=False, repr=False)


def entries_of(engine, la_codes: list[str], as_of: date, status: str = "open", today: date | None = None,
               may_see_shielded: bool = False, entry_id: int | None = None, child_id: str | None = None,
               scope=None) -> list[EntryItem]:
    """The entries of these authorities: "open" ones (on the register on the date) or "ended"
    ones (ended on or before it); with entry_id or child_id, those entries whatever their dates.
    A shielded child's school is shown only to a reader who may."""
    today = today or as_of
    where = [CnisEntry.la_code.in_(la_codes)]
    if entry_id is not None:
        where.append(CnisEntry.id == entry_id)
    elif child_id is not None:
        where.append(CnisEntry.child_id == child_id)
    else:
        where.append(CnisEntry.started_on <= as_of)
        where.append(or_(CnisEntry.ended_on.is_(None), CnisEntry.ended_on > as_of) if status == "open"
                     else CnisEntry.ended_on <= as_of)
    with engine.connect() as conn:
        entries = conn.execute(select(CnisEntry.__table__).where(*where)).all()
        ids = [e.id for e in entries]
        steps: dict[int, list] = {}
        for i in range(0, len(ids), 5000):
            for s in conn.execute(select(CnisStep.entry_id, CnisStep.kind, CnisStep.due_on)
                                  .where(CnisStep.entry_id.in_(ids[i:i + 5000]), CnisStep.done_on.is_(None),
                                         CnisStep.due_on.is_not(None))):
                steps.setdefault(s.entry_id, []).append(s)
    scope = scope or shield_scope(engine)
    facts = facts_of_children(engine, sorted({e.child_id for e in entries}), scope)
    items = []
    for e in entries:
        t = facts.get(e.child_id)
        shielded = e.child_id in scope.child_ids or bool(t and t.shielded)
        school = (e.ended_at_school or "") if e.ended_on is not None else ("" if e.basis in OFF_ROLL else
                                                                           t.school if t else "")
        withheld = shielded and not may_see_shielded and bool(school)
        first = min(steps.get(e.id, []), key=lambda s: s.due_on, default=None)
        items.append(EntryItem(
            e.id, e.child_id, e.la_code, e.basis, BASES.get(e.basis, e.basis), e.detail or "", e.hours_elsewhere,
            e.started_on, e.ended_on, e.end_reason or "", END_REASONS.get(e.end_reason or "", ""),
            "" if withheld else (e.ended_at_school or ""),
            f"{t.forename} {t.surname}".strip() if t else "", t.dob if t else None, t.sex if t else "",
            age_on(t.dob, as_of) if t and t.dob else None, year_group(t.dob, as_of) if t and t.dob else "not known",
            "" if withheld else school, withheld, (as_of - e.started_on).days,
            STEPS[first.kind][0] if first else "", first.due_on if first else None,
            bool(first and first.due_on < today), shielded, json.loads(e.extra_items) if e.extra_items else {},
            e.version, t))
    return items


def previous_school_type(laestab: str) -> str:
    """The kind of school from a LAESTAB's establishment number, as the DfE numbers them."""
    if len(laestab) != 7 or not laestab.isdigit():
        return "none"
    n = int(laestab[3:])
    if 1100 <= n <= 1199:
        return "pupil referral unit"
    if 2000 <= n <= 3999 or 5200 <= n <= 5299:
        return "primary"
    if 4000 <= n <= 4999 or 5400 <= n <= 5499:
        return "secondary"
    if 6000 <= n <= 6999:
        return "independent"
    if 7000 <= n <= 7999:
        return "special"
    return "other"


@dataclass(frozen=True)
class Educator:
    name: str
    kind: str
    address: str  # where the education takes place, or the website or e-mail when online
    postcode: str
    online: bool
    hours: float | None
    hours_without_parent: float | None


@dataclass(frozen=True)
class Parent:
    name: str
    address: str
    postcode: str
    educates: str  # "Y", "N" or "" (not known)


@dataclass(frozen=True)
class EntryDetail:
    """The items of an entry (s.436C(1)), as the authority's records give them. Location
    (addresses, postcodes, where education takes place) is withheld for a shielded child from a
    reader who may not see it: `withheld` says so."""
    address_line1: str
    postcode: str
    address_since: str
    previous_address_line1: str
    previous_postcode: str
    additional_address_line1: str
    additional_postcode: str
    parents: list[Parent]
    hours_parents: float | None
    hours_others: float | None
    educators: list[Educator]
    educators_below_threshold: int
    extra: dict
    withheld: bool


def _number(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def entry_detail(engine, item: EntryItem, may_see_shielded: bool = False) -> EntryDetail:
    """The s.436C(1) items of one entry, from the child's newest authority record that carries
    register items (contract 1.2), else from what the register's records say."""
    return details_of(engine, [item], may_see_shielded)[item.entry_id]


def details_of(engine, items: list[EntryItem], may_see_shielded: bool = False) -> dict[int, EntryDetail]:
    threshold = cnis_settings().provider_hours_threshold
    ids = sorted({i.child_id for i in items})
    found: dict[str, dict] = {}
    records = active_records(engine, children=ids, columns=["child_id", "feed", "start_date", "register_items"]) \
        if ids else pd.DataFrame(columns=["child_id", "feed", "start_date", "register_items"])
    la = records[(records["feed"] == "la") & (records["register_items"] != "")].sort_values("start_date")
    for child_id, text in zip(la["child_id"], la["register_items"]):
        found[child_id] = json.loads(text)
    out = {}
    for i in items:
        g = found.get(i.child_id, {})
        hide = i.shielded and not may_see_shielded
        t = i.facts
        def loc(v: str, hide: bool = hide) -> str:  # one rule for every location
            return "" if hide else v

        parents = [Parent(g[f"parent{n}_name"], loc(g.get(f"parent{n}_address_line1", "")),
                          loc(g.get(f"parent{n}_postcode", "")), g.get(f"parent{n}_educates", ""))
                   for n in range(1, PARENTS + 1) if g.get(f"parent{n}_name")]
        educators, below = [], 0
        for n in range(1, PROVIDERS + 1):
            if not g.get(f"provider{n}_name"):
                continue
            hours = _number(g.get(f"provider{n}_hours"))
            if hours is not None and hours <= threshold:
                below += 1
                continue
            educators.append(Educator(g[f"provider{n}_name"], g.get(f"provider{n}_type", ""),
                                      loc(g.get(f"provider{n}_address", "")), loc(g.get(f"provider{n}_postcode", "")),
                                      g.get(f"provider{n}_online") == "Y", hours,
                                      _number(g.get(f"provider{n}_hours_without_parent"))))
        out[i.entry_id] = EntryDetail(
            loc(t.address_line1 if t else ""), loc(t.postcode if t else ""), g.get("address_since", ""),
            loc(g.get("previous_address_line1", "")), loc(g.get("previous_postcode", "")),
            loc(g.get("additional_address_line1", "")), loc(g.get("additional_postcode", "")),
            parents, _number(g.get("hours_parents")), _number(g.get("hours_others")), educators, below,
            i.extra, hide)
    return out


def lived_here_under_a_year(detail: EntryDetail, as_of: date) -> bool:
    """Whether the entry must give the previous address: the child has lived at this one for
    under 12 months."""
    try:
        since = date.fromisoformat(detail.address_since)
    except ValueError:
        return False
    return (as_of - since).days < 365


def export_columns() -> list[str]:
    cols = ["child_id", "la_code", "basis", "detail", "started_on", "surname", "forename", "dob", "sex",
            "address_line1", "postcode", "address_since", "previous_address_line1", "previous_postcode",
            "additional_address_line1", "additional_postcode"]
    for n in range(1, PARENTS + 1):
        cols += [f"parent{n}_name", f"parent{n}_address_line1", f"parent{n}_postcode", f"parent{n}_educates"]
    cols += ["hours_parents", "hours_others"]
    for n in range(1, PROVIDERS + 1):
        cols += [f"provider{n}_{c}" for c in ("name", "type", "address", "postcode", "online", "hours",
                                            "hours_without_parent")]
    cols += ["school", "hours_elsewhere"] + [f"item_{x}" for x in cnis_settings().extra_items] + ["shielded"]
    return cols


def export_rows(engine, items: list[EntryItem]):
    """The export's rows of these entries, location withheld for a shielded child whoever asks:
    the file leaves the service."""
    details = details_of(engine, items, may_see_shielded=False)
    blank = lambda v: "" if v is None else v  # noqa: E731
    for i in items:
        d = details[i.entry_id]
        t = i.facts
        row = [i.child_id, i.la_code, i.basis, i.detail, i.started_on, t.surname if t else "",
               t.forename if t else "", blank(i.dob), i.sex, d.address_line1, d.postcode, d.address_since,
               d.previous_address_line1, d.previous_postcode, d.additional_address_line1, d.additional_postcode]
        for n in range(PARENTS):
            p = d.parents[n] if n < len(d.parents) else None
            row += [p.name, p.address, p.postcode, p.educates] if p else ["", "", "", ""]
        row += [blank(d.hours_parents), blank(d.hours_others)]
        for n in range(PROVIDERS):
            e = d.educators[n] if n < len(d.educators) else None
            row += ([e.name, e.kind, e.address, e.postcode, "Y" if e.online else "N", blank(e.hours),
                     blank(e.hours_without_parent)] if e else [""] * 7)
        row += ["" if i.shielded else i.school, blank(i.hours_elsewhere)]
        row += [d.extra.get(x, "") for x in cnis_settings().extra_items]
        row += ["Y" if i.shielded else "N"]
        yield row


def register_as_of(engine, as_of: date | None) -> date:
    """The date to show the register for: the one asked, or the newest CME list's date; refused
    when the register was never brought up to date."""
    if get_state(engine, CNIS_BASIS) is None:
        raise NoRegister("the children-not-in-school register has not been built yet: run `rollcall run` first")
    return as_of or latest_cme_date(engine)


def export_cnis(engine, la_code: str, as_of: date | None, out) -> tuple[int, list[str]]:
    """Write an authority's register on the date (default: the newest list's), a row per child
    beginning with child_id. Returns (rows, the children named) for the audit log."""
    when = register_as_of(engine, as_of)
    items = sorted(entries_of(engine, [la_code], when), key=lambda i: i.child_id)
    n = write_private_csv(out, export_columns(), export_rows(engine, items))
    return n, [i.child_id for i in items]


def cme_children_off_register(engine, as_of: date) -> int:
    """Children on the CME list of the date, placed in an authority, with no open entry on that
    authority's register: none, when the register follows the list."""
    with engine.connect() as conn:
        flagged = set(conn.execute(select(CmeFlag.child_id, CmeFlag.la_code).where(
            CmeFlag.as_of == as_of, CmeFlag.la_code != "")).all())
        entered = set(conn.execute(select(CnisEntry.child_id, CnisEntry.la_code).where(
            CnisEntry.started_on <= as_of, or_(CnisEntry.ended_on.is_(None), CnisEntry.ended_on > as_of))).all())
    return len(flagged - entered)


class StaleEntry(Exception):
    """The entry changed since the form was made from it."""


def save_extra_items(engine, entry_id: int, version: int, values: dict[str, str]) -> None:
    """The items regulations add (ROLLCALL_CNIS_EXTRA_ITEMS), as an officer records them; refused
    (StaleEntry) when the entry changed since the form was made."""
    known = {k: v.strip() for k, v in values.items() if k in cnis_settings().extra_items and v.strip()}
    with engine.begin() as conn:
        done = conn.execute(update(CnisEntry).where(CnisEntry.id == entry_id, CnisEntry.version == version).values(
            extra_items=json.dumps(known, ensure_ascii=False, sort_keys=True) if known else None,
            version=CnisEntry.version + 1)).rowcount
    if not done:
        raise StaleEntry("this entry changed since you opened it: look again and save again")


def register_counts(engine, la_codes: list[str], today: date) -> dict:
    """The home page's counts for an officer: children on their authorities' registers, those
    entered in the last seven days, and those with a duty overdue."""
    with engine.connect() as conn:
        entries = conn.execute(select(CnisEntry.id, CnisEntry.started_on).where(
            CnisEntry.la_code.in_(la_codes), CnisEntry.ended_on.is_(None))).all()
        overdue = conn.execute(select(CnisStep.entry_id).where(
            CnisStep.la_code.in_(la_codes), CnisStep.done_on.is_(None), CnisStep.due_on < today).distinct()).scalars()
        open_ids = {e.id for e in entries}
        return {"open": len(entries), "authorities": len(la_codes),
                "new_this_week": sum(e.started_on > today - timedelta(days=7) for e in entries),
                "overdue": len(open_ids & set(overdue))}
