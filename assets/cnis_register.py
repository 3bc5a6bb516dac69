"""The children-not-in-school register asset: every authority's register (Education Act 1996
s.436B) brought up to date from the CME list and the feeds, each new entry with its home-visit
task. Thin: one library call, counts out (never a child's data)."""
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from assets.policies import DAILY, bulk_step
from assets.safety import scrubbed
from cnis import cme_children_off_register, update_register


@asset(group_name="cme", deps=["cme_flags"], freshness_policy=DAILY, kinds={"sql"},
       required_resource_keys={"db", "settings"},
       description="Each authority's children-not-in-school register: children of compulsory school age living "
                   "there who are on no school's roll, or on one but educated elsewhere part of the time; entries "
                   "opened, changed and ended, with the reason each ended.",
       check_specs=[AssetCheckSpec("every_cme_child_on_the_register", asset="children_not_in_school",
                                   description="Every child on the CME list whose authority is known has an open "
                                               "entry on that authority's register.")])
@scrubbed
@bulk_step
def children_not_in_school(context: AssetExecutionContext) -> MaterializeResult:
    db, settings = context.resources.db, context.resources.settings
    engine = db.engine()
    as_of = settings.as_of_date()
    counts = update_register(engine, as_of)
    missing = cme_children_off_register(engine, as_of)
    return MaterializeResult(
        metadata={"as_of": as_of.isoformat(), "computed": counts["mode"], "on_register": counts["on_register"],
                  "opened": counts.get("opened", 0), "ended": counts.get("ended", 0),
                  "changed": counts.get("changed", 0),
                  **{f"on_register_{la}": n for la, n in sorted(counts["per_authority"].items())}},
        check_results=[AssetCheckResult(check_name="every_cme_child_on_the_register", passed=missing == 0,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"cme_children_without_an_entry": missing})])
