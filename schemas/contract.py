"""The extract contract as data (docs/contract.md): every feed's columns with their kinds and
codes, and the faults a file or a row can have. Pure: no I/O, no Pandera."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class ContractColumn(NamedTuple):
    """One column of a feed. The kind decides the check and whether a value is personal."""
    required: bool
    kind: str
    codes: tuple[str, ...] = ()


CONTRACT_VERSION = "1.1"
FEEDS = ("school", "health", "la")

SCHOOL_LEAVING_REASONS = ("TRANSFER", "EHE", "MOVED_AWAY", "NO_DESTINATION", "DECEASED", "OTHER")
HEALTH_DEREG_REASONS = ("MOVED_AWAY", "DECEASED", "EMIGRATED", "OTHER")
LA_RECORD_TYPES = ("EHE", "EHE_ENDED", "EHE_UNSUITABLE", "ALT_PROVISION", "CME_REFERRAL", "WHEREABOUTS_KNOWN", "RESIDENT")

FEED_COLUMNS: dict[str, dict[str, ContractColumn]] = {
    "school": {
        "upn": ContractColumn(True, "upn"),
        "former_upn": ContractColumn(False, "upn"),
        "surname": ContractColumn(True, "name"),
        "forename": ContractColumn(True, "name"),
        "middle_names": ContractColumn(False, "name"),
        "preferred_surname": ContractColumn(False, "name"),
        "dob": ContractColumn(True, "dob"),
        "sex": ContractColumn(True, "code", ("M", "F")),
        "address_line1": ContractColumn(False, "text"),
        "address_line2": ContractColumn(False, "text"),
        "town": ContractColumn(False, "text"),
        "postcode": ContractColumn(False, "postcode"),
        "entry_date": ContractColumn(True, "date"),
        "enrol_status": ContractColumn(True, "code", ("C", "M", "S", "G")),
        "leaving_date": ContractColumn(False, "date"),
        "leaving_reason": ContractColumn(False, "code", SCHOOL_LEAVING_REASONS),
        "destination_laestab": ContractColumn(False, "laestab"),
    },
    "health": {
        "nhs_number": ContractColumn(False, "nhs"),
        "family_name": ContractColumn(True, "name"),
        "given_name": ContractColumn(True, "name"),
        "other_given_names": ContractColumn(False, "name"),
        "dob": ContractColumn(True, "dob"),
        "gender": ContractColumn(True, "code", ("1", "2", "9", "0")),
        "address_line1": ContractColumn(False, "text"),
        "address_line2": ContractColumn(False, "text"),
        "town": ContractColumn(False, "text"),
        "postcode": ContractColumn(False, "postcode"),
        "residence_la": ContractColumn(False, "la_code"),
        "registration_date": ContractColumn(True, "date"),
        "deregistration_date": ContractColumn(False, "date"),
        "deregistration_reason": ContractColumn(False, "code", HEALTH_DEREG_REASONS),
    },
    "la": {
        "la_child_id": ContractColumn(True, "text"),
        "upn": ContractColumn(False, "upn"),
        "nhs_number": ContractColumn(False, "nhs"),
        "surname": ContractColumn(True, "name"),
        "forename": ContractColumn(True, "name"),
        "dob": ContractColumn(True, "dob"),
        "sex": ContractColumn(True, "code", ("M", "F", "U")),
        "address_line1": ContractColumn(False, "text"),
        "postcode": ContractColumn(False, "postcode"),
        "record_type": ContractColumn(True, "code", LA_RECORD_TYPES),
        "status_date": ContractColumn(True, "date"),
        "shielded": ContractColumn(False, "code", ("Y", "N")),
    },
}
# Kinds whose values are a child's personal data: receipts never echo them.
PERSONAL_KINDS = {"upn", "nhs", "name", "dob", "text", "postcode"}
# (date column, reason column) pairs: a date of leaving needs its reason.
REASON_REQUIRED_WITH = {"school": ("leaving_date", "leaving_reason")}



class FileRejected(Exception):
    """A file-level fault: the whole file is rejected. The message is safe to show anyone."""


@dataclass
class RowFault:
    row: int
    column: str
    reason: str
    value: str = ""  # the raw cell, used only to build a safe display value
