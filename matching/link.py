"""Link records that describe the same child: standardise, block, compare, score, cluster.
Returns cluster labels per record, the pairs for the review queue with their explanations, and
counts. Pure: takes and returns frames, never touches the database or logs personal data.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from matching.block import block_keys, candidate_pairs, unique_pairs
from matching.cluster import ConstrainedClusters
from matching.compare import COMPARISONS, DOB, FORENAME, MISSING, NHS_NUMBER, SEX, SURNAME, UPN, compare
from matching.families import (
    complementary_links,
    distinct_given_names,
    middle_name_rivals,
    mistyped_two_ways,
    name_rank,
    names_crossed,
    rival_links,
    slipped_given_names,
    twin_evidence,
)
from matching.score import FIELDS, Model, fitted_link_at, match_weights, probability, train, weight_matrix
from matching.standardisation import standardise

# A record key split because one extract gave clearly different children the same identifier
# is the shared key + CONFLICT_MARK + a hash of the child's name and birth date.
CONFLICT_MARK = "~k"


@dataclass(frozen=True)
class LinkSettings:
    link_at: float = 0.95  # match probability at or above which a pair is linked
    review_at: float = 0.5  # at or above this (and below link_at) a pair goes to the review queue
    postcode_style: str = "uk"  # "plain" for data sets from other countries (benchmarks)
    # Records that look like twins (same birth date and surname, clearly different given names)
    # are never linked. Right for a children's register; a data set of adults may turn it off.
    twins_apart: bool = True
    # A given name carried by at least this share of records is an established name. Two
    # different established names that are merely alike (Isla and Isabella) name two children;
    # a typo (Emalia) is rare beside the name it spoils, so it never counts as established.
    established_name_share: float = 0.0005
    established_name_count: int = 5  # and at least this many records, so a small register is not fooled


@dataclass
class LinkResult:
    clusters: np.ndarray  # one label per input record (row order)
    review_pairs: pd.DataFrame  # key_a, key_b, match_weight, match_probability, explanation
    stats: dict = field(default_factory=dict)
    model: Model | None = None
    pairs: np.ndarray | None = None  # every candidate pair (row positions), for evaluation
    probabilities: np.ndarray | None = None
    standardised: pd.DataFrame | None = None  # the records as compared (row order), for a link index
    block_keys: pd.DataFrame | None = None  # their blocking keys (matching.block.block_keys), for a link index


RIVAL_NOTE = ("held for review: one of these records fits another child as well by given name, "
              "and that child cannot be the same as the other record (twins)")
REFUSED_NOTE = ("held for review: the score links these records, but joining them would put two children "
                "that something keeps apart into one")
# What keeps them apart, where the clustering can say (REFUSED_BECAUSE and one of these).
REFUSED_BECAUSE = "held for review: the score links these records, but joining them would put two children into one: "
APART_BECAUSE = {
    "nhs": "the two children's records carry different NHS numbers",
    "provider": "one provider's extract lists two of their records as two different children",
    "different": "an analyst ruled two of their records different children",
    "nhs_conflict": "two of their records carry different NHS numbers",
    "twins": "two of their records look like twins: one family, one birth date, clearly different given names",
    "shared_key": "one extract gave two of their records the same identifier for clearly different children",
    "withheld": "a pair between them is itself held for an analyst (a rival of the same family, or names too alike)",
}
ALIKE_NOTE = ("held for review: one family, one birth date and given names as alike as Sophia and Sophie: twins, "
              "or one child's name spelt two ways; nothing else in the records tells them apart")
TWINS_SHARING_NHS_NOTE = ("held for review: the records share an NHS number but look like twins (one family, one "
                          "birth date, clearly different given names)")
NHS_DOUBT_NOTE = ("held for review: the records share an NHS number but disagree on what one child cannot: the "
                  "birth date, the sex, or both names")
SHARED_KEY_NOTE = ("held for review: one extract gave these records the same identifier, but they describe "
                   "clearly different children")


SHIELD_NOTE = ("held for review: a possible match of a shielded child's record (same birth date, a name "
               "alike); the shield covers it until an analyst rules the two different")


def shielded_possibles(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame) -> np.ndarray:
    """Pairs that touch a shielded record and could be the same child even though they score
    under the review threshold: the birth date agrees (or is a swap or a keystroke away) and
    the given name or the surname is at least alike (a mistyped nickname, "Antnony" for "Tony",
    leaves only the surname). They go to review so the shield spreads to them
    (oversight.shield) while linkage is unsure: a mistyped GP record of a shielded child must
    never carry the child's address out unshielded."""
    shielded = standardised["shielded"].to_numpy(dtype=bool)
    touches = shielded[pairs[:, 0]] | shielded[pairs[:, 1]]
    name_alike = (levels["forename"].between(MISSING, FORENAME.LIKE_OR_MIDDLE).to_numpy()
                  | levels["surname"].between(MISSING, SURNAME.LIKE).to_numpy())
    return touches & levels["dob"].between(DOB.EXACT, DOB.ONE_TYPO).to_numpy() & name_alike


