"""A run killed with SIGKILL at any moment loses nothing and blocks nothing: the next run ends
with every file ingested once, every receipt present, no partial download, the schema whole
and the same register and CME list an uninterrupted run gives. Kills land at a spread of
moments (start-up, migration, collection, validation, linkage, the CME list); bounded in time."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, inspect, select

from pipelines.cli import main
from register.db import open_register
from register.models import Child, CmeList, ExtractFile
from synth.extracts import generate
from tests.helpers import AS_OF

ROLLCALL = str(Path(sys.executable).with_name("rollcall"))


def _state(db: str) -> dict:
    engine = open_register(db)
    with engine.connect() as conn:
        statuses = conn.execute(select(ExtractFile.name, ExtractFile.status)).all()
        children = conn.execute(select(func.count()).where(Child.retired_at.is_(None))).scalar()
        lists = conn.execute(select(CmeList.flagged)).scalars().all()
    return {"statuses": statuses, "children": children, "lists": lists,
            "tables": set(inspect(engine).get_table_names())}


def _run_args(folder: Path, db: str) -> list[str]:
    return ["run", "--landing", str(folder / "landing"), "--db", db, "--archive", str(folder / "archive"),
            "--as-of", AS_OF.isoformat()]


# Where to kill: the first moment the register shows each stage under way (read with sqlite3
# beside the running process; WAL lets a reader in).
STAGES = {
    "migrating": None,
    "collecting": "SELECT count(*) FROM files",
    "validating": "SELECT count(*) FROM files WHERE status = 'accepted'",
    "linking": "SELECT count(*) FROM register_state WHERE name = 'cme_list_pending' AND value = '1'",
    "registering": "SELECT count(*) FROM register_state WHERE name = 'link_scope' AND value LIKE '%full%'",
    "listing": "SELECT count(*) FROM cme_flags",
}


def _reached(path: Path, query: str | None) -> bool:
    import sqlite3
    if not path.exists():
        return False
    if query is None:
        return True
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05) as conn:
            return conn.execute(query).fetchone()[0] > 0
    except sqlite3.Error:  # tables not made yet, or the writer holds a lock for a moment
        return False


def test_a_run_killed_at_any_moment_is_finished_by_the_next(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    source = tmp_path / "source"
    generate(source / "landing", source / "truth", children=300, seed=3, extract_date=AS_OF)
    names = sorted(p.name for p in (source / "landing").rglob("*.csv"))

    base = tmp_path / "base"
    shutil.copytree(source, base)
    base_db = f"sqlite:///{base / 'register.sqlite'}"
    assert main(_run_args(base, base_db)) == 0
    expected = _state(base_db)

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    seen_at_kill = []
    for stage, query in STAGES.items():
        folder = tmp_path / stage
        shutil.copytree(source, folder)
        path = folder / "register.sqlite"
        db = f"sqlite:///{path}"
        proc = subprocess.Popen([ROLLCALL, *_run_args(folder, db)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and not _reached(path, query) and time.monotonic() < deadline:
            time.sleep(0.01)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        seen_at_kill.append((stage, killed))

        assert main(_run_args(folder, db)) == 0, f"the run after a kill while {stage} failed"
        got = _state(db)
        assert sorted(got["statuses"]) == sorted((n, "accepted") for n in names), f"kill while {stage}"
        for name in names:
            provider = name.split("_")[1]
            receipt = folder / "landing" / provider / "outbox" / f"{name}.receipt.json"
            assert json.loads(receipt.read_text())["status"] == "accepted", f"kill while {stage}: {name}"
        assert not list((folder / "archive").rglob("*.part")), f"kill while {stage} left a partial download"
        assert not any(t.startswith("_alembic_tmp_") for t in got["tables"])
        assert (got["children"], got["lists"]) == (expected["children"], expected["lists"]), f"kill while {stage}"
        open_register.cache_clear()
    # Every stage was interrupted while the process was still running, except perhaps the last.
    assert sum(killed for _, killed in seen_at_kill) >= len(STAGES) - 1, seen_at_kill
