"""Validating a read extract against the contract with Pandera: every row fault found lazily
and given its reason; valid rows come back with dates parsed. Reasons never quote a cell."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa

from schemas import identifiers as ids
from schemas.contract import FEED_COLUMNS, FEEDS, REASON_REQUIRED_WITH, FileRejected, RowFault
from schemas.reader import ParsedExtract

_NAME_PATTERN = r"\A(?:[^\W\d_]|[ '\-\u2019])+\Z"


def require_some_valid_rows(rows_total: int, rows_accepted: int) -> None:
    """A file none of whose rows passed replaces nothing: it would empty its provider's roll."""
    if rows_total and not rows_accepted:
        raise FileRejected("no row passed validation, so the file replaces nothing; see the rejected rows")


def _parse_dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.where(s != ""), format="%Y-%m-%d", errors="coerce")


def _check(fn, name: str, reason: str) -> pa.Check:
    return pa.Check(fn, name=name, error=reason)


def _each_distinct(fn):
    """A row-by-row test run once per distinct value (names, dates and postcodes repeat down a
    batch of extracts), its answers spread back to the rows."""
    return lambda s: ids.per_distinct(s, lambda distinct: pd.Series(np.asarray(fn(distinct), dtype=bool)))


def _column_checks(column: str, required: bool, kind: str, codes: tuple[str, ...]) -> list[pa.Check]:
    checks = []
    if required:
        checks.append(_check(lambda s: s != "", "required", "a value is required"))
    if kind == "name":
        checks.append(_check(_each_distinct(lambda s: (s == "") | s.str.match(_NAME_PATTERN)), "name_chars",
                             "holds characters other than letters, spaces, hyphens and apostrophes"))
    elif kind in ("date", "dob"):
        checks.append(_check(_each_distinct(lambda s: (s == "") | _parse_dates(s).notna()), "date",
                             "is not a real date in YYYY-MM-DD form"))
    elif kind == "code":
        allowed = set(codes)
        checks.append(_check(lambda s: (s == "") | s.isin(allowed), "code",
                             f"is not one of the codes {'/'.join(codes)}"))
    elif kind == "upn":
        checks.append(_check(_each_distinct(lambda s: (s == "") | ids.upn_valid(s)), "upn",
                             "is not a valid UPN (shape or check letter)"))
    elif kind == "nhs":
        checks.append(_check(_each_distinct(lambda s: (s == "") | ids.nhs_valid(s)), "nhs",
                             "is not a valid NHS number (10 digits, modulus-11 check)"))
    elif kind == "postcode":
        checks.append(_check(_each_distinct(ids.postcode_valid), "postcode", "is not shaped like a UK postcode"))
    elif kind == "laestab":
        checks.append(_check(_each_distinct(lambda s: (s == "") | s.str.match(ids.LAESTAB_SHAPE)), "laestab",
                             "is not a 7-digit LAESTAB"))
    elif kind == "hours":
        checks.append(_check(_each_distinct(_hours_ok), "hours",
                             "is not a number of hours a week from 0 to 168, like 12 or 7.5"))
    elif kind == "la_code":
        checks.append(_check(_each_distinct(lambda s: (s == "") | s.str.match(ids.LA_CODE_SHAPE)), "la_code",
                             "is not a 3-digit LA code"))
    return checks


def _hours_ok(s: pd.Series) -> pd.Series:
    shaped = s.str.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")
    return (s == "") | (shaped & (pd.to_numeric(s.where(shaped, "0"), errors="coerce") <= 168))


def feed_schema(feed: str) -> pa.DataFrameSchema:
    """The Pandera schema for one feed, built from the contract table above."""
    # Every cell is text: the reader (schemas.reader) makes each one a str. The column's dtype is
    # checked as object, not str: Pandera's str check tests every cell in Python again, and it
    # was half of validation's time.
    columns = {
        name: pa.Column(object, checks=_column_checks(name, col.required, col.kind, col.codes), nullable=False)
        for name, col in FEED_COLUMNS[feed].items()
    }
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name=f"{feed}_extract")


_SCHEMAS = {feed: feed_schema(feed) for feed in FEEDS}
_UPPER_KINDS = {"code", "upn", "postcode"}


