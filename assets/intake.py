"""Intake assets, one partition per provider provider: raw extracts collected into the archive
and ledger, then validated rows and quarantined rows. Thin: each calls one library function
and reports counts, never data."""
import warnings

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    BetaWarning,
    DynamicPartitionsDefinition,
    MaterializeResult,
    asset,
    multi_asset,
)

from assets.policies import bulk_step
from assets.safety import alert_disk_full, scrubbed
from register import utc_now
from sources import collect, files_by_provider, held_files, load_and_acknowledge, pending_files

# A single run over many provider partitions needs backfill_policy, still marked beta in 1.13.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=BetaWarning)

QUARANTINE_WARN_RATE = 0.05


def _progress(context, done: int, total: int, what: str) -> None:
    """A progress line in Dagster's log (and on the command line) at every tenth of the way."""
    if done == total or done % max(1, total // 10) == 0:
        context.log.info(f"progress: {done} of {total} {what}")
# One partition per provider provider, added by the inbox sensor or `rollcall run`, so one
# provider's run, failure or backlog never holds up another's.
provider_partitions = DynamicPartitionsDefinition(name="providers")
ONE_RUN = BackfillPolicy.single_run()


@asset(group_name="intake", partitions_def=provider_partitions, backfill_policy=ONE_RUN, kinds={"sftp", "csv"},
       required_resource_keys={"db", "delivery"},
       description="Complete extracts (CSV + sidecar) collected from each provider's inbox into the raw "
                   "archive and the file ledger, exactly once; rejected files get a receipt.",
       check_specs=[AssetCheckSpec("every_provider_reachable", asset="raw_extracts",
                                   description="Every provider's delivery folder could be read this run.")])
@scrubbed
def raw_extracts(context: AssetExecutionContext) -> MaterializeResult:
    db, delivery = context.resources.db, context.resources.delivery
    started = utc_now()
    keys = list(context.partition_keys)  # Dagster lists them from the instance at each asking: once
    router = delivery.router()
    try:
        known = set(router.providers())
        providers = [a for a in keys if a in known]
        report = collect(router, db.engine(), delivery.archive_dir(), providers=providers,
                         transient=router.transient_errors(), max_bytes=delivery.max_file_mb * 1024 * 1024)
    finally:
        router.close()
    failed = sorted(report.failed_providers)
    # Each provider partition reports its own files, besides the run's totals.
    for provider, counts in files_by_provider(db.engine(), started, keys).items():
        if not _worth_its_own_metadata(len(keys), counts, provider in report.failed_providers):
            continue
        context.add_asset_metadata({"provider_files": sum(v for k, v in counts.items() if k.startswith("files_")),
                                    "provider_unreachable": provider in report.failed_providers,
                                    **{f"provider_{k}": v for k, v in sorted(counts.items())
                                       if k.startswith("files_")}}, partition_key=provider)
    if failed:
        context.log.warning(f"unreachable provider providers: {', '.join(failed)}; their files wait for the next run")
    return MaterializeResult(
        metadata={"providers": len(providers), "files_collected": len(report.collected),
                  "files_rejected": report.rejected, "files_duplicate": report.duplicates,
                  "files_waiting_for_sidecar": report.waiting, "providers_unreachable": len(failed),
                  "providers_not_configured": len(keys) - len(providers)},
        check_results=[AssetCheckResult(
            check_name="every_provider_reachable", passed=not failed, severity=AssetCheckSeverity.ERROR,
            metadata={"unreachable_providers": ", ".join(failed) or "none"})])


@multi_asset(
    group_name="intake", partitions_def=provider_partitions, backfill_policy=ONE_RUN,
    required_resource_keys={"db", "delivery"},
    specs=[AssetSpec("validated_rows", deps=["raw_extracts"], kinds={"pandera"},
                     description="Rows of collected files that pass the extract contract, stored in the register."),
           AssetSpec("quarantined_rows", deps=["raw_extracts"],
                     description="Rows that failed the contract, each with its reasons; never their content.")],
    check_specs=[AssetCheckSpec("quarantine_rate_below_5_percent", asset="validated_rows",
                                description="Fewer than 5% of this run's rows were quarantined."),
                 AssetCheckSpec("every_collected_file_stored", asset="validated_rows",
                                description="Every collected file was stored, rejected or held; none failed "
                                            "(a full disk, a database fault), so none waits for the next run."),
                 AssetCheckSpec("no_extract_held", asset="validated_rows",
                                description="No extract is held for an operator (far smaller than its provider's "
                                            "current one): release or reject it with `rollcall held`.")])
@scrubbed
@bulk_step
def validate_extracts(context: AssetExecutionContext):
    db, delivery = context.resources.db, context.resources.delivery
    started = utc_now()
    keys = list(context.partition_keys)  # listed from the instance at each asking: once
    pending = pending_files(db.engine(), keys)
    router = delivery.router()
    try:
        report = load_and_acknowledge(db.engine(), router, pending, delivery.hold_below,
                                      on_file=lambda done, total: _progress(context, done, total, "files validated"),
                                      workers=delivery.intake_workers)
    finally:
        router.close()
    total = report.rows_accepted + report.rows_quarantined
    rate = report.rows_quarantined / total if total else 0.0
    for provider, counts in files_by_provider(db.engine(), started, keys, processed=True).items():
        if not _worth_its_own_metadata(len(keys), counts):
            continue
        context.add_asset_metadata({f"provider_{k}": v for k, v in sorted(counts.items()) if k != "rows_quarantined"},
                                   asset_key="validated_rows", partition_key=provider)
        context.add_asset_metadata({"provider_rows_quarantined": counts.get("rows_quarantined", 0)},
                                   asset_key="quarantined_rows", partition_key=provider)
    yield MaterializeResult(asset_key="validated_rows", metadata={
        "files_accepted": report.accepted, "files_rejected": report.rejected, "files_failed": report.failed,
        "files_held": report.held,
        "rows_accepted": report.rows_accepted,
        "unknown_column_warnings": report.warnings,
        **{f"rows_{feed}": n for feed, n in sorted(report.per_feed_rows.items())}})
    yield MaterializeResult(asset_key="quarantined_rows", metadata={"rows_quarantined": report.rows_quarantined})
    if report.disk_full:
        alert_disk_full("validate_extracts", "the register database's disk is full", files_waiting=report.disk_full)
    yield AssetCheckResult(asset_key="validated_rows", check_name="every_collected_file_stored",
                           passed=not report.failed, severity=AssetCheckSeverity.ERROR,
                           metadata={"files_failed": report.failed, "files_failed_disk_full": report.disk_full})
    held = held_files(db.engine())
    yield AssetCheckResult(asset_key="validated_rows", check_name="no_extract_held", passed=not held,
                           severity=AssetCheckSeverity.WARN,
                           metadata={"files_held": len(held), "ledger_ids": ", ".join(str(h.id) for h in held) or "none"})
    yield AssetCheckResult(asset_key="validated_rows", check_name="quarantine_rate_below_5_percent",
                           passed=rate < QUARANTINE_WARN_RATE, severity=AssetCheckSeverity.WARN,
                           metadata={"quarantine_rate": round(rate, 5), "rows_checked": total})


# Dagster checks each call for a partition's metadata against the run's targeted partitions,
# listing them again from the instance, so a run over thousands of providers paid for that once
# per provider and kind of metadata: a cost growing with the square of the providers (8.9 s of a
# 58 s run over 1,008 providers). Up to this many providers in a run each reports its own files;
# beyond, only a provider with something to say does (a file not simply collected or accepted,
# rows quarantined, its folder unreachable), and the run's totals cover the rest.
EVERY_PROVIDER_UP_TO = 200
QUIET = {"files_collected", "files_accepted", "rows_accepted"}


def _worth_its_own_metadata(providers: int, counts: dict, unreachable: bool = False) -> bool:
    if providers <= EVERY_PROVIDER_UP_TO:
        return True
    return unreachable or any(v for k, v in counts.items() if k not in QUIET)
