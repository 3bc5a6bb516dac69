"""Children missing education: who is of compulsory school age, lives in an authority, is on
no school's roll and has no recorded reason for that, with one reason code each. Pure
functions over frames of register records; no database, no logging of personal data.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from schemas import postcode_district, postcode_sector

# Why a child is flagged. The newest dated fact about a child off every roll decides (see
# education_timeline); these are the facts that leave a child on the list.
REASONS = {
    "CME_REFERRAL": "the authority referred the child as possibly missing education",
    "EHE_ENDED": "elective home education ended and the child is on no roll",
    "EHE_UNSUITABLE": "the authority judged the child's home education unsuitable",
    "LEFT_NO_DESTINATION": "the child left a school roll with no known destination",
    "TRANSFER_NOT_ARRIVED": "the child left for a school whose roll does not hold them",
    "LEFT_OTHER": "the child left a school roll for another reason and is on no roll",
    "GONE_FROM_ROLL": "the child dropped off a school's roll with no leaving record (how off-rolling shows)",
    "NOT_ON_ANY_ROLL": "the child is known to health or the authority but to no school",
    "RESIDENCE_UNKNOWN": "missing education by the rules above, but no source says which authority they live in",
}
# Authority record types and school leaving reasons that explain why a child is on no roll.
EXCUSED_LA_TYPES = {"EHE", "ALT_PROVISION", "WHEREABOUTS_KNOWN"}
FLAGGING_LA_TYPES = {"CME_REFERRAL": "CME_REFERRAL", "EHE_ENDED": "EHE_ENDED", "EHE_UNSUITABLE": "EHE_UNSUITABLE"}
EXCUSED_LEAVING = {"EHE", "MOVED_AWAY", "DECEASED"}
FLAGGING_LEAVING = {"NO_DESTINATION": "LEFT_NO_DESTINATION", "OTHER": "LEFT_OTHER"}
EXCUSED_DEREG = {"MOVED_AWAY", "EMIGRATED", "DECEASED"}
# Where each child's authority of residence came from, in the order the sources are tried.
RESIDENCE_SOURCES = ("la_record", "gp_residence_la", "postcode_directory", "postcode_sector", "postcode_district",
                     "last_school", "not_known")


@dataclass(frozen=True)
class ResidenceSettings:
    # A postcode sector (then district) decides an authority when at least this share of the
    # records there that state an authority agree, and at least min_records state one.
    min_share: float = 0.8
    min_records: int = 5


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


FLAG_COLUMNS = ["child_id", "la_code", "reason", "residence_source"]
# Columns a caller may leave out; the rules read them with these defaults.
_OPTIONAL = {"postcode": "", "gone_from_roll": False, "extract_date": None, "record_type": "", "residence_la": "",
             "destination_laestab": "", "end_reason": "", "enrol_status": ""}


def flag_missing_children(records: pd.DataFrame, as_of: date, directory: Mapping[str, str] | None = None,
                          residence: ResidenceSettings = ResidenceSettings(), learned: dict | None = None,
                          held_rolls: set[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """records: current register records with child_id (and, for rolls that dropped a child,
    gone_from_roll with the extract_date the child was last seen in). directory: postcode ->
    3-digit LA code from the operator's postcode directory. Returns one row per flagged child
    (child_id, la_code, reason, residence_source) and counts. The tests, as docs/cme.md lists
    them: of compulsory school age, not on a roll, not deceased, not excused by the newest
    dated fact; then where the child lives. For part of a register (the children a run
    touched), give what the whole register says: `learned` (learned_residence of all records)
    and `held_rolls` (every school whose roll the register holds)."""
    if records.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS), {"children": 0, "compulsory_age": 0, "flagged": 0,
                                                    "no_residence": 0, "gone_from_roll": 0, "assessed_by_la": {},
                                                    "residence_by_source": {}}
    r = prepared_records(records, as_of)
    ts = pd.Timestamp(as_of)
    of_age = of_compulsory_school_age(r, as_of)
    assessed = set(of_age.index[of_age])
    candidates = assessed - on_a_roll(r, ts) - deceased(r)
    missing = not_excused(r[r["child_id"].isin(candidates)], ts, candidates,
                          held_rolls=held_rolls if held_rolls is not None else set(r.loc[r["feed"] == "school", "provider"]))
    learned = learned if learned is not None else learned_residence(r, residence)
    where = residence_of(r[r["child_id"].isin(assessed)], ts, directory or {}, residence, learned=learned)
    out = _placed(missing, where)
    known = where[where["la_code"] != ""]
    stats = {"children": int(len(of_age)), "compulsory_age": int(of_age.sum()), "flagged": int(len(out)),
             "no_residence": int((out["reason"] == "RESIDENCE_UNKNOWN").sum()),
             "gone_from_roll": int((out["reason"] == "GONE_FROM_ROLL").sum()),
             "assessed_by_la": {k: int(v) for k, v in known["la_code"].value_counts().items()},
             "residence_by_source": {k: int(v) for k, v in out["residence_source"].value_counts().items()},
             "learned": learned}
    return out, stats


def of_compulsory_school_age(r: pd.DataFrame, as_of: date) -> pd.Series:
    """Per child id: whether the child is of compulsory school age on the date, by the birth
    date most of their records agree on (no birth date: not assessed)."""
    children = pd.Index(sorted(r["child_id"].unique()))
    known = r.loc[r["dob"].notna(), ["child_id", "dob"]]
    if known.empty:
        return pd.Series(False, index=children, dtype=bool)
    # The most common birth date per child; of equally common ones, the earliest.
    counts = known.groupby(["child_id", "dob"]).size().reset_index(name="n")
    best = counts.sort_values(["child_id", "n", "dob"], ascending=[True, False, True]).drop_duplicates("child_id")
    # Each distinct birth date's window once: there are far fewer dates than children.
    inside = {d: _in_window(d.date(), as_of) for d in best["dob"].unique()}
    out = pd.Series(False, index=children, dtype=bool)
    out[best["child_id"].to_numpy()] = best["dob"].map(inside).to_numpy(dtype=bool)
    return out


def not_excused(r: pd.DataFrame, ts: pd.Timestamp, candidates: set, held_rolls: set) -> pd.DataFrame:
    """(child_id, reason) of each candidate whose newest dated fact flags them, or whom no
    dated fact explains (on no roll for no reason: NOT_ON_ANY_ROLL)."""
    verdicts = education_timeline(r, ts, held_rolls)
    flagged = verdicts.loc[verdicts["verdict"] == "flag", ["child_id", "reason"]]
    unexplained = sorted(candidates - set(verdicts["child_id"]))
    return pd.concat([flagged, pd.DataFrame({"child_id": unexplained, "reason": "NOT_ON_ANY_ROLL"})],
                     ignore_index=True)


def _placed(missing: pd.DataFrame, where: pd.DataFrame) -> pd.DataFrame:
    """The flags with the authority each child lives in; a child no source places is flagged
    RESIDENCE_UNKNOWN, never dropped: a person has to find out where this child lives."""
    out = missing.merge(where, on="child_id", how="left")
    out["la_code"] = out["la_code"].fillna("")
    out["residence_source"] = out["residence_source"].fillna("not_known")
    out.loc[out["la_code"] == "", "reason"] = "RESIDENCE_UNKNOWN"
    return out[FLAG_COLUMNS].sort_values("child_id").reset_index(drop=True)


def prepared_records(records: pd.DataFrame, as_of: date) -> pd.DataFrame:
    r = records.copy()
    for c, default in _OPTIONAL.items():
        if c not in r:
            r[c] = default
        elif default == "":
            r[c] = r[c].fillna("")
    r["gone_from_roll"] = r["gone_from_roll"].astype(object).where(r["gone_from_roll"].notna(), False).astype(bool)
    for c in ("dob", "start_date", "end_date", "extract_date"):
        r[c] = pd.to_datetime(r[c], errors="coerce")
    return r


def roll_rows(r: pd.DataFrame, ts: pd.Timestamp) -> pd.DataFrame:
    """The school records that hold a child on a roll on the date: entered on or before it, no
    leaving date on or before it, and still in the school's newest extract. Any enrolment status
    counts."""
    school = r[(r["feed"] == "school") & ~r["gone_from_roll"]]
    now = (school["start_date"].isna() | (school["start_date"] <= ts)) & \
          (school["end_date"].isna() | (school["end_date"] > ts))
    return school[now]


def on_a_roll(r: pd.DataFrame, ts: pd.Timestamp) -> set:
    """Children a school holds on its roll on the date (roll_rows)."""
    return set(roll_rows(r, ts)["child_id"])


def deceased(r: pd.DataFrame) -> set:
    return set(r.loc[r["end_reason"] == "DECEASED", "child_id"])


def education_timeline(r: pd.DataFrame, ts: pd.Timestamp, held_rolls: set | None = None) -> pd.DataFrame:
    """Every dated fact about why a child is on no roll, from every feed, and the newest one per
    child: (child_id, date, verdict "flag" or "excuse", reason). The facts:
    - a school leaving record (leaving date and reason); a TRANSFER excuses only when the
      destination is a roll we do not hold (whereabouts known elsewhere);
    - a roll that dropped the child with no leaving record, dated when it last held them;
    - the authority's statuses, by status date (RESIDENT says nothing about education);
    - a GP deregistration for moving away or emigrating, when no GP registration is current.
    An excuse's reason names it: the authority's record type (EHE, ALT_PROVISION,
    WHEREABOUTS_KNOWN), LEFT_ and the school's leaving reason, or GP_ and the deregistration's.
    Ties on a date go to the fact that flags: a missing child must never drop off unseen, and
    an officer clears a wrong flag in minutes. A fact with no date counts as the oldest."""
    cols = ["child_id", "date", "verdict", "reason"]
    if r.empty:
        return pd.DataFrame(columns=cols)
    facts = []
    school = r[r["feed"] == "school"]
    held_rolls = set(school["provider"]) if held_rolls is None else held_rolls
    left = school[~school["gone_from_roll"] & school["end_date"].notna() & (school["end_date"] <= ts)]
    why = left["end_reason"]
    dest_held = left["destination_laestab"].isin(held_rolls) & (left["destination_laestab"] != "")
    leaving_reason = why.map(FLAGGING_LEAVING).where(why.isin(FLAGGING_LEAVING), "LEFT_OTHER")
    leaving_reason = leaving_reason.where(~((why == "TRANSFER") & dest_held), "TRANSFER_NOT_ARRIVED")
    excused = why.isin(EXCUSED_LEAVING) | ((why == "TRANSFER") & ~dest_held)
    facts.append(pd.DataFrame({"child_id": left["child_id"], "date": left["end_date"],
                               "verdict": np.where(excused, "excuse", "flag"),
                               "reason": leaving_reason.where(~excused, "LEFT_" + why)}))
    gone = school[school["gone_from_roll"]]
    facts.append(pd.DataFrame({"child_id": gone["child_id"], "date": gone["extract_date"],
                               "verdict": "flag", "reason": "GONE_FROM_ROLL"}))
    la = r[(r["feed"] == "la") & (r["start_date"].isna() | (r["start_date"] <= ts))]
    la = la[la["record_type"].isin(EXCUSED_LA_TYPES) | la["record_type"].isin(FLAGGING_LA_TYPES)]
    facts.append(pd.DataFrame({"child_id": la["child_id"], "date": la["start_date"],
                               "verdict": np.where(la["record_type"].isin(EXCUSED_LA_TYPES), "excuse", "flag"),
                               "reason": la["record_type"].map(FLAGGING_LA_TYPES).fillna(la["record_type"])}))
    health = r[r["feed"] == "health"]
    current_gp = set(health.loc[health["end_date"].isna() | (health["end_date"] > ts), "child_id"])
    away = health[health["end_date"].notna() & (health["end_date"] <= ts) & health["end_reason"].isin(EXCUSED_DEREG)
                  & ~health["child_id"].isin(current_gp)]
    facts.append(pd.DataFrame({"child_id": away["child_id"], "date": away["end_date"], "verdict": "excuse",
                               "reason": "GP_" + away["end_reason"]}))
    f = pd.concat(facts, ignore_index=True)
    if f.empty:
        return pd.DataFrame(columns=cols)
    f["date"] = pd.to_datetime(f["date"]).fillna(pd.Timestamp.min)
    f["tie"] = (f["verdict"] == "flag").astype(int)
    f = f.sort_values(["child_id", "date", "tie"], kind="stable")
    return f.groupby("child_id").tail(1)[cols].reset_index(drop=True)


def learned_authorities(r: pd.DataFrame, part: pd.Series, settings: ResidenceSettings) -> dict[str, str]:
    """For each postcode part (sector or district): the authority that the records there which
    state one agree on, when at least settings.min_share of them agree. Records that state an
    authority: the authority's own records and GP registrations with residence_la."""
    stated = pd.Series(np.where(r["feed"] == "la", r["provider"], r["residence_la"]), index=r.index)
    ok = (part != "") & (stated != "") & r["feed"].isin(["la", "health"])
    if not ok.any():
        return {}
    counts = pd.DataFrame({"part": part[ok], "la": stated[ok]}).value_counts().rename("n").reset_index()
    totals = counts.groupby("part")["n"].transform("sum")
    best = counts[(counts["n"] >= settings.min_share * totals) & (totals >= settings.min_records)]
    return dict(zip(best["part"], best["la"]))


