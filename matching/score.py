"""Fellegi-Sunter scoring: u-probabilities from random pairs, the prior from deterministic
rules, m-probabilities started from identifier-sharing pairs and refined by EM (no labels),
term-frequency adjustment for exact name agreement, and a per-field breakdown of every pair's
match weight so an analyst can see why it scored so. A trained model is saved as data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matching.compare import COMPARISONS, DOB, FORENAME, NHS_NUMBER, POSTCODE, SURNAME, UPN, compare

FIELDS = list(COMPARISONS)
TF_FIELDS = {"forename": "given", "surname": "family"}  # field -> standardised column for frequencies
_EPS = 1e-6


@dataclass
class Model:
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float  # probability that two random records are the same child
    tf: dict[str, pd.Series] = field(default_factory=dict)  # value -> share of records
    iterations: int = 0
    labels: int = 0  # analysts' "same" rulings it learned m from, beside the identifier anchors
    # m for the postcode of a pair with a GP record on one side only (a GP record's address is
    # often newer or older than a school's); None: the one postcode m for every pair.
    postcode_gp_m: np.ndarray | None = None
    # The link threshold the analysts' rulings support (fitted_link_at); None: the settings' own.
    link_at: float | None = None
    threshold_labels: int = 0  # the rulings (same and different) it was fitted from

    def field_weights(self, name: str) -> np.ndarray:
        return np.log2(self.m[name] / self.u[name])

    def postcode_gp_weights(self) -> np.ndarray:
        m = self.m["postcode"] if self.postcode_gp_m is None else self.postcode_gp_m
        return np.log2(m / self.u["postcode"])

    def to_json(self) -> str:
        """The model as data: each field's levels (name, label, m, u, weight in bits), the prior
        and the EM iterations. Name frequencies are left out: they are a register's names,
        recomputed from the records each time they are scored."""
        return json.dumps({
            "prior": self.prior, "em_iterations": self.iterations, "labels": self.labels,
            "link_at": self.link_at, "threshold_labels": self.threshold_labels,
            "postcode_gp": None if self.postcode_gp_m is None else [
                {"level": lv.name, "m": float(self.postcode_gp_m[lv.code]),
                 "weight": float(self.postcode_gp_weights()[lv.code])} for lv in COMPARISONS["postcode"]],
            "fields": {name: [{"level": lv.name, "label": lv.label, "m": float(self.m[name][lv.code]),
                               "u": float(self.u[name][lv.code]),
                               "weight": float(self.field_weights(name)[lv.code])}
                              for lv in COMPARISONS[name]] for name in FIELDS},
        }, sort_keys=True)


def model_from_json(text: str, name_counts: dict[str, pd.Series] | None = None) -> Model:
    """A saved model (Model.to_json) back as a Model. Name frequencies are not in it: give the
    register's name counts (field -> value -> records) to weigh exact agreement on names."""
    data = json.loads(text)
    m, u = {}, {}
    for name in FIELDS:
        levels = {lv["level"]: lv for lv in data["fields"][name]}
        m[name] = np.array([levels[lv.name]["m"] for lv in COMPARISONS[name]])
        u[name] = np.array([levels[lv.name]["u"] for lv in COMPARISONS[name]])
    tf = {}
    for name, counts in (name_counts or {}).items():
        counts = counts[counts.index != ""]
        tf[name] = counts / counts.sum() if counts.sum() else counts.astype(float)
    gp = data.get("postcode_gp")
    postcode_gp_m = None if not gp else np.array([{lv["level"]: lv for lv in gp}[lv.name]["m"]
                                                  for lv in COMPARISONS["postcode"]])
    return Model(m=m, u=u, prior=float(data["prior"]), tf=tf, iterations=int(data.get("em_iterations", 0)),
                 labels=int(data.get("labels", 0)), postcode_gp_m=postcode_gp_m,
                 link_at=None if data.get("link_at") is None else float(data["link_at"]),
                 threshold_labels=int(data.get("threshold_labels", 0)))


# Refitting the link threshold from analysts' rulings: at least this many rulings in all, and at
# least LABELS_AT_THRESHOLD of them at or above a candidate threshold, of which LINK_PRECISION
# were ruled the same child. The threshold moves only on that evidence, within THRESHOLD_GRID.
MIN_THRESHOLD_LABELS = 40
LABELS_AT_THRESHOLD = 20
LINK_PRECISION = 0.995
THRESHOLD_GRID = np.round(np.arange(0.60, 0.995, 0.01), 2)


