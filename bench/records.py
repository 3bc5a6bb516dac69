"""Generated extracts read back as the register's records (through the contract: read,
validate, to_records), each with the generator's true child beside it: what the linkage
benches and tests link without running the whole pipeline."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

# The columns linkage reads (linkage.current.active_records gives the same).
COLUMNS = ["record_key", "feed", "provider", "upn", "former_upn", "nhs_number", "surname", "forename",
           "middle_names", "alt_surname", "dob", "sex", "postcode", "shielded"]


def records_from_extracts(landing: Path, truth: Path) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Every extract under landing as records with a `truth` column (the true child), and the
    true twins as pairs of child ids."""
    from schemas.reader import read_extract
    from schemas.validation import validate_extract
    from sources.mapping import to_records
    from sources.naming import parse_name

    known = pd.read_csv(truth / "records.csv", dtype=str)
    truth_of = dict(zip(zip(known["file"], known["row"].astype(int)), known["true_child"]))
    frames = []
    for path in sorted(landing.rglob("*.csv")):
        meta = parse_name(path.name)
        valid, _ = validate_extract(read_extract(path.read_bytes(), meta.feed), meta.extract_date)
        rec = to_records(meta.feed, meta.provider, valid, b"bench")
        rec["truth"] = [truth_of[(path.name, int(r))] for r in rec["row_no"]]
        frames.append(rec)
    records = pd.concat(frames, ignore_index=True)
    for c in COLUMNS:
        if c not in records:
            records[c] = ""
    records["shielded"] = records["shielded"].astype(object).eq(True)  # only the LA feed states it
    text = [c for c in COLUMNS if c not in ("dob", "shielded")]
    records[text] = records[text].fillna("")
    twins = pd.read_csv(truth / "twins.csv", dtype=str)
    return records, list(zip(twins["child_a"], twins["child_b"]))
