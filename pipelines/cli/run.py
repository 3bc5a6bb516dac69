"""`rollcall run`: one run of every asset in-process (the same job the Dagster UI runs), the nothing-new
test before it, the summary and the alerts after it."""
from __future__ import annotations

# Imports inside functions, said once: each command loads only what it runs (Dagster, pandas), so
# `rollcall --help` starts at once.
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.cli.common import db_option, parse_date, register_exists
from pipelines.unchanged import inputs_fingerprint, remember_run, unchanged_since_last_run
from register import open_register, today
from sources import DEFAULT_ARCHIVE

# Dagster's run tags for one run over a range of partitions (a single-run backfill); written out
# because Dagster exports no public name for them.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"


PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_pipeline(db_url: str, landing: str | None = None, sftp: str | None = None, archive: str | None = None,
                 as_of: date | None = None, instance=None, settings: dict | None = None,
                 starter_alerts: bool = False, providers: set[str] | None = None):
    """Run every asset in-process, all provider partitions in one run of `pipeline_job` (or,
    given `providers`, only the partitions from the first of them to the last: the ones with
    work; none, and the intake steps are left out). `starter_alerts`: the caller raises the
    run's alerts itself (the command line), so the sensors leave it alone."""
    from dagster import DagsterInstance, Definitions, default_loggers

    from assets import provider_partitions
    from pipelines.definitions import PIPELINE_ASSETS, pipeline_job
    from pipelines.environment import configure_rooms
    from pipelines.progress import progress_logger
    from pipelines.resources import DeliverySources, rollcall_resources

    configure_rooms()
    resources = rollcall_resources(db_url=db_url, landing=landing, sftp_config=sftp, archive=archive,
                                   **{"as_of": as_of.isoformat() if as_of else None,
                                      "cadence_file": os.environ.get("ROLLCALL_CADENCE") or None, **(settings or {})})
    if instance is None:
        # Entered, so Dagster's definitions load against this instance's state storage, never a
        # stale one an earlier in-process run left behind; disposed when the run is done.
        with DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral() as own:
            return run_pipeline(db_url, landing, sftp, archive, as_of, own, settings, starter_alerts, providers)
    configured = DeliverySources(landing=landing, sftp_config=sftp).providers()
    name = provider_partitions.name
    known = set(instance.get_dynamic_partitions(name))
    if set(configured) - known:
        instance.add_dynamic_partitions(name, sorted(set(configured) - known))
    keys = instance.get_dynamic_partitions(name)
    if providers is not None:
        keys = [k for k in keys if k in providers]
    tags = {"rollcall/trigger": "cli"}
    if starter_alerts:
        from pipelines.failure_alerts import STARTER_ALERTS_TAG

        tags[STARTER_ALERTS_TAG] = "by-starter"
    selection = None
    if keys:
        # One run over every provider partition: the intake assets see them all at once.
        tags.update({PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1]})
    else:
        selection = [a.key for a in PIPELINE_ASSETS if a.partitions_def is None]
    level = os.environ.get("ROLLCALL_LOG_LEVEL", "WARNING")
    job = Definitions(assets=PIPELINE_ASSETS, jobs=[pipeline_job], resources=resources,
                      loggers={**default_loggers(), "progress": progress_logger}).resolve_job_def(pipeline_job.name)
    loggers = {"console": {"config": {"log_level": level}}}
    if os.environ.get("ROLLCALL_PROGRESS", "1") != "0":
        loggers["progress"] = {}
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags, asset_selection=selection,
                                    run_config={"loggers": loggers})
    from pipelines.failure_alerts import failed_checks, mark_failed_checks

    mark_failed_checks(instance, result.run_id, failed_checks(instance, result.run_id))
    return result


def summary(db_url: str, as_of: date | None = None) -> list[str]:
    from sqlalchemy import func, select

    from cme import latest_cme_date
    from register import Child, CmeFlag, CnisEntry, ExtractFile, SourceRecord, open_register

    engine = open_register(db_url)
    with engine.connect() as conn:
        status = dict(conn.execute(select(ExtractFile.status, func.count()).group_by(ExtractFile.status)).all())
        quarantined = conn.execute(select(func.coalesce(func.sum(ExtractFile.rows_quarantined), 0))).scalar()
        records = conn.execute(select(func.count()).where(SourceRecord.active.is_(True))).scalar()
        children = conn.execute(select(func.count()).where(Child.retired_at.is_(None))).scalar()
        when = as_of or latest_cme_date(engine)
        per_la = dict(conn.execute(select(CmeFlag.la_code, func.count()).where(CmeFlag.as_of == when)
                                   .group_by(CmeFlag.la_code)).all())
        for la in conn.execute(select(SourceRecord.provider).where(SourceRecord.feed == "la").distinct()).scalars():
            per_la.setdefault(la, 0)
    lines = [f"files accepted: {status.get('accepted', 0)}, rejected: {status.get('rejected', 0)}, "
             f"duplicates: {status.get('duplicate', 0)}",
             f"rows quarantined: {quarantined}", f"current records: {records}", f"register children: {children}",
             f"children missing education on {when}:"]
    lines += [f"  LA {la}: {n}" if la else f"  authority not known (a person must look): {n}"
              for la, n in sorted(per_la.items())] or ["  none"]
    with engine.connect() as conn:
        on_register = dict(conn.execute(select(CnisEntry.la_code, func.count()).where(CnisEntry.ended_on.is_(None))
                                        .group_by(CnisEntry.la_code)).all())
    lines.append("children not in school (on each authority's register, s.436B):")
    lines += [f"  LA {la}: {n}" for la, n in sorted(on_register.items())] or ["  none"]
    return lines


