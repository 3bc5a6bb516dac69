from datetime import date

import pytest

from schemas.cells import display_value
from schemas.contract import FileRejected
from schemas.reader import read_extract
from schemas.validation import validate_extract
from tests.helpers import make_upn, school_csv

GOOD = {"upn": make_upn("8802001", 1), "surname": "O'Neil-Smith", "forename": "Zoë", "dob": "2015-03-02",
        "sex": "M", "entry_date": "2019-09-04", "enrol_status": "C", "postcode": "ra1 5wh"}


def faults_by_row(data: bytes, feed="school", on=date(2026, 11, 2)):
    valid, faults = validate_extract(read_extract(data, feed), on)
    out = {}
    for f in faults:
        out.setdefault(f.row, set()).add((f.column, f.reason))
    return valid, out


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"  \r\n", "empty"),
    ("upn,surname\n".encode("utf-16"), "NUL"),
    (b"upn,surname,forename,dob,sex,entry_date,enrol_status\n\xff\xfe,a,b,c,d,e,f\n", "not UTF-8"),
    (b"upn,surname,forename,dob,sex,entry_date\nA,b,c,d,e,f\n", "enrol_status"),
    (b"upn,upn,surname,forename,dob,sex,entry_date,enrol_status\n", "more than once"),
    (b"upn,surname,forename,dob,sex,entry_date,enrol_status\n", "no data rows"),
    (b'upn,surname,forename,dob,sex,entry_date,enrol_status\n"A,b,c,d,e,f,g\n', "not valid CSV"),
])
def test_file_level_faults_reject_the_whole_file(data, reason):
    with pytest.raises(FileRejected) as exc:
        read_extract(data, "school")
    assert reason in str(exc.value)


def test_header_names_are_case_insensitive_order_free_and_bom_tolerated():
    body = school_csv([GOOD]).decode()
    header, rest = body.split("\r\n", 1)
    shuffled = ",".join(f" {h.upper()} " for h in reversed(header.split(",")))
    row = ",".join(reversed(rest.split("\r\n")[0].split(",")))
    valid, faults = faults_by_row(b"\xef\xbb\xbf" + f"{shuffled}\r\n{row}\r\n".encode())
    assert faults == {} and len(valid) == 1
    assert valid.iloc[0]["postcode"] == "RA1 5WH" or valid.iloc[0]["postcode"] == "RA1 5WH".lower().upper()


def test_unknown_columns_are_accepted_with_a_warning():
    parsed = read_extract(school_csv([dict(GOOD, _extra="x")], extra_header=",shoe_size"), "school")
    assert parsed.warnings == ["unknown column ignored: shoe_size"]


def test_each_bad_row_is_quarantined_with_its_reasons_and_good_rows_stay():
    rows = [GOOD,
            dict(GOOD, upn="A" + GOOD["upn"][1:] if GOOD["upn"][0] != "A" else "B" + GOOD["upn"][1:]),
            dict(GOOD, dob="2015-02-30", sex="X"),
            dict(GOOD, surname="Sm1th"),
            dict(GOOD, leaving_date="2026-01-10"),
            dict(GOOD, leaving_date="2026-01-10", leaving_reason="NO_DESTINATION"),
            dict(GOOD, dob="2027-01-01"),
            dict(GOOD, entry_date=""),
            dict(GOOD, postcode="NOT A PC"),
            dict(GOOD, sex="f")]
    valid, faults = faults_by_row(school_csv(rows))
    assert sorted(valid.index) == [1, 6, 10]
    assert faults[2] == {("upn", "is not a valid UPN (shape or check letter)")}
    assert faults[3] == {("dob", "is not a real date in YYYY-MM-DD form"), ("sex", "is not one of the codes M/F")}
    assert faults[4] == {("surname", "holds characters other than letters, spaces, hyphens and apostrophes")}
    assert faults[5] == {("leaving_reason", "is required when leaving_date is given")}
    assert faults[7] == {("dob", "is after the extract date")}
    assert faults[8] == {("entry_date", "a value is required")}
    assert faults[9] == {("postcode", "is not shaped like a UK postcode")}
    assert valid.loc[1, "dob"] == date(2015, 3, 2)


def test_a_row_with_the_wrong_number_of_fields_is_quarantined_not_the_file():
    data = school_csv([GOOD]) + b"only,three,fields\r\n" + school_csv([GOOD]).split(b"\r\n", 1)[1]
    valid, faults = faults_by_row(data)
    assert sorted(valid.index) == [1, 3]
    assert faults[2] == {("", "the row has 3 fields; the header has 10")}


