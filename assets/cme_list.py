"""The CME list asset: children of compulsory school age on no roll with no recorded reason,
per authority, found from the register's current records. Thin: one library call, counts out."""
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
from cme.rules import flag_missing_children, possible_match_in_review
from register.cases import open_cases
from register.current import active_records
from register.identity import children_with_two_nhs_numbers
from register.reference import postcode_authorities, reference_version
from register.reports import save_cme
from register.review import undecided_pairs


@asset(group_name="cme", deps=["children"], freshness_policy=DAILY, kinds={"sql"},
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
    flags, stats = flag_missing_children(records, as_of, directory)
    # Children the register's checks found in conflict are held for review, never dropped.
    held = flags["child_id"].isin(children_with_two_nhs_numbers(engine))
    flags["possible_match_in_review"] = held | possible_match_in_review(flags["child_id"], undecided_pairs(engine),
                                                  dict(zip(records["record_key"], records["child_id"])))
    save_cme(engine, flags, as_of)
    case_counts = open_cases(engine, as_of)
    per_la = flags.groupby("la_code").size().to_dict() if len(flags) else {}
    authorities = sorted(set(records.loc[records["feed"] == "la", "provider"]))
    unassessed = [la for la in authorities if stats.get("assessed_by_la", {}).get(la, 0) == 0]
    return MaterializeResult(
        metadata={"as_of": as_of.isoformat(), **{k: v for k, v in stats.items() if not isinstance(v, dict)},
                  "postcode_directory": reference_version(engine) or "none loaded",
                  **{f"residence_{k}": v for k, v in sorted(stats["residence_by_source"].items())},
                  "flagged_held_for_conflict": int(held.sum()),
                  "possible_match_in_review": int(flags["possible_match_in_review"].sum()), **case_counts,
                  **{f"cme_{la}": int(n) for la, n in sorted(per_la.items())}},
        check_results=[AssetCheckResult(check_name="every_authority_assessed", passed=not unassessed,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"authorities": len(authorities),
                                                  "unassessed": ", ".join(unassessed) or "none"})])
