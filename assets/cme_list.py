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

from alerts import raise_alert
from assets.policies import DAILY, bulk_step
from assets.safety import scrubbed
from cme import authorities_without_current_roll, compare_flag_counts, compute_cme, la_providers, mark_relinked, open_cases
from sources import reference_version, stale_rolls


@asset(group_name="cme", deps=["children", "provider_deliveries"], freshness_policy=DAILY, kinds={"sql"},
       required_resource_keys={"db", "settings"},
       description="Children of compulsory school age on no roll with no recorded reason, per authority; each "
                   "flag says whether it rests on a stale school roll.",
       check_specs=[AssetCheckSpec("every_authority_assessed", asset="cme_flags",
                                   description="Each authority that sends records had its resident children "
                                               "of compulsory school age assessed."),
                    AssetCheckSpec("flag_counts_steady", asset="cme_flags",
                                   description="No authority's flag count dropped to zero or moved by more than "
                                               "the configured share since the last run."),
                    AssetCheckSpec("every_authority_has_a_current_roll", asset="cme_flags",
                                   description="Each authority has at least one school whose roll is not stale.")])
@scrubbed
@bulk_step
def cme_flags(context: AssetExecutionContext) -> MaterializeResult:
    db, settings = context.resources.db, context.resources.settings
    engine = db.engine()
    as_of = settings.as_of_date()
    found = compute_cme(engine, as_of, stale_rolls(engine))
    flags, stats = found.flags, found.stats
    mark_relinked(engine)
    case_counts = open_cases(engine, as_of)
    per_la = flags.groupby("la_code").size().to_dict() if len(flags) else {}
    authorities = la_providers(engine)
    unassessed = [la for la in authorities if stats.get("assessed_by_la", {}).get(la, 0) == 0]
    counted = {la: int(per_la.get(la, 0)) for la in sorted(set(authorities) | {k for k in per_la if k})}
    moves = compare_flag_counts(engine, counted, settings.cme_move_share)
    for m in moves:
        raise_alert("cme_count_changed", db.url, authority=m.la_code, as_of=as_of.isoformat(), before=m.before,
                    now=m.now, change=m.what)
    no_roll = authorities_without_current_roll(engine, authorities)
    for la in no_roll:
        raise_alert("no_current_roll", db.url, authority=la, as_of=as_of.isoformat())
    return MaterializeResult(
        metadata={"as_of": as_of.isoformat(), **{k: v for k, v in stats.items() if not isinstance(v, dict)},
                  "postcode_directory": reference_version(engine) or "none loaded",
                  **{f"residence_{k}": v for k, v in sorted(stats["residence_by_source"].items())},
                  "flagged_held_for_conflict": found.held, "computed": found.mode,
                  "children_computed": found.recomputed,
                  "possible_match_in_review": int(flags["possible_match_in_review"].sum()), **case_counts,
                  "flags_on_stale_rolls": int((flags["stale_rolls"] != "").sum()),
                  **{f"cme_{la}": int(n) for la, n in sorted(per_la.items())}},
        check_results=[AssetCheckResult(check_name="every_authority_assessed", passed=not unassessed,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"authorities": len(authorities),
                                                  "unassessed": ", ".join(unassessed) or "none"}),
                       AssetCheckResult(check_name="flag_counts_steady", passed=not moves,
                                        severity=AssetCheckSeverity.WARN,
                                        metadata={"moved": ", ".join(f"{m.la_code}: {m.before} to {m.now}"
                                                                     for m in moves) or "none",
                                                  "share_allowed": settings.cme_move_share}),
                       AssetCheckResult(check_name="every_authority_has_a_current_roll", passed=not no_roll,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"without_a_current_roll": ", ".join(no_roll) or "none"})])
