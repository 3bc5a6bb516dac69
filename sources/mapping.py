"""Map a feed's columns onto the register's common record columns: each row's provider
identifiers and record key, rows whose keys clash, and the keys of quarantined rows. Pure: frames
in, frames out; the provider key is passed in."""
from __future__ import annotations

import json
import logging

import pandas as pd

from matching import CONFLICT_MARK
from schemas import CNIS_COLUMNS, nhs_digits, nhs_valid, postcode_normalise, upn_valid
from sources.keys import keyed, keyed_series

log = logging.getLogger("rollcall.register")

# Each feed's columns mapped onto the register's common record columns.
RECORD_COLUMNS = {
    "school": {"upn": "upn", "former_upn": "former_upn", "surname": "surname", "forename": "forename",
               "middle_names": "middle_names", "preferred_surname": "alt_surname", "dob": "dob", "sex": "sex",
               "address_line1": "address_line1", "address_line2": "address_line2", "town": "town",
               "postcode": "postcode", "entry_date": "start_date", "leaving_date": "end_date",
               "leaving_reason": "end_reason", "enrol_status": "enrol_status",
               "destination_laestab": "destination_laestab", "arrangement": "arrangement",
               "hours_elsewhere": "hours_elsewhere"},
    "health": {"nhs_number": "nhs_number", "family_name": "surname", "given_name": "forename",
               "other_given_names": "middle_names", "dob": "dob", "gender": "sex", "address_line1": "address_line1",
               "address_line2": "address_line2", "town": "town", "postcode": "postcode",
               "residence_la": "residence_la", "registration_date": "start_date",
               "deregistration_date": "end_date", "deregistration_reason": "end_reason"},
    "la": {"la_child_id": "la_child_id", "upn": "upn", "nhs_number": "nhs_number", "surname": "surname",
           "forename": "forename", "dob": "dob", "sex": "sex", "address_line1": "address_line1",
           "postcode": "postcode", "record_type": "record_type", "status_date": "start_date",
           "shielded": "shielded"},
}
_GENDER_TO_SEX = {"1": "M", "2": "F"}

