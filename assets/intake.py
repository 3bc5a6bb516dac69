"""Intake assets: raw extracts collected into the archive and ledger, then validated rows and
quarantined rows. Thin: each calls one library function and reports counts, never data."""

from datetime import timedelta

from dagster import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetSpec,
                     FreshnessPolicy, MaterializeResult, asset, multi_asset)

from assets.safety import scrubbed
from pipelines.resources import DeliverySources, RegisterDatabase
from register.loading import load_files
from sources.collect import collect, pending_files

DAILY = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))
QUARANTINE_WARN_RATE = 0.05


@asset(group_name="intake", freshness_policy=DAILY, kinds={"sftp", "csv"},
       description="Complete extracts (CSV + sidecar) collected from every provider's inbox into the raw "
                   "archive and the file ledger, exactly once; rejected files get a receipt.",
       check_specs=[AssetCheckSpec("every_account_reachable", asset="raw_extracts",
                                   description="Every provider's delivery folder could be read this run.")])
@scrubbed
def raw_extracts(context: AssetExecutionContext, db: RegisterDatabase, delivery: DeliverySources) -> MaterializeResult:
    router = delivery.router()
    report = collect(router, db.engine(), delivery.archive_dir(), transient=router.transient_errors())
    failed = sorted(report.failed_accounts)
    return MaterializeResult(
        metadata={"files_collected": len(report.collected), "files_rejected": report.rejected,
                  "files_duplicate": report.duplicates, "files_waiting_for_sidecar": report.waiting,
                  "accounts_unreachable": len(failed)},
        check_results=[AssetCheckResult(
            check_name="every_account_reachable", passed=not failed, severity=AssetCheckSeverity.ERROR,
            metadata={"unreachable_accounts": ", ".join(failed) or "none"})])


@multi_asset(
    group_name="intake",
    specs=[AssetSpec("validated_rows", deps=["raw_extracts"], kinds={"pandera"},
                     description="Rows of collected files that pass the extract contract, stored in the register."),
           AssetSpec("quarantined_rows", deps=["raw_extracts"],
                     description="Rows that failed the contract, each with its reasons; never their content.")],
    check_specs=[AssetCheckSpec("quarantine_rate_below_5_percent", asset="validated_rows",
                                description="Fewer than 5% of this run's rows were quarantined.")])
@scrubbed
def validate_extracts(context: AssetExecutionContext, db: RegisterDatabase, delivery: DeliverySources):
    pending = pending_files(db.engine())
    report = load_files(db.engine(), delivery.router(), pending)
    total = report.rows_accepted + report.rows_quarantined
    rate = report.rows_quarantined / total if total else 0.0
    yield MaterializeResult(asset_key="validated_rows", metadata={
        "files_accepted": report.accepted, "files_rejected": report.rejected, "rows_accepted": report.rows_accepted,
        "unknown_column_warnings": report.warnings,
        **{f"rows_{feed}": n for feed, n in sorted(report.per_feed_rows.items())}})
    yield MaterializeResult(asset_key="quarantined_rows", metadata={"rows_quarantined": report.rows_quarantined})
    yield AssetCheckResult(asset_key="validated_rows", check_name="quarantine_rate_below_5_percent",
                           passed=rate < QUARANTINE_WARN_RATE, severity=AssetCheckSeverity.WARN,
                           metadata={"quarantine_rate": round(rate, 5), "rows_checked": total})
