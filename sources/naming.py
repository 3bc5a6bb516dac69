"""Extract file names: <feed>_<provider>_<YYYYMMDD>.csv with a .sha256 sidecar.

Parses and checks a name against the contract; reasons are safe to show the provider.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date, datetime

from register import today as today_here
from schemas import FileRejected

SIDECAR_SUFFIX = ".sha256"
_NAME = re.compile(r"\A(school|health|la)_([A-Za-z0-9]+)_([0-9]{8})\.csv\Z")
PROVIDER_SHAPES = {
    "school": (re.compile(r"\A[0-9]{7}\Z"), "a 7-digit LAESTAB"),
    "health": (re.compile(r"\A[A-Z0-9]{3,6}\Z"), "an ODS code of 3 to 6 capital letters and digits"),
    "la": (re.compile(r"\A[0-9]{3}\Z"), "a 3-digit LA code"),
}


# Longest name we take: a receipt adds ".receipt.json" and must stay under the 255-byte limit.
MAX_NAME_BYTES = 200


def safe_label(name: str) -> str:
    """The name itself when it is safe to store, log and build a receipt name from; otherwise a
    stand-in derived from its bytes: names that are not UTF-8, too long, or hold control
    characters or a slash are rejected whole under that stand-in."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from the file system (surrogate escapes)
        raw = b""
    if raw and len(raw) <= MAX_NAME_BYTES and not any(ord(c) < 32 or ord(c) == 127 for c in name) and "/" not in name:
        return name
    return f"unsafe-name-{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}"


@dataclass(frozen=True)
class ExtractName:
    feed: str
    provider: str
    extract_date: date


def parse_name(name: str, expected_provider: str | None = None, today: date | None = None) -> ExtractName:
    """today: extract dates after it are rejected (default: the machine's date). A future date
    would make a file its provider's newest for ever, so later corrections would change nothing."""
    m = _NAME.match(name)
    if not m:
        raise FileRejected("the file name does not follow <feed>_<provider>_<YYYYMMDD>.csv "
                           "with feed school, health or la")
    feed, provider, stamp = m.groups()
    shape, wanted = PROVIDER_SHAPES[feed]
    if not shape.match(provider):
        raise FileRejected(f"the provider id in the name is not {wanted}")
    try:
        extract_date = datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        raise FileRejected("the date in the file name is not a real date") from None
    if extract_date > (today or today_here()):
        raise FileRejected("the date in the file name is after today: an extract cannot come from the future")
    if expected_provider is not None and provider != expected_provider:
        raise FileRejected("the provider id in the name is not this account's own")
    return ExtractName(feed, provider, extract_date)


def parse_sidecar(data: bytes) -> str:
    """The lowercase hex digest a sidecar holds (optionally followed by the file name)."""
    try:
        first = data.decode("ascii").strip().split()
    except UnicodeDecodeError:
        raise FileRejected("the .sha256 sidecar is not ASCII text") from None
    if not first or not re.fullmatch(r"[0-9a-fA-F]{64}", first[0]):
        raise FileRejected("the .sha256 sidecar does not hold a SHA-256 hex digest")
    return first[0].lower()
