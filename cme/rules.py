"""Children missing education: who is of compulsory school age, lives in an authority, is on
no school's roll and has no recorded reason for that, with one reason code each. Pure
functions over frames of register records; no database, no logging of personal data.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

# Why a child is flagged, strongest evidence first.
REASONS = {
    "CME_REFERRAL": "the authority referred the child as possibly missing education",
    "EHE_ENDED": "elective home education ended and the child is on no roll",
    "LEFT_NO_DESTINATION": "the child left a school roll with no known destination",
    "TRANSFER_NOT_ARRIVED": "the child left for a school whose roll does not hold them",
    "LEFT_OTHER": "the child left a school roll for another reason and is on no roll",
    "NOT_ON_ANY_ROLL": "the child is known to health or the authority but to no school",
}
EXCUSED_LA_TYPES = {"EHE", "ALT_PROVISION", "WHEREABOUTS_KNOWN"}
EXCUSED_LEAVING = {"EHE", "MOVED_AWAY", "DECEASED"}
EXCUSED_DEREG = {"MOVED_AWAY", "EMIGRATED", "DECEASED"}


def _birthday(dob: date, years: int) -> date:
    try:
        return dob.replace(year=dob.year + years)
    except ValueError:  # 29 February in a common year: the birthday falls on 1 March
        return date(dob.year + years, 3, 1)


def _last_friday_of_june(year: int) -> date:
    d = date(year, 6, 30)
    return d - timedelta(days=(d.weekday() - 4) % 7)


def compulsory_school_age_window(dob: date) -> tuple[date, date]:
    """(first, last) day of compulsory school age, both inclusive.

    Starts on the first prescribed day (31 December, 31 March, 31 August) on or after the
    fifth birthday; ends on the last Friday of June of the school year (1 September to
    31 August) in which the child turns 16.
    """
    fifth = _birthday(dob, 5)
    candidates = [date(y, m, d) for y in (fifth.year, fifth.year + 1) for m, d in ((3, 31), (8, 31), (12, 31))]
    start = min(c for c in candidates if c >= fifth)
    sixteenth = _birthday(dob, 16)
    school_year_end = sixteenth.year + 1 if sixteenth.month >= 9 else sixteenth.year
    return start, _last_friday_of_june(school_year_end)


def cme_flags(records: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, dict]:
    """records: active register records with child_id. Returns (child_id, la_code, reason) and counts."""
    cols = ["child_id", "la_code", "reason"]
    if records.empty:
        return pd.DataFrame(columns=cols), {"children": 0, "compulsory_age": 0, "flagged": 0, "no_residence": 0,
                                            "assessed_by_la": {}}
    r = records.copy()
    for c in ("dob", "start_date", "end_date"):
        r[c] = pd.to_datetime(r[c], errors="coerce")
    ts = pd.Timestamp(as_of)
    school = r[r["feed"] == "school"]
    health = r[r["feed"] == "health"]
    la = r[(r["feed"] == "la") & (r["start_date"].isna() | (r["start_date"] <= ts))]
    school_providers = set(school["provider"])

    dob = r.groupby("child_id")["dob"].agg(lambda s: s.mode().iloc[0] if s.notna().any() else pd.NaT)
    in_window = dob.map(lambda d: pd.notna(d) and _in_window(d.date(), as_of))
    on_roll_now = (school["start_date"].isna() | (school["start_date"] <= ts)) & \
                  (school["end_date"].isna() | (school["end_date"] > ts))
    on_roll = set(school.loc[on_roll_now, "child_id"])
    left = school[school["end_date"].notna() & (school["end_date"] <= ts)].sort_values("end_date")
    last_leaving = left.groupby("child_id").tail(1).set_index("child_id")
    latest_la = la.sort_values("start_date").groupby("child_id").tail(1).set_index("child_id")
    current_health = health[health["end_date"].isna() | (health["end_date"] > ts)]
    ended_health = health[health["end_date"].notna() & (health["end_date"] <= ts)]
    dereg_away = set(ended_health.loc[ended_health["end_reason"].isin(EXCUSED_DEREG), "child_id"]) - \
        set(current_health["child_id"])
    deceased = set(r.loc[r["end_reason"] == "DECEASED", "child_id"])

    residence = _residence(r, latest_la, current_health, school)
    flagged, no_residence = [], 0
    for child_id, ok in in_window.items():
        if not ok or child_id in on_roll or child_id in deceased:
            continue
        la_rec = latest_la.loc[child_id] if child_id in latest_la.index else None
        la_type = la_rec["record_type"] if la_rec is not None else ""
        if la_type in EXCUSED_LA_TYPES:
            continue
        leaving = last_leaving.loc[child_id] if child_id in last_leaving.index else None
        leaving_reason = leaving["end_reason"] if leaving is not None else ""
        if leaving_reason in EXCUSED_LEAVING or child_id in dereg_away:
            continue
        if leaving_reason == "TRANSFER":
            dest = leaving["destination_laestab"]
            if not dest or dest not in school_providers:
                continue  # destination known, and not a roll we hold: whereabouts known
        reason = _reason(la_type, leaving_reason)
        la_code = residence.get(child_id, "")
        if not la_code:
            no_residence += 1
            continue
        flagged.append((child_id, la_code, reason))
    out = pd.DataFrame(flagged, columns=cols).sort_values("child_id").reset_index(drop=True)
    assessed = pd.Series([residence.get(c, "") for c in in_window.index[in_window.astype(bool)]])
    stats = {"children": int(len(dob)), "compulsory_age": int(in_window.sum()), "flagged": int(len(out)),
             "no_residence": no_residence,
             "assessed_by_la": {k: int(v) for k, v in assessed[assessed != ""].value_counts().items()}}
    return out, stats


def under_review(flagged: pd.Series, pending_pairs: list[tuple[str, str]], child_of_key: dict[str, str]) -> pd.Series:
    """For each flagged child id: True when one of its records is in an undecided review pair
    with a record of another register child who is not flagged (on a roll or excused). If the
    analyst finds the two are one child, the flag goes, so the review comes first; the flag
    stays on the list meanwhile (a missing child must never drop off unseen)."""
    flagged_set = set(flagged)
    pending: set[str] = set()
    for key_a, key_b in pending_pairs:
        a, b = child_of_key.get(key_a), child_of_key.get(key_b)
        if a and b and a != b:
            if a in flagged_set and b not in flagged_set:
                pending.add(a)
            if b in flagged_set and a not in flagged_set:
                pending.add(b)
    return flagged.isin(pending)


def _in_window(dob: date, on: date) -> bool:
    start, end = compulsory_school_age_window(dob)
    return start <= on <= end


def _reason(la_type: str, leaving_reason: str) -> str:
    if la_type == "CME_REFERRAL":
        return "CME_REFERRAL"
    if la_type == "EHE_ENDED":
        return "EHE_ENDED"
    if leaving_reason == "NO_DESTINATION":
        return "LEFT_NO_DESTINATION"
    if leaving_reason == "TRANSFER":
        return "TRANSFER_NOT_ARRIVED"
    if leaving_reason:
        return "LEFT_OTHER"
    return "NOT_ON_ANY_ROLL"


def _residence(r: pd.DataFrame, latest_la: pd.DataFrame, current_health: pd.DataFrame,
               school: pd.DataFrame) -> dict[str, str]:
    """Where each child lives: the authority's own record, else the GP's residence code,
    else the authority of the school the child last attended."""
    out: dict[str, str] = {}
    last_school = school.sort_values("start_date").groupby("child_id").tail(1)
    for cid, provider in zip(last_school["child_id"], last_school["provider"]):
        out[cid] = provider[:3]
    h = current_health[current_health["residence_la"] != ""].sort_values("start_date")
    for cid, code in zip(h["child_id"], h["residence_la"]):
        out[cid] = code
    for cid, rec in latest_la.iterrows():
        if rec["record_type"] != "WHEREABOUTS_KNOWN":
            out[cid] = rec["provider"]
    return out