def test_health_and_la_feeds_check_their_own_codes():
    health = (b"nhs_number,family_name,given_name,dob,gender,registration_date,residence_la\n"
              b"943 476 5919,Khan,Aisha,2016-05-05,2,2017-01-01,880\n"
              b"9434765918,Khan,Aisha,2016-05-05,M,2017-01-01,88\n")
    valid, faults = faults_by_row(health, "health")
    assert list(valid.index) == [1]
    assert {c for c, _ in faults[2]} == {"nhs_number", "gender", "residence_la"}
    la = (b"la_child_id,surname,forename,dob,sex,record_type,status_date,shielded\n"
          b"C1,Khan,Aisha,2016-05-05,U,EHE,2026-01-01,Y\nC2,Khan,Aisha,2016-05-05,U,HOME,2026-01-01,maybe\n")
    valid, faults = faults_by_row(la, "la")
    assert list(valid.index) == [1] and {c for c, _ in faults[2]} == {"record_type", "shielded"}


def test_receipt_values_never_show_personal_data_and_never_run_as_formulas():
    assert display_value("school", "surname", "Smith") == "(withheld, 5 characters)"
    assert display_value("school", "upn", "=HYPERLINK(1)") == "(withheld, 13 characters)"
    assert display_value("school", "sex", "=1+2") == "'=1+2"
    assert display_value("school", "enrol_status", "@SUM(A1)") == "'@SUM(A1)"
    assert display_value("school", "sex", "") == "(empty)"


def test_many_extracts_validated_in_one_pass_give_what_each_gives_alone(tmp_path):
    """validate_extracts (one Pandera pass per feed over many files) finds each file's faults
    and valid rows exactly as validating the file alone does, rows and reasons never crossing
    from one file to another."""
    from pandas.testing import assert_frame_equal

    from schemas.validation import validate_extracts
    from sources.naming import parse_name
    from synth.extracts import generate

    generate(tmp_path / "landing", tmp_path / "truth", children=600, seed=3, extract_date=date(2026, 11, 2))
    parts = []
    for path in sorted((tmp_path / "landing").rglob("*.csv")):
        meta = parse_name(path.name)
        parsed = read_extract(path.read_bytes(), meta.feed)
        n = len(parts)
        if n % 3 == 0:  # a bad cell in every third file, in a different row each time
            parsed.frame.iloc[n % len(parsed.frame), parsed.frame.columns.get_loc("dob")] = "2026-13-40"
        if n % 4 == 1:
            name = "family_name" if meta.feed == "health" else "surname"
            parsed.frame.iloc[-1, parsed.frame.columns.get_loc(name)] = "B4d N4me"
        parts.append((parsed, meta.extract_date))
    together = validate_extracts(parts)
    assert {p.feed for p, _ in parts} == {"school", "health", "la"}
    assert sum(len(f) for _, f in together) >= len(parts) // 3
    for (parsed, on), (valid, faults) in zip(parts, together):
        alone_valid, alone_faults = validate_extract(parsed, on)
        assert_frame_equal(valid, alone_valid)
        assert faults == alone_faults


def test_contract_1_2_arrangements_and_register_items_are_checked_and_version_1_files_still_pass():
    school = ("upn,surname,forename,dob,sex,entry_date,enrol_status,arrangement,hours_elsewhere\n"
              f"{make_upn('8802001', 1)},Khan,Aisha,2016-05-05,F,2021-09-01,C,FLEXI,7.5\n"
              f"{make_upn('8802001', 2)},Khan,Omar,2016-05-05,M,2021-09-01,C,FLEXI,\n"
              f"{make_upn('8802001', 3)},Khan,Ali,2016-05-05,M,2021-09-01,C,HALF_DAYS,200\n"
              f"{make_upn('8802001', 4)},Khan,Ayan,2016-05-05,M,2021-09-01,C,,\n").encode()
    valid, faults = faults_by_row(school)
    assert list(valid.index) == [1, 4]
    assert faults[2] == {("hours_elsewhere", "is required when arrangement is given")}
    assert {c for c, _ in faults[3]} == {"arrangement", "hours_elsewhere"}
    la = (b"la_child_id,surname,forename,dob,sex,record_type,status_date,ehe_reason,parent1_name,"
          b"parent1_address_line1,parent2_address_line1,hours_parents,provider1_name,provider1_hours,provider1_online\n"
          b"C1,Khan,Aisha,2016-05-05,F,EHE,2026-01-01,BULLYING,Sara Khan,1 High St,,20,Oak Tutors,4,N\n"
          b"C2,Khan,Omar,2016-05-05,M,EHE,2026-01-01,BORED,Sara Kh4n,,2 Low St,-1,,4,maybe\n")
    valid, faults = faults_by_row(la, "la")
    assert list(valid.index) == [1]
    assert {c for c, _ in faults[2]} == {"ehe_reason", "parent1_name", "parent2_name", "hours_parents",
                                         "provider1_name", "provider1_online"}
    # A version 1 file (none of the new columns) is read as before.
    valid, faults = faults_by_row(school_csv([GOOD]))
    assert list(valid.index) == [1] and not faults
