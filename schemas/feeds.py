"""The extract contract as data: every feed's columns, their kinds and codes, and the
Pandera schemas built from them. Validation quarantines bad rows with reasons and never
puts a cell's content into an exception, a log or a reason text.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Iterator
from datetime import date

import pandas as pd
import pandera.pandas as pa

from schemas import identifiers as ids

CONTRACT_VERSION = "1.1"
FEEDS = ("school", "health", "la")

# column -> (required, kind, codes). Kinds decide the check and whether a value is personal.
SCHOOL_LEAVING_REASONS = ("TRANSFER", "EHE", "MOVED_AWAY", "NO_DESTINATION", "DECEASED", "OTHER")
HEALTH_DEREG_REASONS = ("MOVED_AWAY", "DECEASED", "EMIGRATED", "OTHER")
LA_RECORD_TYPES = ("EHE", "EHE_ENDED", "EHE_UNSUITABLE", "ALT_PROVISION", "CME_REFERRAL", "WHEREABOUTS_KNOWN", "RESIDENT")

FEED_COLUMNS: dict[str, dict[str, tuple[bool, str, tuple[str, ...]]]] = {
    "school": {
        "upn": (True, "upn", ()),
        "former_upn": (False, "upn", ()),
        "surname": (True, "name", ()),
        "forename": (True, "name", ()),
        "middle_names": (False, "name", ()),
        "preferred_surname": (False, "name", ()),
        "dob": (True, "dob", ()),
        "sex": (True, "code", ("M", "F")),
        "address_line1": (False, "text", ()),
        "address_line2": (False, "text", ()),
        "town": (False, "text", ()),
        "postcode": (False, "postcode", ()),
        "entry_date": (True, "date", ()),
        "enrol_status": (True, "code", ("C", "M", "S", "G")),
        "leaving_date": (False, "date", ()),
        "leaving_reason": (False, "code", SCHOOL_LEAVING_REASONS),
        "destination_laestab": (False, "laestab", ()),
    },
    "health": {
        "nhs_number": (False, "nhs", ()),
        "family_name": (True, "name", ()),
        "given_name": (True, "name", ()),
        "other_given_names": (False, "name", ()),
        "dob": (True, "dob", ()),
        "gender": (True, "code", ("1", "2", "9", "0")),
        "address_line1": (False, "text", ()),
        "address_line2": (False, "text", ()),
        "town": (False, "text", ()),
        "postcode": (False, "postcode", ()),
        "residence_la": (False, "la_code", ()),
        "registration_date": (True, "date", ()),
        "deregistration_date": (False, "date", ()),
        "deregistration_reason": (False, "code", HEALTH_DEREG_REASONS),
    },
    "la": {
        "la_child_id": (True, "text", ()),
        "upn": (False, "upn", ()),
        "nhs_number": (False, "nhs", ()),
        "surname": (True, "name", ()),
        "forename": (True, "name", ()),
        "dob": (True, "dob", ()),
        "sex": (True, "code", ("M", "F", "U")),
        "address_line1": (False, "text", ()),
        "postcode": (False, "postcode", ()),
        "record_type": (True, "code", LA_RECORD_TYPES),
        "status_date": (True, "date", ()),
        "shielded": (False, "code", ("Y", "N")),
    },
}
# Kinds whose values are a child's personal data: receipts never echo them.
PERSONAL_KINDS = {"upn", "nhs", "name", "dob", "text", "postcode"}
# (date column, reason column) pairs: a date of leaving needs its reason.
REASON_REQUIRED_WITH = {"school": ("leaving_date", "leaving_reason")}

_NAME_PATTERN = r"\A(?:[^\W\d_]|[ '\-\u2019])+\Z"


class FileRejected(Exception):
    """A file-level fault: the whole file is rejected. The message is safe to show anyone."""


@dataclass
class RowFault:
    row: int
    column: str
    reason: str
    value: str = ""  # the raw cell, used only to build a safe display value


@dataclass
class ParsedExtract:
    feed: str
    columns: list[str]
    frame: pd.DataFrame  # one str column per contract column; index = data row number
    warnings: list[str] = field(default_factory=list)
    faults: list[RowFault] = field(default_factory=list)
    rows_total: int = 0


def read_extract(data: bytes, feed: str) -> ParsedExtract:
    """Decode and split a whole CSV extract held in memory (rollcall validate, benchmarks);
    file-level faults raise FileRejected. The register loads through iter_extract instead."""
    if b"\x00" in data:
        raise FileRejected("the file holds NUL bytes: it is not a text CSV")
    chunks = list(iter_extract(io.BytesIO(data), feed, chunk_rows=len(data) + 1))
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    return ParsedExtract(feed, first.columns, pd.concat([c.frame for c in chunks]), first.warnings,
                         [f for c in chunks for f in c.faults], sum(c.rows_total for c in chunks))


def iter_extract(stream, feed: str, chunk_rows: int = 50_000) -> Iterator[ParsedExtract]:
    """Read a CSV extract from a binary stream a chunk of rows at a time, so memory stays
    bounded whatever the file's size. Row numbers count the whole file's data rows from 1; the
    first chunk carries the header warnings. A file-level fault raises FileRejected, possibly
    after earlier chunks were yielded: the caller must then discard what it did with them."""
    if feed not in FEED_COLUMNS:
        raise FileRejected(f"unknown feed '{feed}'")
    spec = FEED_COLUMNS[feed]
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)

    def rows():
        try:
            for r in reader:
                if r:
                    yield r
        except UnicodeDecodeError:
            raise FileRejected(f"the file is not UTF-8 (a byte that is not UTF-8 near line {reader.line_num + 1})") \
                from None
        except csv.Error as exc:
            raise FileRejected(f"the file is not valid CSV near line {reader.line_num}: {_csv_fault(exc)}") from None

    it = rows()
    first = next(it, None)
    if first is None or not any(cell.strip() for cell in first):
        raise FileRejected("the file is empty")
    header = [h.strip().lower() for h in first]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRejected(f"the header names a column more than once: {', '.join(_safe_names(dupes))}")
    missing = [c for c, (req, _, _) in spec.items() if req and c not in header]
    if missing:
        hint = ""
        for sep, called in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if len(header) == 1 and sep in first[0]:
                hint = f" (the header looks separated by {called}: the contract requires commas)"
                break
        raise FileRejected(f"required column(s) missing from the header: {', '.join(missing)}{hint}")
    warnings = [f"unknown column ignored: {name}" for name in _safe_names([h for h in header if h not in spec])]
    width, number, sent = len(header), 0, False
    faults: list[RowFault] = []
    good: dict[int, list[str]] = {}
    seen_in_chunk = 0
    for r in it:
        number += 1
        seen_in_chunk += 1
        if len(r) != width:
            faults.append(RowFault(number, "", f"the row has {len(r)} fields; the header has {width}"))
        else:
            good[number] = r
        if seen_in_chunk >= chunk_rows:
            yield _chunk(feed, spec, header, good, [] if sent else warnings, faults, seen_in_chunk)
            sent, good, faults, seen_in_chunk = True, {}, [], 0
    if number == 0:
        raise FileRejected("the file has a header but no data rows")
    if seen_in_chunk:
        yield _chunk(feed, spec, header, good, [] if sent else warnings, faults, seen_in_chunk)


def _chunk(feed, spec, header, good, warnings, faults, rows) -> ParsedExtract:
    frame = pd.DataFrame.from_dict(good, orient="index", columns=header, dtype=str) if good else \
        pd.DataFrame(columns=header, dtype=str)
    for c in spec:
        if c not in frame.columns:
            frame[c] = ""
    frame = frame[list(spec)].fillna("").astype(str)
    for c in frame.columns:
        frame[c] = frame[c].str.strip()
    return ParsedExtract(feed, list(spec), frame, list(warnings), faults, rows)


def require_some_valid_rows(rows_total: int, rows_accepted: int) -> None:
    """A file none of whose rows passed replaces nothing: it would empty its provider's roll."""
    if rows_total and not rows_accepted:
        raise FileRejected("no row passed validation, so the file replaces nothing; see the rejected rows")


