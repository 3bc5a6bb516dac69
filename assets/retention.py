"""The retention asset: superseded records, old archived files and long-closed cases deleted
after their periods (oversight.retention), weekly. Thin: counts out."""
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.safety import scrubbed
from oversight.retention import Periods, apply_retention


@asset(group_name="housekeeping", kinds={"sql"}, required_resource_keys={"db", "settings"},
       description="Deletes what has outlived its retention period: superseded record rows, archived extract files "
                   "no current record comes from, long-closed CME cases. The audit log is kept.")
@scrubbed
def retention(context: AssetExecutionContext) -> MaterializeResult:
    periods = Periods()
    counts = apply_retention(context.resources.db.engine(), context.resources.settings.as_of_date(), periods)
    return MaterializeResult(metadata={**counts, "superseded_days": periods.superseded_days,
                                       "archive_days": periods.archive_days,
                                       "closed_case_days": periods.closed_case_days})
