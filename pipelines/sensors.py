"""Sensors that start runs: the inbox sensor polls every provider's inbox and starts one
intake run per provider with new complete files; the relink sensor starts the relink job
when the ledger has newly processed files. Cursors live in Dagster, not in memory."""
import json
import time

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy import func, select

from assets.intake import provider_partitions
from pipelines.alerts import raise_alert
from pipelines.resources import DeliverySources, RegisterDatabase
from register.models import ExtractFile
from register.review import newest_ruling_change
from sources.collect import complete_files

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
    return SensorResult(run_requests=[RunRequest(run_key=f"register:{stamp}")], cursor=stamp)


@sensor(job_name="relink_job", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Re-links the register and re-finds CME when an analyst's ruling changes, so the "
                    "register and the CME list reflect it within minutes.")
def review_sensor(context: SensorEvaluationContext, db: RegisterDatabase):
    newest = newest_ruling_change(db.engine())
    stamp = newest.isoformat() if newest else ""
    if stamp <= (context.cursor or ""):
        return SkipReason("no new rulings")
    return SensorResult(run_requests=[RunRequest(run_key=f"rulings:{stamp}")], cursor=stamp)
