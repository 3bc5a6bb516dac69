"""Backup and restore: a register restored into an empty database (SQLite and PostgreSQL) with
its archive in a new place gives byte-identical exports after a re-run; a damaged backup or a
target that holds anything is refused."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pipelines.cli import run_pipeline
from tests.helpers import AS_OF

ROOT = Path(__file__).resolve().parents[2]


def rollcall(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def exports(db: str, folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for what in ("cme", "register"):
        done = rollcall("export", what, "--db", db, "--out", str(folder / f"{what}.csv"))
        assert done.returncode == 0, done.stderr
        out[what] = (folder / f"{what}.csv").read_bytes()
    return out


@pytest.fixture
def empty_target(db_url, tmp_path):
    """A second, empty database of the same kind as db_url."""
    if db_url.startswith("sqlite:///"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite'}"
        return
    name = db_url.rsplit("/", 1)[1] + "_restored"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield db_url.rsplit("/", 1)[0] + "/" + name
    from register.db import open_register

    open_register.cache_clear()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_restored_register_rerun_gives_byte_identical_exports(landing, db_url, empty_target, tmp_path):
    archive = tmp_path / "archive"
    assert run_pipeline(db_url, str(landing), None, str(archive), AS_OF).success
    before = exports(db_url, tmp_path / "before")
    done = rollcall("backup", "--db", db_url, "--archive", str(archive), "--out", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert oct((tmp_path / "backup").stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (tmp_path / "backup").iterdir())
    moved = tmp_path / "elsewhere" / "archive"
    done = rollcall("restore", str(tmp_path / "backup"), "--db", empty_target, "--archive", str(moved))
    assert done.returncode == 0, done.stderr
    assert run_pipeline(empty_target, str(landing), None, str(moved), AS_OF).success  # nothing new, archive moved
    assert exports(empty_target, tmp_path / "after") == before
    again = rollcall("restore", str(tmp_path / "backup"), "--db", empty_target, "--archive", str(tmp_path / "x"))
    assert again.returncode == 1 and "not empty" in again.stderr, "a register is never overwritten"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_damaged_backup_is_refused(landing, db_url, empty_target, tmp_path):
    archive = tmp_path / "archive"
    assert run_pipeline(db_url, str(landing), None, str(archive), AS_OF).success
    assert rollcall("backup", "--db", db_url, "--archive", str(archive), "--out", str(tmp_path / "b")).returncode == 0
    with open(tmp_path / "b" / "archive.tar", "r+b") as fh:
        fh.seek(600)
        fh.write(b"X")
    done = rollcall("restore", str(tmp_path / "b"), "--db", empty_target, "--archive", str(tmp_path / "new"))
    assert done.returncode == 1 and "does not match its checksum" in done.stderr
    assert not Path(empty_target.removeprefix("sqlite:///")).exists()
