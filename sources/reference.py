"""Reference data the operator supplies, loaded into the register database and versioned: the
ONS postcode directory (postcode to local authority district) with the mapping from district
codes to the 3-digit LA codes the extracts use. Read in chunks: the full directory has about
2.7 million rows and 50 columns. Holds no child's data.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from register import PostcodeDirectory, ReferenceData, file_sha256, utc_now
from schemas import postcode_normalise

POSTCODE_DIRECTORY = "postcode_directory"
# Column names across the ONS products: ONSPD and NSPL, old (oslaua, laua) and new (lad25cd).
_POSTCODE_COLUMNS = ("pcds", "pcd", "pcd2", "postcode")
_LAD_PATTERN = re.compile(r"\A(oslaua|laua|lad[0-9]{2}cd|lad_code)\Z")
_LA_COLUMNS = ("la_code", "new_la_code", "la")


class ReferenceError(Exception):
    """A reference file Rollcall cannot use; the message names columns, never data."""
    safe_message = True


def _pick(columns: list[str], wanted) -> str:
    lower = {c.strip().lower(): c for c in columns}
    for c in lower:
        if (wanted.match(c) if isinstance(wanted, re.Pattern) else c in wanted):
            return lower[c]
    raise ReferenceError(f"no column named {' or '.join(wanted) if not isinstance(wanted, re.Pattern) else wanted.pattern}"
                         f" among {len(columns)} columns")


def load_postcode_directory(engine, directory: Path, la_codes: Path, version: str | None = None,
                            chunk_rows: int = 200_000) -> dict:
    """Replace the postcode directory with this version, in one transaction. la_codes: a CSV
    mapping district codes to 3-digit LA codes (columns lad_code and la_code; ONS-style names
    such as LAD25CD are accepted). Postcodes whose district has no LA code are left out."""
    lookup = pd.read_csv(la_codes, dtype=str, keep_default_na=False)
    lad_col, la_col = _pick(list(lookup.columns), _LAD_PATTERN), _pick(list(lookup.columns), _LA_COLUMNS)
    to_la = dict(zip(lookup[lad_col].str.strip(), lookup[la_col].str.strip()))
    bad = [v for v in to_la.values() if not re.fullmatch(r"[0-9]{3}", v)]
    if bad:
        raise ReferenceError(f"{len(bad)} LA codes in {la_codes.name} are not 3 ASCII digits")
    header = list(pd.read_csv(directory, dtype=str, nrows=0).columns)
    pc_col, lad = _pick(header, _POSTCODE_COLUMNS), _pick(header, _LAD_PATTERN)
    rows = 0
    with Session(engine) as s:
        s.execute(delete(PostcodeDirectory))
        for chunk in pd.read_csv(directory, dtype=str, keep_default_na=False, usecols=[pc_col, lad],
                                 chunksize=chunk_rows):
            frame = pd.DataFrame({"postcode": postcode_normalise(chunk[pc_col]), "lad_code": chunk[lad].str.strip()})
            frame["la_code"] = frame["lad_code"].map(to_la)
            frame = frame[(frame["postcode"] != "") & frame["la_code"].notna()].drop_duplicates("postcode")
            if len(frame):
                s.execute(insert(PostcodeDirectory), frame.to_dict("records"))
            rows += len(frame)
        version = version or directory.name
        ref = s.get(ReferenceData, POSTCODE_DIRECTORY) or ReferenceData(name=POSTCODE_DIRECTORY)
        ref.version, ref.sha256, ref.rows = version[:128], file_sha256(directory), rows
        ref.loaded_at = utc_now()
        s.add(ref)
        s.commit()
    return {"version": version, "rows": rows}


def postcode_authorities(engine, postcodes) -> dict[str, str]:
    """postcode -> 3-digit LA code for the given postcodes that the directory holds."""
    wanted = sorted({p for p in postcodes if p})
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 5000):
            out.update(conn.execute(select(PostcodeDirectory.postcode, PostcodeDirectory.la_code)
                                    .where(PostcodeDirectory.postcode.in_(wanted[i:i + 5000]))).all())
    return out


def reference_version(engine, name: str = POSTCODE_DIRECTORY) -> str | None:
    with Session(engine) as s:
        ref = s.get(ReferenceData, name)
        return f"{ref.version} ({ref.rows} rows)" if ref else None
