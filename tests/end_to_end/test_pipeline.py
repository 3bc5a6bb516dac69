"""The whole run, through the CLI and Dagster, on SQLite and on PostgreSQL."""
import csv
import json
import logging
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipelines.cli import CHECKS_FAILED, main, run_pipeline
from pipelines.environment import configure_rooms
from register.db import open_register
from register.models import CandidatePair, ExtractFile, QuarantinedRow, SourceRecord
from synth.evaluate import linkage_scores
from tests.helpers import AS_OF, drop_extract, make_upn, receipt, school_csv, small_tmpfs


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def run(landing, db, tmp_path, *extra):
    return main(["run", "--landing", str(landing), "--db", db, "--archive", str(tmp_path / "archive"),
                 "--as-of", AS_OF.isoformat(), *extra])


def export(db, tmp_path, what, name=None, *extra):
    out = tmp_path / (name or f"{what}.csv")
    assert main(["export", what, "--db", db, "--out", str(out), *extra]) == 0
    return out


def ledger(db):
    with open_register(db).connect() as conn:
        return conn.execute(select(ExtractFile.name, ExtractFile.status, ExtractFile.reason)
                            .order_by(ExtractFile.id)).all()


def test_whole_run_rerun_changes_nothing(landing, db_url, tmp_path, capsys):
    assert run(landing, db_url, tmp_path) == 0
    out = capsys.readouterr().out
    assert "register children:" in out and "LA 880" in out
    reg1, cme1 = export(db_url, tmp_path, "register", "r1.csv"), export(db_url, tmp_path, "cme", "c1.csv")
    files1 = ledger(db_url)
    assert files1 and all(status == "accepted" for _, status, _ in files1)
    assert run(landing, db_url, tmp_path) == 0
    reg2, cme2 = export(db_url, tmp_path, "register", "r2.csv"), export(db_url, tmp_path, "cme", "c2.csv")
    assert reg1.read_bytes() == reg2.read_bytes()
    assert cme1.read_bytes() == cme2.read_bytes()
    assert ledger(db_url) == files1
    header = next(csv.reader(open(reg1)))
    assert header[:5] == ["feed", "provider", "file", "row", "child_id"]
    assert next(csv.reader(open(cme1)))[:3] == ["child_id", "la_code", "reason"]
    scores = linkage_scores(reg1, tmp_path / "truth")
    assert scores["pair_precision"] >= 0.98 and scores["pair_recall"] >= 0.95 and scores["twin_merges"] == 0
    for r in csv.DictReader(open(reg1)):
        assert r["child_id"].startswith("RC") and len(r["child_id"]) == 12


