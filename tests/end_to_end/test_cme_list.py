"""Issue 8's rules end to end: through `rollcall run` and the exports, on a small generated
population with hand-made records dropped beside it."""
import csv

import pytest
from sqlalchemy import select

from pipelines.cli import CHECKS_FAILED, main
from register.db import open_register
from register.models import CandidatePair, SourceRecord
from tests.helpers import AS_OF, drop_extract, make_upn, receipt, school_csv

LA_HEADER = "la_child_id,upn,nhs_number,surname,forename,dob,sex,address_line1,postcode,record_type,status_date,shielded"
HEALTH_HEADER = ("nhs_number,family_name,given_name,other_given_names,dob,gender,address_line1,address_line2,town,"
                 "postcode,residence_la,registration_date,deregistration_date,deregistration_reason")


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def csv_bytes(header: str, *lines: str) -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode()


def run(landing, db, tmp_path, *extra):
    return main(["run", "--landing", str(landing), "--db", db, "--archive", str(tmp_path / "archive"),
                 "--as-of", AS_OF.isoformat(), *extra])


def export_rows(db, tmp_path, what, *extra):
    out = tmp_path / f"{what}.csv"
    assert main(["export", what, "--db", db, "--out", str(out), *extra]) == 0
    return list(csv.DictReader(open(out)))


def test_a_key_one_extract_gives_two_children_is_a_conflict_not_a_link(landing, db_url, tmp_path):
    la = csv_bytes(LA_HEADER,
                   "DUP1,,,Ashcombe,Petra,2014-05-06,F,3 Elm Grove,RA1 1AB,CME_REFERRAL,2026-10-01,N",
                   "DUP1,,,Fenwick,Rory,2012-11-23,M,9 Oak Avenue,RA2 2CD,CME_REFERRAL,2026-10-01,N")
    drop_extract(landing, "880", "la_880_20261103.csv", la)
    assert run(landing, db_url, tmp_path) == 0
    warnings = receipt(landing, "880", "la_880_20261103.csv")["warnings"]
    assert any("rows 1, 2 share one la_child_id" in w for w in warnings)
    engine = open_register(db_url)
    with engine.connect() as conn:
        recs = conn.execute(select(SourceRecord.record_key, SourceRecord.child_id)
                            .where(SourceRecord.la_child_id == "DUP1", SourceRecord.active.is_(True))).all()
        pairs = conn.execute(select(CandidatePair.key_a, CandidatePair.key_b, CandidatePair.explanation)).all()
    assert len(recs) == 2 and recs[0].child_id != recs[1].child_id
    keys = {r.record_key for r in recs}
    assert any({a, b} == keys and "same identifier" in e for a, b, e in pairs)
    flagged = {r["child_id"] for r in export_rows(db_url, tmp_path, "cme")}
    assert {r.child_id for r in recs} <= flagged