def fitted_link_at(prob: np.ndarray, same: np.ndarray, different: np.ndarray) -> float | None:
    """The lowest threshold of THRESHOLD_GRID at or above which the ruled pairs were the same
    child at least LINK_PRECISION of the time (and at least LABELS_AT_THRESHOLD pairs were
    ruled there); None when the rulings are too few to say, or no threshold holds. The rulings
    come from the review queue, which shows pairs between the review floor and the link
    threshold: they can lower the link threshold (pairs analysts keep finding the same), or
    raise it (blind second reviews and held pairs above it found different); the review floor
    stays, as no queue shows the pairs under it."""
    labelled = same | different
    if labelled.sum() < MIN_THRESHOLD_LABELS:
        return None
    p, y = prob[labelled], same[labelled]
    for t in THRESHOLD_GRID:
        above = p >= t
        if above.sum() >= LABELS_AT_THRESHOLD and y[above].mean() >= LINK_PRECISION:
            return float(t)
    return None


def _level_counts(levels: pd.DataFrame, name: str, weights: np.ndarray | None = None) -> np.ndarray:
    k = len(COMPARISONS[name])
    col = levels[name].to_numpy()
    ok = col >= 0
    w = np.ones(len(col)) if weights is None else weights
    return np.bincount(col[ok], weights=w[ok], minlength=k)[:k]


def estimate_u(standardised: pd.DataFrame, n_pairs: int = 200_000, seed: int = 1) -> dict[str, np.ndarray]:
    """Level frequencies among random pairs: almost all of them are different children."""
    rng = np.random.default_rng(seed)
    n = len(standardised)
    a = rng.integers(0, n, size=n_pairs)
    b = rng.integers(0, n, size=n_pairs)
    keep = a != b
    levels = compare(standardised, np.stack([a[keep], b[keep]], axis=1))
    u = {}
    for name in FIELDS:
        c = _level_counts(levels, name) + 0.5  # add-half smoothing: no level is impossible
        u[name] = np.maximum(c / c.sum(), _EPS)
    for name, exact in _exact_u(standardised).items():
        u[name] = _with_exact_levels(u[name], exact)
    # 1 January is often a guessed birth date: agreeing on it is never stronger evidence than
    # agreeing on an ordinary date, however rare it is among random pairs here.
    u["dob"][DOB.EXACT_1_JANUARY] = max(u["dob"][DOB.EXACT_1_JANUARY], 10 * u["dob"][DOB.EXACT])
    return u


def _same_value_share(values: np.ndarray, n: int) -> float:
    """The share of ordered pairs of two different records, of the n with a value, that share
    one of these values (values: every such record's value)."""
    counts = pd.Series(values).value_counts().to_numpy(dtype=np.float64)
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def _exact_u(standardised: pd.DataFrame) -> dict[str, dict[int, float]]:
    """u of the levels that mean "the same value" on a birth date and a postcode, counted from
    how often each value occurs rather than sampled: random pairs rarely agree on them (about
    40 times in 200,000 pairs for a birth date), so a sample moved their weight by half a bit
    from one full link to the next, and a full re-link of the same register linked differently."""
    out: dict[str, dict[int, float]] = {}
    dob = standardised["dob"].to_numpy(dtype=object)
    has = dob != ""
    if has.sum() >= 2:
        jan1 = standardised["dob_jan1"].to_numpy(dtype=bool) & has
        n = int(has.sum())
        out["dob"] = {DOB.EXACT: _same_value_share(dob[has & ~jan1], n),
                      DOB.EXACT_1_JANUARY: _same_value_share(dob[jan1], n)}
    pc = standardised["postcode"].to_numpy(dtype=object)
    has = pc != ""
    if has.sum() >= 2:
        out["postcode"] = {POSTCODE.EXACT: _same_value_share(pc[has], int(has.sum()))}
    return out


