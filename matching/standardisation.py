"""Standardise records for comparison: names (case, accents, punctuation, hyphenated and
double-barrelled surnames, diminutives), dates (with a day/month-swapped form), postcodes
(pseudo-postcodes blanked) and sex. Pure pandas; never reads or writes anything but frames.
"""
from __future__ import annotations

import csv
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from schemas import is_pseudo_postcode, per_distinct, postcode_district, postcode_normalise, postcode_sector


@lru_cache(maxsize=1)
def diminutives() -> dict[str, str]:
    with open(Path(__file__).with_name("data") / "diminutives.csv", newline="") as fh:
        table = {r["name"]: r["canonical"] for r in csv.DictReader(fh)}
    # Ambiguous diminutives (Sam, Alex, Harry...) map to one canonical form per the table's
    # first mention; both spellings of the canonical map to themselves.
    return table


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def clean_name(values: pd.Series) -> pd.Series:
    """Lower case, accents removed, apostrophes dropped, hyphens to spaces, spaces folded."""
    values = values.fillna("").astype(str)
    # Names repeat a great deal: clean each distinct spelling once.
    uniques = pd.Series(values.unique())
    s = uniques.map(_strip_accents).str.lower()
    s = s.str.replace(r"['\u2019`]", "", regex=True).str.replace(r"[-\s.]+", " ", regex=True).str.strip()
    s = s.str.replace(r"[^a-z ]", "", regex=True)
    return values.map(dict(zip(uniques, s)))


def _dob_forms(values: pd.Series) -> pd.DataFrame:
    """A birth date as YYYYMMDD, with day and month swapped (where the day could be a month),
    its year, and whether it is 1 January."""
    dob = pd.to_datetime(values, errors="coerce")
    text = dob.dt.strftime("%Y%m%d").fillna("")
    swap = (text.str[:4] + text.str[6:] + text.str[4:6]).where(dob.dt.day <= 12, "").fillna("")
    return pd.DataFrame({"dob": text, "dob_swap": swap, "dob_year": text.str[:4],
                         "dob_jan1": ((dob.dt.month == 1) & (dob.dt.day == 1)).to_numpy(dtype=bool)})


def standardise(records: pd.DataFrame, postcode_style: str = "uk") -> pd.DataFrame:
    """Add comparison columns to a frame of register records (one row per record).
    postcode_style "plain" takes postcodes as they come (for other countries' data sets):
    sector, district and area are then the value less one, two and all but one characters."""
    df = pd.DataFrame(index=records.index)
    fore = clean_name(records["forename"])
    df["given"] = fore.str.split(" ").str[0].fillna("")
    table = diminutives()
    df["given_canon"] = df["given"].map(lambda n: table.get(n, n))
    df["middle"] = clean_name(records.get("middle_names", pd.Series("", index=records.index)))
    sur = clean_name(records["surname"])
    alt = clean_name(records.get("alt_surname", pd.Series("", index=records.index)))
    df["family"] = sur.str.replace(" ", "", regex=False)
    # Every surname token, from the surname and any preferred surname, for double-barrelled names.
    both = sur + " " + alt
    tokens = {v: frozenset(x for x in v.split() if len(x) > 1) for v in both.unique()}
    df["family_parts"] = both.map(tokens)
    dob = per_distinct(records["dob"], _dob_forms)
    for c in dob:
        df[c] = dob[c]
    if postcode_style == "plain":
        pc = records["postcode"].fillna("").astype(str).str.upper().str.replace(r"\s+", "", regex=True)
        df["postcode"], df["postcode_sector"], df["postcode_district"] = pc, pc.str[:-1], pc.str[:-2]
        df["postcode_area"] = pc.str[:1]
    else:
        pc = postcode_normalise(records["postcode"])
        pc = pc.where(~is_pseudo_postcode(pc), "")
        df["postcode"] = pc
        df["postcode_sector"] = postcode_sector(pc)
        df["postcode_district"] = postcode_district(pc)
        df["postcode_area"] = df["postcode_district"].str.extract(r"^([A-Z]+)", expand=False).fillna("")
    df["sex"] = records["sex"].fillna("").where(records["sex"].isin(["M", "F"]), "")
    for c in ("upn", "former_upn", "nhs_number", "record_key", "feed", "provider"):
        df[c] = records[c].fillna("") if c in records else ""
    # Shielded records get a blocking rule of their own (matching.block).
    df["shielded"] = (records["shielded"].astype(object).eq(True).to_numpy() if "shielded" in records
                      else np.zeros(len(records), dtype=bool))
    return df
