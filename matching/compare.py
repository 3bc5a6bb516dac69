"""Graded comparison levels per field for candidate pairs, as named objects (as Splink's
comparison levels are): each field's levels in one place, strongest agreement first, each with
its name and the label an analyst reads; each field's conditions beside them, in level order.
MISSING (-1) means a value is missing and the field gives no evidence either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

MISSING = -1


@dataclass(frozen=True)
class Level:
    field: str
    code: int  # its position: 0 is the strongest agreement
    name: str
    label: str


class Comparison:
    """One field's levels. `FORENAME.DIFFERENT` is the level's code, for the vectorised tests;
    `FORENAME.levels` the Level objects; `FORENAME.label(code)` what an analyst reads."""

    def __init__(self, field: str, levels: list[tuple[str, str]]):
        self.field = field
        self.levels = tuple(Level(field, i, name, label) for i, (name, label) in enumerate(levels))
        for level in self.levels:
            setattr(self, level.name, level.code)

    def __len__(self) -> int:
        return len(self.levels)

    def __iter__(self):
        return iter(self.levels)

    def label(self, code: int) -> str:
        return "missing" if code == MISSING else self.levels[code].label


FORENAME = Comparison("forename", [
    ("EXACT", "exact"),
    ("DIMINUTIVE_OR_SWAPPED", "same name by the diminutive table, or swapped with the surname"),
    ("CLOSE", "Jaro-Winkler >= 0.92"),
    ("LIKE_OR_MIDDLE", "Jaro-Winkler >= 0.80 or a middle name"),
    ("DIFFERENT", "different"),
])
SURNAME = Comparison("surname", [
    ("EXACT", "exact"),
    ("SHARED_PART_OR_SWAPPED", "shares a surname part, or swapped with the given name"),
    ("CLOSE", "Jaro-Winkler >= 0.92"),
    ("LIKE", "Jaro-Winkler >= 0.80"),
    ("DIFFERENT", "different"),
])
DOB = Comparison("dob", [
    ("EXACT", "exact"),
    ("EXACT_1_JANUARY", "exact but 1 January (often a guess)"),
    ("DAY_MONTH_SWAPPED", "day and month swapped"),
    ("ONE_TYPO", "one keystroke or one of day/month differs"),
    ("DIFFERENT", "different"),
])
MIDDLE_NAME = Comparison("middle_name", [
    ("SHARED", "a middle name in common"),
    ("DIFFERENT", "different"),
])
SEX = Comparison("sex", [
    ("SAME", "same"),
    ("DIFFERENT", "different"),
])
POSTCODE = Comparison("postcode", [
    ("EXACT", "exact"),
    ("SECTOR", "same sector"),
    ("DISTRICT", "same district"),
    ("AREA", "same area (most moves are local)"),
    ("DIFFERENT", "different"),
])
NHS_NUMBER = Comparison("nhs_number", [
    ("SAME", "same"),
    ("DIFFERENT", "different"),
])
UPN = Comparison("upn", [
    ("SAME", "same (or former UPN)"),
    ("DIFFERENT", "different"),
])

COMPARISONS = {c.field: c for c in (FORENAME, SURNAME, DOB, MIDDLE_NAME, SEX, POSTCODE, NHS_NUMBER, UPN)}
# Each field's level labels in order (the review explanation and the saved model use them).
LEVELS: dict[str, list[str]] = {name: [lv.label for lv in c] for name, c in COMPARISONS.items()}

_NEEDED = ["given", "given_canon", "middle", "family", "family_parts", "dob", "dob_swap", "dob_jan1", "postcode",
           "postcode_sector", "postcode_district", "postcode_area", "sex", "nhs_number", "upn", "former_upn"]


def _jaro_winkler(a: pd.Series, b: pd.Series) -> np.ndarray:
    return cpdist(a.tolist(), b.tolist(), scorer=JaroWinkler.normalized_similarity, workers=-1)


def _where(mask: np.ndarray, test) -> np.ndarray:
    """Evaluate a per-pair Python test only where a vectorised pre-test says it can matter."""
    out = np.zeros(len(mask), dtype=bool)
    idx = np.flatnonzero(mask)
    if len(idx):
        out[idx] = test(idx)
    return out


def _first_true(field: Comparison, conditions: list[tuple[int, object]], missing) -> np.ndarray:
    """The first level whose condition holds (the last level otherwise); MISSING where a value
    is missing."""
    codes = np.select([np.asarray(c, dtype=bool) for _, c in conditions], [code for code, _ in conditions],
                      len(field) - 1)
    return np.where(np.asarray(missing, dtype=bool), MISSING, codes)


def compare(standardised: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """One row per pair with an integer level per field (see COMPARISONS)."""
    cols = [c for c in _NEEDED if c in standardised]
    left = standardised[cols].iloc[pairs[:, 0]].reset_index(drop=True)
    right = standardised[cols].iloc[pairs[:, 1]].reset_index(drop=True)
    out = pd.DataFrame(index=left.index)
    out["forename"], out["surname"] = _names(left, right)
    out["dob"] = _dob(left, right)
    out["middle_name"] = _middle_name(left, right)
    out["sex"] = _first_true(SEX, [(SEX.SAME, left["sex"] == right["sex"])],
                             missing=(left["sex"] == "") | (right["sex"] == ""))
    out["postcode"] = _first_true(POSTCODE, [
        (POSTCODE.EXACT, left["postcode"] == right["postcode"]),
        (POSTCODE.SECTOR, left["postcode_sector"] == right["postcode_sector"]),
        (POSTCODE.DISTRICT, left["postcode_district"] == right["postcode_district"]),
        (POSTCODE.AREA, left["postcode_area"] == right["postcode_area"]),
    ], missing=(left["postcode"] == "") | (right["postcode"] == ""))
    out["nhs_number"] = _first_true(NHS_NUMBER, [(NHS_NUMBER.SAME, left["nhs_number"] == right["nhs_number"])],
                                    missing=(left["nhs_number"] == "") | (right["nhs_number"] == ""))
    upn_same = ((left["upn"] != "") & ((left["upn"] == right["upn"]) | (left["upn"] == right["former_upn"]))) | \
               ((right["upn"] != "") & (right["upn"] == left["former_upn"]))
    out["upn"] = _first_true(UPN, [(UPN.SAME, upn_same)],
                             missing=((left["upn"] == "") | (right["upn"] == "")) & ~upn_same)
    return out.astype(np.int8)


def _names(left: pd.DataFrame, right: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    given_jw = _jaro_winkler(left["given"], right["given"])
    a_given, b_given = left["given"].to_numpy(), right["given"].to_numpy()
    a_mid, b_mid = left["middle"].to_numpy(), right["middle"].to_numpy()
    # Known by a middle name: only asked where the names are not already close.
    in_middle = _where((given_jw < 0.80) & ((a_mid != "") | (b_mid != "")),
                       lambda i: [bool(a and a in bm.split()) or bool(b and b in am.split())
                                  for a, b, am, bm in zip(a_given[i], b_given[i], a_mid[i], b_mid[i])])
    forename = _first_true(FORENAME, [
        (FORENAME.EXACT, left["given"] == right["given"]),
        (FORENAME.DIMINUTIVE_OR_SWAPPED, left["given_canon"] == right["given_canon"]),
        (FORENAME.CLOSE, given_jw >= 0.92),
        (FORENAME.LIKE_OR_MIDDLE, (given_jw >= 0.80) | in_middle),
    ], missing=(left["given"] == "") | (right["given"] == ""))

    family_jw = _jaro_winkler(left["family"], right["family"])
    a_parts, b_parts = left["family_parts"].to_numpy(), right["family_parts"].to_numpy()
    # Double-barrelled and changed surnames: only asked where the surnames differ.
    shared = _where((left["family"] != right["family"]).to_numpy(),
                    lambda i: [bool(x & y) for x, y in zip(a_parts[i], b_parts[i])])
    surname = _first_true(SURNAME, [
        (SURNAME.EXACT, left["family"] == right["family"]),
        (SURNAME.SHARED_PART_OR_SWAPPED, shared),
        (SURNAME.CLOSE, family_jw >= 0.92),
        (SURNAME.LIKE, family_jw >= 0.80),
    ], missing=(left["family"] == "") | (right["family"] == ""))

    # Given name and surname swapped between the two records: both names agree, crosswise.
    cross = np.minimum(_jaro_winkler(left["given"], right["family"]), _jaro_winkler(left["family"], right["given"]))
    swapped = ((left["given"] != "") & (left["family"] != "") & (cross >= 0.9)).to_numpy() & (forename >= FORENAME.CLOSE)
    forename = np.where(swapped, FORENAME.DIMINUTIVE_OR_SWAPPED, forename)
    surname = np.where(swapped, SURNAME.SHARED_PART_OR_SWAPPED, surname)
    return forename, surname


def _dob(left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    same = left["dob"] == right["dob"]
    swapped = (left["dob_swap"] != "") & (left["dob_swap"] == right["dob"])
    one_off = cpdist(left["dob"].tolist(), right["dob"].tolist(), scorer=Levenshtein.distance, workers=-1) <= 1
    # A day or month typed wrong; a year counts only when one keystroke apart (siblings differ by years).
    same_year = left["dob"].str[:4] == right["dob"].str[:4]
    parts_differ = same_year & ((left["dob"].str[4:6] == right["dob"].str[4:6]) !=
                                (left["dob"].str[6:] == right["dob"].str[6:]))
    return _first_true(DOB, [
        (DOB.EXACT, same & ~left["dob_jan1"]),
        (DOB.EXACT_1_JANUARY, same),
        (DOB.DAY_MONTH_SWAPPED, swapped),
        (DOB.ONE_TYPO, one_off | parts_differ),
    ], missing=(left["dob"] == "") | (right["dob"] == ""))


def _middle_name(left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    a_mid, b_mid = left["middle"].to_numpy(), right["middle"].to_numpy()
    both = (a_mid != "") & (b_mid != "")
    shared = _where(both, lambda i: [bool(set(x.split()) & set(y.split())) for x, y in zip(a_mid[i], b_mid[i])])
    return _first_true(MIDDLE_NAME, [(MIDDLE_NAME.SHARED, shared)], missing=~both)
