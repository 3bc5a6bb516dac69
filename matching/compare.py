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

# The standardised columns compare() reads (a partition ships these and no others).
COMPARED_COLUMNS = ["given", "given_canon", "middle", "family", "family_parts", "dob", "dob_swap", "dob_jan1", "postcode",
           "postcode_sector", "postcode_district", "postcode_area", "sex", "nhs_number", "upn", "former_upn"]


class _Coded:
    """The compared columns as integer codes, factorised once over the records (not per pair):
    columns compared with each other share one code space, so equal codes are equal strings.
    A pair's test is then integer work, and a string similarity is computed once per distinct
    pair of values (names repeat a great deal) rather than once per pair."""

    GROUPS = (("given", "family"), ("given_canon",), ("middle",), ("dob", "dob_swap"), ("postcode",),
              ("postcode_sector",), ("postcode_district",), ("postcode_area",), ("sex",), ("nhs_number",),
              ("upn", "former_upn"))

    def __init__(self, standardised: pd.DataFrame, pairs: np.ndarray):
        self.a, self.b = pairs[:, 0], pairs[:, 1]
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        self.empty: dict[str, int] = {}
        n = len(standardised)
        for group in self.GROUPS:
            if not all(c in standardised for c in group):
                continue
            joined = np.concatenate([standardised[c].to_numpy(dtype=object) for c in group])
            codes, uniques = pd.factorize(joined)
            uniques = np.asarray(uniques, dtype=object)
            empty = np.flatnonzero(uniques == "")
            for i, c in enumerate(group):
                self.codes[c] = codes[i * n:(i + 1) * n]
                self.values[c] = uniques
                self.empty[c] = int(empty[0]) if len(empty) else -2

    def left(self, col: str) -> np.ndarray:
        return self.codes[col][self.a]

    def right(self, col: str) -> np.ndarray:
        return self.codes[col][self.b]

    def same(self, col: str, other: str | None = None) -> np.ndarray:
        return self.left(col) == self.right(other or col)

    def blank(self, col: str, side: str = "either") -> np.ndarray:
        left, right = self.left(col) == self.empty[col], self.right(col) == self.empty[col]
        return {"left": left, "right": right, "either": left | right}[side]

    def by_value_pair(self, col: str, other: str, score, mask: np.ndarray | None = None,
                      dtype=np.float32) -> np.ndarray:
        """score(list of left values, list of right values) -> array, computed once per distinct
        pair of values and spread to every pair (only where mask, if given; 0 elsewhere)."""
        la, rb = self.left(col), self.right(other)
        out = np.zeros(len(la), dtype=dtype)
        idx = np.arange(len(la)) if mask is None else np.flatnonzero(mask)
        if not len(idx):
            return out
        width = np.int64(len(self.values[col]))
        key = la[idx].astype(np.int64) * width + rb[idx]
        distinct, inverse = np.unique(key, return_inverse=True)
        values = self.values[col]
        scored = np.asarray(score(list(values[distinct // width]), list(values[distinct % width])), dtype=dtype)
        out[idx] = scored[inverse]
        return out


def _jaro_winkler(a: list, b: list) -> np.ndarray:
    return cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1)


def _first_true(field: Comparison, conditions: list[tuple[int, object]], missing) -> np.ndarray:
    """The first level whose condition holds (the last level otherwise); MISSING where a value
    is missing."""
    codes = np.select([np.asarray(c, dtype=bool) for _, c in conditions], [code for code, _ in conditions],
                      len(field) - 1)
    return np.where(np.asarray(missing, dtype=bool), MISSING, codes)


def compare(standardised: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """One row per pair with an integer level per field (see COMPARISONS)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    coded = _Coded(standardised, pairs)
    out = pd.DataFrame(index=pd.RangeIndex(len(pairs)))
    out["forename"], out["surname"] = _names(standardised, coded)
    out["dob"] = _dob(standardised, coded)
    out["middle_name"] = _middle_name(coded)
    out["sex"] = _first_true(SEX, [(SEX.SAME, coded.same("sex"))], missing=coded.blank("sex"))
    out["postcode"] = _first_true(POSTCODE, [
        (POSTCODE.EXACT, coded.same("postcode")),
        (POSTCODE.SECTOR, coded.same("postcode_sector")),
        (POSTCODE.DISTRICT, coded.same("postcode_district")),
        (POSTCODE.AREA, coded.same("postcode_area")),
    ], missing=coded.blank("postcode"))
    out["nhs_number"] = _first_true(NHS_NUMBER, [(NHS_NUMBER.SAME, coded.same("nhs_number"))],
                                    missing=coded.blank("nhs_number"))
    upn_same = ((~coded.blank("upn", "left") & (coded.same("upn") | coded.same("upn", "former_upn")))
                | (~coded.blank("upn", "right") & coded.same("former_upn", "upn")))
    out["upn"] = _first_true(UPN, [(UPN.SAME, upn_same)], missing=coded.blank("upn") & ~upn_same)
    return out.astype(np.int8)


def _names(standardised: pd.DataFrame, coded: _Coded) -> tuple[np.ndarray, np.ndarray]:
    given_jw = coded.by_value_pair("given", "given", _jaro_winkler)
    given, middle = standardised["given"].to_numpy(dtype=object), standardised["middle"].to_numpy(dtype=object)
    a, b = coded.a, coded.b
    # Known by a middle name: only asked where the names are not already close.
    ask = np.flatnonzero((given_jw < 0.80) & ~(coded.blank("middle", "left") & coded.blank("middle", "right")))
    in_middle = np.zeros(len(a), dtype=bool)
    in_middle[ask] = [bool(x and x in ym.split()) or bool(y and y in xm.split())
                      for x, y, xm, ym in zip(given[a[ask]], given[b[ask]], middle[a[ask]], middle[b[ask]])]
    forename = _first_true(FORENAME, [
        (FORENAME.EXACT, coded.same("given")),
        (FORENAME.DIMINUTIVE_OR_SWAPPED, coded.same("given_canon")),
        (FORENAME.CLOSE, given_jw >= 0.92),
        (FORENAME.LIKE_OR_MIDDLE, (given_jw >= 0.80) | in_middle),
    ], missing=coded.blank("given"))

    family_same = coded.same("family")
    family_jw = coded.by_value_pair("family", "family", _jaro_winkler)
    parts = standardised["family_parts"].to_numpy(dtype=object)
    # Double-barrelled and changed surnames: only asked where the surnames differ.
    differ = np.flatnonzero(~family_same)
    shared = np.zeros(len(a), dtype=bool)
    shared[differ] = [bool(x & y) for x, y in zip(parts[a[differ]], parts[b[differ]])]
    surname = _first_true(SURNAME, [
        (SURNAME.EXACT, family_same),
        (SURNAME.SHARED_PART_OR_SWAPPED, shared),
        (SURNAME.CLOSE, family_jw >= 0.92),
        (SURNAME.LIKE, family_jw >= 0.80),
    ], missing=coded.blank("family"))

    # Given name and surname swapped between the two records: both names agree, crosswise.
    maybe = (forename >= FORENAME.CLOSE) & ~coded.blank("given", "left") & ~coded.blank("family", "left")
    cross = np.minimum(coded.by_value_pair("given", "family", _jaro_winkler, maybe),
                       coded.by_value_pair("family", "given", _jaro_winkler, maybe))
    swapped = maybe & (cross >= 0.9)
    forename = np.where(swapped, FORENAME.DIMINUTIVE_OR_SWAPPED, forename)
    surname = np.where(swapped, SURNAME.SHARED_PART_OR_SWAPPED, surname)
    return forename, surname


def _dob(standardised: pd.DataFrame, coded: _Coded) -> np.ndarray:
    same = coded.same("dob")
    swapped = ~coded.blank("dob_swap", "left") & coded.same("dob_swap", "dob")
    one_off = coded.by_value_pair("dob", "dob", lambda x, y: cpdist(x, y, scorer=Levenshtein.distance, workers=-1) <= 1,
                                  ~same, dtype=bool) | same
    # A day or month typed wrong; a year counts only when one keystroke apart (siblings differ by years).
    values = coded.values["dob"]
    year, month, day = (np.array([v[s] for v in values], dtype=object) for s in (slice(0, 4), slice(4, 6), slice(6, None)))
    la, rb = coded.left("dob"), coded.right("dob")
    same_year = year[la] == year[rb]
    parts_differ = same_year & ((month[la] == month[rb]) != (day[la] == day[rb]))
    jan1 = standardised["dob_jan1"].to_numpy(dtype=bool)[coded.a]
    return _first_true(DOB, [
        (DOB.EXACT, same & ~jan1),
        (DOB.EXACT_1_JANUARY, same),
        (DOB.DAY_MONTH_SWAPPED, swapped),
        (DOB.ONE_TYPO, one_off | parts_differ),
    ], missing=coded.blank("dob"))


def _middle_name(coded: _Coded) -> np.ndarray:
    both = ~coded.blank("middle")
    shared = coded.by_value_pair("middle", "middle", lambda xs, ys: [bool(set(x.split()) & set(y.split()))
                                                                       for x, y in zip(xs, ys)], both, dtype=bool)
    return _first_true(MIDDLE_NAME, [(MIDDLE_NAME.SHARED, shared)], missing=~both)
