"""Computing the CME list: in full, or, later the same day, for the children a run touched.

A full computation reads every current record and keeps its basis: the date, the postcode
directory's version, the authorities learned per postcode sector and district, and which
authorities were assessed. Until the date changes, a run that touched few children (a school's
extract, an analyst's ruling) recomputes the flags of those children only, against that
basis, keeps everyone else's, and then re-marks the whole list (held for a conflict, a
possible match in review, resting on a stale roll), which needs no records of untouched
children. A new day, a new directory, or more than a fifth of the register touched: in full.

Children touched: every child a regrouping changed (linkage.relinking) and every child with a
current record from a provider whose file was processed since the list was computed."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import select

from cme.reports import save_cme
from cme.rules import flag_missing_children, possible_match_in_review, stale_rolls_of
from linkage import active_records, children_with_two_nhs_numbers, live_children, undecided_pairs
from register import CandidatePair, CmeFlag, CmeList, ExtractFile, SourceRecord, get_state, set_state
from sources import postcode_authorities, reference_version

BASIS = "cme_basis"
TOUCHED = "cme_touched"  # JSON list of child ids changed since the list was computed, or "all"
PART_LIMIT = 0.2


def touch(engine, children: set[str] | None) -> None:
    """Children whose flags must be computed again (None: all of them)."""
    kept = get_state(engine, TOUCHED)
    if children is None or kept == '"all"':
        set_state(engine, TOUCHED, '"all"')
        return
    before = set(json.loads(kept)) if kept else set()
    set_state(engine, TOUCHED, json.dumps(sorted(before | set(children))))


@dataclass
class CmeResult:
    flags: pd.DataFrame  # the whole list: child_id, la_code, reason, residence_source, marks
    stats: dict
    held: int
    mode: str  # "full" or "part"
    recomputed: int  # children whose flags were computed


def compute_cme(engine, as_of: date, stale: set[str]) -> CmeResult:
    basis = json.loads(get_state(engine, BASIS) or "null")
    kept = get_state(engine, TOUCHED)
    touched = None if kept in (None, '"all"') else set(json.loads(kept))
    with engine.connect() as conn:
        listed = conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar()
    live = live_children(engine)
    directory_version = reference_version(engine)
    if (basis and listed is not None and touched is not None and basis["as_of"] == as_of.isoformat()
            and basis["directory"] == directory_version):
        touched |= _children_of_new_files(engine, listed)
        if len(touched) <= PART_LIMIT * max(live, 1):
            return _part(engine, as_of, stale, basis, touched)
    return _full(engine, as_of, stale, directory_version)


# What the CME rules read of a record (not its names, identifiers or address line).
CME_COLUMNS = ["id", "record_key", "child_id", "feed", "provider", "nhs_number", "dob", "sex", "postcode",
               "residence_la", "start_date", "end_date", "end_reason", "enrol_status", "record_type",
               "destination_laestab", "shielded", "carried_forward", "carried_because"]


def _full(engine, as_of: date, stale: set[str], directory_version) -> CmeResult:
    records = active_records(engine, columns=CME_COLUMNS)
    directory = postcode_authorities(engine, records["postcode"])
    flags, stats = flag_missing_children(records, as_of, directory)
    flags, held = _marked(engine, flags, stale, records)
    save_cme(engine, flags, as_of)
    set_state(engine, BASIS, json.dumps({
        "as_of": as_of.isoformat(), "directory": directory_version, "learned": stats.get("learned", {}),
        "held_rolls": sorted(set(records.loc[records["feed"] == "school", "provider"])),
        "assessed_by_la": stats["assessed_by_la"]}))
    set_state(engine, TOUCHED, "[]")
    return CmeResult(flags, stats, held, "full", int(records["child_id"].nunique()))


def _part(engine, as_of: date, stale: set[str], basis: dict, touched: set[str]) -> CmeResult:
    records = active_records(engine, children=sorted(touched), columns=CME_COLUMNS)
    directory = postcode_authorities(engine, records["postcode"])
    with engine.connect() as conn:
        schools = set(conn.execute(select(SourceRecord.provider).where(
            SourceRecord.feed == "school", SourceRecord.active.is_(True)).distinct()).scalars())
        others = pd.DataFrame(conn.execute(select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason,
                                                  CmeFlag.residence_source).where(CmeFlag.as_of == as_of)).all(),
                              columns=["child_id", "la_code", "reason", "residence_source"])
    others = others[~others["child_id"].isin(touched)]
    fresh, stats = flag_missing_children(records, as_of, directory, learned=basis["learned"],
                                         held_rolls=set(basis["held_rolls"]) | schools)
    flags = pd.concat([others, fresh[["child_id", "la_code", "reason", "residence_source"]]], ignore_index=True)
    flags = flags.sort_values("child_id").reset_index(drop=True)
    marks_from = active_records(engine, children=sorted(set(flags["child_id"])), columns=CME_COLUMNS) \
        if len(flags) else records
    flags, held = _marked(engine, flags, stale, marks_from)
    save_cme(engine, flags, as_of)
    set_state(engine, TOUCHED, "[]")
    summary = {"flagged": int(len(flags)), "assessed_by_la": basis["assessed_by_la"],
               "residence_by_source": {k: int(v) for k, v in flags["residence_source"].value_counts().items()},
               "no_residence": int((flags["reason"] == "RESIDENCE_UNKNOWN").sum()),
               "gone_from_roll": int((flags["reason"] == "GONE_FROM_ROLL").sum())}
    return CmeResult(flags, summary, held, "part", int(records["child_id"].nunique()) if len(records) else 0)


def _marked(engine, flags: pd.DataFrame, stale: set[str], records: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The whole list's marks: held for a conflict (two NHS numbers) or with a possible match in
    review, and the stale rolls each flag rests on. records: at least the flagged children's."""
    flags = flags.copy()
    held = flags["child_id"].isin(children_with_two_nhs_numbers(engine))
    pairs = undecided_pairs(engine)
    flags["possible_match_in_review"] = held | possible_match_in_review(flags["child_id"], pairs,
                                                                        _children_of_pair_keys(engine))
    flags["stale_rolls"] = stale_rolls_of(flags, records, stale)
    return flags, int(held.sum())


def _children_of_pair_keys(engine) -> dict[str, str]:
    """record key -> child, for the current records in undecided review pairs (two queries, not
    one per thousand keys)."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for side in (CandidatePair.key_a, CandidatePair.key_b):
            waiting = select(side).where(CandidatePair.analyst_decision.is_(None))
            out.update(conn.execute(select(SourceRecord.record_key, SourceRecord.child_id).where(
                SourceRecord.record_key.in_(waiting), SourceRecord.active.is_(True))).all())
    return out


def _children_of_new_files(engine, since) -> set[str]:
    """Children with a current record from a provider whose file was processed after `since`
    (a new extract can change a leaving date or a status without changing what linkage reads)."""
    with engine.connect() as conn:
        providers = set(conn.execute(select(ExtractFile.provider).where(ExtractFile.processed_at > since)).scalars())
        if not providers:
            return set()
        return set(conn.execute(select(SourceRecord.child_id).where(
            SourceRecord.active.is_(True), SourceRecord.provider.in_(sorted(providers))).distinct()).scalars()) - {None}


def la_providers(engine) -> list[str]:
    """The authorities that send records of their own."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(SourceRecord.provider).where(
            SourceRecord.feed == "la", SourceRecord.active.is_(True)).distinct()).scalars())
