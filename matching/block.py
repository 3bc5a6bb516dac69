"""Candidate pairs from several blocking rules, so that a true match lost by one rule (a typo
in the birth date, a changed surname) is found by another while pairs stay few.

Blocks are built from sorted group codes in NumPy; recordlinkage's Block indexer does the same
join through pandas merges and cost a large share of run time on a million records.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# name -> (left key columns, right key columns); a rule whose sides differ joins a swapped form.
BLOCKING_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dob+given_initial": (("dob", "given_initial"), ("dob", "given_initial")),
    "dob+family_prefix": (("dob", "family_first2"), ("dob", "family_first2")),
    "dob_swapped+family_prefix": (("dob_swap", "family_first2"), ("dob", "family_first2")),
    # A typo in one part of the birth date: keep the other two parts and the names.
    "year_month+family+given_initial": (("dob_ym", "family", "given_initial"), ("dob_ym", "family", "given_initial")),
    "year_day+family+given_initial": (("dob_yd", "family", "given_initial"), ("dob_yd", "family", "given_initial")),
    "month_day+given+family": (("dob_md", "given_canon", "family"), ("dob_md", "given_canon", "family")),
    # A changed or misspelt surname with a day typo.
    "year_month+given+family_initial": (("dob_ym", "given_canon", "family_initial"), ("dob_ym", "given_canon", "family_initial")),
    "postcode+given_initial": (("postcode", "given_initial"), ("postcode", "given_initial")),
    # Names swapped, changed or garbled: the same birth date at the same address.
    "dob+postcode": (("dob", "postcode"), ("dob", "postcode")),
    "nhs_number": (("nhs_number",), ("nhs_number",)),
    "upn": (("upn",), ("upn",)),
    "former_upn": (("former_upn",), ("upn",)),
    # A shielded child's record meets every record born the same month with the same surname
    # initial and sex: a GP record mistyped in several fields at once (surname, given name, a
    # birth-date day, postcode) is found by no rule above, and it would carry the child's
    # address out unshielded. The shield net (matching.link.shielded_possibles) then holds
    # any that could be the child for review.
    # A nickname mistyped: "Livyv" is no known name, so its canonical initial is its own (l) while
    # Livvy's is Olivia's (o); these rules take the initial as written.
    "dob+given_written_initial": (("dob", "given_written_initial"), ("dob", "given_written_initial")),
    # A one-letter surname slip with a day slip: the year, month, surname prefix and initial as written.
    "year_month+family_prefix+given_written_initial+sex": (("dob_ym", "family_first2", "given_written_initial", "sex"),
                                                           ("dob_ym", "family_first2", "given_written_initial", "sex")),
    # A changed surname with a day slip: the given and middle names are the child's own.
    "year_month+given+middle": (("dob_ym", "given_canon", "middle"), ("dob_ym", "given_canon", "middle")),
    # Day and month swapped with a slipped or changed surname: the given name and the swapped date.
    "dob_swapped+given": (("dob_swap", "given_canon"), ("dob", "given_canon")),
    "shielded:year_month+family_initial+sex": (("shield_ym", "family_initial", "sex"),
                                               ("dob_ym", "family_initial", "sex")),
    # The same with the shielded record's day read as the month: a GP record whose birth date
    # has day and month swapped on top of the rest.
    "shielded:year_day_as_month+family_initial+sex": (("shield_yd_as_ym", "family_initial", "sex"),
                                                      ("dob_ym", "family_initial", "sex")),
}
MAX_BLOCK = 400  # a block larger than this says the key is too common to be evidence
# A rule whose one side is rare may meet larger blocks: only shielded records pair through it.
BLOCK_CAPS = {name: 1000 for name in BLOCKING_RULES if name.startswith("shielded:")}


def block_cap(rule: str) -> int:
    """The largest block a rule pairs within (MAX_BLOCK unless BLOCK_CAPS says otherwise)."""
    return BLOCK_CAPS.get(rule, MAX_BLOCK)


def _keys(standardised: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    parts = [standardised[c].astype(str) for c in cols]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    empty = np.zeros(len(standardised), dtype=bool)
    for p in parts:
        empty |= (p == "").to_numpy()
    return key.where(~empty, None)


def pairs_within(codes: np.ndarray, cap: int) -> np.ndarray:
    """All i<j pairs of row positions that share a code (codes < 0 are skipped), in blocks of
    at most cap records (block_cap of the rule)."""
    keep = np.flatnonzero(codes >= 0)
    order = keep[np.argsort(codes[keep], kind="stable")]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    out = []
    for size in range(2, cap + 1):
        sel = starts[sizes == size]
        if not len(sel):
            continue
        iu, ju = np.triu_indices(size, k=1)
        a = order[sel[:, None] + iu[None, :]].ravel()
        b = order[sel[:, None] + ju[None, :]].ravel()
        out.append(np.stack([a, b], axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


def _pairs_across(left: np.ndarray, right: np.ndarray, cap: int) -> np.ndarray:
    """(i, j) where record i's left key is record j's right key (0: no key), leaving out right
    blocks of more than cap records."""
    lefts = pd.DataFrame({"k": left, "i": np.arange(len(left))})[left != 0]
    rights = pd.DataFrame({"k": right, "j": np.arange(len(right))})[right != 0]
    counts = rights["k"].value_counts()
    rights = rights[rights["k"].map(counts).to_numpy() <= cap]
    return lefts.merge(rights, on="k")[["i", "j"]].to_numpy()


def _with_parts(standardised: pd.DataFrame) -> pd.DataFrame:
    dob = standardised["dob"]
    shielded = standardised["shielded"].to_numpy(dtype=bool)
    swapped = standardised["dob_swap"]  # "" where the day could not be a month
    return standardised.assign(given_initial=standardised["given_canon"].str[:1],
                               given_written_initial=standardised["given"].str[:1],
                               family_initial=standardised["family"].str[:1],
                               family_first2=standardised["family"].str[:2],
                               dob_ym=dob.str[:6], dob_yd=dob.str[:4] + dob.str[6:], dob_md=dob.str[4:],
                               shield_ym=dob.str[:6].where(shielded, ""),
                               shield_yd_as_ym=swapped.str[:6].where(shielded & (swapped != dob).to_numpy(), ""))


def key_columns(rules: dict | None = None) -> list[str]:
    """The names of block_keys' columns: one per rule, two (left, right) for a rule that joins
    a swapped form."""
    out = []
    for name, (lcols, rcols) in (rules or BLOCKING_RULES).items():
        out += [name] if lcols == rcols else [f"{name}<", f"{name}>"]
    return out


def block_keys(standardised: pd.DataFrame, rules: dict | None = None) -> pd.DataFrame:
    """Each record's blocking keys as 63-bit hashes (0 where a key part is empty), one column
    per key_columns name: what a register keeps so a new record finds its candidates without
    reading every record (pandas' hash is stable from run to run)."""
    parts = _with_parts(standardised)
    out = pd.DataFrame(index=standardised.index)
    for name, (lcols, rcols) in (rules or BLOCKING_RULES).items():
        sides = [(name, lcols)] if lcols == rcols else [(f"{name}<", lcols), (f"{name}>", rcols)]
        for col, cols in sides:
            key = _keys(parts, cols)
            hashed = pd.util.hash_pandas_object(key.fillna(""), index=False).to_numpy() >> np.uint64(1)
            out[col] = np.where(key.isna().to_numpy(), 0, hashed.astype(np.int64))
    return out


def unique_pairs(pairs: np.ndarray, return_index: bool = False):
    """Each pair of row positions once, in lexicographic order (what np.unique(axis=0) gives,
    through one integer per pair, which sorts many times faster)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    width = np.int64(pairs[:, 1].max() + 1) if len(pairs) else np.int64(1)
    codes, first = np.unique(pairs[:, 0] * width + pairs[:, 1], return_index=True)
    out = np.stack([codes // width, codes % width], axis=1)
    return (out, first) if return_index else out


def candidate_pairs(standardised: pd.DataFrame, rules: dict | None = None,
                    keys: pd.DataFrame | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Row-position pairs (i < j) found by any rule, and how many each rule found. The blocks
    are made from block_keys' hashes (given as keys when already made, as a full link keeps
    them for its index): equal keys hash equally, and two different keys sharing a 63-bit hash
    would only add a pair to compare."""
    rules = rules or BLOCKING_RULES
    keys = block_keys(standardised, rules) if keys is None else keys
    found, per_rule = [], {}
    for name, (lcols, rcols) in rules.items():
        if lcols == rcols:
            k = keys[name].to_numpy(dtype=np.int64)
            pairs = pairs_within(np.where(k != 0, pd.factorize(k)[0], -1), block_cap(name))
        else:
            pairs = _pairs_across(keys[f"{name}<"].to_numpy(dtype=np.int64), keys[f"{name}>"].to_numpy(dtype=np.int64),
                                  block_cap(name))
        pairs = np.sort(pairs, axis=1)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        per_rule[name] = len(pairs)
        found.append(pairs)
    allp = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    allp = unique_pairs(allp)
    return allp, per_rule