def provider_identifiers(feed: str, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(identifier text to key on, where it is valid) from the provider's own id for the child:
    the UPN, the LA child id or the NHS number. Used for stored rows and quarantined rows alike,
    so a quarantined row gets the key its child's stored rows have."""
    if feed == "school":
        upn = frame["upn"].str.upper()
        return "upn:" + upn, upn_valid(upn)
    if feed == "la":
        return "la:" + frame["la_child_id"], frame["la_child_id"] != ""
    return "nhs:" + nhs_digits(frame["nhs_number"]), nhs_valid(frame["nhs_number"])


def record_keys(feed: str, provider, rec: pd.DataFrame, secret: bytes) -> pd.Series:
    """A key that names the same child at the same provider across that provider's extracts:
    the feed, the provider and a keyed hash of the provider's identifier for the child (a GP
    record with no NHS number: of its name and birth date). See sources.keys. provider: one for
    every row, or each row's (an array, for many files' rows at once)."""
    ident, _ = provider_identifiers(feed, rec)
    if feed == "health":
        by_name = "name:" + rec["surname"].str.upper() + "|" + rec["forename"].str.upper() + "|" + rec["dob"].astype(str)
        ident = ident.where(rec["nhs_number"] != "", by_name)
    if isinstance(provider, str):
        return f"{feed}:{provider}:" + keyed_series(secret, ident)
    return f"{feed}:" + pd.Series(provider, index=rec.index, dtype=object) + ":" + keyed_series(secret, ident)


KEY_COLUMN = {"school": "upn", "la": "la_child_id", "health": "nhs_number"}


def clearly_different(a, b) -> bool:
    """Two rows one extract gives the same key, that cannot be one child: two different NHS
    numbers, or a different birth date and a different given name."""
    if a.nhs_number and b.nhs_number and a.nhs_number != b.nhs_number:
        return True
    return a.dob != b.dob and a.forename.strip().lower() != b.forename.strip().lower()


def split_key_conflicts(rec: pd.DataFrame, secret: bytes = b"") -> tuple[pd.DataFrame, list[list[int]]]:
    """A key (UPN, LA child id, NHS number) that one extract gives to clearly different
    children is a conflict, not a link: each child gets a key of its own (the shared key plus a
    hash of their name and birth date, stable from extract to extract) and linkage keeps them
    apart and sends them to review (matching.link). Returns the frame and, per conflict, the
    row numbers involved (for the receipt)."""
    shared = rec[rec["record_key"].duplicated(keep=False)]
    conflicts: list[list[int]] = []
    for _key, group in shared.groupby("record_key", sort=False):
        people: list = []
        owner = {}
        for row in group.itertuples():
            match = next((p for p in people if not clearly_different(p, row)), None)
            if match is None:
                people.append(row)
                match = row
            owner[row.Index] = match
        if len(people) > 1:
            conflicts.append(sorted(int(r.row_no) for r in group.itertuples()))
            for idx, person in owner.items():
                ident = f"{person.surname}|{person.forename}|{person.dob}".upper()
                rec.at[idx, "record_key"] += CONFLICT_MARK + keyed(secret, ident, 12)
    return rec, conflicts


def quarantined_keys(feed: str, provider: str, frame: pd.DataFrame, rows, secret: bytes) -> dict[int, str]:
    """Record keys of quarantined rows whose identifier itself is valid (UPN, LA child id, NHS
    number): the same key the row would have had, so the child's previous record can stand in."""
    sub = frame.loc[[r for r in set(rows) if r in frame.index]]
    if sub.empty:
        return {}
    ident, ok = provider_identifiers(feed, sub)
    if not ok.any():
        return {}
    keys = f"{feed}:{provider}:" + keyed_series(secret, ident[ok])
    return {int(r): k for r, k in keys.items()}


def register_items(valid: pd.DataFrame) -> pd.Series:
    """An authority's children-not-in-school register items (contract 1.2) of each row, as JSON
    of the columns given, "" for a row that gives none."""
    cols = [c for c in CNIS_COLUMNS if c in valid]
    out = pd.Series("", index=valid.index, dtype=object)
    if not cols:
        return out
    cells = valid[cols].astype(object).where(valid[cols].notna(), "")
    cells = cells.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    given = cells.ne("").any(axis=1)
    for idx, row in cells[given].iterrows():
        out.at[idx] = json.dumps({c: v for c, v in row.items() if v}, ensure_ascii=False, sort_keys=True)
    return out


def to_records(feed: str, provider, valid: pd.DataFrame, secret: bytes) -> pd.DataFrame:
    """A feed's valid rows as register rows, row_no from the frame's index. provider: the one
    provider of every row, or each row's (an array, for many files' rows at once)."""
    rec = valid.rename(columns=RECORD_COLUMNS[feed])[list(RECORD_COLUMNS[feed].values())].copy()
    if feed == "school":
        hours = rec["hours_elsewhere"]
        rec["hours_elsewhere"] = pd.to_numeric(hours.where(hours != ""), errors="coerce").astype(object)
    elif feed == "la":
        rec["register_items"] = register_items(valid)
    if "nhs_number" in rec:
        rec["nhs_number"] = nhs_digits(rec["nhs_number"])
    if feed == "health":
        rec["sex"] = rec["sex"].map(_GENDER_TO_SEX).fillna("")
    elif feed == "la":
        rec["sex"] = rec["sex"].where(rec["sex"] != "U", "")
        rec["shielded"] = rec["shielded"] == "Y"
    rec["postcode"] = postcode_normalise(rec["postcode"])
    rec["record_key"] = record_keys(feed, provider, rec, secret)
    rec["row_no"] = rec.index.astype(int)
    rec["feed"] = feed
    rec["provider"] = provider if isinstance(provider, str) else pd.Series(provider, index=rec.index, dtype=object)
    return rec

def db_rows(rec: pd.DataFrame, file_id: int) -> pd.DataFrame:
    # Empty string means "not known": stored as NULL, decided for the whole frame at once.
    rec = rec.astype(object)
    return rec.where(rec.notna() & rec.ne(""), None).assign(file_id=file_id, active=False)