def failed_checks_of(result) -> list[str]:
    """Failed checks of an in-process run, from its result's events."""
    from pipelines.failure_alerts import check_label

    return [check_label(e.event_specific_data) for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]


CHECKS_FAILED = 3  # the run finished but a check failed: cron and systemd must notice


def report_run(result, db_url: str | None = None) -> int:
    """Exit 1 when the run failed, CHECKS_FAILED when a check failed, else 0; a failure raises
    the same alert the Dagster sensors raise for the daemon's runs (they leave the command
    line's runs to it, so an alert is raised once whoever started the run)."""
    from alerts import raise_alert

    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise_alert("run_failed", db_url, run_id=result.run_id, job="rollcall run", steps=failed, started_by="cli")
        print(f"rollcall: the run failed at {', '.join(failed) or 'an unknown step'}; "
              f"see run {result.run_id} in Dagster", file=sys.stderr)
        return 1
    failed_checks = failed_checks_of(result)
    for c in failed_checks:
        print(f"rollcall: check failed: {c}", file=sys.stderr)
    if failed_checks:
        raise_alert("checks_failed", db_url, run_id=result.run_id, checks=failed_checks, started_by="cli")
        return CHECKS_FAILED
    return 0


def cmd_run(args) -> int:
    from pipelines.resources import link_engine_from_env
    from register import RegisterBusy, register_lock

    if not args.landing and not args.sftp:
        print("rollcall run: give --landing DIR and/or --sftp CONFIG", file=sys.stderr)
        return 2
    try:
        with register_lock(args.db, args.wait):
            inputs = _run_inputs(args)
            # One listing of the inboxes serves the nothing-new test and the run's intake.
            work = _providers_with_work(args) if inputs is not None else None
            if inputs is not None:
                last = unchanged_since_last_run(open_register(args.db), inputs)
                if last is not None and work == set():
                    # Nothing new since the last run: no Dagster run, no re-link, the same answer.
                    print(f"rollcall run: nothing new since the last run (its exit code: {last}); "
                          "the register and the CME list stand", file=sys.stderr)
                    if last == 0:
                        print("\n".join(summary(args.db, args.as_of)))
                    return last
            result = run_pipeline(args.db, args.landing, args.sftp, args.archive, args.as_of,
                                  settings={"relink": args.relink, **link_engine_from_env()}, starter_alerts=True,
                                  providers=work)
            code = report_run(result, args.db)
            if code in (0, CHECKS_FAILED):
                remember_run(open_register(args.db), _run_inputs(args), code)
    except RegisterBusy as exc:
        print(f"rollcall run: {exc}; nothing was done. Try again later, or give --wait SECONDS.", file=sys.stderr)
        return 75  # EX_TEMPFAIL: cron and systemd may retry
    if code == 0:
        print("\n".join(summary(args.db, args.as_of)))
    return code


def _run_inputs(args) -> str | None:
    """The fingerprint of what a run would read, or None with no register yet."""
    from matching import MATCHER_VERSION

    if not register_exists(args.db):
        return None
    settings = {"landing": args.landing or "", "sftp": args.sftp or "", "archive": args.archive,
                "relink": getattr(args, "relink", "auto"),
                "matcher": MATCHER_VERSION, "cadence": _file_sha(os.environ.get("ROLLCALL_CADENCE")),
                "sftp_config": _file_sha(args.sftp)}
    return inputs_fingerprint(open_register(args.db), args.as_of or today(), settings)


def _file_sha(path: str | None) -> str:
    from register import file_sha256

    return file_sha256(Path(path)) if path and Path(path).is_file() else ""


def _providers_with_work(args) -> set[str] | None:
    """Providers a run has work for: a complete file in the inbox, a file collected and not
    yet applied, an extract held for an operator, or a receipt a crash kept back. None (all of them) when an inbox could not be
    listed: the full run reports it."""
    from sqlalchemy import or_, select

    from register import ExtractFile
    from sources import complete_files, make_router

    found: set[str] = set()
    router = make_router(args.landing, args.sftp, os.environ)
    try:
        for provider in router.providers():
            try:
                names = [f.name for f in router.list_inbox(provider)]
            except router.transient_errors():
                return None
            pairs, orphans, _ = complete_files(names)
            if pairs or orphans:
                found.add(provider)
    finally:
        router.close()
    with open_register(args.db).connect() as conn:
        # A held extract keeps its provider in every run, so its check fails until someone decides.
        found |= set(conn.execute(select(ExtractFile.provider).where(or_(
            ExtractFile.status.in_(("collected", "held")),
            (ExtractFile.status != "collected") & ExtractFile.receipt_sent_at.is_(None)))).scalars())
    return found


def add_run(sub) -> None:
    r = sub.add_parser("run", help="process every complete extract and update the register")
    r.add_argument("--landing", help="folder of <provider>/inbox and outbox folders")
    r.add_argument("--sftp", help="YAML file naming the SFTP providers to collect from")
    db_option(r)
    r.add_argument("--archive", default=DEFAULT_ARCHIVE, help="where raw files are archived by checksum")
    r.add_argument("--as-of", type=parse_date, help="date for the CME list (default today)")
    r.add_argument("--relink", choices=["auto", "full"], default=os.environ.get("ROLLCALL_RELINK", "auto"),
                   help="auto (default): re-link only the children new deliveries and rulings touch, in full when "
                        "the matcher or settings changed; full: re-link every record")
    r.add_argument("--wait", type=float, default=600.0,
                   help="seconds to wait for another run on the same register to finish (default 600)")
    r.set_defaults(fn=cmd_run)


COMMANDS = {"run": add_run}
