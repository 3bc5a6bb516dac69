"""Linkage assets: the current (standardised) records, links between them, and the register's children.
Thin: each reads its input, calls one library function, writes, and reports counts."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from alerts import raise_alert
from assets.policies import DAILY, bulk_step
from assets.safety import scrubbed
from cme import RELINK_STARTED, compare_linked_share, linked_share, mark_cme_pending, touch
from linkage import children_with_two_nhs_numbers, link_register, refresh_active, regroup_register
from matching import LinkSettings
from oversight import keep_shield_scope
from register import set_state, utc_now


@asset(group_name="linkage", deps=["validated_rows"], kinds={"sql"}, required_resource_keys={"db"},
       description="Every current record (from each provider's newest extract, and pupils a school's newest "
                   "extract left out) marked current in the register database.")
@scrubbed
def standardised_records(context: AssetExecutionContext) -> MaterializeResult:
    db = context.resources.db
    # The moment this relink read its inputs: a sensor need not start another for files and
    # rulings older than it (cme.watch.relinked_from, once the list is saved).
    set_state(db.engine(), RELINK_STARTED, utc_now().isoformat())
    # From here until cme_flags saves a new list, the newest list is not to be exported.
    mark_cme_pending(db.engine())
    counts = refresh_active(db.engine())
    refreshed = counts.pop("providers_refreshed")
    return MaterializeResult(metadata={"records": int(sum(v for k, v in counts.items() if k != "carried_forward")),
                                       "providers_refreshed": refreshed,
                                       **{f"records_{k}": v for k, v in sorted(counts.items())}})


@asset(group_name="linkage", deps=["standardised_records"], kinds={"pandas", "sql"},
       required_resource_keys={"db", "settings"},
       description="Records grouped into children by probabilistic linkage: incrementally (only the children a "
                   "delivery or a ruling touches) or in full when the model, settings or matcher changed; handed "
                   "to the register through the database; uncertain pairs go to review.")
@scrubbed
@bulk_step
def links(context: AssetExecutionContext) -> MaterializeResult:
    db, settings = context.resources.db, context.resources.settings
    with settings.pair_source() as source:
        stats = link_register(db.engine(), LinkSettings(settings.link_at, settings.review_at), settings.relink,
                              pair_source=source)
    return MaterializeResult(metadata=stats)


@asset(group_name="linkage", deps=["links"], freshness_policy=DAILY, kinds={"sql"},
       required_resource_keys={"db", "settings"},
       description="The register's children: one per real child, with ids that stay the same from run to run.",
       check_specs=[AssetCheckSpec("no_child_with_two_nhs_numbers", asset="children",
                                   description="No register child holds two different NHS numbers. Not "
                                               "blocking: the children involved are held for review on the "
                                               "CME list, and the list goes on for everyone else."),
                    AssetCheckSpec("linked_share_steady", asset="children",
                                   description="The share of current records linked to another record did not "
                                               "fall by more than the configured amount since the last run.")])
@scrubbed
@bulk_step
def children(context: AssetExecutionContext) -> MaterializeResult:
    db = context.resources.db
    engine = db.engine()
    # The CME list is computed again for the children regrouped (all of them after a full link).
    counts = regroup_register(engine, f"run {context.run.run_id}", on_regrouped=lambda kids: touch(engine, kids))
    conflicts = len(children_with_two_nhs_numbers(engine))
    counts["shield_scope_saved"] = keep_shield_scope(engine)  # for the casework pages
    share = linked_share(engine)
    before, fell = compare_linked_share(engine, share, context.resources.settings.linked_share_drop)
    if fell:
        raise_alert("linked_share_fell", db.url, before=round(before, 4), now=round(share, 4))
    return MaterializeResult(metadata={**counts, "linked_share": round(share, 4)}, check_results=[
        AssetCheckResult(check_name="no_child_with_two_nhs_numbers", passed=conflicts == 0,
                         severity=AssetCheckSeverity.ERROR, metadata={"children_with_conflicts": int(conflicts)}),
        AssetCheckResult(check_name="linked_share_steady", passed=not fell, severity=AssetCheckSeverity.WARN,
                         metadata={"linked_share": round(share, 4),
                                   "last_run": round(before, 4) if before is not None else "none"})])
