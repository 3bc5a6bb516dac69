"""Issue 13: nothing new costs nothing. A second `rollcall run` with no new file, ruling, date
or setting does no Dagster run and gives the same answer; anything new makes a full run; a
changed matcher re-links even when the data did not change."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from linkage.review import rule_records, undecided_pairs
from pipelines.cli import main, run_pipeline
from pipelines.environment import configure_rooms
from register.db import open_register
from register.models import CmeList
from tests.helpers import AS_OF, asset_metadata, drop_extract, make_upn, school_csv


@pytest.fixture(autouse=True)
def quiet(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("ROLLCALL_CADENCE", raising=False)
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge


def run(landing, db, tmp_path, as_of=AS_OF):
    return main(["run", "--landing", str(landing), "--db", db, "--archive", str(tmp_path / "archive"),
                 "--as-of", as_of.isoformat()])


def computed(db, as_of=AS_OF):
    with open_register(db).connect() as conn:
        return conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar()


def test_a_run_with_nothing_new_does_nothing_and_anything_new_runs_in_full(landing, tmp_path, sqlite_url, capsys,
                                                                           monkeypatch):
    assert run(landing, sqlite_url, tmp_path) == 0
    first = computed(sqlite_url)
    capsys.readouterr()
    assert run(landing, sqlite_url, tmp_path) == 0
    out = capsys.readouterr()
    assert "nothing new since the last run" in out.err and "register children:" in out.out
    assert "rollcall: links started" not in out.err and computed(sqlite_url) == first

    # A new file is something new.
    drop_extract(landing, "8802099", "school_8802099_20261102.csv", school_csv([
        {"upn": make_upn("8802099", 991), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02", "sex": "F",
         "entry_date": "2019-09-04", "enrol_status": "C"}]))
    assert run(landing, sqlite_url, tmp_path) == 0
    assert "nothing new" not in capsys.readouterr().err and computed(sqlite_url) != first
    second = computed(sqlite_url)
    # So is an analyst's ruling, another date, and a changed setting.
    key_a, key_b = undecided_pairs(open_register(sqlite_url))[0]
    rule_records(open_register(sqlite_url), key_a, key_b, "different", "ann", "two children")
    assert run(landing, sqlite_url, tmp_path) == 0
    assert "nothing new" not in capsys.readouterr().err and computed(sqlite_url) != second
    assert run(landing, sqlite_url, tmp_path, AS_OF + timedelta(days=1)) == 0
    assert "nothing new" not in capsys.readouterr().err
    assert run(landing, sqlite_url, tmp_path, AS_OF + timedelta(days=1)) == 0
    assert "nothing new" in capsys.readouterr().err
    cadence = tmp_path / "cadence.yaml"
    cadence.write_text("stale_after_days: 60\n")
    monkeypatch.setenv("ROLLCALL_CADENCE", str(cadence))
    assert run(landing, sqlite_url, tmp_path, AS_OF + timedelta(days=1)) == 0
    assert "nothing new" not in capsys.readouterr().err


def test_a_file_half_uploaded_is_not_new_but_a_complete_one_is(landing, tmp_path, sqlite_url, capsys):
    assert run(landing, sqlite_url, tmp_path) == 0
    capsys.readouterr()
    csv = school_csv([{"upn": make_upn("8802099", 992), "surname": "Lowe", "forename": "Ada", "dob": "2015-03-02",
                       "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}])
    drop_extract(landing, "8802099", "school_8802099_20261102.csv", csv, sidecar=False)
    assert run(landing, sqlite_url, tmp_path) == 0
    assert "nothing new" in capsys.readouterr().err, "a CSV without its sidecar is still being uploaded"
    drop_extract(landing, "8802099", "school_8802099_20261102.csv", csv)
    assert run(landing, sqlite_url, tmp_path) == 0
    assert "nothing new" not in capsys.readouterr().err


def test_a_changed_matcher_relinks_though_the_data_did_not_change(landing, tmp_path, sqlite_url, monkeypatch):
    import linkage.relinking

    def relinked():
        result = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF)
        assert result.success
        return asset_metadata(result, "links")["relinked"]

    assert relinked() is True
    assert relinked() is False
    monkeypatch.setattr(linkage.relinking, "MATCHER_VERSION", "a newer matcher")
    assert relinked() is True
    assert relinked() is False, "once re-linked with the new matcher, nothing more to do"


def test_a_run_collects_only_from_providers_with_work(landing, tmp_path, sqlite_url, monkeypatch):
    import pipelines.cli.run as cli  # where `rollcall run` finds run_pipeline

    assert run(landing, sqlite_url, tmp_path) == 0
    asked, real = [], cli.run_pipeline

    def spy(*args, **kwargs):
        if "providers" not in kwargs:  # run_pipeline calling itself with its own instance
            return real(*args, **kwargs)
        result = real(*args, **kwargs)
        asked.extend([kwargs["providers"], sorted({e.step_key for e in result.all_events if e.step_key})])
        return result

    monkeypatch.setattr(cli, "run_pipeline", spy)
    drop_extract(landing, "8802099", "school_8802099_20261102.csv", school_csv([
        {"upn": make_upn("8802099", 993), "surname": "Quinn", "forename": "Ava", "dob": "2015-03-02", "sex": "F",
         "entry_date": "2019-09-04", "enrol_status": "C"}]))
    assert run(landing, sqlite_url, tmp_path) == 0
    assert asked[0] == {"8802099"} and "raw_extracts" in asked[1]
    # Another day with no file: no intake step at all, the rest runs (the day's list).
    assert run(landing, sqlite_url, tmp_path, AS_OF + timedelta(days=1)) == 0
    assert asked[2] == set() and "raw_extracts" not in asked[3] and "cme_flags" in asked[3]
