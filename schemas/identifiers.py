"""Vectorised checks and normalisers for the identifiers the extract contract names.

Pure functions over pandas Series of strings ('' = not known). They never log or raise on
a value, so a bad identifier can be quarantined without its content travelling anywhere.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # DfE check alphabet: no I, O or S
_UPN_SHAPE = re.compile(r"\A[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]\Z")
_POSTCODE_SHAPE = r"\A[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}\Z"
PSEUDO_POSTCODE_PREFIX = "ZZ99"
LAESTAB_SHAPE = r"\A[0-9]{7}\Z"
LA_CODE_SHAPE = r"\A[0-9]{3}\Z"
ODS_SHAPE = r"\A[A-Z0-9]{3,6}\Z"


# Each ASCII code's value in the check: a digit its number, a letter its place in UPN_LETTERS.
_UPN_VALUE = np.zeros(256, dtype=np.int64)
_UPN_VALUE[[ord(c) for c in "0123456789"]] = np.arange(10)
_UPN_VALUE[[ord(c) for c in UPN_LETTERS]] = np.arange(len(UPN_LETTERS))
_UPN_LETTER_CODES = np.array([ord(c) for c in UPN_LETTERS], dtype=np.uint8)


def upn_check_letter(body: str) -> str:
    """Check letter for the last 12 characters of a UPN (positions 2 to 13)."""
    total = 0
    for weight, ch in enumerate(body, start=2):
        total += (int(ch) if ch.isdigit() else UPN_LETTERS.index(ch)) * weight
    return UPN_LETTERS[total % 23]


def upn_valid(values: pd.Series) -> pd.Series:
    """True where the value is a well-formed UPN whose check letter is right."""
    s = values.fillna("").astype(str).str.strip().str.upper()
    shape = s.str.match(_UPN_SHAPE.pattern).fillna(False).astype(bool)
    out = pd.Series(False, index=s.index)
    if not shape.any():
        return out
    # Every well-formed UPN at once: 13 ASCII characters each, the check letter first.
    chars = np.frombuffer("".join(s[shape]).encode("ascii"), dtype=np.uint8).reshape(-1, 13)
    values = _UPN_VALUE[chars[:, 1:]]
    total = values @ np.arange(2, 14)
    expected = _UPN_LETTER_CODES[total % 23]
    out[shape] = expected == chars[:, 0]
    return out


def nhs_digits(values: pd.Series) -> pd.Series:
    """NHS numbers with the 3-3-4 spaces removed ('' where not 10 digits after that)."""
    s = values.fillna("").astype(str).str.strip()
    spaced = s.str.fullmatch(r"[0-9]{3} [0-9]{3} [0-9]{4}")
    s = s.where(~spaced, s.str.replace(" ", "", regex=False))
    return s.where(s.str.fullmatch(r"[0-9]{10}"), "")


def nhs_valid(values: pd.Series) -> pd.Series:
    """True where the value is a 10-digit NHS number with a right modulus-11 check digit."""
    d = nhs_digits(values)
    ok = d != ""
    out = pd.Series(False, index=values.index)
    if not ok.any():
        return out
    digits = np.array([[int(c) for c in v] for v in d[ok]], dtype=np.int64)
    weights = np.arange(10, 1, -1)
    check = 11 - (digits[:, :9] @ weights) % 11
    check = np.where(check == 11, 0, check)
    good = (check != 10) & (check == digits[:, 9])
    # All-same-digit numbers pass modulus 11 but are never issued.
    good &= ~(digits == digits[:, :1]).all(axis=1)
    out[ok] = good
    return out


def nhs_check_digit(first9: str) -> int | None:
    """Check digit for nine leading digits, or None where no valid number exists."""
    total = sum(int(c) * w for c, w in zip(first9, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def per_distinct(values: pd.Series, fn):
    """fn over each distinct value once (a Series of the distinct values in; a Series, or a
    frame with a row for each, out), spread back to every row of values: a register's postcodes
    and birth dates repeat (siblings, a child's several records), and work per value is what
    costs. A missing value gets fn's answer for None."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = fn(pd.Series(uniques, dtype=values.dtype if len(uniques) else object))
    if (codes < 0).any():  # code -1 (no value) takes the row added last
        table = pd.concat([table, fn(pd.Series([None], dtype=object))], ignore_index=True)
    return table.iloc[codes].set_axis(values.index)


def _per_distinct(values: pd.Series, fn) -> pd.Series:
    """per_distinct over values as text (missing as "")."""
    return per_distinct(values.fillna("").astype(str), fn).astype(object)


def postcode_normalise(values: pd.Series) -> pd.Series:
    """'OUTWARD INWARD' upper case, or '' where the value is not shaped like a UK postcode."""
    def each(u: pd.Series) -> pd.Series:
        s = u.str.upper().str.replace(r"\s+", "", regex=True)
        good = s.str.match(_POSTCODE_SHAPE)
        return (s.str[:-3] + " " + s.str[-3:]).where(good, "")
    return _per_distinct(values, each)


def postcode_sector(normalised: pd.Series) -> pd.Series:
    """'OUT I' of a normalised postcode ('OUTWARD INWARD'); '' where there is none."""
    return _per_distinct(normalised, lambda u: u.str[:-2].where(u != "", ""))


def postcode_district(normalised: pd.Series) -> pd.Series:
    """The outward code of a normalised postcode; '' where there is none."""
    return _per_distinct(normalised, lambda u: u.str.split(" ").str[0].fillna(""))


def postcode_valid(values: pd.Series) -> pd.Series:
    raw = values.fillna("").astype(str).str.strip()
    return (raw == "") | (postcode_normalise(values) != "")


def is_pseudo_postcode(normalised: pd.Series) -> pd.Series:
    """NHS pseudo-postcodes (ZZ99 ...) are valid but never evidence of where a child lives."""
    return normalised.str.startswith(PSEUDO_POSTCODE_PREFIX)
