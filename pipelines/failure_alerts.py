"""Alerts: open-source Dagster sends none by itself, so these sensors turn failed runs and
failed checks into alert lines (Dagster's log and an alerts file). They carry run ids, step and
check names and error classes, never messages that could hold a child's data."""

from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from alerts import raise_alert

__all__ = ["CHECKS_TAG", "raise_alert", "run_failure_alert", "check_failure_alert", "failed_checks", "check_label",
           "mark_failed_checks"]

STARTER_ALERTS_TAG = "rollcall/alerts"  # "by-starter": whoever started the run raises its alerts
# On a run whose checks failed: which. Dagster lists a run whose steps all succeeded as a green
# success whatever its checks found; the tag shows beside it in the runs list and filters it.
CHECKS_TAG = "rollcall/checks"


def mark_failed_checks(instance, run_id: str, failed: list[str]) -> None:
    """Tag the run with its failed checks (names only), so it is visibly not a plain success."""
    if failed:
        instance.add_run_tags(run_id, {CHECKS_TAG: f"FAILED: {', '.join(sorted(failed))}"[:500]})


def _from_the_command_line(run) -> bool:
    return run.tags.get(STARTER_ALERTS_TAG) == "by-starter"


def _root_cause(error) -> str:
    # Dagster wraps a step's exception; the class that says what went wrong is the innermost.
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.cls_name


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def run_failure_alert(context: RunFailureSensorContext):
    if _from_the_command_line(context.dagster_run):
        return  # `rollcall run` raised it already, and exited non-zero
    steps = [e.step_key for e in context.get_step_failure_events()]
    errors = [_root_cause(e.event_specific_data.error) for e in context.get_step_failure_events()
              if e.event_specific_data and e.event_specific_data.error]
    raise_alert("run_failed", run_id=context.dagster_run.run_id, job=context.dagster_run.job_name,
                steps=steps, errors=errors)


def check_label(evaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


def failed_checks(instance, run_id: str) -> list[str]:
    """Failed checks of a run, from the instance's event log (what the sensors see)."""
    return [check_label(rec.dagster_event.event_specific_data)
            for rec in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            if not rec.dagster_event.event_specific_data.passed]


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, monitor_all_code_locations=False)
def check_failure_alert(context: RunStatusSensorContext):
    failed = failed_checks(context.instance, context.dagster_run.run_id)
    if context.dagster_run.tags.get(CHECKS_TAG) is None:
        mark_failed_checks(context.instance, context.dagster_run.run_id, failed)
    if _from_the_command_line(context.dagster_run):
        return  # `rollcall run` raised it already, and exited non-zero
    if failed:
        raise_alert("checks_failed", run_id=context.dagster_run.run_id, checks=failed)
