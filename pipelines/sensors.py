"""Sensors that start runs: the inbox sensor polls every provider's inbox and starts one
intake run per provider with new complete files; the relink sensor starts the relink job
when the ledger has newly processed files. Cursors live in Dagster, not in memory."""
import json
import os
import time
from datetime import timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy import func, select

from alerts import raise_alert
from assets import provider_partitions
from cme import list_overdue, relinked_since
from linkage import newest_ruling_change
from pipelines.resources import DeliverySources, RegisterDatabase
from register import ExtractFile, utc_now
from sources import complete_files, provider_status

UNREACHABLE_ALERT_AFTER_S = 3600


def new_files(listing, seen: dict) -> tuple[list[str], dict]:
    """Complete CSVs newer than the cursor (highest mtime seen, plus the names at that mtime)."""
    by_name = {f.name: f for f in listing}
    pairs, orphans, _ = complete_files(list(by_name))
    ready = [name for name, _ in pairs] + orphans
    top, names = seen.get("mtime", 0.0), set(seen.get("names", []))
    fresh = [n for n in ready if by_name[n].mtime > top or (by_name[n].mtime == top and n not in names)]
    if fresh:
        newest = max(by_name[n].mtime for n in fresh)
        at_newest = [n for n in fresh if by_name[n].mtime == newest]
        seen = {"mtime": newest, "names": sorted(at_newest + (list(names) if newest == top else []))}
    return sorted(fresh), seen


@sensor(job_name="intake_job", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Starts an intake run for each provider with new complete extracts.")
def inbox_sensor(context: SensorEvaluationContext, delivery: DeliverySources):
    cursor = json.loads(context.cursor) if context.cursor else {"providers": {}, "unreachable": {}}
    if "accounts" in cursor:  # a cursor written before providers had one name
        cursor["providers"] = cursor.pop("accounts")
    router = delivery.router()
    requests, unreachable = [], []
    try:
        providers = router.providers()
        for provider in providers:
            try:
                listing = router.list_inbox(provider)
            except router.transient_errors() as exc:
                first = cursor["unreachable"].setdefault(provider, time.time())
                unreachable.append(provider)
                if time.time() - first > UNREACHABLE_ALERT_AFTER_S:
                    raise_alert("provider_unreachable", provider=provider, error=type(exc).__name__,
                                since=int(first))
                continue
            cursor["unreachable"].pop(provider, None)
            fresh, cursor["providers"][provider] = new_files(listing, cursor["providers"].get(provider, {}))
            if fresh:
                key = f"{provider}:{cursor['providers'][provider]['mtime']}:{len(fresh)}:{fresh[-1]}"
                requests.append(RunRequest(run_key=key, partition_key=provider,
                                           tags={"rollcall/provider": provider}))
    finally:
        router.close()
    existing = set(context.instance.get_dynamic_partitions(provider_partitions.name))
    new_partitions = sorted(set(providers) - existing)
    if unreachable:
        context.log.warning(f"unreachable provider providers: {', '.join(sorted(unreachable))}")
    if not requests and not new_partitions:
        return SensorResult(skip_reason=SkipReason(
            "no new files" + (f"; unreachable: {', '.join(sorted(unreachable))}" if unreachable else "")),
            cursor=json.dumps(cursor))
    return SensorResult(run_requests=requests, cursor=json.dumps(cursor),
                        dynamic_partitions_requests=[provider_partitions.build_add_request(new_partitions)]
                        if new_partitions else [])


@sensor(job_name="relink_job", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Re-links the register and re-finds CME when the ledger has newly processed files.")
def relink_sensor(context: SensorEvaluationContext, db: RegisterDatabase):
    with db.engine().connect() as conn:
        # Processing time, not ledger id: an operator releasing a held file changes an old row.
        newest = conn.execute(select(func.max(ExtractFile.processed_at)).where(
            ExtractFile.status.in_(("accepted", "rejected", "held")))).scalar()
    stamp = newest.isoformat() if newest else ""
    if stamp <= (context.cursor or ""):
        return SkipReason("no newly processed files")
    if relinked_since(db.engine(), newest):
        # A relink started after these files were processed (a command-line run, say) already
        # holds them: opening the UI must not start a redundant run.
        return SensorResult(skip_reason=SkipReason("the register was relinked since"), cursor=stamp)
    return SensorResult(run_requests=[RunRequest(run_key=f"register:{stamp}")], cursor=stamp)


@sensor(job_name="relink_job", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Re-links the register and re-finds CME when an analyst's ruling changes, so the "
                    "register and the CME list reflect it within minutes.")
def review_sensor(context: SensorEvaluationContext, db: RegisterDatabase):
    newest = newest_ruling_change(db.engine())
    stamp = newest.isoformat() if newest else ""
    if stamp <= (context.cursor or ""):
        return SkipReason("no new rulings")
    if relinked_since(db.engine(), newest):
        return SensorResult(skip_reason=SkipReason("the register was relinked since"), cursor=stamp)
    return SensorResult(run_requests=[RunRequest(run_key=f"rulings:{stamp}")], cursor=stamp)


def cme_max_age() -> timedelta:
    return timedelta(hours=float(os.environ.get("ROLLCALL_CME_MAX_AGE_HOURS", "24")))


@sensor(minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING,
        description="Alerts each authority (and the data engineers) when the CME list has not been refreshed "
                    "for a day (ROLLCALL_CME_MAX_AGE_HOURS): whatever stopped it, someone hears.")
def cme_watch(context: SensorEvaluationContext, db: RegisterDatabase):
    engine = db.engine()
    newest = list_overdue(engine, utc_now(), cme_max_age())
    if newest is None:
        return SkipReason("the CME list is fresh")
    stamp = newest.isoformat()
    if stamp == context.cursor:
        return SkipReason(f"the CME list is overdue since {stamp}; alerted already")
    hours = round((utc_now() - newest).total_seconds() / 3600, 1)
    las = sorted({p.la_code for p in provider_status(engine) if p.feed == "la" and p.la_code})
    for la in las or [None]:
        raise_alert("cme_not_refreshed", db.url, authority=la, last_computed=f"{stamp} UTC", hours_ago=hours)
    context.update_cursor(stamp)
    return SkipReason(f"alerted: the CME list was last computed {hours} hours ago")