def test_the_cme_export_refuses_when_no_list_was_computed(landing, sqlite_url, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cme.csv"
    open_register(sqlite_url)  # a register, migrated, into which nothing has been run
    assert main(["export", "cme", "--db", sqlite_url, "--out", str(out)]) == 1
    assert "no CME list" in capsys.readouterr().err and not out.exists()
    assert run(landing, sqlite_url, tmp_path) == 0
    assert main(["export", "cme", "--db", sqlite_url, "--out", str(out), "--as-of", "2026-10-01"]) == 1
    assert "no CME list was computed for 2026-10-01" in capsys.readouterr().err and not out.exists()
    # A run that changes the register and stops before the list: the old list is not handed out.
    import cme.flags

    def broken(*args, **kwargs):
        raise RuntimeError("stopped")

    monkeypatch.setattr(cme.flags, "flag_missing_children", broken)
    drop_extract(landing, "8802001", "school_8802001_20261103.csv", school_csv([
        {"upn": make_upn("8802001", 997), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02", "sex": "F",
         "entry_date": "2019-09-04", "enrol_status": "C"}]))
    assert run(landing, sqlite_url, tmp_path) == 1
    assert main(["export", "cme", "--db", sqlite_url, "--out", str(out)]) == 1
    assert "stopped before the CME list" in capsys.readouterr().err and not out.exists()
    monkeypatch.undo()
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # The one-row extract is far smaller than the school's last: held, a failed check, exit 3.
    assert run(landing, sqlite_url, tmp_path) == CHECKS_FAILED
    assert "check failed: validated_rows:no_extract_held" in capsys.readouterr().err
    assert main(["export", "cme", "--db", sqlite_url, "--out", str(out)]) == 0


def test_the_shield_holds_for_a_record_that_did_not_link(landing, sqlite_url, tmp_path, capsys):
    # The authority's shielded record and a GP record of the same child whose names are mistyped
    # beyond linking: the GP record shares the NHS number, so the shield covers it too.
    la = csv_bytes(LA_HEADER, "SH9,,9434765919,Marlowe,Tamsin,2014-06-06,F,1 Hidden Lane,RZ9 9ZZ,RESIDENT,2026-10-01,Y")
    gp = csv_bytes(HEALTH_HEADER,
                   "9434765919,Marlow,Tasmin,,2014-06-07,2,1 Hidden Lane,,Town,RZ9 9ZZ,880,2020-01-01,,")
    drop_extract(landing, "880", "la_880_20261103.csv", la)
    drop_extract(landing, "Z99001", "health_Z99001_20261103.csv", gp)
    assert run(landing, sqlite_url, tmp_path) == 0
    cme = export_rows(sqlite_url, tmp_path, "cme")
    mine = [r for r in cme if r["surname"].startswith("Marlow")]
    assert mine and all(r["shielded"] == "Y" and r["address_line1"] == r["postcode"] == "" for r in mine)
    assert "Hidden Lane" not in (tmp_path / "cme.csv").read_text()
    capsys.readouterr()
    rows = export_rows(sqlite_url, tmp_path, "register")
    assert not [r for r in rows if r["file"] in ("la_880_20261103.csv", "health_Z99001_20261103.csv")]
    assert "shielded rows left out" in capsys.readouterr().out
    rows = export_rows(sqlite_url, tmp_path, "register", "--include-shielded")
    assert len([r for r in rows if r["file"] in ("la_880_20261103.csv", "health_Z99001_20261103.csv")]) == 2
    assert "WARNING" in capsys.readouterr().err


def test_a_pupil_dropped_from_a_roll_without_a_leaving_record_is_flagged(landing, sqlite_url, tmp_path):
    pupils = [{"upn": make_upn("8819991", 980 + i), "surname": s, "forename": f, "dob": "2014-02-0" + str(i + 1),
               "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C", "postcode": "RB1 1AB"}
              for i, (s, f) in enumerate([("Quenby", "Ada"), ("Tarrant", "Bea"), ("Ulverston", "Cleo")])]
    drop_extract(landing, "8819991", "school_8819991_20261001.csv", school_csv(pupils))
    drop_extract(landing, "8819991", "school_8819991_20261101.csv", school_csv(pupils[1:]))
    assert run(landing, sqlite_url, tmp_path) == 0
    cme = {r["surname"]: r for r in export_rows(sqlite_url, tmp_path, "cme")}
    assert cme["Quenby"]["reason"] == "GONE_FROM_ROLL"
    assert cme["Quenby"]["last_school"] == "8819991" and cme["Quenby"]["la_code"] == "881"
    assert "Tarrant" not in cme and "Ulverston" not in cme


def test_a_gp_registration_with_no_residence_is_placed_by_the_postcode_directory(landing, sqlite_url, tmp_path):
    gp = csv_bytes(HEALTH_HEADER, ",Yardley,Nell,,2013-04-04,2,4 Mill Lane,,Town,QQ1 2AB,,2019-01-01,,")
    drop_extract(landing, "Z99002", "health_Z99002_20261103.csv", gp)
    directory = tmp_path / "onspd.csv"
    directory.write_text("pcd,pcds,dointr,doterm,oslaua\nQQ1  2AB,QQ1 2AB,199801,,E06009882\n")
    codes = tmp_path / "la_codes.csv"
    codes.write_text("LAD25CD,la_code\nE06009882,882\n")
    assert run(landing, sqlite_url, tmp_path) == 0
    unknown = [r for r in export_rows(sqlite_url, tmp_path, "cme") if r["surname"] == "Yardley"]
    assert unknown and unknown[0]["reason"] == "RESIDENCE_UNKNOWN" and unknown[0]["la_code"] == ""
    assert main(["reference", "postcodes", "--directory", str(directory), "--la-codes", str(codes),
                 "--db", sqlite_url, "--version", "ONSPD test"]) == 0
    assert run(landing, sqlite_url, tmp_path) == 0
    mine = [r for r in export_rows(sqlite_url, tmp_path, "cme") if r["surname"] == "Yardley"][0]
    assert (mine["la_code"], mine["reason"], mine["residence_source"]) == ("882", "NOT_ON_ANY_ROLL",
                                                                           "postcode_directory")


def test_a_child_whose_newest_row_is_quarantined_keeps_their_previous_record(landing, sqlite_url, tmp_path):
    gp_old = csv_bytes(HEALTH_HEADER, "9434765919,Yardley,Nell,,2013-04-04,2,4 Mill Lane,,Town,RA1 2AB,880,2019-01-01,,")
    gp_new = csv_bytes(HEALTH_HEADER, "9434765919,Yardley,Nell,,2013-02-30,2,4 Mill Lane,,Town,RA1 2AB,880,2019-01-01,,")
    drop_extract(landing, "Z99003", "health_Z99003_20261001.csv", gp_old)
    drop_extract(landing, "Z99003", "health_Z99003_20261101.csv", gp_new)
    pupil = {"upn": make_upn("8819993", 1), "surname": "Quenby", "forename": "Ada", "dob": "2014-02-01",
             "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C", "postcode": "RB1 1AB"}
    drop_extract(landing, "8819993", "school_8819993_20261001.csv", school_csv([pupil]))
    drop_extract(landing, "8819993", "school_8819993_20261101.csv", school_csv([dict(pupil, sex="Q")]))
    assert run(landing, sqlite_url, tmp_path) == 0
    assert receipt(landing, "Z99003", "health_Z99003_20261101.csv")["rows"]["quarantined"] == 1
    cme = {r["surname"]: r for r in export_rows(sqlite_url, tmp_path, "cme")}
    assert cme["Yardley"]["reason"] == "NOT_ON_ANY_ROLL", "a bad cell never hides a missing child"
    assert "Quenby" not in cme, "a pupil whose newest row is quarantined is still on the roll"


def test_a_file_whose_bad_rows_all_lack_a_valid_identifier_still_loads(landing, sqlite_url, tmp_path):
    gp = csv_bytes(HEALTH_HEADER,
                   "9434765919,Yardley,Nell,,2013-04-04,2,4 Mill Lane,,Town,RA1 2AB,880,2019-01-01,,",
                   "1234567890,Zeal,Ora,,2013-02-30,5,5 Mill Lane,,Town,RA1 2AB,880,2019-01-01,,")
    drop_extract(landing, "Z99004", "health_Z99004_20261101.csv", gp)
    assert run(landing, sqlite_url, tmp_path) == 0
    r = receipt(landing, "Z99004", "health_Z99004_20261101.csv")
    assert r["status"] == "accepted" and r["rows"] == {"total": 2, "accepted": 1, "quarantined": 1}
