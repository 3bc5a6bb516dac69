import pandas as pd

from schemas.identifiers import (
    is_pseudo_postcode,
    nhs_check_digit,
    nhs_digits,
    nhs_valid,
    postcode_normalise,
    postcode_valid,
    upn_check_letter,
    upn_valid,
)
from tests.helpers import make_upn


def test_upn_check_letter_follows_the_dfe_algorithm():
    # Worked by hand: sum of digit x position (2..13) mod 23 indexes ABCDEFGHJKLMNPQRTUVWXYZ.
    body = "880200120001"
    total = sum(int(c) * w for w, c in enumerate(body, start=2))
    assert upn_check_letter(body) == "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23]
    good = make_upn("8802001", 1)
    wrong = ("B" if good[0] != "B" else "C") + good[1:]
    assert upn_valid(pd.Series([good, wrong, "", "A12", good.lower()])).tolist() == [True, False, False, False, True]


def test_temporary_upn_ending_in_a_letter_is_valid_when_its_check_letter_is_right():
    body = "88020012000A"
    assert upn_valid(pd.Series([upn_check_letter(body) + body])).item()
    # I, O and S are never used in UPNs.
    assert not upn_valid(pd.Series([upn_check_letter("88020012000B") + "88020012000S"])).item()


def test_nhs_number_modulus_11_and_spacing():
    first9 = "943476591"
    number = first9 + str(nhs_check_digit(first9))
    assert number == "9434765919"
    spaced = "943 476 5919"
    assert nhs_valid(pd.Series([number, spaced, "9434765918", "1111111111", "94347659", ""])).tolist() == \
        [True, True, False, False, False, False]
    assert nhs_digits(pd.Series([spaced, "943-476-5919"])).tolist() == ["9434765919", ""]
    # A check digit of 10 means no valid number has those nine digits.
    assert any(nhs_check_digit(f"{n:09d}") is None for n in range(100))


def test_postcodes_any_spacing_and_case_and_pseudo_postcodes():
    s = pd.Series(["sw1a1aa", " SW1A 1AA ", "M1 1AE", "ZZ99 3VZ", "not one", ""])
    assert postcode_normalise(s).tolist() == ["SW1A 1AA", "SW1A 1AA", "M1 1AE", "ZZ99 3VZ", "", ""]
    assert postcode_valid(s).tolist() == [True, True, True, True, False, True]
    assert is_pseudo_postcode(postcode_normalise(s)).tolist() == [False, False, False, True, False, False]


def test_identifiers_are_whole_strings_of_ascii_digits():
    import re

    from schemas import identifiers as ids
    good = make_upn("8802001", 1)
    arabic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    assert not upn_valid(pd.Series([good[0] + good[1:].translate(arabic)])).item()
    assert not nhs_valid(pd.Series(["9434765919".translate(arabic)])).any()
    assert postcode_normalise(pd.Series(["RA\uff11 1AB"])).tolist() == [""]
    # Cells are stripped when read; the shapes themselves must not allow a trailing newline.
    for shape, value in ((ids.LAESTAB_SHAPE, "8802001"), (ids.LA_CODE_SHAPE, "880"), (ids.ODS_SHAPE, "A81001"),
                         (ids._UPN_SHAPE.pattern, good), (ids._POSTCODE_SHAPE, "RA11AB")):
        assert re.match(shape, value)
        assert not re.match(shape, value + "\n")
        assert not re.match(shape, value.translate(arabic))


def test_the_vectorised_upn_check_agrees_with_the_letter_algorithm():
    import random

    import pandas as pd

    from schemas.identifiers import UPN_LETTERS, upn_check_letter, upn_valid

    rng = random.Random(5)
    values = []
    for _ in range(5000):
        body = "".join(rng.choice("0123456789") for _ in range(11)) + rng.choice("0123456789" + UPN_LETTERS)
        values.append((upn_check_letter(body) if rng.random() < 0.5 else rng.choice(UPN_LETTERS)) + body)
    values += ["", "bad", None, " " + values[0].lower() + " ", values[1][:12]]
    expected = [bool(v) and len(v.strip()) == 13 and v.strip().upper()[0] == upn_check_letter(v.strip().upper()[1:])
                if isinstance(v, str) and len(v.strip()) == 13 else False for v in values]
    assert upn_valid(pd.Series(values)).tolist() == expected and 2000 < sum(expected) < 3000