def _cross_field_faults(feed: str, frame: pd.DataFrame, dob: pd.Series, limit: np.ndarray) -> list[tuple[int, str, str]]:
    """(position, column, reason) of faults between fields; dob: the parsed birth dates, limit:
    each row's extract date (datetime64)."""
    faults: list[tuple[int, str, str]] = []
    parsed = dob.to_numpy()
    known = dob.notna().to_numpy()
    faults += [(int(p), "dob", "is after the extract date") for p in np.flatnonzero(known & (parsed > limit))]
    faults += [(int(p), "dob", "is before 1990: not a child's birth date")
               for p in np.flatnonzero(known & (parsed < np.datetime64("1990-01-01")))]
    for given_col, needed_col in REASON_REQUIRED_WITH.get(feed, ()):
        bad = ((frame[given_col] != "") & (frame[needed_col] == "")).to_numpy()
        faults += [(int(p), needed_col, f"is required when {given_col} is given") for p in np.flatnonzero(bad)]
    return faults


def validate_extract(parsed: ParsedExtract, extract_date: date | None = None) -> tuple[pd.DataFrame, list[RowFault]]:
    """Validate lazily; return (valid rows with dates parsed, every row fault with its reason)."""
    return validate_extracts([(parsed, extract_date)])[0]


def validate_extracts(parts: list[tuple[ParsedExtract, date | None]]) -> list[tuple[pd.DataFrame, list[RowFault]]]:
    """validate_extract for many extracts (or chunks) at once, each with its extract date: one
    Pandera pass per feed over them all, and the cross-field tests and date parsing once over
    the same rows, since a pass costs mostly per call (a small school's extract cost as much as
    fifty times its rows). Each result is what validate_extract gives."""
    faults: list[list[RowFault]] = [list(parsed.faults) for parsed, _ in parts]
    results: list = [None] * len(parts)
    for feed in {parsed.feed for parsed, _ in parts}:
        mine = [i for i, (parsed, _) in enumerate(parts) if parsed.feed == feed]
        frames = [parts[i][0].frame for i in mine]
        combined = _uppercased(feed, pd.concat(frames, ignore_index=True))
        sizes = [len(f) for f in frames]
        owner = np.repeat(mine, sizes)
        row_of = np.concatenate([f.index.to_numpy() for f in frames]) if mine else np.empty(0, dtype=int)
        found: dict[int, list[tuple[int, str, str]]] = {i: [] for i in mine}  # part -> (position, column, reason)
        try:
            _SCHEMAS[feed].validate(combined, lazy=True)
        except pa.errors.SchemaErrors as err:
            for rec in err.failure_cases.itertuples(index=False):
                if rec.index is None or pd.isna(rec.index) or rec.column is None:
                    continue
                found[int(owner[int(rec.index)])].append((int(rec.index), str(rec.column), _reason_text(rec.check)))
        dates = {c: _parse_dates(combined[c]) for c, col in FEED_COLUMNS[feed].items() if col.kind in ("date", "dob")}
        limit = np.repeat(np.array([np.datetime64(parts[i][1] or date.today(), "ns") for i in mine]), sizes)
        for position, column, reason in _cross_field_faults(feed, combined, dates["dob"], limit):
            found[int(owner[position])].append((position, column, reason))
        starts = np.cumsum([0] + sizes)
        for k, i in enumerate(mine):
            original = parts[i][0].frame
            faults[i] += [RowFault(int(row_of[p]), c, why, original.at[int(row_of[p]), c] if c else "")
                          for p, c, why in found[i]]
            bad = {f.row for f in faults[i]}
            part = combined.iloc[starts[k]:starts[k + 1]].set_axis(original.index)
            keep = [j for j, row in enumerate(original.index) if row not in bad]
            valid = part.iloc[keep].copy()
            for c, parsed in dates.items():
                valid[c] = parsed.iloc[starts[k]:starts[k + 1]].iloc[keep].dt.date.to_numpy()
            faults[i].sort(key=lambda f: (f.row, f.column))
            results[i] = (valid, faults[i])
    return results


def _uppercased(feed: str, frame: pd.DataFrame) -> pd.DataFrame:
    for c, col in FEED_COLUMNS[feed].items():
        if col.kind in _UPPER_KINDS:
            frame[c] = frame[c].str.upper()
    return frame


def _reason_text(check) -> str:
    # Pandera reports a custom check by its error text, which is our reason wording.
    return str(check)