def test_file_faults_and_bad_rows_on_a_whole_run(landing, db_url, tmp_path):
    good = {"upn": make_upn("8802001", 990), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02",
            "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
    bad = dict(good, upn=make_upn("8802001", 991), dob="2015-02-30")
    drop_extract(landing, "8802001", "school_8802001_20261030.csv", school_csv([good, bad]))
    drop_extract(landing, "8802001", "school_8802001_20261029.csv", school_csv([good]), sidecar="a" * 64)
    drop_extract(landing, "8802001", "school_8802001_20261028.csv", b"upn,surname\nX,Y\n")
    drop_extract(landing, "8802001", "school_8802001_20261027.csv", "upn,surname\n\xe9\n".encode("latin-1"))
    waiting = drop_extract(landing, "8802001", "school_8802001_20261031.csv", school_csv([good]), sidecar=False)
    assert run(landing, db_url, tmp_path) == 0
    status = {n: (s, r) for n, s, r in ledger(db_url)}
    assert status["school_8802001_20261030.csv"][0] == "accepted"
    assert "does not match" in status["school_8802001_20261029.csv"][1]
    assert "required column(s) missing" in status["school_8802001_20261028.csv"][1]
    assert "not UTF-8" in status["school_8802001_20261027.csv"][1]
    assert waiting.exists() and "school_8802001_20261031.csv" not in status
    r = receipt(landing, "8802001", "school_8802001_20261030.csv")
    assert r["rows"] == {"total": 2, "accepted": 1, "quarantined": 1}
    assert r["rejected_rows"] == [{"row": 2, "column": "dob", "reason": "is not a real date in YYYY-MM-DD form"}]
    rows = list(csv.reader(open(landing / "8802001" / "outbox" / "school_8802001_20261030.csv.receipt.csv")))
    assert rows[1] == ["2", "dob", "(withheld, 10 characters)", "is not a real date in YYYY-MM-DD form"]
    for name in ("school_8802001_20261029.csv", "school_8802001_20261028.csv", "school_8802001_20261027.csv"):
        assert receipt(landing, "8802001", name)["status"] == "rejected"


def test_the_same_file_sent_again_is_ingested_once(landing, db_url, tmp_path):
    first = sorted((landing / "880" / "inbox").glob("*.csv"))[0]
    copy = first.read_bytes()
    assert run(landing, db_url, tmp_path) == 0
    with open_register(db_url).connect() as conn:
        before = conn.execute(select(func.count()).select_from(SourceRecord)).scalar()
    drop_extract(landing, "880", first.name, copy)
    assert run(landing, db_url, tmp_path) == 0
    with open_register(db_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(SourceRecord)).scalar() == before
    assert receipt(landing, "880", first.name)["status"] == "duplicate"
    assert [s for n, s, _ in ledger(db_url) if n == first.name] == ["accepted", "duplicate"]


def test_a_newer_extract_supersedes_and_child_ids_stay(landing, sqlite_url, tmp_path):
    school = sorted(p for p in landing.iterdir() if len(p.name) == 7)[0]
    original = sorted((school / "inbox").glob("*.csv"))[0]
    data = original.read_bytes()
    assert run(landing, sqlite_url, tmp_path) == 0
    reg1 = {(r["file"], r["row"]): r for r in csv.DictReader(open(export(sqlite_url, tmp_path, "register", "a.csv",
                                                                          "--include-shielded")))}
    lines = data.decode("utf-8-sig").splitlines()
    header, rows = lines[0], lines[1:]
    newer = original.name.replace("20261102", "20261109")
    drop_extract(landing, school.name, newer, ("\r\n".join([header] + rows[1:]) + "\r\n").encode())
    assert run(landing, sqlite_url, tmp_path) == 0
    reg2 = {(r["file"], r["row"]): r for r in csv.DictReader(open(export(sqlite_url, tmp_path, "register", "b.csv",
                                                                          "--include-shielded")))}
    # Every row of the older file keeps its child; the same pupils in the newer file share them.
    for key, r in reg1.items():
        assert reg2[key]["child_id"] == r["child_id"]
    old_rows = {reg1[(original.name, str(i))]["record_key"]: reg1[(original.name, str(i))]["child_id"]
                for i in range(2, len(rows) + 1)}
    for i in range(1, len(rows)):
        r = reg2[(newer, str(i))]
        assert r["active"] == "Y" and old_rows[r["record_key"]] == r["child_id"]
    # The older file's rows are superseded, except the pupil the newer one left out: that row
    # stays current (carried forward) as the last thing the roll said about them.
    assert {row for (f, row), r in reg2.items() if f == original.name and r["active"] == "Y"} == {"1"}


def test_shielded_childs_location_never_leaves_in_the_cme_export(landing, sqlite_url, tmp_path):
    la = (b"la_child_id,upn,nhs_number,surname,forename,dob,sex,address_line1,postcode,record_type,status_date,shielded\r\n"
          b"SH1,,,Marlowe,Tamsin,2014-06-06,F,1 Hidden Lane,RZ9 9ZZ,CME_REFERRAL,2026-10-01,Y\r\n")
    drop_extract(landing, "880", "la_880_20261103.csv", la)
    assert run(landing, sqlite_url, tmp_path) == 0
    rows = list(csv.DictReader(open(export(sqlite_url, tmp_path, "cme"))))
    mine = [r for r in rows if r["forename"] == "Tamsin"]
    assert len(mine) == 1
    r = mine[0]
    assert r["shielded"] == "Y" and r["reason"] == "CME_REFERRAL"
    assert r["address_line1"] == r["postcode"] == r["last_school"] == ""
    assert r["sources"] == "la"
    text = (tmp_path / "cme.csv").read_text()
    assert "Hidden Lane" not in text and "RZ9 9ZZ" not in text


def sensitive_values(landing: Path) -> set[str]:
    values = set()
    for path in landing.rglob("*.csv"):
        for r in csv.DictReader(open(path, encoding="utf-8-sig")):
            r = {k.strip().lower(): v for k, v in r.items()}
            for col in ("postcode", "nhs_number", "upn", "previous_postcode", "additional_postcode"):
                if r.get(col) and len(r[col]) >= 6:
                    values.add(r[col])
            # Parents are data subjects too (contract 1.2's register items).
            for col in ("parent1_name", "parent2_name", "parent1_address_line1", "parent2_address_line1",
                        "previous_address_line1", "additional_address_line1"):
                if r.get(col):
                    values.add(r[col])
            sn = r.get("surname") or r.get("family_name") or ""
            fn = r.get("forename") or r.get("given_name") or ""
            if sn and fn:
                values.add(f"{fn} {sn}")
            if len(sn) >= 8:
                values.add(sn)
            if r.get("address_line1"):
                values.add(r["address_line1"])
    return values


def parent_names(landing: Path) -> set[str]:
    return {r[c] for path in landing.rglob("la_*.csv") for r in csv.DictReader(open(path, encoding="utf-8-sig"))
            for c in ("parent1_name", "parent2_name") if r.get(c)}


def leaks(texts: list[str], values: set[str]) -> set[str]:
    blob = "\n".join(texts)
    return {v for v in values if v in blob}


def test_no_personal_data_in_logs_events_metadata_or_output(landing, sqlite_url, tmp_path, caplog, capfd):
    values = sensitive_values(landing)
    assert len(values) > 500
    assert parent_names(landing) and parent_names(landing) <= values  # parents' data is planted and looked for
    caplog.set_level(logging.DEBUG)
    result = run_pipeline(sqlite_url, str(landing), None, str(tmp_path / "archive"), AS_OF)
    assert result.success
    texts = [rec.getMessage() for rec in caplog.records]
    for event in result.all_events:
        texts.append(event.message or "")
        data = event.event_specific_data
        for attr in ("materialization", "asset_materialization"):
            m = getattr(data, attr, None)
            if m is not None:
                texts += [f"{k}={v.value}" for k, v in m.metadata.items()]
        if hasattr(data, "metadata") and isinstance(data.metadata, dict):
            texts += [f"{k}={getattr(v, 'value', v)}" for k, v in data.metadata.items()]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    for receipt_file in landing.rglob("*.receipt.*"):
        texts.append(receipt_file.read_text())
    assert leaks(texts, values) == set()
    # The detector itself must be able to fail: a planted value is found.
    planted = sorted(values)[0]
    assert leaks(texts + [f"oops {planted}"], values) == {planted}


def test_a_failing_step_reports_no_data(landing, sqlite_url, tmp_path, monkeypatch):
    from cme import rules

    values = sensitive_values(landing)
    victim = sorted(v for v in values if " " in v)[0]

    def broken(records, as_of, *more, **named):
        raise KeyError(victim)

    monkeypatch.setattr("cme.flags.flag_missing_children", broken)
    result = run_pipeline(sqlite_url, str(landing), None, str(tmp_path / "archive"), AS_OF)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    text = str(failure.event_specific_data.error.to_string())
    assert victim not in text and "KeyError at" in text
    assert rules.flag_missing_children is not broken


def test_a_run_with_nothing_new_does_not_relink(landing, sqlite_url, tmp_path):
    def relinked(result):
        mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.event_specific_data.materialization.asset_key.to_user_string() == "links"]
        return mats[0].event_specific_data.materialization.metadata["relinked"].value

    archive = str(tmp_path / "archive")
    assert relinked(run_pipeline(sqlite_url, str(landing), None, archive, AS_OF)) is True
    assert relinked(run_pipeline(sqlite_url, str(landing), None, archive, AS_OF)) is False
    good = {"upn": make_upn("8819994", 995), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02",
            "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
    # A new school's first extract (a one-row extract from an existing school would be held).
    drop_extract(landing, "8819994", "school_8819994_20261103.csv", school_csv([good]))
    assert relinked(run_pipeline(sqlite_url, str(landing), None, archive, AS_OF)) is True


def test_a_flag_with_an_undecided_match_in_review_says_so_until_an_analyst_rules(landing, sqlite_url, tmp_path):
    def cme_rows():
        return {r["child_id"]: r for r in csv.DictReader(open(export(sqlite_url, tmp_path, "cme")))}

    assert run(landing, sqlite_url, tmp_path) == 0
    rows = cme_rows()
    assert rows and {r["possible_match_in_review"] for r in rows.values()} <= {"Y", "N"}
    target = next(c for c, r in rows.items() if r["possible_match_in_review"] == "N")
    engine = open_register(sqlite_url)
    with engine.connect() as conn:
        recs = conn.execute(select(SourceRecord.record_key, SourceRecord.child_id, SourceRecord.feed)
                            .where(SourceRecord.active.is_(True))).all()
    flagged_key = next(k for k, c, _ in recs if c == target)
    on_roll_key = next(k for k, c, f in recs if f == "school" and c not in rows)
    a, b = sorted([flagged_key, on_roll_key])
    with Session(engine) as s:  # as the model would queue it: a pair the analysts have not ruled on
        s.add(CandidatePair(key_a=a, key_b=b, match_weight=1.5, match_probability=0.74, decision="review",
                            explanation="{}", updated_at=datetime(2026, 11, 2)))
        s.commit()
    assert run(landing, sqlite_url, tmp_path) == 0
    after = cme_rows()
    assert after[target]["possible_match_in_review"] == "Y"
    assert after.keys() == rows.keys(), "a flag under review stays on the list"
    with engine.begin() as conn:
        conn.execute(update(CandidatePair).where(CandidatePair.key_a == a, CandidatePair.key_b == b)
                     .values(analyst_decision="different"))
    assert run(landing, sqlite_url, tmp_path) == 0
    assert cme_rows()[target]["possible_match_in_review"] == "N"


def test_dagster_storage_holds_no_personal_data(landing, sqlite_url, tmp_path, monkeypatch):
    """Assets hand over through the register database: nothing a child's record holds is written
    anywhere under DAGSTER_HOME (run storage, event log, compute logs, IO manager outputs)."""
    from dagster import DagsterInstance

    values = sensitive_values(landing)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        result = run_pipeline(sqlite_url, str(landing), None, str(tmp_path / "archive"), AS_OF, instance=instance)
    assert result.success

    def found() -> set[str]:
        blob = b"\n".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
        return {v for v in values if v.encode() in blob}

    assert len(list(home.rglob("*"))) > 3, "the run wrote Dagster's own storage here"
    assert found() == set()
    planted = sorted(values)[0]
    (home / "storage").mkdir(exist_ok=True)
    (home / "storage" / "planted").write_text(f"oops {planted}")
    assert found() == {planted}


def test_files_holding_childrens_data_are_owner_only_whatever_the_umask(landing, tmp_path):
    import os
    import stat
    db = tmp_path / "reg" / "register.sqlite"
    old = os.umask(0o000)
    try:
        assert run(landing, f"sqlite:///{db}", tmp_path) == 0
        out = export(f"sqlite:///{db}", tmp_path, "cme")
    finally:
        os.umask(old)
    archive = tmp_path / "archive"
    paths = [db, out, *archive.rglob("*")] + [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert len(paths) > 10
    for p in paths:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p.relative_to(tmp_path)} is {oct(mode)}"


RUN_WORKER = """
import os, sys
os.umask(0)  # the loosest umask a shell could give
import pipelines.definitions  # what a code location and each run worker load first
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    with instance.compute_log_manager.capture_logs(["a-run", "compute_logs", "a-step"]):
        print("a step's output", flush=True)
        sys.stderr.write("a step's warning\\n")
"""


@pytest.mark.attacks
def test_dagster_compute_logs_and_storage_are_owner_only_whatever_the_umask(tmp_path):
    """A step's captured output (Dagster's compute logs) and its run storage, written by a run
    worker as `dagster dev` or the daemon launches it, are their owner's only."""
    import os
    import stat
    import subprocess
    import sys

    home = tmp_path / "dagster_home"
    home.mkdir()
    done = subprocess.run([sys.executable, "-c", RUN_WORKER], cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    logs = [p for p in home.rglob("*") if p.suffix in (".out", ".err")]
    assert len(logs) == 2 and "a step's output" in "".join(p.read_text() for p in logs), logs
    loose = {str(p.relative_to(home)): oct(stat.S_IMODE(p.stat().st_mode)) for p in home.rglob("*")
             if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert loose == {}, "readable by others"


def test_a_tampered_archive_copy_is_never_loaded(landing, sqlite_url, tmp_path):
    from sources.acknowledge import load_and_acknowledge
    from sources.collection import collect
    from sources.landing import LocalLanding
    from sources.router import SourceRouter

    # Collect only, then alter the archived copy before validation.
    engine = open_register(sqlite_url)
    report = collect(LocalLanding(landing), engine, tmp_path / "archive")
    with engine.connect() as conn:
        fid, path = conn.execute(select(ExtractFile.id, ExtractFile.archive_path)
                                 .where(ExtractFile.name.like("school_%")).limit(1)).one()
    assert Path(path).is_absolute()
    Path(path).write_bytes(Path(path).read_bytes() + b"X")
    load_and_acknowledge(engine, SourceRouter([LocalLanding(landing)]), [fid])
    with engine.connect() as conn:
        status, reason = conn.execute(select(ExtractFile.status, ExtractFile.reason).where(ExtractFile.id == fid)).one()
        rows = conn.execute(select(func.count()).select_from(SourceRecord).where(SourceRecord.file_id == fid)).scalar()
    assert report.collected and status == "rejected" and "no longer matches" in reason and rows == 0


def test_long_names_valid_under_the_contract_load_on_both_databases(landing, db_url, tmp_path):
    long_name = "A" + "b" * 128  # 129 letters: the contract sets no length
    row = {"upn": make_upn("8819995", 993), "surname": long_name, "forename": "Ava", "dob": "2015-03-02",
           "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
    drop_extract(landing, "8819995", "school_8819995_20261103.csv", school_csv([row]))
    assert run(landing, db_url, tmp_path) == 0
    assert receipt(landing, "8819995", "school_8819995_20261103.csv")["rows"]["accepted"] == 1
    statuses = {s for _, s, _ in ledger(db_url)}
    assert statuses == {"accepted"}, "every other provider's files loaded in the same run"


def test_a_row_the_database_refuses_is_quarantined_not_the_file(pg_url):
    import pandas as pd
    from sqlalchemy.orm import Session as OrmSession

    from register.db import RowValues
    from sources.storing import store_rows
    engine = open_register(pg_url)
    with OrmSession(engine) as s:
        f = ExtractFile(provider="8802001", name="x.csv", sha256="0" * 64, size_bytes=1, archive_path="/x",
                        status="collected", collected_at=datetime(2026, 11, 2))
        s.add(f)
        s.flush()
        base = {"file_id": f.id, "feed": "school", "provider": "8802001", "surname": "Quinn", "forename": "Ava",
                "dob": datetime(2015, 3, 2).date(), "active": False}
        good = dict(base, row_no=1, record_key="school:8802001:a", upn=make_upn("8802001", 1))
        bad = dict(base, row_no=2, record_key="school:8802001:b", upn="X" * 40)  # longer than the column
        faults = store_rows(s, RowValues.of(SourceRecord.__table__, pd.DataFrame([good, bad]), sqlite=False))
        s.commit()
        assert [(x.row, "could not be stored" in x.reason) for x in faults] == [(2, True)]
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == 1


def test_a_row_the_database_refuses_keeps_its_record_key_for_the_quarantine():
    """A stored row the database refuses is quarantined under the key its rows have (so the
    child's previous record stands in), worked out from the prepared rows alone."""
    from schemas.reader import read_extract
    from schemas.validation import validate_extract
    from sources.preparing import prepare_chunk

    rows = [{"upn": make_upn("8802001", i), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02", "sex": "F",
             "entry_date": "2020-09-01", "enrol_status": "C", "postcode": "RA1 1AB"} for i in (1, 2)]
    rows.append(dict(rows[0], upn="not a upn"))
    chunk = read_extract(school_csv(rows), "school")
    valid, faults = validate_extract(chunk, AS_OF)
    secret = b"s" * 32
    prepared = prepare_chunk("school", "8802001", 7, chunk, valid, faults, secret, sqlite=True)
    stored = prepared.rows.frame()
    assert list(stored["row_no"]) == [1, 2] and set(stored["file_id"]) == {7}
    assert [x.row for x in prepared.faults] == [3] and not prepared.bad_keys  # an invalid UPN has no key
    assert prepared.keys_of([2], secret) == {2: stored["record_key"][1]}


def test_an_extract_whose_every_row_is_bad_replaces_nothing(landing, sqlite_url, tmp_path):
    assert run(landing, sqlite_url, tmp_path) == 0
    with open_register(sqlite_url).connect() as conn:
        before = conn.execute(select(func.count()).where(SourceRecord.active.is_(True),
                                                         SourceRecord.provider == "8802001")).scalar()
    assert before > 0
    bad = {"upn": make_upn("8802001", 996), "surname": "Quinn", "forename": "Ava", "dob": "2015-02-30",
           "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
    drop_extract(landing, "8802001", "school_8802001_20261103.csv", school_csv([bad]))
    assert run(landing, sqlite_url, tmp_path) == 0
    r = receipt(landing, "8802001", "school_8802001_20261103.csv")
    assert r["status"] == "rejected" and "replaces nothing" in r["reason"] and r["rejected_rows"]
    with open_register(sqlite_url).connect() as conn:
        after = conn.execute(select(func.count()).where(SourceRecord.active.is_(True),
                                                        SourceRecord.provider == "8802001")).scalar()
    assert after == before


def test_a_second_run_on_a_busy_register_waits_then_stops_clearly(landing, db_url, tmp_path, capsys):
    from register.lock import register_lock
    with register_lock(db_url):
        assert run(landing, db_url, tmp_path, "--wait", "1") == 75
    assert "another run is using this register" in capsys.readouterr().err
    assert ledger(db_url) == [], "nothing was collected while the register was busy"
    assert run(landing, db_url, tmp_path, "--wait", "0") == 0


def test_record_keys_reveal_no_identifier(landing, sqlite_url, tmp_path):
    identifiers = set()
    for path in landing.rglob("*.csv"):
        for r in csv.DictReader(open(path, encoding="utf-8-sig")):
            r = {k.strip().lower(): v for k, v in r.items()}
            for col in ("upn", "nhs_number", "la_child_id"):
                if r.get(col):
                    identifiers |= {r[col], r[col].replace(" ", "")}
    assert run(landing, sqlite_url, tmp_path) == 0
    reg = export(sqlite_url, tmp_path, "register", None, "--include-shielded")
    keys = [r["record_key"] for r in csv.DictReader(open(reg))]
    with open_register(sqlite_url).connect() as conn:
        keys += [k for pair in conn.execute(select(CandidatePair.key_a, CandidatePair.key_b)) for k in pair]
    assert len(keys) > 500 and len(identifiers) > 300
    leaked = {i for i in identifiers for k in keys if i in k}
    assert leaked == set()


def test_an_extract_far_smaller_than_the_last_is_held_until_an_operator_decides(landing, sqlite_url, tmp_path,
                                                                                 capsys):
    def roll():
        with open_register(sqlite_url).connect() as conn:
            return conn.execute(select(func.count()).where(SourceRecord.active.is_(True),
                                                           SourceRecord.provider == "8819992")).scalar()

    def held_id():
        capsys.readouterr()
        assert main(["held", "list", "--db", sqlite_url]) == 0
        return int(capsys.readouterr().out.split("\t")[0])

    pupils = [{"upn": make_upn("8819992", i), "surname": f"Pupil{chr(65 + i % 26)}", "forename": "Ava",
               "dob": "2015-03-02", "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"} for i in range(40)]
    drop_extract(landing, "8819992", "school_8819992_20261001.csv", school_csv(pupils))
    assert run(landing, sqlite_url, tmp_path) == 0 and roll() == 40
    # The wrong file: rejected by the operator, the roll never changes.
    drop_extract(landing, "8819992", "school_8819992_20261015.csv", school_csv(pupils[:3]))
    assert run(landing, sqlite_url, tmp_path) == CHECKS_FAILED, "a held extract fails the no_extract_held check"
    r = receipt(landing, "8819992", "school_8819992_20261015.csv")
    assert r["status"] == "held" and "far fewer" in r["reason"] and roll() == 40
    assert main(["held", "reject", str(held_id()), "--reason", "a partial export", "--db", sqlite_url]) == 0
    assert run(landing, sqlite_url, tmp_path) == 0
    r = receipt(landing, "8819992", "school_8819992_20261015.csv")
    assert r["status"] == "rejected" and "a partial export" in r["reason"] and roll() == 40
    # A school that really shrank: released, then applied.
    drop_extract(landing, "8819992", "school_8819992_20261101.csv", school_csv(pupils[:5]))
    assert run(landing, sqlite_url, tmp_path) == CHECKS_FAILED and roll() == 40
    assert main(["held", "release", str(held_id()), "--db", sqlite_url]) == 0
    assert run(landing, sqlite_url, tmp_path) == 0
    assert receipt(landing, "8819992", "school_8819992_20261101.csv")["status"] == "accepted"
    assert roll() == 5 + 35, "released: the five are current, the 35 it left out are carried forward"
    assert main(["held", "reject", "999", "--reason", "x", "--db", sqlite_url]) == 1


def test_a_file_loads_the_same_a_few_rows_at_a_time(landing, sqlite_url, tmp_path, monkeypatch):
    """Files are validated and stored in chunks (bounded memory): a key conflict split across
    chunks, a bad row in a late chunk and row numbers all come out as for a whole file."""
    from sources import preparing
    monkeypatch.setattr(preparing, "CHUNK_ROWS", 2)
    la = (b"la_child_id,upn,nhs_number,surname,forename,dob,sex,address_line1,postcode,record_type,status_date,shielded\r\n"
          b"A1,,,Ashcombe,Petra,2014-05-06,F,3 Elm Grove,RA1 1AB,CME_REFERRAL,2026-10-01,N\r\n"
          b"A2,,,Bell,Ann,2013-01-02,F,4 Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n"
          b"A3,,,Cole,Ben,2013-02-02,M,5 Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n"
          b"A1,,,Fenwick,Rory,2012-11-23,M,9 Oak Avenue,RA2 2CD,CME_REFERRAL,2026-10-01,N\r\n"
          b"A5,,,Dale,Cy,2013-02-30,M,6 Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n")
    drop_extract(landing, "880", "la_880_20261103.csv", la)
    assert run(landing, sqlite_url, tmp_path) == 0
    r = receipt(landing, "880", "la_880_20261103.csv")
    assert r["status"] == "accepted" and r["rows"] == {"total": 5, "accepted": 4, "quarantined": 1}
    assert r["rejected_rows"][0]["row"] == 5
    assert any("rows 1, 4 share one la_child_id" in w for w in r["warnings"])
    with open_register(sqlite_url).connect() as conn:
        keys = conn.execute(select(SourceRecord.record_key).where(SourceRecord.la_child_id == "A1")).scalars().all()
    assert len(set(keys)) == 2



def test_a_file_rejected_in_a_late_chunk_leaves_none_of_its_rows(landing, sqlite_url, tmp_path, monkeypatch):
    """A file is stored in one transaction whatever its size: when a later chunk rejects it,
    the rows of the chunks already stored go too (on SQLite a savepoint must not be the
    outermost transaction, or releasing it commits them)."""
    from sources import preparing
    monkeypatch.setattr(preparing, "CHUNK_ROWS", 2)
    monkeypatch.setattr(preparing, "SMALL_BYTES", 0)  # no read-ahead: chunks are stored as they come
    # The reader decodes 8 KB at a time: the stray byte sits well past the first chunks.
    la = (b"la_child_id,upn,nhs_number,surname,forename,dob,sex,address_line1,postcode,record_type,status_date,shielded\r\n"
          + b"".join(b"A%d,,,Bell,Ann,2013-01-02,F,%d Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n" % (i, i)
                     for i in range(1, 400))
          + b"A400,,,D\xe9le,Cy,2013-02-03,M,6 Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n")
    drop_extract(landing, "880", "la_880_20261103.csv", la)
    run(landing, sqlite_url, tmp_path)
    r = receipt(landing, "880", "la_880_20261103.csv")
    assert r["status"] == "rejected" and "not UTF-8" in r["reason"]
    with open_register(sqlite_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(SourceRecord).join(ExtractFile)
                            .where(ExtractFile.name == "la_880_20261103.csv")).scalar() == 0

def test_a_database_fault_that_is_no_rows_doing_leaves_the_file_for_the_next_run(landing, sqlite_url, tmp_path,
                                                                                 monkeypatch):
    from sqlalchemy import text

    from register.models import QuarantinedRow
    from sources import storing
    from sources.acknowledge import load_and_acknowledge
    from sources.collection import collect
    from sources.landing import LocalLanding
    from sources.router import SourceRouter

    engine = open_register(sqlite_url)
    report = collect(LocalLanding(landing), engine, tmp_path / "archive")
    fid = report.collected[0]

    def failing_insert(conn, table, values):  # the database cannot take anything (as if locked or gone)
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    monkeypatch.setattr(storing, "insert_values", failing_insert)
    loaded = load_and_acknowledge(engine, SourceRouter([LocalLanding(landing)]), [fid])
    assert loaded.failed == 1 and loaded.rejected == 0
    with engine.connect() as conn:
        assert conn.execute(select(ExtractFile.status).where(ExtractFile.id == fid)).scalar() == "collected"
        assert conn.execute(select(func.count()).select_from(QuarantinedRow)).scalar() == 0
    monkeypatch.undo()
    assert load_and_acknowledge(engine, SourceRouter([LocalLanding(landing)]), [fid]).accepted == 1


def test_each_relink_saves_its_model_and_each_review_pair_names_it(landing, sqlite_url, tmp_path):
    from matching.compare import COMPARISONS
    from register.models import CandidatePair, LinkageModel

    archive = str(tmp_path / "archive")
    run_pipeline(sqlite_url, str(landing), None, archive, AS_OF)
    engine = open_register(sqlite_url)
    with engine.connect() as conn:
        models = conn.execute(select(LinkageModel.id, LinkageModel.parameters)).all()
        named = set(conn.execute(select(CandidatePair.model_id)).scalars())
        pairs = conn.execute(select(func.count()).select_from(CandidatePair)).scalar()
    assert len(models) == 1 and pairs > 0 and named == {models[0].id}
    saved = json.loads(models[0].parameters)
    assert set(saved["fields"]) == set(COMPARISONS)
    for name, levels in saved["fields"].items():
        assert [lv["level"] for lv in levels] == [lv.name for lv in COMPARISONS[name]]
        assert all(0 < lv["m"] <= 1 and 0 < lv["u"] <= 1 for lv in levels)
    assert 0 < saved["prior"] < 1
    # Nothing new: no re-link, no new model.
    run_pipeline(sqlite_url, str(landing), None, archive, AS_OF)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LinkageModel)).scalar() == 1


def _loaded(landing, db):
    """What a run stored and answered, free of what differs between two registers (their key
    secrets, random child ids, times): every receipt, every stored row's values, every
    quarantined row and whether it has a key."""
    receipts = {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "processed_at"}
                for p in sorted(landing.rglob("*.receipt.json"))}
    cols = [c for c in SourceRecord.__table__.columns if c.name not in ("id", "record_key", "child_id")]
    with open_register(db).connect() as conn:
        rows = sorted(map(tuple, conn.execute(select(*cols)).all()), key=repr)
        quarantined = sorted(conn.execute(select(QuarantinedRow.file_id, QuarantinedRow.row_no, QuarantinedRow.reason,
                                                 QuarantinedRow.record_key.is_(None))).all())
    return receipts, rows, quarantined


def _delivery_with_faults(landing):
    """The generated delivery plus an extract with a bad row and a shared id, and one with a
    stray non-UTF-8 byte (rejected whole)."""
    la = (b"la_child_id,upn,nhs_number,surname,forename,dob,sex,address_line1,postcode,record_type,status_date,shielded\r\n"
          b"A1,,,Ashcombe,Petra,2014-05-06,F,3 Elm Grove,RA1 1AB,CME_REFERRAL,2026-10-01,N\r\n"
          b"A1,,,Fenwick,Rory,2012-11-23,M,9 Oak Avenue,RA2 2CD,CME_REFERRAL,2026-10-01,N\r\n"
          b"A5,,,Dale,Cy,2013-02-30,M,6 Elm Grove,RA1 1AB,RESIDENT,2026-10-01,N\r\n")
    drop_extract(landing, "881", "la_881_20261103.csv", la)
    drop_extract(landing, "882", "la_882_20261103.csv", la.replace(b"Dale", b"D\xe9le"))


def test_extracts_prepared_in_a_worker_process_load_as_in_the_runs_own(landing, tmp_path, monkeypatch, caplog):
    """A large delivery's extracts are read, validated and turned into rows in a second process
    while the run stores them: the same rows, faults, keys and receipts as without it."""
    import concurrent.futures
    import shutil

    from sources import preparing
    _delivery_with_faults(landing)
    other = shutil.copytree(landing, tmp_path / "landing2")
    alone = f"sqlite:///{tmp_path / 'alone.sqlite'}"
    assert run(other, alone, tmp_path / "a") == 0

    submitted = []

    class CountingPool(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(preparing, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(preparing, "WORKER_FROM_BYTES", 0)
    monkeypatch.setattr(preparing, "BATCH_BYTES", 1)  # a batch a file: most go to the worker
    helped = f"sqlite:///{tmp_path / 'helped.sqlite'}"
    with caplog.at_level(logging.WARNING, logger="rollcall.register"):
        assert run(landing, helped, tmp_path / "b") == 0
    assert submitted, "batches went to the worker"
    assert "intake worker failed" not in caplog.text
    receipts, rows, quarantined = _loaded(landing, helped)
    assert {r["status"] for r in receipts.values()} == {"accepted", "rejected"} and quarantined
    assert (receipts, rows, quarantined) == _loaded(other, alone)


def test_a_worker_process_that_dies_leaves_its_extracts_to_the_run(landing, tmp_path, monkeypatch, caplog):
    import concurrent.futures
    import os
    import shutil

    from sources import preparing
    _delivery_with_faults(landing)
    other = shutil.copytree(landing, tmp_path / "landing2")
    alone = f"sqlite:///{tmp_path / 'alone.sqlite'}"
    assert run(other, alone, tmp_path / "a") == 0

    class DyingPool(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):  # the worker process exits at once, as if killed
            return super().submit(os._exit, 1)

    monkeypatch.setattr(preparing, "ProcessPoolExecutor", DyingPool)
    monkeypatch.setattr(preparing, "WORKER_FROM_BYTES", 0)
    monkeypatch.setattr(preparing, "BATCH_BYTES", 1)
    helped = f"sqlite:///{tmp_path / 'helped.sqlite'}"
    with caplog.at_level(logging.WARNING, logger="rollcall.register"):
        assert run(landing, helped, tmp_path / "b") == 0
    assert "intake worker failed" in caplog.text
    assert _loaded(landing, helped) == _loaded(other, alone)


def test_a_crash_before_a_group_of_files_is_committed_leaves_every_one_collected(landing, sqlite_url, tmp_path,
                                                                                 monkeypatch):
    """Files are committed a group at a time (one disk flush for many small extracts): a crash
    while a group is open stores none of it and sends no receipt, and the next run loads it all."""
    from sources import acknowledge, storing
    from sources.acknowledge import load_and_acknowledge
    from sources.collection import collect
    from sources.landing import LocalLanding
    from sources.router import SourceRouter

    engine = open_register(sqlite_url)
    ids = collect(LocalLanding(landing), engine, tmp_path / "archive").collected
    assert len(ids) > 3
    real, calls = storing.load_file_in, []

    def crashing(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process stops here, as if killed
        return real(*args, **kwargs)

    monkeypatch.setattr(acknowledge, "load_file_in", crashing)
    with pytest.raises(KeyboardInterrupt):
        load_and_acknowledge(engine, SourceRouter([LocalLanding(landing)]), ids)
    with engine.connect() as conn:
        assert set(conn.execute(select(ExtractFile.status)).scalars()) == {"collected"}
        assert conn.execute(select(func.count()).select_from(SourceRecord)).scalar() == 0
    assert not list(landing.rglob("*.receipt.json"))
    monkeypatch.undo()
    report = load_and_acknowledge(engine, SourceRouter([LocalLanding(landing)]), ids)
    assert report.accepted == len(ids) and report.failed == 0
    assert len(list(landing.rglob("*.receipt.json"))) == len(ids)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(ExtractFile.receipt_sent_at.is_(None))).scalar() == 0


def test_the_bulk_steps_collect_garbage_rarely_however_the_run_is_launched(landing, sqlite_url, tmp_path,
                                                                          monkeypatch):
    """The collector's tuning is part of the steps themselves, so a run from the Dagster UI's run
    worker gets it as the command line does; other steps and the caller keep Python's own."""
    import gc

    from assets import cme_list, intake, linkage

    seen = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen[name] = gc.get_threshold()
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    for module, name in ((intake, "load_and_acknowledge"), (linkage, "link_register"),
                         (linkage, "regroup_register"), (cme_list, "compute_cme"),
                         (intake, "collect")):
        spy(module, name)
    before = gc.get_threshold()
    assert before[0] < 70_000
    assert run(landing, sqlite_url, tmp_path) == 0
    assert gc.get_threshold() == before
    rare = (70_000, 20, 100)
    assert {k: v == rare for k, v in seen.items()} == {"load_and_acknowledge": True, "link_register": True,
                                                       "regroup_register": True, "compute_cme": True,
                                                       "collect": False}


@pytest.mark.attacks
def test_a_compressed_bomb_is_rejected_whole_without_being_expanded(landing, sqlite_url, tmp_path):
    """No compressed input is accepted: gzip, bzip2, xz and zip bodies under a CSV's name, each
    expanding to 66 MB of rows, are rejected whole with a receipt, never expanded, and every
    other provider's files load."""
    import bz2
    import gzip
    import io
    import lzma
    import resource
    import zipfile

    body = b"upn,surname,forename,dob,sex,entry_date,enrol_status\n" + b"A,B,C,2015-01-01,F,2019-09-01,C\n" * 2_000_000
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pupils.csv", body)
    bombs = {"gzip": gzip.compress(body, 9), "bzip2": bz2.compress(body, 9), "xz": lzma.compress(body),
             "zip": packed.getvalue()}
    names = {kind: f"school_881999{i}_20261103.csv" for i, kind in enumerate(bombs, 1)}
    for kind, data in bombs.items():
        assert len(data) < len(body) // 100, kind
        drop_extract(landing, names[kind][7:14], names[kind], data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert run(landing, sqlite_url, tmp_path) == 0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    for kind, name in names.items():
        got = receipt(landing, name[7:14], name)
        assert got["status"] == "rejected" and "not a text CSV" in got["reason"], (kind, got)
    assert grown_mb < 150, f"the run grew by {grown_mb:.0f} MB: something expanded a bomb"
    assert {s for n, s, _ in ledger(sqlite_url) if n not in names.values()} == {"accepted"}


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB disk of its own (tmpfs), to fill."""
    with small_tmpfs(tmp_path / "disk", "48m", ",mode=0700") as disk:
        yield disk


def fill(disk: Path, leave: int) -> Path:
    import os

    st = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def big_school_extract(landing: Path) -> str:
    rows = [{"upn": make_upn("8802001", i), "surname": "Okonkwo-Smithfield" * 3, "forename": "Ava",
             "dob": "2015-03-02", "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"} for i in range(1, 999)]
    name = "school_8802001_20261103.csv"
    drop_extract(landing, "8802001", name, school_csv(rows))
    return name


def alerts_said(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.attacks
@pytest.mark.root
def test_a_full_register_disk_stores_nothing_half_keeps_the_file_collected_and_says_so(landing, small_disk, tmp_path,
                                                                                      monkeypatch):
    alerts = tmp_path / "alerts.log"
    monkeypatch.setenv("ROLLCALL_ALERTS", str(alerts))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    db = f"sqlite:///{small_disk / 'register.sqlite'}"
    assert run(landing, db, tmp_path) == 0
    filler = fill(small_disk, leave=150_000)
    name = big_school_extract(landing)
    assert run(landing, db, tmp_path) == CHECKS_FAILED, "the run says a file could not be stored"
    status = {n: s for n, s, _ in ledger(db)}
    assert status[name] == "collected", "the file stays collected for the next run"
    with open_register(db).connect() as conn:
        fid = conn.execute(select(ExtractFile.id).where(ExtractFile.name == name)).scalar()
        assert conn.execute(select(func.count()).select_from(SourceRecord).where(SourceRecord.file_id == fid)).scalar() \
            == 0, "nothing half-stored"
    said = alerts_said(alerts)
    assert any(a["alert"] == "disk_full" and a["step"] == "validate_extracts" for a in said), said
    assert any(a["alert"] == "checks_failed" and "validated_rows:every_collected_file_stored" in a["checks"]
               for a in said), said
    filler.unlink()
    assert run(landing, db, tmp_path) in (0, CHECKS_FAILED)  # 998 new children: the linked share falls
    assert {n: s for n, s, _ in ledger(db)}[name] == "accepted"
    assert receipt(landing, "8802001", name)["rows"]["accepted"] == 998


@pytest.mark.attacks
@pytest.mark.root
def test_a_full_archive_disk_leaves_the_file_in_its_inbox_and_says_so(landing, small_disk, sqlite_url, tmp_path,
                                                                      monkeypatch):
    alerts = tmp_path / "alerts.log"
    monkeypatch.setenv("ROLLCALL_ALERTS", str(alerts))
    configure_rooms()  # an edge reads the environment; here the test is the edge

    def run_to(archive: Path):
        return main(["run", "--landing", str(landing), "--db", sqlite_url, "--archive", str(archive),
                     "--as-of", AS_OF.isoformat()])

    archive = small_disk / "archive"
    assert run_to(archive) == 0
    filler = fill(small_disk, leave=40_000)
    name = big_school_extract(landing)
    assert run_to(archive) == 1, "the run fails, loudly"
    assert (landing / "8802001" / "inbox" / name).exists(), "the file waits in its inbox"
    assert name not in {n for n, _, _ in ledger(sqlite_url)}, "nothing recorded of it"
    assert not list((archive / "tmp").glob("*.part")), "no partial copy left"
    said = alerts_said(alerts)
    assert any(a["alert"] == "disk_full" and a["step"] == "raw_extracts" and "ENOSPC" in a["error"] for a in said), said
    filler.unlink()
    assert run_to(archive) in (0, CHECKS_FAILED)  # 998 new children: the linked share falls
    assert {n: s for n, s, _ in ledger(sqlite_url)}[name] == "accepted"
