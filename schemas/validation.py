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


def _column_checks(column: str, required: bool, kind: str, codes: tuple[str, ...]) -> list[pa.Check]:
    checks = []
    if required:
        checks.append(_check(lambda s: s != "", "required", "a value is required"))
    if kind == "name":
        checks.append(_check(lambda s: (s == "") | s.str.match(_NAME_PATTERN), "name_chars",
                             "holds characters other than letters, spaces, hyphens and apostrophes"))
    elif kind in ("date", "dob"):
        checks.append(_check(lambda s: (s == "") | _parse_dates(s).notna(), "date",
                             "is not a real date in YYYY-MM-DD form"))
    elif kind == "code":
        allowed = set(codes)
        checks.append(_check(lambda s: (s == "") | s.isin(allowed), "code",
                             f"is not one of the codes {'/'.join(codes)}"))
    elif kind == "upn":
        checks.append(_check(lambda s: (s == "") | ids.upn_valid(s), "upn",
                             "is not a valid UPN (shape or check letter)"))
    elif kind == "nhs":
        checks.append(_check(lambda s: (s == "") | ids.nhs_valid(s), "nhs",
                             "is not a valid NHS number (10 digits, modulus-11 check)"))
    elif kind == "postcode":
        checks.append(_check(ids.postcode_valid, "postcode", "is not shaped like a UK postcode"))
    elif kind == "laestab":
        checks.append(_check(lambda s: (s == "") | s.str.match(ids.LAESTAB_SHAPE), "laestab",
                             "is not a 7-digit LAESTAB"))
    elif kind == "la_code":
        checks.append(_check(lambda s: (s == "") | s.str.match(ids.LA_CODE_SHAPE), "la_code",
                             "is not a 3-digit LA code"))
    return checks


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


def _cross_field_faults(feed: str, frame: pd.DataFrame, extract_date: date | None) -> list[RowFault]:
    faults: list[RowFault] = []
    dob = _parse_dates(frame["dob"])
    limit = pd.Timestamp(extract_date or date.today())
    for row in frame.index[(dob > limit).fillna(False)]:
        faults.append(RowFault(int(row), "dob", "is after the extract date"))
    for row in frame.index[(dob < pd.Timestamp("1990-01-01")).fillna(False)]:
        faults.append(RowFault(int(row), "dob", "is before 1990: not a child's birth date"))
    if feed in REASON_REQUIRED_WITH:
        date_col, reason_col = REASON_REQUIRED_WITH[feed]
        bad = (frame[date_col] != "") & (frame[reason_col] == "")
        faults += [RowFault(int(r), reason_col, f"is required when {date_col} is given") for r in frame.index[bad]]
    return faults


def validate_extract(parsed: ParsedExtract, extract_date: date | None = None) -> tuple[pd.DataFrame, list[RowFault]]:
    """Validate lazily; return (valid rows with dates parsed, every row fault with its reason)."""
    return validate_extracts([(parsed, extract_date)])[0]


def validate_extracts(parts: list[tuple[ParsedExtract, date | None]]) -> list[tuple[pd.DataFrame, list[RowFault]]]:
    """validate_extract for many extracts (or chunks) at once, each with its extract date: one
    Pandera pass per feed over them all, since a pass costs mostly per call (a small school's
    extract cost as much as fifty times its rows). Each result is what validate_extract gives."""
    frames = [_uppercased(parsed) for parsed, _ in parts]
    faults: list[list[RowFault]] = [list(parsed.faults) for parsed, _ in parts]
    for feed in {parsed.feed for parsed, _ in parts}:
        mine = [i for i, (parsed, _) in enumerate(parts) if parsed.feed == feed]
        combined = pd.concat([frames[i] for i in mine], ignore_index=True)
        owner = np.repeat(mine, [len(frames[i]) for i in mine])
        row_of = np.concatenate([frames[i].index.to_numpy() for i in mine]) if mine else np.empty(0, dtype=int)
        try:
            _SCHEMAS[feed].validate(combined, lazy=True)
        except pa.errors.SchemaErrors as err:
            for rec in err.failure_cases.itertuples(index=False):
                if rec.index is None or pd.isna(rec.index) or rec.column is None:
                    continue
                i, row = int(owner[int(rec.index)]), int(row_of[int(rec.index)])
                faults[i].append(RowFault(row, str(rec.column), _reason_text(rec.check),
                                          parts[i][0].frame.at[row, rec.column]))
    return [_valid_rows(parsed, frame, found, extract_date)
            for (parsed, extract_date), frame, found in zip(parts, frames, faults)]


def _uppercased(parsed: ParsedExtract) -> pd.DataFrame:
    frame = parsed.frame.copy()
    for c, col in FEED_COLUMNS[parsed.feed].items():
        if col.kind in _UPPER_KINDS:
            frame[c] = frame[c].str.upper()
    return frame


def _valid_rows(parsed: ParsedExtract, frame: pd.DataFrame, faults: list[RowFault],
                extract_date: date | None) -> tuple[pd.DataFrame, list[RowFault]]:
    """The cross-field faults added, the rows without faults kept, their dates parsed."""
    faults = faults + [RowFault(f.row, f.column, f.reason, parsed.frame.at[f.row, f.column] if f.column else "")
                       for f in _cross_field_faults(parsed.feed, frame, extract_date)]
    bad_rows = {f.row for f in faults}
    valid = frame.loc[[i for i in frame.index if i not in bad_rows]].copy()
    for c, col in FEED_COLUMNS[parsed.feed].items():
        if col.kind in ("date", "dob"):
            valid[c] = _parse_dates(valid[c]).dt.date
    faults.sort(key=lambda f: (f.row, f.column))
    return valid, faults


def _reason_text(check) -> str:
    # Pandera reports a custom check by its error text, which is our reason wording.
    return str(check)