def learned_residence(source: pd.DataFrame, settings: ResidenceSettings = ResidenceSettings()) -> dict:
    """{"postcode_sector": {sector: LA}, "postcode_district": {district: LA}}: the authorities the
    records that state one agree on at each postcode sector and district (learned_authorities)."""
    src_pc = source["postcode"].fillna("")
    src_pc = src_pc.where(~src_pc.str.startswith("ZZ99"), "")
    return {name: learned_authorities(source, cut(src_pc), settings)
            for name, cut in (("postcode_sector", postcode_sector), ("postcode_district", postcode_district))}


def residence_of(r: pd.DataFrame, ts: pd.Timestamp, directory: Mapping[str, str],
                 settings: ResidenceSettings = ResidenceSettings(), learn_from: pd.DataFrame | None = None,
                 learned: dict | None = None) -> pd.DataFrame:
    """Where each child lives, and which source said so, trying in order:
    1. la_record: the authority's latest record for the child (not WHEREABOUTS_KNOWN);
    2. gp_residence_la: residence_la of the newest current GP registration that states it;
    3. postcode_directory: the operator's postcode directory, on the child's newest postcode;
    4. postcode_sector, 5. postcode_district: the authority that records stating one agree on
       at the same sector, then district (learned from the register itself);
    6. last_school: the authority of the school the child last attended;
    7. not_known.
    Returns (child_id, la_code, residence_source); la_code is "" when not known."""
    # Only the columns read here: every filter below copies what it keeps.
    r = r[["child_id", "feed", "provider", "start_date", "end_date", "record_type", "residence_la", "postcode"]]
    children = pd.Index(r["child_id"].unique())
    la_code = np.full(len(children), "", dtype=object)
    found_by = np.full(len(children), "not_known", dtype=object)

    def fill(values: pd.Series, source: str) -> None:
        """Each child still unplaced takes its last non-empty value here."""
        values = values[(values != "") & values.index.isin(children)]
        values = values[~values.index.duplicated(keep="last")]
        at = children.get_indexer(values.index)
        todo = la_code[at] == ""
        la_code[at[todo]] = values.to_numpy()[todo]
        found_by[at[todo]] = source

    la = r[(r["feed"] == "la") & (r["start_date"].isna() | (r["start_date"] <= ts))].sort_values("start_date")
    latest = la.groupby("child_id").tail(1)
    latest = latest[latest["record_type"] != "WHEREABOUTS_KNOWN"]
    fill(latest.set_index("child_id")["provider"], "la_record")
    health = r[(r["feed"] == "health") & (r["end_date"].isna() | (r["end_date"] > ts)) & (r["residence_la"] != "")]
    fill(health.sort_values("start_date").set_index("child_id")["residence_la"], "gp_residence_la")
    # The child's postcodes, newest record first (undated records last).
    with_pc = r[(r["postcode"] != "") & ~r["postcode"].str.startswith("ZZ99")]
    with_pc = with_pc.assign(_d=with_pc["start_date"].fillna(pd.Timestamp.min)).sort_values("_d", ascending=False)
    if directory:
        looked_up = with_pc["postcode"].map(directory).fillna("")
        found = with_pc.assign(la=looked_up)[looked_up != ""].drop_duplicates("child_id")
        fill(found.set_index("child_id")["la"], "postcode_directory")
    learned = learned if learned is not None else learned_residence(learn_from if learn_from is not None else r,
                                                                    settings)
    for name, cut in (("postcode_sector", postcode_sector), ("postcode_district", postcode_district)):
        if learned.get(name):
            guess = cut(with_pc["postcode"]).map(learned[name]).fillna("")
            found = with_pc.assign(la=guess)[guess != ""].drop_duplicates("child_id")
            fill(found.set_index("child_id")["la"], name)
    school = r[r["feed"] == "school"].sort_values("start_date").groupby("child_id").tail(1)
    fill(school.set_index("child_id")["provider"].str[:3], "last_school")
    return pd.DataFrame({"child_id": children, "la_code": la_code, "residence_source": found_by})


