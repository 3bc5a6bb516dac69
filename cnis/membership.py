"""Who is on an authority's children-not-in-school register on a date (Education Act 1996
s.436B): children of compulsory school age who live there and are on no relevant school's roll
(missing education, home educated, in education the authority arranged off every roll), or are
on a roll whose school reports them educated elsewhere part of the time (flexi-schooling,
off-site, part-time, s.19 provision). Pure: frames in, frames out, as cme.rules."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import pandas as pd

from cme import (
    deceased,
    education_timeline,
    learned_residence,
    of_compulsory_school_age,
    prepared_records,
    residence_of,
    roll_rows,
)

# Why a child is on the register, in words.
BASES = {
    "CME": "missing education: on no school's roll and no known reason",
    "EHE": "electively home educated",
    "ALT_PROVISION": "in education the authority arranged, on no school's roll",
    "FLEXI": "on a school's roll, flexi-schooled",
    "OFF_SITE": "on a school's roll, educated off site part of the time",
    "PART_TIME": "on a school's roll, on a part-time timetable",
    "SECTION_19": "on a school's roll, in s.19 provision part of the time",
}
OFF_ROLL = ("CME", "EHE", "ALT_PROVISION")
# Why an entry ended, in words.
END_REASONS = {
    "ON_ROLL": "a school's roll took the child",
    "ARRANGEMENT_ENDED": "the school no longer educates the child elsewhere",
    "MOVED_AWAY": "the child no longer lives in the authority",
    "AGE": "the child is no longer of compulsory school age",
    "DECEASED": "the child died",
    "NOT_KNOWN": "no source places the child on the register any more",
}
# Excuses (cme.rules.education_timeline) that mean home education or arranged education.
_EXCUSE_BASIS = {"EHE": "EHE", "LEFT_EHE": "EHE", "ALT_PROVISION": "ALT_PROVISION"}
MEMBER_COLUMNS = ["child_id", "la_code", "basis", "detail", "hours_elsewhere", "school", "since"]


def register_members(records: pd.DataFrame, as_of: date, cme_flags: pd.DataFrame,
                     directory: Mapping[str, str] | None = None, learned: dict | None = None) -> pd.DataFrame:
    """One row per child on a register on the date: child_id, la_code, basis (BASES), detail
    (the CME reason, or the primary reason for home education), hours_elsewhere and school (for
    a child on a roll), and since: the date of the fact that put the child on this basis (home
    education's or arranged education's status or leaving date), None when not known.
    records: current register records as cme.rules reads them, with
    arrangement, hours_elsewhere and register_items; cme_flags: the CME list of the date
    (child_id, la_code, reason), so the register and the list never disagree about who is
    missing. A flag no authority owns (RESIDENCE_UNKNOWN) belongs to no register."""
    if records.empty:
        return pd.DataFrame(columns=MEMBER_COLUMNS)
    r = prepared_records(records, as_of)
    for c, default in (("arrangement", ""), ("register_items", "")):
        r[c] = r[c].fillna(default) if c in r else default
    if "hours_elsewhere" not in r:
        r["hours_elsewhere"] = None
    ts = pd.Timestamp(as_of)
    of_age = of_compulsory_school_age(r, as_of)
    assessed = set(of_age.index[of_age])
    held = roll_rows(r, ts)
    rolls = set(held["child_id"])
    # Where they live, for the children who may be members only: off every roll, or on one with
    # an arrangement (a few in a hundred; residence is the dearest rule).
    arranged = set(r.loc[(r["feed"] == "school") & (r["arrangement"] != ""), "child_id"])
    maybe = (assessed - rolls) | (arranged & assessed)
    learned = learned if learned is not None else learned_residence(r)
    where = residence_of(r[r["child_id"].isin(maybe)], ts, directory or {},
                         learned=learned).set_index("child_id")["la_code"]
    rows = []
    flags = cme_flags[(cme_flags["la_code"] != "") & cme_flags["child_id"].isin(assessed)]
    flagged = set(flags["child_id"])
    rows += [(f.child_id, f.la_code, "CME", f.reason, None, "", None) for f in flags.itertuples(index=False)]
    off = assessed - rolls - deceased(r) - flagged
    timeline = education_timeline(r[r["child_id"].isin(off)], ts)
    excused = timeline[(timeline["verdict"] == "excuse") & timeline["reason"].isin(_EXCUSE_BASIS)]
    reasons = _ehe_reasons(r[r["child_id"].isin(set(excused["child_id"]))])
    for t in excused.itertuples(index=False):
        la = where.get(t.child_id, "")
        if la:
            basis = _EXCUSE_BASIS[t.reason]
            since = None if pd.isna(t.date) or t.date == pd.Timestamp.min else t.date.date()
            rows.append((t.child_id, la, basis, reasons.get(t.child_id, "NOT_KNOWN") if basis == "EHE" else "",
                         None, "", since))
    rows += _arranged(held[held["child_id"].isin(assessed)], where)
    out = pd.DataFrame(rows, columns=MEMBER_COLUMNS)
    return out.sort_values(["la_code", "child_id"]).reset_index(drop=True)


def _arranged(held: pd.DataFrame, where: pd.Series) -> list[tuple]:
    """Children on a roll on the date (held: the school records that hold them, roll_rows) whose
    school says they are educated elsewhere part of the time: the arrangement with the most
    hours away, if several schools report one."""
    school = held[held["arrangement"] != ""]
    if school.empty:
        return []
    hours = pd.to_numeric(school["hours_elsewhere"], errors="coerce").fillna(0.0)
    best = school.assign(hours_away=hours).sort_values(["child_id", "hours_away"], ascending=[True, False])
    best = best.drop_duplicates("child_id")
    out = []
    for b in best.itertuples(index=False):
        la = where.get(b.child_id, "") or b.provider[:3]
        out.append((b.child_id, la, b.arrangement, "", float(b.hours_away), b.provider, None))
    return out


def _ehe_reasons(r: pd.DataFrame) -> dict[str, str]:
    """Each child's primary reason for home education from the authority's newest record that
    gives one (contract 1.2's ehe_reason)."""
    la = r[(r["feed"] == "la") & (r["register_items"] != "")].sort_values("start_date")
    out: dict[str, str] = {}
    for child_id, items in zip(la["child_id"], la["register_items"]):
        reason = json.loads(items).get("ehe_reason")
        if reason:
            out[child_id] = reason
    return out


def end_reason(child_id: str, basis: str, now_member_elsewhere: bool, on_roll: set, of_age: set, dead: set,
               known: set) -> str:
    """Why an open entry is no longer on its authority's register (END_REASONS)."""
    if child_id not in known:
        return "NOT_KNOWN"
    if child_id in dead:
        return "DECEASED"
    if child_id not in of_age:
        return "AGE"
    if now_member_elsewhere:
        return "MOVED_AWAY"
    if child_id in on_roll:
        return "ARRANGEMENT_ENDED" if basis not in OFF_ROLL else "ON_ROLL"
    return "MOVED_AWAY"
