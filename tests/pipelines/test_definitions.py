"""The Dagster code location loads, as `dagster dev` loads it, and its alerts fire."""
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, build_run_status_sensor_context

from pipelines.environment import configure_rooms

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_validate_like_dagster_dev():
    exe = Path(sys.executable).with_name("dagster")
    p = subprocess.run([str(exe), "definitions", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DAGSTER_HOME": str(ROOT)})
    assert p.returncode == 0, p.stderr[-2000:]


def test_every_asset_and_check_is_defined():
    from pipelines.definitions import defs
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw_extracts", "validated_rows", "quarantined_rows", "standardised_records", "links",
                    "children", "cme_flags", "children_not_in_school", "unusual_access", "retention",
                    "provider_deliveries", "daily_digest"}
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {"every_provider_reachable", "quarantine_rate_below_5_percent", "no_extract_held",
                      "every_collected_file_stored", "no_child_with_two_nhs_numbers", "linked_share_steady",
                      "every_provider_on_time",
                      "every_authority_assessed", "flag_counts_steady", "every_authority_has_a_current_roll",
                      "every_cme_child_on_the_register"}
    assert defs.resolve_job_def("relink_job") is not None and defs.resolve_job_def("digest_job") is not None
    assert defs.resolve_job_def("pipeline_job").partitions_def is not None
    assert defs.resolve_job_def("intake_job").partitions_def is not None


def unreachable_provider(tmp_path, monkeypatch) -> None:
    """Provider 880's inbox cannot be listed (its server is down): the reachability check fails.
    Alerts go to a file of the test's."""
    from pipelines.resources import DeliverySources
    from sources.landing import LocalLanding
    from sources.router import SourceRouter

    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge

    class Unreachable(LocalLanding):
        transient_errors = (ConnectionError,)

        def list_inbox(self, provider):
            raise ConnectionError("server down")

    (tmp_path / "landing" / "880" / "inbox").mkdir(parents=True)
    monkeypatch.setattr(DeliverySources, "router", lambda self: SourceRouter([Unreachable(tmp_path / "landing")]))


def test_failed_checks_raise_an_alert(tmp_path, monkeypatch, sqlite_url):
    from pipelines import failure_alerts as alerts
    from pipelines.cli import failed_checks_of, run_pipeline
    unreachable_provider(tmp_path, monkeypatch)
    instance = DagsterInstance.ephemeral()
    result = run_pipeline(sqlite_url, str(tmp_path / "landing"), None, str(tmp_path / "a"), None, instance=instance)
    assert result.success
    assert alerts.failed_checks(instance, result.run_id) == ["raw_extracts:every_provider_reachable"]
    assert failed_checks_of(result) == ["raw_extracts:every_provider_reachable"]
    # In the runs list the run is a success, but tagged with the checks that failed.
    assert instance.get_run_by_id(result.run_id).tags[alerts.CHECKS_TAG] == "FAILED: raw_extracts:every_provider_reachable"
    ctx = build_run_status_sensor_context(sensor_name="check_failure_alert", dagster_instance=instance,
                                          dagster_run=result.dagster_run,
                                          dagster_event=result.get_run_success_event())
    alerts.check_failure_alert(ctx)
    line = json.loads((tmp_path / "alerts.log").read_text().splitlines()[-1])
    assert line["alert"] == "checks_failed" and line["checks"] == ["raw_extracts:every_provider_reachable"]


def test_a_failed_run_raises_an_alert(tmp_path, monkeypatch, sqlite_url):
    from pipelines import failure_alerts as alerts
    from pipelines.cli import run_pipeline

    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    (tmp_path / "landing" / "880" / "inbox").mkdir(parents=True)
    instance = DagsterInstance.ephemeral()
    result = run_pipeline(sqlite_url, str(tmp_path / "landing"), None, str(tmp_path / "a"), None,
                          instance=instance, settings={"as_of": "not-a-date"})
    assert not result.success
    ctx = build_run_status_sensor_context(sensor_name="run_failure_alert", dagster_instance=instance,
                                          dagster_run=result.dagster_run,
                                          dagster_event=result.get_run_failure_event()).for_run_failure()
    alerts.run_failure_alert(ctx)
    line = json.loads((tmp_path / "alerts.log").read_text().splitlines()[-1])
    assert line["alert"] == "run_failed" and line["steps"] == ["provider_deliveries"] and line["errors"] == ["StepFailed"]


def test_the_ui_cannot_point_a_run_elsewhere_nor_see_the_database_password(monkeypatch):
    import importlib

    import pytest
    from dagster import validate_run_config

    monkeypatch.setenv("ROLLCALL_DB_URL", "postgresql+psycopg://rollcall:s3cret-pw@127.0.0.1:5432/rollcall")
    import pipelines.definitions as definitions
    defs = importlib.reload(definitions).defs
    job = defs.resolve_job_def("relink_job")
    with pytest.raises(Exception, match="resources"):
        validate_run_config(job, {"resources": {"db": {"config": {"url": "sqlite:///elsewhere.sqlite"}}}})
    with pytest.raises(Exception, match="resources"):
        validate_run_config(job, {"resources": {"delivery": {"config": {"archive": "/tmp/elsewhere"}}}})
    snapshot = repr(job.run_config_schema.config_type.fields) + repr(
        [getattr(r, "config_schema", None) for r in defs.resources.values()])
    assert "s3cret-pw" not in snapshot
    monkeypatch.delenv("ROLLCALL_DB_URL")
    importlib.reload(definitions)


def test_the_relink_sensor_starts_a_run_for_new_files_and_for_a_released_one(sqlite_url):
    from datetime import datetime, timedelta

    from dagster import SkipReason, build_sensor_context
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from pipelines.resources import RegisterDatabase
    from pipelines.sensors import relink_sensor
    from register.db import open_register
    from register.models import ExtractFile

    db = RegisterDatabase(url=sqlite_url)
    with build_sensor_context(resources={"db": db}) as ctx:
        assert isinstance(relink_sensor(ctx), SkipReason)
    engine = open_register(sqlite_url)
    with Session(engine) as s:
        s.add(ExtractFile(id=1, provider="880", name="la_880_20261101.csv", sha256="x", size_bytes=1,
                          archive_path="/x", status="held", collected_at=datetime(2026, 11, 1),
                          processed_at=datetime(2026, 11, 1, 6)))
        s.commit()
    with build_sensor_context(resources={"db": db}) as ctx:
        first = relink_sensor(ctx)
    assert len(first.run_requests) == 1
    with build_sensor_context(resources={"db": db}, cursor=first.cursor) as ctx:
        assert isinstance(relink_sensor(ctx), SkipReason)
    with engine.begin() as conn:  # an operator releases it later
        conn.execute(update(ExtractFile).values(status="accepted", processed_at=datetime(2026, 11, 1, 6) + timedelta(hours=2)))
    with build_sensor_context(resources={"db": db}, cursor=first.cursor) as ctx:
        assert len(relink_sensor(ctx).run_requests) == 1


SNAPSHOT = ROOT / "tests" / "snapshots" / "definitions.txt"


def definitions_outline() -> str:
    """The graph Dagster loads, as text: assets with their group, dependencies and partitions;
    checks; jobs with the assets they select; schedules; sensors. Resources and descriptions
    are left out (they change without changing the graph)."""
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    lines = ["# assets: key | group | depends on | partitioned"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ", ".join(sorted(p.to_user_string() for p in node.parent_keys)) or "-"
        lines.append(f"{key.to_user_string()} | {node.group_name} | {deps} | "
                     f"{'yes' if node.partitions_def else 'no'}")
    lines.append("# checks: asset:check | blocking")
    for check in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        spec = graph.get_check_spec(check)
        lines.append(f"{check.asset_key.to_user_string()}:{check.name} | {'yes' if spec.blocking else 'no'}")
    lines.append("# jobs: name | assets")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        keys = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        lines.append(f"{job.name} | {', '.join(keys)}")
    lines.append("# schedules: name | cron | timezone | job | status when first loaded")
    for s in sorted(defs.schedules or [], key=lambda s: s.name):
        lines.append(f"{s.name} | {s.cron_schedule} | {s.execution_timezone} | {s.job_name} | {s.default_status.value}")
    lines.append("# sensors: name | job | status when first loaded")
    for s in sorted(defs.sensors or [], key=lambda s: s.name):
        lines.append(f"{s.name} | {', '.join(sorted(t.job_name for t in s.targets)) or '(watches runs)'}"
                     f" | {s.default_status.value}")
    return "\n".join(lines) + "\n"


def test_the_definitions_graph_matches_its_reviewed_snapshot():
    """A change to assets, checks, jobs, schedules or sensors shows as a diff of
    tests/snapshots/definitions.txt. After a deliberate change: ROLLCALL_UPDATE_SNAPSHOT=1 bin/test
    -k snapshot, and review the diff with the change."""
    outline = definitions_outline()
    if os.environ.get("ROLLCALL_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(outline)
    assert SNAPSHOT.read_text() == outline


def test_the_database_url_is_read_from_the_environment_when_a_run_starts(monkeypatch, tmp_path):
    from dagster import EnvVar, build_resources

    from pipelines.resources import resources_from_env

    first, second = f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
    monkeypatch.setenv("ROLLCALL_DB_URL", first)
    resources = resources_from_env()
    monkeypatch.setenv("ROLLCALL_DB_URL", second)  # changed after the code location loaded
    with build_resources({"db": resources["db"]}) as built:
        assert built.db.url == second and not isinstance(built.db.url, EnvVar)
    monkeypatch.delenv("ROLLCALL_DB_URL")
    with build_resources({"db": resources_from_env()["db"]}) as built:
        assert built.db.url == "sqlite:///var/rollcall.sqlite"


def test_a_command_line_run_with_a_failed_check_exits_non_zero_and_raises_the_alert_once(tmp_path, monkeypatch,
                                                                                          sqlite_url):
    from pipelines import failure_alerts as alerts
    from pipelines.cli import CHECKS_FAILED, main
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    unreachable_provider(tmp_path, monkeypatch)
    runs = []
    real = __import__("pipelines.cli", fromlist=["run_pipeline"]).run_pipeline

    def keep(*args, **kwargs):
        runs.append(real(*args, **kwargs, instance=instance))
        return runs[-1]

    instance = DagsterInstance.ephemeral()
    monkeypatch.setattr("pipelines.cli.run.run_pipeline", keep)  # where `rollcall run` finds it
    code = main(["run", "--landing", str(tmp_path / "landing"), "--db", sqlite_url, "--archive", str(tmp_path / "a")])
    assert code == CHECKS_FAILED
    lines = [json.loads(x) for x in (tmp_path / "alerts.log").read_text().splitlines()]
    assert [(x["alert"], x["checks"], x["started_by"]) for x in lines] == [
        ("checks_failed", ["raw_extracts:every_provider_reachable"], "cli")]
    (result,) = runs
    ctx = build_run_status_sensor_context(sensor_name="check_failure_alert", dagster_instance=instance,
                                          dagster_run=result.dagster_run,
                                          dagster_event=result.get_run_success_event())
    alerts.check_failure_alert(ctx)
    assert len((tmp_path / "alerts.log").read_text().splitlines()) == 1, "the daemon's sensor does not raise it again"


def test_every_schedule_and_sensor_runs_from_the_start_as_the_readme_says():
    """A schedule left off until someone switches it on is how a CME list silently stops: the
    README says relink_daily runs at 06:00, so it must from the first `dagster dev`."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from pipelines.definitions import defs

    assert {s.name: s.default_status for s in defs.schedules} == {
        s.name: DefaultScheduleStatus.RUNNING for s in defs.schedules}
    assert {s.name: s.default_status for s in defs.sensors} == {s.name: DefaultSensorStatus.RUNNING for s in defs.sensors}
    assert "relink_daily" in {s.name for s in defs.schedules}


def test_resources_set_up_in_one_thread_leave_nothing_for_another_to_close(tmp_path, sqlite_url):
    """Sensors run in the daemon's threads. A resource whose Dagster context kept an ephemeral
    instance open left SQLite connections that whichever thread collected them then closed:
    `dagster dev` printed a cross-thread traceback for each (and the test session one after its
    summary). Resources set up and torn down in threads, then collected elsewhere: no traceback."""
    import subprocess
    import sys

    script = """
import gc, threading
from dagster import build_resources
from pipelines.resources import resources_from_env

def use():
    with build_resources({"db": resources_from_env()["db"]}) as built:
        with built.db.engine().connect() as conn:
            conn.exec_driver_sql("SELECT 1")

for _ in range(3):
    t = threading.Thread(target=use)
    t.start()
    t.join()
gc.collect()
print("done")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ROLLCALL_DB_URL": sqlite_url}, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "same thread" not in done.stderr, done.stderr[-2000:]
