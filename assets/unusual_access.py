"""The unusual-access asset: the audit log's last day read against the rules (oversight.unusual),
each finding raised once as an access alert and delivered to the privacy officers by e-mail
(alerts.channels), with any alert an earlier run could not send; then a signed checkpoint of
the audit log, so its tail is never long unsigned. Thin: counts out, no names."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from alerts.channels import deliver
from assets.safety import scrubbed
from oversight.audit import checkpoint
from oversight.unusual import check_access, raise_findings
from register.clock import utc_now


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
