"""The providers' deliveries: who is late, whose roll is stale (sources.deliveries). Runs with
every relink, so also every morning; a late provider raises an alert for its authority once
per missed extract, and the check shows it in Dagster. Thin: counts and provider ids out."""
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from alerts import raise_alert
from assets.safety import scrubbed
from sources import provider_deliveries as deliveries_of
from sources import save_provider_status


@asset(group_name="intake", deps=["validated_rows"], kinds={"sql"}, required_resource_keys={"db", "delivery", "settings"},
       description="Each provider's newest extract, expected cadence (configured, learned or default) and due "
                   "date; late providers and stale rolls (records from an extract older than the stale age).",
       check_specs=[AssetCheckSpec("every_provider_on_time", asset="provider_deliveries",
                                   description="No provider is past its due date by more than the grace days.")])
@scrubbed
def provider_deliveries(context: AssetExecutionContext) -> MaterializeResult:
    db, delivery, settings = context.resources.db, context.resources.delivery, context.resources.settings
    engine = db.engine()
    today, cadence = settings.as_of_date(), settings.cadence()
    found = deliveries_of(engine, today, cadence, delivery.providers())
    for d in save_provider_status(engine, found, today):
        raise_alert("provider_late", db.url, authority=d.la_code, provider=d.provider, feed=d.feed or "not known",
                    newest_extract=d.last_extract.isoformat() if d.last_extract else "none yet",
                    expected_every_days=d.cadence_days, cadence=d.cadence_source, due=d.due.isoformat(),
                    days_overdue=d.days_overdue)
    late = [d.provider for d in found if d.late]
    stale = [d.provider for d in found if d.stale and d.last_extract is not None]
    return MaterializeResult(
        metadata={"providers": len(found), "late": len(late), "stale_rolls": len(stale),
                  "cadence_learned": sum(d.cadence_source == "learned" for d in found),
                  "stale_after_days": cadence.stale_after_days},
        check_results=[AssetCheckResult(check_name="every_provider_on_time", passed=not late,
                                        severity=AssetCheckSeverity.WARN,
                                        metadata={"late_providers": ", ".join(late) or "none",
                                                  "stale_rolls": ", ".join(stale) or "none"})])
