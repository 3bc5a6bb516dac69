"""Every comparison level of every field, table-driven: two hand-made records that should meet
at that level, compared through standardise() and compare() as linkage does."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.compare import COMPARISONS, DOB, FORENAME, MIDDLE_NAME, MISSING, NHS_NUMBER, POSTCODE, SEX, SURNAME, UPN, compare
from matching.standardisation import standardise

BASE = {"forename": "Amelia", "middle_names": "", "surname": "Hart", "alt_surname": "", "dob": "2014-05-06",
        "sex": "F", "postcode": "RA1 2AB", "nhs_number": "", "upn": "", "former_upn": "", "record_key": "k",
        "feed": "school", "provider": "8802001"}


def level(field: str, left: dict, right: dict) -> int:
    records = pd.DataFrame([{**BASE, **left, "record_key": "a"}, {**BASE, **right, "record_key": "b"}])
    return int(compare(standardise(records), np.array([[0, 1]]))[field].iloc[0])


CASES = [
    # field, left, right, expected level
    ("forename", {}, {}, FORENAME.EXACT),
    ("forename", {"forename": "William"}, {"forename": "Bill"}, FORENAME.DIMINUTIVE_OR_SWAPPED),
    ("forename", {"forename": "Hart", "surname": "Amelia"}, {}, FORENAME.DIMINUTIVE_OR_SWAPPED),
    ("forename", {"forename": "Amelia"}, {"forename": "Amelie"}, FORENAME.CLOSE),
    ("forename", {"forename": "Isla"}, {"forename": "Isabella"}, FORENAME.LIKE_OR_MIDDLE),
    ("forename", {"forename": "Leo"}, {"forename": "Theodore", "middle_names": "Leo"}, FORENAME.LIKE_OR_MIDDLE),
    ("forename", {"forename": "Amelia"}, {"forename": "Zoe"}, FORENAME.DIFFERENT),
    ("forename", {"forename": ""}, {}, MISSING),
    ("surname", {}, {}, SURNAME.EXACT),
    ("surname", {"surname": "Hart-Lowe"}, {"surname": "Lowe"}, SURNAME.SHARED_PART_OR_SWAPPED),
    ("surname", {"surname": "Amelia", "forename": "Hart"}, {}, SURNAME.SHARED_PART_OR_SWAPPED),
    ("surname", {"surname": "Hartley"}, {"surname": "Hartly"}, SURNAME.CLOSE),
    ("surname", {"surname": "Hart"}, {"surname": "Harte"}, SURNAME.CLOSE),
    ("surname", {"surname": "Morris"}, {"surname": "Norris"}, SURNAME.LIKE),
    ("surname", {"surname": "Hart"}, {"surname": "Quigley"}, SURNAME.DIFFERENT),
    ("surname", {"surname": ""}, {}, MISSING),
    ("dob", {}, {}, DOB.EXACT),
    ("dob", {"dob": "2014-01-01"}, {"dob": "2014-01-01"}, DOB.EXACT_1_JANUARY),
    ("dob", {"dob": "2014-05-06"}, {"dob": "2014-06-05"}, DOB.DAY_MONTH_SWAPPED),
    ("dob", {"dob": "2014-05-06"}, {"dob": "2014-05-08"}, DOB.ONE_TYPO),
    ("dob", {"dob": "2014-05-06"}, {"dob": "2014-11-06"}, DOB.ONE_TYPO),
    ("dob", {"dob": "2014-05-06"}, {"dob": "2011-09-20"}, DOB.DIFFERENT),
    ("dob", {"dob": ""}, {}, MISSING),
    ("middle_name", {"middle_names": "Rose May"}, {"middle_names": "May"}, MIDDLE_NAME.SHARED),
    ("middle_name", {"middle_names": "Rose"}, {"middle_names": "June"}, MIDDLE_NAME.DIFFERENT),
    ("middle_name", {"middle_names": "Rose"}, {}, MISSING),
    ("sex", {}, {}, SEX.SAME),
    ("sex", {"sex": "M"}, {}, SEX.DIFFERENT),
    ("sex", {"sex": ""}, {}, MISSING),
    ("postcode", {}, {}, POSTCODE.EXACT),
    ("postcode", {"postcode": "RA1 2XY"}, {}, POSTCODE.SECTOR),
    ("postcode", {"postcode": "RA1 5AB"}, {}, POSTCODE.DISTRICT),
    ("postcode", {"postcode": "RA7 5AB"}, {}, POSTCODE.AREA),
    ("postcode", {"postcode": "SW1A 1AA"}, {}, POSTCODE.DIFFERENT),
    ("postcode", {"postcode": ""}, {}, MISSING),
    ("nhs_number", {"nhs_number": "9434765919"}, {"nhs_number": "9434765919"}, NHS_NUMBER.SAME),
    ("nhs_number", {"nhs_number": "9434765919"}, {"nhs_number": "9434765870"}, NHS_NUMBER.DIFFERENT),
    ("nhs_number", {"nhs_number": "9434765919"}, {}, MISSING),
    ("upn", {"upn": "A880200120001"}, {"upn": "A880200120001"}, UPN.SAME),
    ("upn", {"upn": "A880200120001"}, {"upn": "B880200120002", "former_upn": "A880200120001"}, UPN.SAME),
    ("upn", {"upn": "A880200120001"}, {"upn": "B880200120002"}, UPN.DIFFERENT),
    ("upn", {"upn": "A880200120001"}, {}, MISSING),
]


@pytest.mark.parametrize("field, left, right, expected", CASES,
                         ids=[f"{c[0]}-{COMPARISONS[c[0]].label(c[3])}-{i}" for i, c in enumerate(CASES)])
def test_a_pair_meets_at_its_level(field, left, right, expected):
    assert level(field, left, right) == expected
    # The comparison is symmetric: the same level whichever record comes first.
    assert level(field, right, left) == expected


def test_every_level_of_every_field_has_a_case():
    covered = {(field, expected) for field, _, _, expected in CASES}
    wanted = {(name, lv.code) for name, c in COMPARISONS.items() for lv in c} | \
             {(name, MISSING) for name in COMPARISONS}
    assert wanted - covered == set()


def test_levels_are_named_once_with_labels_in_order():
    for name, comparison in COMPARISONS.items():
        assert [lv.code for lv in comparison] == list(range(len(comparison)))
        assert comparison.levels[-1].name == "DIFFERENT", name
        assert len({lv.name for lv in comparison}) == len(comparison)
        assert comparison.label(MISSING) == "missing"