def key_conflict_pairs(keys: list[str]) -> np.ndarray:
    """Pairs of records whose keys were split because one extract gave clearly different
    children the same identifier (sources.mapping.split_key_conflicts)."""
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if CONFLICT_MARK in k:
            groups.setdefault(k.split(CONFLICT_MARK)[0], []).append(i)
    out = [(a, b) for members in groups.values() for x, a in enumerate(members) for b in members[x + 1:]
           if keys[a] != keys[b]]
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def ruled_pairs(keys: list[str], rulings: dict[tuple[str, str], str]) -> np.ndarray:
    """Row positions (lower first) of record pairs an analyst ruled on, where both are present."""
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    out = [tuple(sorted((first[a], first[b]))) for a, b in rulings if a in first and b in first and a != b]
    return np.array(sorted(set(out)), dtype=np.int64).reshape(-1, 2)


def _ruled(pairs: np.ndarray, keys: list[str], rulings: dict[tuple[str, str], str], decision: str) -> np.ndarray:
    """Which pairs analysts ruled `decision` ("same" or "different")."""
    if not rulings:
        return np.zeros(len(pairs), dtype=bool)
    key_array = np.array(keys, dtype=object)
    return np.array([rulings.get(_ordered(a, b)) == decision
                     for a, b in zip(key_array[pairs[:, 0]], key_array[pairs[:, 1]])], dtype=bool)


def _pair_mask(pairs: np.ndarray, wanted: np.ndarray, n: int) -> np.ndarray:
    if not len(wanted):
        return np.zeros(len(pairs), dtype=bool)
    return np.isin(_pair_code(pairs, n), _pair_code(wanted, n))


def _pair_code(pairs: np.ndarray, n: int) -> np.ndarray:
    """One integer per pair of row positions, whichever way round."""
    return np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64) * n + np.maximum(pairs[:, 0], pairs[:, 1])


def explain(weights: pd.DataFrame, levels: pd.DataFrame, rows: np.ndarray,
            held: np.ndarray | None = None) -> list[str]:
    """JSON per pair: the prior and each field's level and weight in bits (they add up to the
    match weight), and for a pair held back from linking, why ("held": the note per pair)."""
    out = []
    for r in rows:
        body = {"prior": round(float(weights.at[r, "prior"]), 2)}
        for name in FIELDS:
            body[name] = {"level": COMPARISONS[name].label(int(levels.at[r, name])),
                          "weight": round(float(weights.at[r, name]), 2)}
        if held is not None and held[r]:
            body["held"] = held[r]
        out.append(json.dumps(body))
    return out


@dataclass
class _Decisions:
    """What becomes of each candidate pair (boolean masks over the pairs)."""
    link: np.ndarray
    review: np.ndarray
    cannot: np.ndarray  # kept apart: NHS numbers differ, twin evidence, shared key, ruled different
    forced: np.ndarray  # an analyst ruled them the same
    different: np.ndarray  # an analyst ruled them different children
    withheld: np.ndarray  # rival or middle-name links held for review
    shared_key: np.ndarray
    shield_net: np.ndarray
    held_notes: np.ndarray  # why a withheld pair is held (a note of this module's)