def _with_exact_levels(sampled: np.ndarray, exact: dict[int, float]) -> np.ndarray:
    """u with the exact levels' values counted, the other levels sharing the rest in the
    proportions the sample found among pairs that do not share the value."""
    u = sampled.copy()
    rest = [i for i in range(len(u)) if i not in exact]
    for i, value in exact.items():
        u[i] = max(value, _EPS)
    u[rest] = sampled[rest] / sampled[rest].sum() * (1.0 - sum(u[i] for i in exact))
    return np.maximum(u, _EPS)


# Starting m per field, one value per level in COMPARISONS order (strongest agreement first).
_M_DEFAULT = {"forename": [0.82, 0.05, 0.05, 0.04, 0.04], "surname": [0.85, 0.05, 0.04, 0.03, 0.03],
              "dob": [0.9, 0.03, 0.02, 0.04, 0.01], "middle_name": [0.9, 0.1], "sex": [0.98, 0.02],
              "postcode": [0.75, 0.06, 0.06, 0.08, 0.05], "nhs_number": [0.995, 0.005], "upn": [0.99, 0.01]}
# Identifiers are not learned: disagreement rates of true matches on them are data-entry error rates.
FIXED_M = {"nhs_number", "upn"}
MIN_ANCHORS = 50


def _shares_identifier(levels: pd.DataFrame) -> pd.Series:
    return (levels["nhs_number"] == NHS_NUMBER.SAME) | (levels["upn"] == UPN.SAME)


def anchored_m(levels: pd.DataFrame, labelled_same: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Starting m from pairs that share a valid NHS number or UPN (near-certain matches found
    without labels) and pairs analysts ruled the same child: their other fields show how true
    matches disagree. The labelled pairs are the hard ones (a moved address, a changed surname),
    which identifier anchors seldom show."""
    sure = _shares_identifier(levels)
    if labelled_same is not None:
        sure = sure | labelled_same
    anchors = levels[sure]
    m = {}
    for name in FIELDS:
        default = np.array(_M_DEFAULT[name])
        if name in FIXED_M or len(anchors) < MIN_ANCHORS:
            m[name] = default
            continue
        c = _level_counts(anchors, name) + default * 5  # a light prior keeps unseen levels possible
        m[name] = np.maximum(c / c.sum(), _EPS)
    return m


def gp_pairs(standardised: pd.DataFrame, pairs: np.ndarray) -> np.ndarray:
    """Pairs with a GP record on one side only."""
    health = (standardised["feed"] == "health").to_numpy()
    return health[pairs[:, 0]] != health[pairs[:, 1]]


def postcode_m_by_sources(levels: pd.DataFrame, gp: np.ndarray, labelled_same: np.ndarray | None = None
                          ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The postcode's m estimated apart for pairs with a GP record on one side and for the rest,
    each from its own anchors (shared identifiers, analysts' "same" rulings): a GP record's
    address lags or leads a move, so the same disagreement is weaker evidence there. None for a
    side with too few anchors (the one m for all pairs is used)."""
    sure = _shares_identifier(levels).to_numpy()
    if labelled_same is not None:
        sure = sure | labelled_same
    out = []
    for side in (gp, ~gp):
        seen = _level_counts(levels[sure & side], "postcode")  # anchors with a postcode on both sides
        if seen.sum() < MIN_ANCHORS:
            out.append(None)
            continue
        c = seen + np.array(_M_DEFAULT["postcode"]) * 5
        out.append(np.maximum(c / c.sum(), _EPS))
    return out[0], out[1]


def random_pair_prior(levels: pd.DataFrame, n_records: int, recall: float = 0.8) -> float:
    """Probability that two random records are the same child, from pairs that deterministic
    rules call matches (shared identifier, or same names and birth date), allowing for the
    rules' recall."""
    sure = (_shares_identifier(levels) | ((levels["forename"] == FORENAME.EXACT) & (levels["surname"] == SURNAME.EXACT)
                                          & (levels["dob"] == DOB.EXACT))).sum()
    total = n_records * (n_records - 1) / 2
    return float(np.clip(sure / recall / max(total, 1.0), 1e-12, 0.5))


def estimate_m(levels: pd.DataFrame, u: dict[str, np.ndarray], m: dict[str, np.ndarray], prior: float,
               iterations: int = 10, tol: float = 1e-4) -> tuple[dict[str, np.ndarray], int]:
    """EM for m with u and the prior held fixed (the prior is the candidates' expected match share)."""
    cols = {name: levels[name].to_numpy() for name in FIELDS}
    learn = [f for f in FIELDS if f not in FIXED_M]
    done = 0
    for step in range(1, iterations + 1):
        done = step
        logit = np.full(len(levels), np.log2(prior / (1 - prior)))
        for name in FIELDS:
            w = np.log2(m[name] / u[name])
            col = cols[name]
            logit += np.where(col >= 0, w[np.clip(col, 0, None)], 0.0)
        p = 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))
        shift = 0.0
        for name in learn:
            c = _level_counts(levels, name, p) + 0.01
            new = np.maximum(c / c.sum(), _EPS)
            shift = max(shift, float(np.abs(new - m[name]).max()))
            m[name] = new
        if shift < tol:
            break
    return m, done


