"""The production Dagster instance (deploy/dagster.yaml) against this machine's PostgreSQL:
Dagster's runs, events and sensor state in PostgreSQL, the run queue with its limits, run
retries, a pipeline run recorded there, and the daemon running against it (its heartbeats
land in PostgreSQL)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance

from pipelines.cli import run_pipeline
from pipelines.environment import configure_rooms
from tests.helpers import AS_OF

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def production_home(tmp_path, monkeypatch):
    """A DAGSTER_HOME holding the deployment's dagster.yaml, with its own PostgreSQL database."""
    name = f"rollcall_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    var = tmp_path / "dagster-var"
    var.mkdir(mode=0o700)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # psycopg2 named: SQLAlchemy 2.1 takes a bare postgresql:// to mean psycopg 3, which dagster-postgres
    # cannot use (its NOTIFY takes a bound parameter).
    monkeypatch.setenv("DAGSTER_PG_URL", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
    monkeypatch.setenv("ROLLCALL_DAGSTER_VAR", str(var))
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    yield home, name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_production_instance_keeps_dagsters_state_in_postgresql_with_queue_and_retries(
        production_home, landing, tmp_path, sqlite_url):
    home, database = production_home
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        coordinator = instance.run_coordinator
        assert type(coordinator).__name__ == "QueuedRunCoordinator"
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4
        limits = {limit["key"]: limit for limit in coordinator.get_run_queue_config().tag_concurrency_limits}
        assert limits["rollcall/stage"]["limit"] == 1 and limits["rollcall/provider"]["limit"] == 1
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_monitoring_enabled
        result = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "archive"), as_of=AS_OF,
                              instance=instance)
        assert result.success
    # A new instance (as the webserver or the daemon would open) reads the run back from PostgreSQL.
    with DagsterInstance.get() as again:
        run = again.get_run_by_id(result.run_id)
        assert run is not None and run.job_name == "pipeline_job"
        assert again.fetch_materializations(AssetKey("cme_flags"), limit=1).records
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0] == 1
    assert not (home / "storage").exists(), "nothing of Dagster's state on local disk"


def test_the_daemon_runs_against_the_production_instance(production_home, sqlite_url, tmp_path):
    home, _ = production_home
    env = {**os.environ, "ROLLCALL_DB_URL": sqlite_url, "ROLLCALL_LANDING": str(tmp_path / "landing")}
    (tmp_path / "landing").mkdir()
    daemon = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-m", "pipelines.definitions"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "daemon.log", "wb"),
                              start_new_session=True)
    try:
        wanted = {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"}
        deadline, seen = time.monotonic() + 90, set()
        while time.monotonic() < deadline and not wanted <= seen:
            time.sleep(2)
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]
            with DagsterInstance.get() as instance:
                seen = {h.daemon_type for h in instance.get_daemon_heartbeats().values()}
        assert wanted <= seen, f"heartbeats only from {sorted(seen)}"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