def possible_match_in_review(flagged: pd.Series, pending_pairs: list[tuple[str, str]],
                             child_of_key: dict[str, str]) -> pd.Series:
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


def stale_rolls_of(flags: pd.DataFrame, records: pd.DataFrame, stale: set[str]) -> pd.Series:
    """For each flag (child_id, la_code): the stale school rolls it rests on, space-separated,
    "" when none. A flag rests on a roll when the roll is the child's own school (its leaving
    or dropped-off fact may be out of date), the school the child left for (the roll that
    would show them arrived), or any school in the authority the child lives in (the child may
    have joined it since its newest extract)."""
    if flags.empty or not stale:
        return pd.Series("", index=flags.index, dtype=object)
    school = records[(records["feed"] == "school")]
    own: dict[str, set] = {}
    for cid, provider, dest in zip(school["child_id"], school["provider"],
                                   school.get("destination_laestab", pd.Series("", index=school.index)).fillna("")):
        for p in (provider, dest):
            if p in stale:
                own.setdefault(cid, set()).add(p)
    by_la: dict[str, set] = {}
    for p in stale:
        if len(p) == 7 and p.isdigit():
            by_la.setdefault(p[:3], set()).add(p)
    return pd.Series([" ".join(sorted(own.get(c, set()) | by_la.get(la, set())))
                      for c, la in zip(flags["child_id"], flags["la_code"])], index=flags.index, dtype=object)