def link_records(records: pd.DataFrame, settings: LinkSettings = LinkSettings(),
                 rulings: dict[tuple[str, str], str] | None = None, model: Model | None = None,
                 name_counts: dict[str, pd.Series] | None = None,
                 pair_source: Callable[..., tuple[np.ndarray, pd.DataFrame, dict, dict]] | None = None,
                 on_blocked: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None) -> LinkResult:
    """records: one row per active record with the register's columns (see linkage.current).
    Standardise, block, compare, score, decide each pair, cluster, and queue the uncertain.
    For part of a register (an incremental link), give the model the full link trained and
    the whole register's name counts ({"forename": given -> records, "surname": family ->
    records}): a part must be scored as the whole would be. pair_source: where candidate pairs
    and their levels come from, when not made here in one piece (matching.partitioned: by
    blocking-key partition, in this process or on a Dask cluster), called with the
    standardised records and keys=their block_keys. on_blocked(standardised, block keys) is
    called as soon as both are made (a register starts writing its link index), never for
    fewer than two records."""
    n = len(records)
    if n == 0:
        return LinkResult(np.zeros(0, dtype=np.int64), _empty_review(), {"records": 0})
    records = records.reset_index(drop=True)
    standardised = standardise(records, settings.postcode_style)
    keys = standardised["record_key"].tolist()
    clusters = _clusters_by_record_key(standardised, keys)
    stats: dict = {"records": n}
    if n < 2:
        return LinkResult(clusters.labels(), _empty_review(), stats)
    blocking = block_keys(standardised)
    if on_blocked is not None:
        on_blocked(standardised, blocking)
    pairs, levels, conflict_pairs = _compared_pairs(standardised, keys, blocking, pair_source, rulings or {}, stats)
    if not len(pairs):
        return LinkResult(clusters.labels(), _empty_review(), stats)
    # The analysts' rulings over the pairs, read once: what the model learns from and what the
    # decisions replay.
    same, different = _ruled(pairs, keys, rulings or {}, "same"), _ruled(pairs, keys, rulings or {}, "different")
    fresh = model is None
    if fresh:
        # Each full link learns from the analysts' rulings it has: a pair ruled the same child is
        # a labelled match (matching.score.anchored_m).
        model = train(standardised, levels, labelled_same=same, pairs=pairs)
    total = match_weights(model, standardised, pairs, levels)
    total[(levels["nhs_number"] == NHS_NUMBER.DIFFERENT).to_numpy()] = -np.inf
    prob = probability(total)
    if fresh:
        # ... and the link threshold from every ruling, saved with the model, so an incremental
        # link decides as the full link did.
        model.link_at, model.threshold_labels = fitted_link_at(prob, same, different), int((same | different).sum())
    if model.link_at is not None:
        settings = replace(settings, link_at=model.link_at)
    stats.update({"link_at": settings.link_at, "threshold_labels": model.threshold_labels})
    decided = _decide(records, standardised, pairs, levels, prob, settings, same, different, len(keys), conflict_pairs,
                      (name_counts or {}).get("forename"))
    labels = _cluster(clusters, pairs, decided, total)
    if settings.twins_apart:
        joined, possible = complementary_links(standardised, pairs, levels, labels, decided, total)
        for r in joined:
            clusters.union(int(pairs[r, 0]), int(pairs[r, 1]))
        labels = clusters.labels() if len(joined) else labels
        # Two halves that fit but may not be joined on the rules alone: a GP record that could be
        # a child at school is for an analyst, so its CME flag says a match is possible.
        decided.review[possible] = True
        stats["complementary_links"], stats["complementary_to_review"] = int(len(joined)), int(len(possible))
    apart = labels[pairs[:, 0]] != labels[pairs[:, 1]]
    # A link the clustering refused (it would join two children that something keeps apart)
    # is as uncertain as a pair under the threshold: an analyst decides it.
    refused = decided.link & apart
    # A review pair already joined through other links needs no analyst.
    review = (decided.review | refused) & apart
    review_pairs = _review_frame(pairs, keys, review, refused, decided, model, standardised, levels, total, prob,
                                 _refusals(clusters, pairs, refused, decided, levels))
    stats.update(_decision_stats(decided, review, refused, apart, clusters, model, labels))
    return LinkResult(labels, review_pairs.drop_duplicates(["key_a", "key_b"]), stats, model, pairs, prob, standardised,
                      blocking)


