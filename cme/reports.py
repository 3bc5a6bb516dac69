"""What leaves the register: the CME list saved per date, and the two CSV exports. A shielded
child's location (address, postcode, school, GP) never leaves in an export, and no cell is
written where a spreadsheet would run it as a formula.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, insert, select

from cme.missed_links import likely_missed_links
from oversight import shield_scope
from register import CmeFlag, CmeList, ExtractFile, SourceRecord, get_state, open_private, set_state, utc_now
from schemas import safe_cell

# Set when a run starts to change the register and cleared when the CME list is saved: while
# set, the newest list no longer describes the register (the run failed before the list).
CME_PENDING = "cme_list_pending"


class NoCmeList(Exception):
    """No CME list can be exported for the date asked; the message says why (no data in it)."""
    safe_message = True

REGISTER_COLUMNS = ["feed", "provider", "file", "row", "child_id", "active", "record_key"]
CME_COLUMNS = ["child_id", "la_code", "reason", "surname", "forename", "dob", "sex", "last_school",
               "last_school_leaving_date", "last_school_leaving_reason", "address_line1", "postcode",
               "sources", "shielded", "possible_match_in_review", "residence_source", "rests_on_stale_roll",
               "possible_match_school", "possible_match_pair"]


def mark_cme_pending(engine) -> None:
    set_state(engine, CME_PENDING, "1")


def save_cme(engine, flags: pd.DataFrame, as_of: date) -> None:
    """Replace the list for the date, record that it was computed (even when empty), and clear
    the pending mark, in one transaction."""
    now = utc_now()
    with engine.begin() as conn:
        conn.execute(delete(CmeFlag).where(CmeFlag.as_of == as_of))
        conn.execute(delete(CmeList).where(CmeList.as_of == as_of))
        if len(flags):
            conn.execute(insert(CmeFlag), [{"as_of": as_of, "child_id": r.child_id, "la_code": r.la_code,
                                            "reason": r.reason, "computed_at": now,
                                            "residence_source": r.residence_source,
                                            "stale_rolls": getattr(r, "stale_rolls", "") or "",
                                            "possible_match_in_review": bool(r.possible_match_in_review)}
                                           for r in flags.itertuples(index=False)])
        conn.execute(insert(CmeList), [{"as_of": as_of, "flagged": len(flags), "computed_at": now}])
    set_state(engine, CME_PENDING, "0")


def write_private_csv(out: Path, header: list[str], rows) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open_private(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([safe_cell("" if v is None else str(v)) for v in row])
            n += 1
    return n


def export_register(engine, out: Path, include_shielded: bool = False,
                    children: set[str] | None = None) -> tuple[int, int]:
    """Every accepted row with its child. Rows the shield covers (oversight.shield) are left out
    unless include_shielded (a reconciliation export for the operator). Returns (rows written,
    shielded rows left out)."""
    q = (select(SourceRecord.feed, SourceRecord.provider, ExtractFile.name, SourceRecord.row_no,
                SourceRecord.child_id, SourceRecord.active, SourceRecord.record_key)
         .join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
         .order_by(ExtractFile.name, SourceRecord.row_no))
    scope = shield_scope(engine)
    left_out = [0]

    def rows(result):
        for f, p, n, r, c, a, k in result:
            if not include_shielded and scope.covers(k, c):
                left_out[0] += 1
                continue
            if children is not None and c:
                children.add(c)  # for the audit log: which children left in the file
            yield f, p, n, r, c, "Y" if a else "N", k

    with engine.connect() as conn:
        written = write_private_csv(out, REGISTER_COLUMNS, rows(conn.execute(q)))
    return written, left_out[0]


def latest_cme_date(engine) -> date | None:
    with engine.connect() as conn:
        return conn.execute(select(CmeList.as_of).order_by(CmeList.as_of.desc()).limit(1)).scalar()


def cme_list_date(engine, as_of: date | None) -> date:
    """The date of the list to export, or NoCmeList when there is none to trust: none was
    computed for that date, or the newest run changed the register and stopped before
    computing the list (an empty or stale list must never pass for a real one)."""
    if get_state(engine, CME_PENDING) == "1":
        raise NoCmeList("the last run changed the register but stopped before the CME list was computed; "
                        "see the run in Dagster, fix it and run again")
    when = as_of or latest_cme_date(engine)
    if when is None:
        raise NoCmeList("no CME list has been computed yet: run `rollcall run` first")
    with engine.connect() as conn:
        if conn.execute(select(CmeList.as_of).where(CmeList.as_of == when)).scalar() is None:
            raise NoCmeList(f"no CME list was computed for {when.isoformat()}: run `rollcall run --as-of "
                            f"{when.isoformat()}` to compute it")
    return when


@dataclass(frozen=True)
class ChildFacts:
    """What the register says of a flagged child, as the CME export and the work list show it:
    names, birth date and address from the authority's record first, then a school's; the newest
    school record's school and leaving details; which sources hold the child; the shield."""
    surname: str
    forename: str
    dob: date | None
    sex: str
    school: str  # the newest school record's LAESTAB ("" when none)
    leaving_date: date | None
    leaving_reason: str
    address_line1: str
    postcode: str
    feeds: frozenset[str]
    sources: frozenset[str]  # feed:provider
    shielded: bool


