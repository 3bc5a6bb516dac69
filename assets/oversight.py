"""The oversight assets: unusual access and retention.

Unusual access: the audit log's last day read against the rules (oversight.unusual), each finding
raised once as an access alert and delivered to the privacy officers by e-mail (alerts.channels),
with any alert an earlier run could not send; then a signed checkpoint of the audit log, so its
tail is never long unsigned.

Retention: superseded records, old archived files and long-closed cases deleted after their
periods (oversight.retention), weekly. Thin: counts out, no names."""
from dagster import AssetExecutionContext, MaterializeResult, asset

from alerts import deliver
from assets.safety import scrubbed
from oversight import apply_retention, check_access, checkpoint, oversight_settings, raise_findings
from register import utc_now


@asset(group_name="audit", kinds={"sql"}, required_resource_keys={"db"},
       description="Unusual access found in the audit log (too many children, out of hours, outside the caseload "
                   "or authorities, shielded children, a shared surname, many users on one child, bulk exports, "
                   "dormant accounts), raised as alerts for the privacy officers.")
@scrubbed
def unusual_access(context: AssetExecutionContext) -> MaterializeResult:
    engine = context.resources.db.engine()
    findings = check_access(engine, utc_now())
    raised = raise_findings(engine, findings)
    delivered = deliver(engine)
    signed = checkpoint(engine)  # the log's newest entry signed every hour, besides every 100 entries
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    return MaterializeResult(metadata={"findings": len(findings), "alerts_raised": raised,
                                       "alerts_sent": delivered["sent"], "alerts_not_sent": delivered["failed"],
                                       "alerts_without_a_privacy_officer": delivered["no_recipient"],
                                       "audit_checkpoint_at_entry": signed or 0,
                                       **{f"rule_{k}": v for k, v in sorted(by_rule.items())}})


@asset(group_name="housekeeping", kinds={"sql"}, required_resource_keys={"db", "settings"},
       description="Deletes what has outlived its retention period: superseded record rows, archived extract files "
                   "no current record comes from, long-closed CME cases. The audit log is kept.")
@scrubbed
def retention(context: AssetExecutionContext) -> MaterializeResult:
    periods = oversight_settings().periods
    counts = apply_retention(context.resources.db.engine(), context.resources.settings.as_of_date(), periods)
    return MaterializeResult(metadata={**counts, "superseded_days": periods.superseded_days,
                                       "archive_days": periods.archive_days,
                                       "closed_case_days": periods.closed_case_days})
