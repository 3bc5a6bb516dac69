"""Register assets: standardised records, links, the register of children and CME flags.
Thin: each reads its input, calls one library function, writes, and reports counts."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from assets.policies import DAILY
from assets.safety import scrubbed
from cme.rules import cme_flags as find_cme
from cme.rules import under_review
from matching.link import LinkSettings, link_records
from register.current import active_records, refresh_active
from register.identity import (
    analyst_rulings,
    assign_ids,
    children_with_two_nhs_numbers,
    load_clusters,
    pending_review_pairs,
    prior_ids,
    save_clusters,
    save_register,
    save_review_queue,
)
from register.reference import postcode_authorities, reference_version
from register.reports import mark_cme_pending, save_cme
from register.state import fingerprint, get_state, set_state

LINKS_STATE = "links_inputs_fingerprint"  # the inputs of the grouping the register holds
LINKS_PENDING = "links_pending_fingerprint"  # the inputs of the grouping handed to the register asset


@asset(group_name="register", deps=["validated_rows"], kinds={"sql"}, required_resource_keys={"db"},
       description="Every current record (from each provider's newest extract, and pupils a school's newest "
                   "extract left out) marked current in the register database.")
@scrubbed
def standardised_records(context: AssetExecutionContext) -> MaterializeResult:
    db = context.resources.db
    # From here until cme_flags saves a new list, the newest list is not to be exported.
    mark_cme_pending(db.engine())
    counts = refresh_active(db.engine())
    return MaterializeResult(metadata={"records": int(sum(v for k, v in counts.items() if k != "carried_forward")),
                                       **{f"records_{k}": v for k, v in sorted(counts.items())}})


@asset(group_name="register", deps=["standardised_records"], kinds={"pandas", "sql"},
       required_resource_keys={"db", "settings"},
       description="Records grouped into children by probabilistic linkage, handed to the register through "
                   "the database; uncertain pairs go to review.")
@scrubbed
def links(context: AssetExecutionContext) -> MaterializeResult:
    db, settings = context.resources.db, context.resources.settings
    engine = db.engine()
    records = active_records(engine)
    rulings = analyst_rulings(engine)
    link_settings = LinkSettings(settings.link_at, settings.review_at)
    inputs = fingerprint(records["id"].tolist(), sorted(rulings.items()), link_settings)
    if inputs == get_state(engine, LINKS_STATE) and records["child_id"].ne("").all():
        # Same records and rulings as the links the register already holds: nothing to re-link.
        set_state(engine, LINKS_PENDING, inputs)
        return MaterializeResult(metadata={"records": len(records), "relinked": False})
    result = link_records(records, link_settings, rulings)
    queued = save_review_queue(engine, result.review_pairs)
    save_clusters(engine, records["id"], result.clusters)
    set_state(engine, LINKS_PENDING, inputs)
    return MaterializeResult(metadata={**result.stats, "review_queue": queued, "relinked": True})


@asset(group_name="register", deps=["links"], freshness_policy=DAILY, kinds={"sql"}, required_resource_keys={"db"},
       description="One register child per real child, with ids that stay the same from run to run.",
       check_specs=[AssetCheckSpec("no_child_with_two_nhs_numbers", asset="register",
                                   description="No register child holds two different NHS numbers. Not "
                                               "blocking: the children involved are held for review on the "
                                               "CME list, and the list goes on for everyone else.")])
@scrubbed
def register(context: AssetExecutionContext) -> MaterializeResult:
    db = context.resources.db
    engine = db.engine()
    pending = get_state(engine, LINKS_PENDING)
    if pending == get_state(engine, LINKS_STATE):
        current = active_records(engine)[["id", "record_key", "child_id"]]
        counts = save_register(engine, current, current["child_id"])
    else:
        handed = load_clusters(engine)
        child_ids, _ = assign_ids(handed, handed["cluster"].to_numpy(), prior_ids(engine))
        counts = save_register(engine, handed, child_ids)
        set_state(engine, LINKS_STATE, pending or "")
    conflicts = len(children_with_two_nhs_numbers(engine))
    return MaterializeResult(metadata=counts, check_results=[AssetCheckResult(
        check_name="no_child_with_two_nhs_numbers", passed=conflicts == 0, severity=AssetCheckSeverity.ERROR,
        metadata={"children_with_conflicts": int(conflicts)})])


@asset(group_name="cme", deps=["register"], freshness_policy=DAILY, kinds={"sql"},
       required_resource_keys={"db", "settings"},
       description="Children of compulsory school age on no roll with no recorded reason, per authority.",
       check_specs=[AssetCheckSpec("every_authority_assessed", asset="cme_flags",
                                   description="Each authority that sends records had its resident children "
                                               "of compulsory school age assessed.")])
@scrubbed
def cme_flags(context: AssetExecutionContext) -> MaterializeResult:
    db, settings = context.resources.db, context.resources.settings
    engine = db.engine()
    records = active_records(engine)
    as_of = settings.as_of_date()
    directory = postcode_authorities(engine, records["postcode"])
    flags, stats = find_cme(records, as_of, directory)
    # Children the register's checks found in conflict are held for review, never dropped.
    held = flags["child_id"].isin(children_with_two_nhs_numbers(engine))
    flags["pending_review"] = held | under_review(flags["child_id"], pending_review_pairs(engine),
                                                  dict(zip(records["record_key"], records["child_id"])))
    save_cme(engine, flags, as_of)
    per_la = flags.groupby("la_code").size().to_dict() if len(flags) else {}
    authorities = sorted(set(records.loc[records["feed"] == "la", "provider"]))
    unassessed = [la for la in authorities if stats.get("assessed_by_la", {}).get(la, 0) == 0]
    return MaterializeResult(
        metadata={"as_of": as_of.isoformat(), **{k: v for k, v in stats.items() if not isinstance(v, dict)},
                  "postcode_directory": reference_version(engine) or "none loaded",
                  **{f"residence_{k}": v for k, v in sorted(stats["residence_by_source"].items())},
                  "flagged_held_for_conflict": int(held.sum()),
                  "flagged_with_match_in_review": int(flags["pending_review"].sum()),
                  **{f"cme_{la}": int(n) for la, n in sorted(per_la.items())}},
        check_results=[AssetCheckResult(check_name="every_authority_assessed", passed=not unassessed,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"authorities": len(authorities),
                                                  "unassessed": ", ".join(unassessed) or "none"})])