def _compared_pairs(standardised: pd.DataFrame, keys: list[str], blocking, pair_source, rulings: dict,
                    stats: dict) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """(candidate pairs of distinct record keys, their comparison levels, the pairs whose records
    share a key given to clearly different children); counts go into stats."""
    levels, cost = None, {}
    if pair_source is None:
        pairs, per_rule = candidate_pairs(standardised, keys=blocking)
    else:
        pairs, levels, per_rule, cost = pair_source(standardised, keys=blocking)
    conflict_pairs = key_conflict_pairs(keys)
    extra = [p for p in (conflict_pairs, ruled_pairs(keys, rulings)) if len(p)]
    if extra:
        # An analyst's split or merge may join records no blocking rule brought together.
        pairs, levels = _with_pairs(standardised, pairs, levels, np.concatenate(extra))
    record_keys = standardised["record_key"].to_numpy()
    distinct = record_keys[pairs[:, 0]] != record_keys[pairs[:, 1]]
    pairs = pairs[distinct]
    stats.update({"candidate_pairs": int(len(pairs)), **{f"pairs_{k}": v for k, v in per_rule.items()}, **cost})
    if not len(pairs):
        return pairs, pd.DataFrame(), conflict_pairs
    levels = compare_in_chunks(standardised, pairs) if levels is None else levels[distinct].reset_index(drop=True)
    return pairs, levels, conflict_pairs


def _decision_stats(decided, review, refused, apart, clusters, model: Model, labels: np.ndarray) -> dict:
    return {"linked_pairs": int(decided.link.sum()), "review_pairs": int(review.sum()),
            "refused_links_to_review": int(refused.sum()), "shared_key_pairs": int(decided.shared_key.sum()),
            "shielded_possible_pairs": int((decided.shield_net & apart).sum()),
            "cannot_link_pairs": int(decided.cannot.sum()),
            "withheld_rival_pairs": int(decided.withheld.sum()), "refused_merges": clusters.refused,
            "em_iterations": model.iterations, "model_labels": model.labels, "prior_bits": round(float(np.log2(model.prior)), 2),
            "clusters": int(len(set(labels.tolist())))}


def _clusters_by_record_key(standardised: pd.DataFrame, keys: list[str]) -> ConstrainedClusters:
    """Clusters to start from: rows that share a record key are one child at one provider by
    definition."""
    clusters = ConstrainedClusters(len(keys), standardised["nhs_number"].tolist(),
                                   list(zip(standardised["provider"], keys)))
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in first:
            clusters.union(first[k], i, force=True)
        else:
            first[k] = i
    return clusters