def facts_of_children(engine, ids: list[str], scope=None) -> dict[str, ChildFacts]:
    """Each child's facts from their current records, found once for all (grouped frames, not a
    search per child). A child with no current record is left out."""
    scope = scope or shield_scope(engine)
    if not ids:
        return {}
    columns = ["child_id", "record_key", "feed", "provider", "surname", "forename", "dob", "sex", "address_line1",
               "postcode", "start_date", "end_date", "end_reason", "shielded"]
    parts = []
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            parts.extend(conn.execute(
                select(SourceRecord.child_id, SourceRecord.record_key, SourceRecord.feed, SourceRecord.provider,
                       SourceRecord.surname, SourceRecord.forename, SourceRecord.dob, SourceRecord.sex,
                       SourceRecord.address_line1, SourceRecord.postcode, SourceRecord.start_date,
                       SourceRecord.end_date, SourceRecord.end_reason, SourceRecord.shielded)
                .where(SourceRecord.active.is_(True), SourceRecord.child_id.in_(ids[i:i + 5000]))).all())
    recs = pd.DataFrame(parts, columns=columns)
    if not len(recs):
        return {}
    recs["rank"] = recs["feed"].map({"la": 0, "school": 1, "health": 2})
    keyed_shield = set(recs.loc[recs["record_key"].isin(scope.record_keys), "child_id"])
    # Prefer the authority's own record, then the school's, for names and address.
    ranked = recs.sort_values(["child_id", "rank", "start_date"], ascending=[True, True, False], kind="stable")
    top = {r.child_id: r for r in ranked.drop_duplicates("child_id").itertuples(index=False)}
    schools = recs[recs["feed"] == "school"].sort_values(["child_id", "start_date"], kind="stable")
    school = {r.child_id: r for r in schools.groupby("child_id").tail(1).itertuples(index=False)}
    named = recs["feed"] + ":" + recs["provider"]
    sources = {c: (frozenset(g["feed"]), frozenset(named[g.index])) for c, g in recs.groupby("child_id")}
    out = {}
    for child_id, t in top.items():
        sc = school.get(child_id)
        out[child_id] = ChildFacts(
            t.surname or "", t.forename or "", t.dob, t.sex or "", "" if sc is None else sc.provider,
            None if sc is None else sc.end_date, "" if sc is None else (sc.end_reason or ""),
            t.address_line1 or "", t.postcode or "", *sources[child_id],
            child_id in scope.child_ids or child_id in keyed_shield)
    return out


def cme_row(f, facts: ChildFacts | None, likely, shielded_children: set[str]) -> list:
    """One flag's row of the CME export (CME_COLUMNS). A shielded child's location is withheld:
    address, postcode, school, and which providers hold them (only the kinds of source)."""
    t = facts
    shielded = f.child_id in shielded_children or bool(t and t.shielded)
    return [
        f.child_id, f.la_code, f.reason,
        t.surname if t else "", t.forename if t else "", t.dob if t else "", t.sex if t else "",
        "" if shielded or t is None else t.school,
        "" if t is None else (t.leaving_date or ""), "" if t is None else t.leaving_reason,
        "" if shielded or t is None else t.address_line1,
        "" if shielded or t is None else t.postcode,
        ";".join(sorted((t.feeds if shielded else t.sources) if t else ())), "Y" if shielded else "N",
        "Y" if f.possible_match_in_review else "N",
        f.residence_source or "",
        # Y, never which rolls: a shielded child's school must not leave in an export.
        "Y" if f.stale_rolls else "N",
        # The school of the child a review pair may join this one to (a missed link, probably),
        # withheld for a shielded child as their own school is.
        "" if likely is None or shielded or likely.other_child in shielded_children else likely.school,
        "" if likely is None else likely.pair_id]


def export_cme(engine, out: Path, as_of: date | None = None) -> int:
    as_of = cme_list_date(engine, as_of)
    scope = shield_scope(engine)
    with engine.connect() as conn:
        flags = conn.execute(select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason, CmeFlag.possible_match_in_review,
                                    CmeFlag.residence_source, CmeFlag.stale_rolls)
                             .where(CmeFlag.as_of == as_of).order_by(CmeFlag.la_code, CmeFlag.child_id)).all()
    facts = facts_of_children(engine, [f.child_id for f in flags], scope)
    missed = likely_missed_links(engine, {f.child_id for f in flags if f.possible_match_in_review})
    rows = [cme_row(f, facts.get(f.child_id), missed.get(f.child_id), scope.child_ids) for f in flags]
    return write_private_csv(out, CME_COLUMNS, rows)


def cme_children(engine, as_of: date) -> list[str]:
    """The children on the CME list of this date (what an export of it names)."""
    with engine.connect() as conn:
        return list(conn.execute(select(CmeFlag.child_id).where(CmeFlag.as_of == as_of)).scalars())
