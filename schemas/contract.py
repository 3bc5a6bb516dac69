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


CONTRACT_VERSION = "1.2"
FEEDS = ("school", "health", "la")

SCHOOL_LEAVING_REASONS = ("TRANSFER", "EHE", "MOVED_AWAY", "NO_DESTINATION", "DECEASED", "OTHER")
HEALTH_DEREG_REASONS = ("MOVED_AWAY", "DECEASED", "EMIGRATED", "OTHER")
LA_RECORD_TYPES = ("EHE", "EHE_ENDED", "EHE_UNSUITABLE", "ALT_PROVISION", "CME_REFERRAL", "WHEREABOUTS_KNOWN", "RESIDENT")
# Version 1.2: a pupil on roll educated elsewhere for part of the time (s.436B(1)(b) of the
# Education Act 1996, as the Children's Wellbeing and Schools Act 2026 inserts it).
SCHOOL_ARRANGEMENTS = ("FLEXI", "OFF_SITE", "PART_TIME", "SECTION_19")
# Version 1.2: the authority's children-not-in-school register items (s.436C(1)). The primary
# reason for home education, in the DfE's termly collection's categories.
EHE_REASONS = ("PHILOSOPHICAL", "RELIGIOUS_CULTURAL", "MENTAL_HEALTH", "PHYSICAL_HEALTH", "DISSATISFIED_GENERAL",
               "DISSATISFIED_SEND", "BULLYING", "NOT_SCHOOL_OF_CHOICE", "AVOID_EXCLUSION", "LIFESTYLE", "OTHER",
               "NOT_KNOWN")
PROVIDER_TYPES = ("TUTOR", "TUITION_CENTRE", "ONLINE_SCHOOL", "OUT_OF_SCHOOL_SETTING", "OTHER")
PARENTS, PROVIDERS = 2, 2  # how many of each one row of an authority's extract can carry


def _cnis_columns() -> dict[str, ContractColumn]:
    cols = {"ehe_reason": ContractColumn(False, "code", EHE_REASONS),
            "address_since": ContractColumn(False, "date"),
            "previous_address_line1": ContractColumn(False, "text"),
            "previous_postcode": ContractColumn(False, "postcode"),
            "additional_address_line1": ContractColumn(False, "text"),
            "additional_postcode": ContractColumn(False, "postcode")}
    for n in range(1, PARENTS + 1):
        cols |= {f"parent{n}_name": ContractColumn(False, "name"),
                 f"parent{n}_address_line1": ContractColumn(False, "text"),
                 f"parent{n}_postcode": ContractColumn(False, "postcode"),
                 f"parent{n}_educates": ContractColumn(False, "code", ("Y", "N"))}
    cols |= {"hours_parents": ContractColumn(False, "hours"), "hours_others": ContractColumn(False, "hours")}
    for n in range(1, PROVIDERS + 1):
        cols |= {f"provider{n}_name": ContractColumn(False, "text"),
                 f"provider{n}_type": ContractColumn(False, "code", PROVIDER_TYPES),
                 f"provider{n}_address": ContractColumn(False, "text"),
                 f"provider{n}_postcode": ContractColumn(False, "postcode"),
                 f"provider{n}_online": ContractColumn(False, "code", ("Y", "N")),
                 f"provider{n}_hours": ContractColumn(False, "hours"),
                 f"provider{n}_hours_without_parent": ContractColumn(False, "hours")}
    return cols


CNIS_COLUMNS = _cnis_columns()

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
        "arrangement": ContractColumn(False, "code", SCHOOL_ARRANGEMENTS),
        "hours_elsewhere": ContractColumn(False, "hours"),
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
        **CNIS_COLUMNS,
    },
}
# Kinds whose values are a child's personal data: receipts never echo them.
PERSONAL_KINDS = {"upn", "nhs", "name", "dob", "text", "postcode"}
# (column, column it needs) pairs: a date of leaving needs its reason, an arrangement its hours,
# a provider its name, a parent's address their name.
REASON_REQUIRED_WITH = {"school": (("leaving_date", "leaving_reason"), ("arrangement", "hours_elsewhere")),
                        "la": tuple((f"provider{n}_{c}", f"provider{n}_name") for n in range(1, PROVIDERS + 1)
                                    for c in ("type", "address", "hours"))
                        + tuple((f"parent{n}_{c}", f"parent{n}_name") for n in range(1, PARENTS + 1)
                                for c in ("address_line1", "educates"))}



class FileRejected(Exception):
    """A file-level fault: the whole file is rejected. The message is safe to show anyone."""


@dataclass
class RowFault:
    row: int
    column: str
    reason: str
    value: str = ""  # the raw cell, used only to build a safe display value
