"""Accuracy against the generator's ground truth: pairwise precision and recall of the register's
grouping (recordlinkage's evaluation measures over the record pairs each grouping implies), twin
merges, and CME precision and recall. Reads exports and truth files only."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pandas as pd
import recordlinkage


def record_pairs(groups: dict, position: dict) -> pd.MultiIndex:
    """Every pair of records one grouping puts together, as (lower, higher) record positions."""
    pairs = [pair for members in groups.values() if len(members) > 1
             for pair in combinations(sorted(position[k] for k in members), 2)]
    return pd.MultiIndex.from_tuples(pairs, names=["a", "b"]) if pairs else \
        pd.MultiIndex.from_arrays([[], []], names=["a", "b"])


def pair_scores(links_true: pd.MultiIndex, links_pred: pd.MultiIndex) -> tuple[float, float, float]:
    """(precision, recall, F1) by recordlinkage; an empty side scores 1.0, as no pair is wrong."""
    precision = recordlinkage.precision(links_true, links_pred) if len(links_pred) else 1.0
    recall = recordlinkage.recall(links_true, links_pred) if len(links_true) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def linkage_scores(register_csv: Path, truth_dir: Path) -> dict:
    truth = {}
    with open(truth_dir / "records.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            truth[(r["file"], int(r["row"]))] = r["true_child"]
    got = {}
    with open(register_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("active", "Y") == "Y":
                got[(r["file"], int(r["row"]))] = r["child_id"]
    common = [k for k in got if k in truth]
    by_pred, by_true = defaultdict(list), defaultdict(list)
    joint = Counter()
    for k in common:
        by_pred[got[k]].append(k)
        by_true[truth[k]].append(k)
        joint[(got[k], truth[k])] += 1
    position = {k: i for i, k in enumerate(common)}
    precision, recall, f1 = pair_scores(record_pairs(by_true, position), record_pairs(by_pred, position))
    twins = 0
    twin_file = truth_dir / "twins.csv"
    if twin_file.exists():
        children_of = defaultdict(set)
        for (cid, tid), _ in joint.items():
            children_of[tid].add(cid)
        with open(twin_file, newline="") as fh:
            for r in csv.DictReader(fh):
                if children_of[r["child_a"]] & children_of[r["child_b"]]:
                    twins += 1
    return {"records": len(common), "true_children": len(by_true), "register_children": len(by_pred),
            "pair_precision": round(precision, 5), "pair_recall": round(recall, 5), "pair_f1": round(f1, 5),
            "twin_merges": twins}


def _truth_of(truth_dir: Path) -> dict:
    with open(truth_dir / "records.csv", newline="") as fh:
        return {(r["file"], int(r["row"])): r["true_child"] for r in csv.DictReader(fh)}


def _column(path: Path, column: str) -> set[str]:
    if not path.exists():
        return set()
    with open(path, newline="") as fh:
        return {r[column] for r in csv.DictReader(fh)}


def _members(register_csv: Path, truth_of: dict) -> tuple[dict, set]:
    """register child -> true children of its current rows; and every true child with a row."""
    members, loaded = defaultdict(set), set()
    with open(register_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            t = truth_of.get((r["file"], int(r["row"])))
            loaded.add(t)
            if t and r.get("active", "Y") == "Y":
                members[r["child_id"]].add(t)
    return members, loaded


def cme_causes(register_csv: Path, cme_csv: Path, truth_dir: Path) -> dict:
    """Misses by the true situation of the child missed; false flags by the reason the flag gave;
    true flags put on another authority's list. register_csv must hold every row (an export
    with --include-shielded), or shielded children cannot be followed."""
    truth_of = _truth_of(truth_dir)
    with open(truth_dir / "children.csv", newline="") as fh:
        child = {r["true_child"]: r for r in csv.DictReader(fh)}
    members, loaded = _members(register_csv, truth_of)
    truly = _column(truth_dir / "cme.csv", "true_child")
    found, false_by_reason, wrong_la = set(), Counter(), 0
    with open(cme_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            hit = members[r["child_id"]] & truly
            if hit:
                found |= hit
                wrong_la += all(child[t]["la_code"] != r["la_code"] for t in hit)
            else:
                false_by_reason[r["reason"]] += 1
    # A child whose every row was quarantined never reached the register: no rule can list them.
    missed = Counter(child[t]["situation"] + ("" if t in loaded else " (every row quarantined)")
                     for t in truly - found)
    return {"cme_missed_by_situation": dict(sorted(missed.items())),
            "cme_false_flags_by_reason": dict(sorted(false_by_reason.items())),
            "cme_true_flags_on_another_authoritys_list": wrong_la}


def shield_leaks(full_register_csv: Path, default_register_csv: Path, cme_csv: Path, truth_dir: Path) -> dict:
    """Fields of a truly shielded child that leave in an export: in the CME export, a row whose
    register child holds a record of one and shows an address, postcode, last school or a
    provider among its sources; in the default register export, each row of a shielded child's
    record (its provider and file name say which school or GP holds the child)."""
    shielded = _column(truth_dir / "shielded.csv", "true_child")
    truth_of = _truth_of(truth_dir)
    members, _ = _members(full_register_csv, truth_of)
    cme_fields = 0
    with open(cme_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if members[r["child_id"]] & shielded:
                cme_fields += sum(bool(r[c]) for c in ("address_line1", "postcode", "last_school"))
                cme_fields += any(":" in s for s in r["sources"].split(";"))
    planted = {r["true_child"]: r.get("gp_record", "") for r in csv.DictReader(open(truth_dir / "shielded.csv"))}
    register_rows, by_gp_record = 0, Counter()
    with open(default_register_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            child = truth_of.get((r["file"], int(r["row"])))
            if child in shielded:
                register_rows += 1
                by_gp_record[planted.get(child) or "other"] += 1
    return {"shielded_children": len(shielded), "shield_leaks_cme_fields": cme_fields,
            "shield_leaks_register_rows": register_rows,
            "shielded_gp_records_mistyped_everywhere": dict(sorted(Counter(v for v in planted.values() if v).items())),
            "shield_leaks_register_rows_by_gp_record": dict(sorted(by_gp_record.items()))}


def cme_scores(register_csv: Path, cme_csv: Path, truth_dir: Path) -> dict:
    members, _ = _members(register_csv, _truth_of(truth_dir))
    truly = _column(truth_dir / "cme.csv", "true_child")
    flagged_true, flagged = set(), 0
    correct = firm = firm_correct = 0
    with open(cme_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            flagged += 1
            hit = members[r["child_id"]] & truly
            in_review = r.get("possible_match_in_review") == "Y"
            firm += not in_review
            if hit:
                correct += 1
                firm_correct += not in_review
                flagged_true |= hit
    # "Firm" flags are those with no undecided review pair to a child who is not flagged.
    return {"cme_flagged": flagged, "cme_true": len(truly),
            "cme_precision": round(correct / flagged, 4) if flagged else 1.0,
            "cme_recall": round(len(flagged_true) / len(truly), 4) if truly else 1.0,
            "cme_flagged_in_review": flagged - firm,
            "cme_precision_firm": round(firm_correct / firm, 4) if firm else 1.0,
            "cme_precision_in_review": round((correct - firm_correct) / (flagged - firm), 4) if flagged > firm else 1.0}


def cnis_scores(register_csv: Path, entries: list[tuple[str, str, str]], truth_dir: Path) -> dict:
    """The children-not-in-school registers against truth (truth/cnis.csv). entries: (child_id,
    la_code, basis) of every open entry. A true member is found when an entry of their authority
    holds them; found "by basis" when it also gives their basis. An entry is false when none of
    its children is a true member of that authority; those of a child on a roll full time are
    counted apart, by the entry's basis (a CME entry of such a child is a false CME flag: a
    record the linker left apart)."""
    members, _ = _members(register_csv, _truth_of(truth_dir))
    with open(truth_dir / "cnis.csv", newline="") as fh:
        truth = {r["true_child"]: (r["la_code"], r["basis"]) for r in csv.DictReader(fh)}
    with open(truth_dir / "children.csv", newline="") as fh:
        situation = {r["true_child"]: r["situation"] for r in csv.DictReader(fh)}
    found, by_basis, false, on_roll_by_basis = set(), set(), 0, Counter()
    for child_id, la, basis in entries:
        mine = members[child_id]
        hits = {t for t in mine if truth.get(t, ("", ""))[0] == la}
        found |= hits
        by_basis |= {t for t in hits if truth[t][1] == basis}
        if not hits:
            false += 1
            if mine and all(situation.get(t) in ("on_roll", "dual", "transfer", "rejoined") and t not in truth
                            for t in mine):
                on_roll_by_basis[basis] += 1
    per_basis = Counter(b for _la, b in truth.values())
    missed = Counter(truth[t][1] for t in set(truth) - found)
    return {"cnis_true_members": len(truth), "cnis_entries": len(entries),
            "cnis_recall": round(len(found) / len(truth), 4) if truth else 1.0,
            "cnis_recall_with_basis": round(len(by_basis) / len(truth), 4) if truth else 1.0,
            "cnis_precision": round((len(entries) - false) / len(entries), 4) if entries else 1.0,
            "cnis_missed_by_basis": dict(sorted(missed.items())), "cnis_true_by_basis": dict(sorted(per_basis.items())),
            "cnis_full_time_pupils_on_register_by_basis": dict(sorted(on_roll_by_basis.items()))}
