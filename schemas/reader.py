"""Reading a CSV extract: decoding, the header against the contract, rows split into
string columns a chunk at a time. File-level faults raise FileRejected; short or long rows
become row faults. Never puts a cell's content into an exception or a message."""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from schemas.cells import safe_cell
from schemas.contract import FEED_COLUMNS, FileRejected, RowFault


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
            raise FileRejected(f"the file is not UTF-8 ({_where_not_utf8(stream, reader.line_num + 1)})") from None
        except csv.Error as exc:
            raise FileRejected(f"the file is not valid CSV near line {reader.line_num}: {_csv_fault(exc)}") from None

    it = rows()
    first = next(it, None)
    if first is None or not any(cell.strip() for cell in first):
        raise FileRejected("the file is empty")
    header, warnings = _checked_header(first, spec)
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


def _checked_header(first: list[str], spec: dict) -> tuple[list[str], list[str]]:
    """The header's column names (lower case) and its warnings; FileRejected when a column is
    named twice or a required one is missing."""
    header = [h.strip().lower() for h in first]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRejected(f"the header names a column more than once: {', '.join(_safe_names(dupes))}")
    missing = [c for c, col in spec.items() if col.required and c not in header]
    if missing:
        hint = ""
        for sep, called in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if len(header) == 1 and sep in first[0]:
                hint = f" (the header looks separated by {called}: the contract requires commas)"
                break
        raise FileRejected(f"required column(s) missing from the header: {', '.join(missing)}{hint}")
    return header, [f"unknown column ignored: {name}" for name in _safe_names([h for h in header if h not in spec])]


def _chunk(feed, spec, header, good, warnings, faults, rows) -> ParsedExtract:
    """The chunk's rows as one stripped text column per contract column (empty where the
    header lacks it), built column by column in Python: a frame built first and stripped a
    column at a time cost more than the rows of a small extract (issue 28)."""
    at = {name: i for i, name in enumerate(header)}
    values = list(good.values())
    frame = pd.DataFrame({c: [r[at[c]].strip() for r in values] if c in at else [""] * len(values) for c in spec},
                         index=pd.Index(list(good), dtype="int64"), dtype=object)
    return ParsedExtract(feed, list(spec), frame, list(warnings), faults, rows)


def _where_not_utf8(stream, near_line: int) -> str:
    """Where the first byte that is not UTF-8 is: its byte position from 1 and its line, read
    again from the start of a seekable stream (the decoder reads ahead, so the CSV reader's
    line is only near it); else the line the reader had reached."""
    try:
        stream.seek(0)
    except (OSError, ValueError, AttributeError):
        return f"a byte that is not UTF-8 near line {near_line}"
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    while block := stream.read(1 << 16):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            held = len(exc.object) - len(block)  # bytes the decoder kept from the block before
            at = offset - held + exc.start
            line = lines + block[:max(0, exc.start - held)].count(b"\n")
            return f"byte {at + 1}, on line {line}, is not UTF-8"
        offset += len(block)
        lines += block.count(b"\n")
    return f"a byte that is not UTF-8 near line {near_line}"


def _csv_fault(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 80 and "'" not in text and '"' not in text else "malformed quoting"


def _safe_names(names: list[str]) -> list[str]:
    """Column names from a header are provider text: show them short and formula-safe."""
    return [safe_cell(n[:40]) for n in names]