def train(standardised: pd.DataFrame, levels: pd.DataFrame, seed: int = 1, em_iterations: int = 10,
          labelled_same: np.ndarray | None = None, pairs: np.ndarray | None = None) -> Model:
    """u from random pairs; the prior from deterministic rules; m from identifier-sharing pairs
    where there are enough of them, otherwise by EM. EM over all candidate pairs was tried
    first and drifted to a degenerate solution (it took same-name pairs with different birth
    dates as matches), so identifier anchors are preferred when the data has them."""
    u = estimate_u(standardised, seed=seed)
    prior = random_pair_prior(levels, len(standardised))
    m = anchored_m(levels, labelled_same)
    labels = int(labelled_same.sum()) if labelled_same is not None else 0
    iterations = 0
    if _shares_identifier(levels).sum() + labels < MIN_ANCHORS:
        n = len(standardised)
        candidate_prior = float(np.clip(prior * n * (n - 1) / 2 / max(len(levels), 1), 1e-6, 0.99))
        m, iterations = estimate_m(levels, u, m, candidate_prior, iterations=em_iterations)
    tf = {name: standardised[col][standardised[col] != ""].value_counts(normalize=True)
          for name, col in TF_FIELDS.items()}
    postcode_gp_m = None
    if pairs is not None and iterations == 0:
        postcode_gp_m, rest = postcode_m_by_sources(levels, gp_pairs(standardised, pairs), labelled_same)
        if postcode_gp_m is not None and rest is not None:
            m["postcode"] = rest
        else:
            postcode_gp_m = None
    return Model(m=m, u=u, prior=prior, tf=tf, iterations=iterations, labels=labels, postcode_gp_m=postcode_gp_m)


def weight_matrix(model: Model, standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame) -> pd.DataFrame:
    """Each field's contribution (bits) to each pair's match weight; 0 where a value is missing."""
    out = pd.DataFrame(index=levels.index)
    out["prior"] = np.log2(model.prior / (1 - model.prior))
    gp = gp_pairs(standardised, pairs) if model.postcode_gp_m is not None and "feed" in standardised else None
    for name in FIELDS:
        col = levels[name].to_numpy()
        w = model.field_weights(name)
        out[name] = np.where(col >= 0, w[np.clip(col, 0, None)], 0.0)
        if name == "postcode" and gp is not None:
            out[name] = np.where(gp & (col >= 0), model.postcode_gp_weights()[np.clip(col, 0, None)], out[name])
        if name in TF_FIELDS:
            # Exact agreement on a rare name is stronger evidence than on a common one.
            values = standardised[TF_FIELDS[name]].to_numpy()[pairs[:, 0]]
            share = pd.Series(values).map(model.tf[name]).fillna(model.u[name][COMPARISONS[name].EXACT]).to_numpy()
            share = np.maximum(share, 1e-5)
            exact_code = COMPARISONS[name].EXACT
            exact = col == exact_code
            out.loc[exact, name] = np.log2(model.m[name][exact_code] / share[exact])
    return out


def match_weights(model: Model, standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame,
                  chunk: int = 1_000_000) -> np.ndarray:
    """Each pair's match weight (the sum of weight_matrix's row), a chunk of pairs at a time, so
    the per-field frame never exists for every pair at once."""
    total = np.empty(len(levels))
    for i in range(0, len(levels), chunk):
        part = weight_matrix(model, standardised, pairs[i:i + chunk], levels.iloc[i:i + chunk])
        total[i:i + chunk] = part.sum(axis=1).to_numpy()
    return total


def probability(total_weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(total_weight, -60, 60)))