def _decide(records: pd.DataFrame, standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame,
            prob: np.ndarray, settings: LinkSettings, forced: np.ndarray, different: np.ndarray, n_keys: int,
            conflict_pairs: np.ndarray, given_counts: pd.Series | None = None) -> _Decisions:
    """Link, review or keep apart each pair: the score against the thresholds, then the rules
    that override it (twins, shared keys, the shield net, analysts' rulings, rival links).
    forced and different: the pairs analysts ruled the same child and different children."""
    nhs_conflict = (levels["nhs_number"] == NHS_NUMBER.DIFFERENT).to_numpy()
    nhs_same = (levels["nhs_number"] == NHS_NUMBER.SAME).to_numpy()
    feeds = standardised["feed"].to_numpy()
    same_feed = feeds[pairs[:, 0]] == feeds[pairs[:, 1]]
    twins = alike = twins_sharing_nhs = np.zeros(len(levels), dtype=bool)
    if settings.twins_apart:
        crossed = names_crossed(standardised, pairs, levels)
        slipped = slipped_given_names(standardised, pairs, levels)
        distinct = distinct_given_names(standardised, pairs, levels, settings.established_name_share,
                                        settings.established_name_count, given_counts) & ~slipped
        mistyped = mistyped_two_ways(standardised, pairs, levels, slipped, settings.established_name_share,
                                     settings.established_name_count, given_counts)
        evidence = twin_evidence(levels, same_feed, slipped | mistyped, ignore_nhs=True) & ~crossed
        twins = evidence & ~nhs_same
        # Two children of one family by a shared NHS number: an analyst decides, never the rules alone.
        twins_sharing_nhs = evidence & nhs_same
        # Alike established names (Sophia and Sophie) in one family: twins or one name spelt two
        # ways; nothing tells them apart, so an analyst does, and they are never merged meanwhile.
        family = (levels["dob"].isin([DOB.EXACT, DOB.EXACT_1_JANUARY])
                  & levels["surname"].between(SURNAME.EXACT, SURNAME.CLOSE)
                  & (levels["upn"] != UPN.SAME)).to_numpy()
        alike = distinct & family & ~twins & ~crossed
    shared_key = _pair_mask(pairs, conflict_pairs, n_keys)
    cannot = nhs_conflict | twins | shared_key
    # A shared valid NHS number links whatever the score, unless a rule speaks against it or the
    # records disagree on what one child cannot: then an analyst decides, never silently apart.
    nhs_doubt = nhs_same & ((levels["dob"] == DOB.DIFFERENT) | (levels["sex"] == SEX.DIFFERENT)
                            | ((levels["forename"] == FORENAME.DIFFERENT)
                               & (levels["surname"] == SURNAME.DIFFERENT))).to_numpy()
    link = ((prob >= settings.link_at) | nhs_same) & ~nhs_doubt & ~cannot & ~alike & ~twins_sharing_nhs
    review = (((prob >= settings.review_at) | nhs_same) & ~link & ~nhs_conflict) | shared_key | alike | twins_sharing_nhs
    shield_net = shielded_possibles(standardised, pairs, levels) & ~link & ~nhs_conflict & ~review
    review |= shield_net
    review &= ~forced & ~different
    cannot |= different
    link &= ~different
    withheld = np.zeros(len(pairs), dtype=bool)
    held_notes = np.full(len(pairs), "", dtype=object)
    if settings.twins_apart:
        family = (levels["dob"].between(DOB.EXACT, DOB.ONE_TYPO)
                  & levels["surname"].between(SURNAME.EXACT, SURNAME.LIKE)).to_numpy()
        withheld = rival_links(pairs, link & ~forced, family & ~cannot, twins | different, name_rank(levels))
        withheld |= middle_name_rivals(standardised, pairs, levels, link & ~forced)
        held_notes[withheld] = RIVAL_NOTE
        for mask, note in ((nhs_doubt, NHS_DOUBT_NOTE), (twins_sharing_nhs, TWINS_SHARING_NHS_NOTE), (alike, ALIKE_NOTE)):
            held_notes[mask & ~forced & ~different] = note
            withheld |= mask & ~forced & ~different
        link &= ~withheld
        review |= withheld
    return _Decisions(link, review, cannot, forced, different, withheld, shared_key, shield_net, held_notes)


def _cluster(clusters: ConstrainedClusters, pairs: np.ndarray, decided: _Decisions, total: np.ndarray) -> np.ndarray:
    """Join linked pairs, strongest first, never across a pair kept apart."""
    # A withheld pair waits for an analyst: no chain of other links may join it meanwhile.
    for r in np.flatnonzero(decided.cannot | decided.withheld):
        clusters.forbid(int(pairs[r, 0]), int(pairs[r, 1]))
    for r in np.flatnonzero(decided.forced):
        clusters.union(int(pairs[r, 0]), int(pairs[r, 1]), force=True)
    order = np.flatnonzero(decided.link)
    order = order[np.argsort(-total[order], kind="stable")]
    for r in order:
        clusters.union(int(pairs[r, 0]), int(pairs[r, 1]))
    return clusters.labels()


