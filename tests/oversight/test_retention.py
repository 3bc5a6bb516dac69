"""Retention and subject access: what outlives its period goes (superseded rows, archived files
no current record comes from, long-closed cases) while a child's newest record and the audit
log stay; a subject access report holds everything about one child, and is itself audited."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from oversight.audit import entries
from oversight.retention import PURGED, Periods, apply_retention
from pipelines.cli import run_pipeline
from register.db import open_register
from register.models import CmeCase, ExtractFile, RecordIndex, SourceRecord
from synth.extracts import generate
from tests.helpers import AS_OF

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_deliveries(tmp_path, sqlite_url):
    generate(tmp_path / "landing", tmp_path / "truth", children=200, seed=4, extract_date=AS_OF, rounds=2,
             round_gap_days=28)
    for n in (1, 2):
        assert run_pipeline(sqlite_url, str(tmp_path / "landing" / f"round{n}"), None, str(tmp_path / "archive"),
                            AS_OF + timedelta(days=28 * (n - 1))).success
    return open_register(sqlite_url)


def counts(engine):
    with engine.connect() as conn:
        return (conn.execute(select(func.count(SourceRecord.id))).scalar(),
                conn.execute(select(func.count(SourceRecord.id)).where(SourceRecord.active.is_(True))).scalar(),
                set(conn.execute(select(SourceRecord.child_id).where(SourceRecord.active.is_(True))).scalars()))


def test_what_outlives_its_period_goes_and_the_register_stays(two_deliveries, tmp_path):
    engine = two_deliveries
    rows, active, children = counts(engine)
    assert rows > active, "the first delivery's rows were superseded by the second's"
    with engine.begin() as conn:
        case = conn.execute(select(CmeCase.id).limit(1)).scalar()
        conn.execute(update(CmeCase).where(CmeCase.id == case).values(status="closed", outcome="MOVED_ABROAD",
                                                                     closed_at=func.current_timestamp()))
    audit_before = len(entries(engine, limit=1_000_000))
    # A superseded row the link index still holds (as if retention ran before the next link).
    with engine.begin() as conn:
        old = conn.execute(select(SourceRecord.id, SourceRecord.record_key).where(SourceRecord.active.is_(False))
                           .order_by(SourceRecord.id).limit(1)).one()
        conn.execute(RecordIndex.__table__.insert().values(record_id=old.id, record_key=old.record_key,
                                                           content="0", given="plantedgiven", family="plantedfamily"))
    soon = apply_retention(engine, AS_OF + timedelta(days=60), Periods(730, 730, 2190))
    assert soon == {k: 0 for k in soon}, "nothing has outlived its period yet"
    later = AS_OF + timedelta(days=28 + 731)
    done = apply_retention(engine, later, Periods(730, 730, 7))
    after_rows, after_active, after_children = counts(engine)
    assert done["superseded_rows_deleted"] == rows - after_rows > 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RecordIndex)
                            .where(RecordIndex.given == "plantedgiven")).scalar() == 0, "names go with their row"
    assert after_active == active and after_children == children, "every child's newest record stays"
    assert done["closed_cases_deleted"] == 1
    with engine.connect() as conn:
        purged = conn.execute(select(ExtractFile.id).where(ExtractFile.archive_path == PURGED)).scalars().all()
        kept = conn.execute(select(ExtractFile.archive_path).where(ExtractFile.archive_path != PURGED,
                                                                   ExtractFile.status == "accepted")).scalars().all()
    assert len(purged) == done["archived_files_purged"] > 0, "first-delivery files no current record comes from"
    assert kept and all(Path(p).exists() for p in kept), "files current records come from are kept"
    assert len(entries(engine, limit=1_000_000)) == audit_before, "the audit log is kept"
    assert apply_retention(engine, later, Periods(730, 730, 7)) == {k: 0 for k in done}, "and it is idempotent"


def test_a_subject_access_report_holds_everything_about_one_child_and_is_audited(two_deliveries, tmp_path):
    engine = two_deliveries
    with engine.connect() as conn:
        child = conn.execute(select(SourceRecord.child_id).where(SourceRecord.active.is_(True))
                             .group_by(SourceRecord.child_id).order_by(func.count(SourceRecord.id).desc())
                             .limit(1)).scalar()
        rows = conn.execute(select(func.count(SourceRecord.id)).where(SourceRecord.child_id == child)).scalar()
        surname = conn.execute(select(SourceRecord.surname).where(SourceRecord.child_id == child)).scalars().first()
    out = tmp_path / "sar.json"
    db = engine.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "sar", child, "--out", str(out), "--db", db],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    report = json.loads(out.read_text())
    assert report["child_id"] == child and len(report["records"]) == rows
    assert surname in {r["surname"] for r in report["records"]}
    assert {"held_back_by_validation", "review_pairs", "review_decisions", "cme_flags", "cme_cases",
            "history", "audit_entries"} <= report.keys()
    assert report["history"][0]["event"] == "created"
    assert surname not in done.stdout + done.stderr, "the report goes to the file only"
    assert entries(engine, child_id=child)[0]["action"] == "subject_access_report"
    missing = subprocess.run([sys.executable, "-m", "pipelines.cli", "sar", "RCNOSUCHCHILD", "--out",
                              str(tmp_path / "none.json"), "--db", db], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and not (tmp_path / "none.json").exists()