def _csv_fault(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 80 and "'" not in text and '"' not in text else "malformed quoting"


def _safe_names(names: list[str]) -> list[str]:
    """Column names from a header are provider text: show them short and formula-safe."""
    return [safe_cell(n[:40]) for n in names]


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
    columns = {
        name: pa.Column(str, checks=_column_checks(name, req, kind, codes), nullable=False)
        for name, (req, kind, codes) in FEED_COLUMNS[feed].items()
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
    feed, frame = parsed.feed, parsed.frame.copy()
    spec = FEED_COLUMNS[feed]
    for c, (_, kind, _) in spec.items():
        if kind in _UPPER_KINDS:
            frame[c] = frame[c].str.upper()
    faults = list(parsed.faults)
    try:
        _SCHEMAS[feed].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for rec in fc.itertuples(index=False):
            if rec.index is None or pd.isna(rec.index) or rec.column is None:
                continue
            row = int(rec.index)
            faults.append(RowFault(row, str(rec.column), _reason_text(rec.check), parsed.frame.at[row, rec.column]))
    faults += [RowFault(f.row, f.column, f.reason, parsed.frame.at[f.row, f.column] if f.column else "")
               for f in _cross_field_faults(feed, frame, extract_date)]
    bad_rows = {f.row for f in faults}
    valid = frame.loc[[i for i in frame.index if i not in bad_rows]].copy()
    for c, (_, kind, _) in spec.items():
        if kind in ("date", "dob"):
            valid[c] = _parse_dates(valid[c]).dt.date
    faults.sort(key=lambda f: (f.row, f.column))
    return valid, faults


def _reason_text(check) -> str:
    # Pandera reports a custom check by its error text, which is our reason wording.
    return str(check)


def safe_cell(value: str) -> str:
    """Neutralise a value a spreadsheet would run as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def display_value(feed: str, column: str, value: str) -> str:
    """What a receipt may show of a rejected cell: codes in full, personal data never."""
    kind = FEED_COLUMNS.get(feed, {}).get(column, (False, "text", ()))[1]
    if not column or kind in PERSONAL_KINDS:
        return f"(withheld, {len(value)} characters)" if value else "(empty)"
    shown = value[:40].replace("\n", " ").replace("\r", " ")
    return safe_cell(shown) if shown else "(empty)"