def _refusals(clusters: ConstrainedClusters, pairs: np.ndarray, refused: np.ndarray, decided: _Decisions,
              levels: pd.DataFrame) -> dict[int, str]:
    """For each link the clustering refused: REFUSED_NOTE saying what keeps the two apart."""
    out: dict[int, str] = {}
    rows = np.flatnonzero(refused)
    if not len(rows):
        return out
    kept_apart = np.flatnonzero(decided.cannot | decided.withheld)
    row_of = {(int(min(a, b)), int(max(a, b))): int(r) for r, (a, b) in zip(kept_apart, pairs[kept_apart])}
    nhs_conflict = (levels["nhs_number"] == NHS_NUMBER.DIFFERENT).to_numpy()
    for r in rows:
        why = clusters.why_apart(clusters.find(int(pairs[r, 0])), clusters.find(int(pairs[r, 1])))
        if why is None:
            continue
        kind = why[0]
        if kind == "forbidden":
            i, j = why[1], why[2]
            k = row_of.get((min(i, j), max(i, j)))
            kind = ("withheld" if k is None or (decided.withheld[k] and not decided.cannot[k]) else
                    "different" if decided.different[k] else "nhs_conflict" if nhs_conflict[k] else
                    "shared_key" if decided.shared_key[k] else "twins")
        out[int(r)] = f"{REFUSED_BECAUSE}{APART_BECAUSE[kind]}"
    return out


def _review_frame(pairs: np.ndarray, keys: list[str], review: np.ndarray, refused: np.ndarray,
                  decided: _Decisions, model: Model, standardised: pd.DataFrame, levels: pd.DataFrame,
                  total: np.ndarray, prob: np.ndarray, refusals: dict[int, str] | None = None) -> pd.DataFrame:
    """The review queue's rows: record keys in order, score, and the explanation with why a
    pair was held back."""
    rows = np.flatnonzero(review)
    # Each field's weight is worked out only for the pairs an analyst will read (9 floats a pair).
    weights = weight_matrix(model, standardised, pairs[rows], levels.iloc[rows])
    key_array = np.array(keys, dtype=object)
    ordered = [_ordered(a, b) for a, b in zip(key_array[pairs[rows, 0]], key_array[pairs[rows, 1]])]
    notes = np.full(len(pairs), "", dtype=object)
    notes[decided.withheld] = decided.held_notes[decided.withheld]
    notes[refused] = REFUSED_NOTE
    for r, note in (refusals or {}).items():
        notes[r] = note
    notes[decided.shared_key] = SHARED_KEY_NOTE
    notes[decided.shield_net] = SHIELD_NOTE
    return pd.DataFrame({
        "key_a": [o[0] for o in ordered], "key_b": [o[1] for o in ordered],
        "match_weight": np.where(np.isfinite(total[rows]), total[rows], -99.0).round(3),
        "match_probability": prob[rows].round(6),
        "explanation": explain(weights, levels, rows, notes)})


def _with_pairs(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame | None,
                extra: np.ndarray) -> tuple[np.ndarray, pd.DataFrame | None]:
    """pairs with extra ones added, sorted and each once; where levels came with the pairs, the
    added pairs are compared here and the levels kept in the pairs' order."""
    if levels is None:
        return unique_pairs(np.concatenate([pairs, extra])), None
    n = len(standardised)
    extra = unique_pairs(extra)
    extra = extra[~np.isin(_pair_code(extra, n), _pair_code(pairs, n))]
    if not len(extra):
        return pairs, levels
    both = np.concatenate([pairs, extra])
    both_levels = pd.concat([levels, compare(standardised, extra)], ignore_index=True)
    order = np.argsort(_pair_code(both, n), kind="stable")
    return both[order], both_levels.iloc[order].reset_index(drop=True)


def compare_in_chunks(standardised: pd.DataFrame, pairs: np.ndarray, chunk: int = 500_000) -> pd.DataFrame:
    """Levels for every pair, a chunk at a time: the per-pair copies of both records' fields
    are what costs memory, and levels are small integers."""
    parts = [compare(standardised, pairs[i:i + chunk]) for i in range(0, len(pairs), chunk)]
    return pd.concat(parts, ignore_index=True) if parts else compare(standardised, pairs)


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _empty_review() -> pd.DataFrame:
    return pd.DataFrame(columns=["key_a", "key_b", "match_weight", "match_probability", "explanation"])
