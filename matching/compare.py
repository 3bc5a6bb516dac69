"""Graded comparison levels per field for candidate pairs. Levels are data (the LEVELS table):
0 is the strongest agreement, higher numbers weaker, -1 means a value is missing and the field
gives no evidence either way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

LEVELS: dict[str, list[str]] = {
    "forename": ["exact", "same name by the diminutive table, or swapped with the surname", "Jaro-Winkler >= 0.92",
                 "Jaro-Winkler >= 0.80 or a middle name", "different"],
    "surname": ["exact", "shares a surname part, or swapped with the given name", "Jaro-Winkler >= 0.92",
                "Jaro-Winkler >= 0.80", "different"],
    "dob": ["exact", "exact but 1 January (often a guess)", "day and month swapped", "one keystroke or one of day/month differs",
            "different"],
    "middle_name": ["a middle name in common", "different"],
    "sex": ["same", "different"],
    "postcode": ["exact", "same sector", "same district", "same area (most moves are local)", "different"],
    "nhs_number": ["same", "different"],
    "upn": ["same (or former UPN)", "different"],
}


def _jw(a: pd.Series, b: pd.Series) -> np.ndarray:
    return cpdist(a.tolist(), b.tolist(), scorer=JaroWinkler.normalized_similarity, workers=-1)


_NEEDED = ["fn", "fn_canon", "mid", "sn", "sn_tokens", "dob", "dob_swap", "dob_jan1", "pc", "pc_sector",
           "pc_district", "pc_area", "sex", "nhs_number", "upn", "former_upn"]


def _where(mask: np.ndarray, fn) -> np.ndarray:
    """Evaluate a per-pair Python test only where a vectorised pre-test says it can matter."""
    out = np.zeros(len(mask), dtype=bool)
    idx = np.flatnonzero(mask)
    if len(idx):
        out[idx] = fn(idx)
    return out


def compare(std: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """One row per pair with an integer level per field (see LEVELS)."""
    cols = [c for c in _NEEDED if c in std]
    A = std[cols].iloc[pairs[:, 0]].reset_index(drop=True)
    B = std[cols].iloc[pairs[:, 1]].reset_index(drop=True)
    out = pd.DataFrame(index=A.index)

    fn_jw = _jw(A["fn"], B["fn"])
    a_fn, b_fn, a_mid, b_mid = A["fn"].to_numpy(), B["fn"].to_numpy(), A["mid"].to_numpy(), B["mid"].to_numpy()
    # Known by a middle name: only asked where the names are not already close.
    in_middle = _where((fn_jw < 0.80) & ((a_mid != "") | (b_mid != "")),
                       lambda i: [bool(a and a in b_mid_.split()) or bool(b and b in a_mid_.split())
                                  for a, b, a_mid_, b_mid_ in zip(a_fn[i], b_fn[i], a_mid[i], b_mid[i])])
    out["forename"] = np.select([A["fn"] == B["fn"], A["fn_canon"] == B["fn_canon"], fn_jw >= 0.92,
                                 (fn_jw >= 0.80) | in_middle], [0, 1, 2, 3], 4)
    out.loc[(A["fn"] == "") | (B["fn"] == ""), "forename"] = -1

    sn_jw = _jw(A["sn"], B["sn"])
    a_tok, b_tok = A["sn_tokens"].to_numpy(), B["sn_tokens"].to_numpy()
    # Double-barrelled and changed surnames: only asked where the surnames differ.
    shared = _where((A["sn"] != B["sn"]).to_numpy(), lambda i: [bool(x & y) for x, y in zip(a_tok[i], b_tok[i])])
    out["surname"] = np.select([A["sn"] == B["sn"], shared, sn_jw >= 0.92, sn_jw >= 0.80], [0, 1, 2, 3], 4)
    out.loc[(A["sn"] == "") | (B["sn"] == ""), "surname"] = -1

    # Given name and surname swapped between the two records: both names agree, crosswise.
    cross = np.minimum(_jw(A["fn"], B["sn"]), _jw(A["sn"], B["fn"]))
    swapped_names = (A["fn"] != "") & (A["sn"] != "") & (cross >= 0.9) & (out["forename"] >= 2).to_numpy()
    out.loc[swapped_names, "forename"] = 1
    out.loc[swapped_names, "surname"] = 1

    same_dob = A["dob"] == B["dob"]
    swapped = (A["dob_swap"] != "") & (A["dob_swap"] == B["dob"])
    one_off = cpdist(A["dob"].tolist(), B["dob"].tolist(), scorer=Levenshtein.distance, workers=-1) <= 1
    # A day or month typed wrong; a year counts only when one keystroke apart (siblings differ by years).
    same_year = A["dob"].str[:4] == B["dob"].str[:4]
    parts_differ = same_year & ((A["dob"].str[4:6] == B["dob"].str[4:6]) != (A["dob"].str[6:] == B["dob"].str[6:]))
    out["dob"] = np.select([same_dob & ~A["dob_jan1"], same_dob, swapped, one_off | parts_differ], [0, 1, 2, 3], 4)
    out.loc[(A["dob"] == "") | (B["dob"] == ""), "dob"] = -1

    both_mid = (a_mid != "") & (b_mid != "")
    shared_mid = _where(both_mid, lambda i: [bool(set(x.split()) & set(y.split())) for x, y in zip(a_mid[i], b_mid[i])])
    out["middle_name"] = np.where(shared_mid, 0, 1)
    out.loc[~both_mid, "middle_name"] = -1

    out["sex"] = np.where(A["sex"] == B["sex"], 0, 1)
    out.loc[(A["sex"] == "") | (B["sex"] == ""), "sex"] = -1

    out["postcode"] = np.select([A["pc"] == B["pc"], A["pc_sector"] == B["pc_sector"],
                                 A["pc_district"] == B["pc_district"], A["pc_area"] == B["pc_area"]],
                                [0, 1, 2, 3], 4)
    out.loc[(A["pc"] == "") | (B["pc"] == ""), "postcode"] = -1

    out["nhs_number"] = np.where(A["nhs_number"] == B["nhs_number"], 0, 1)
    out.loc[(A["nhs_number"] == "") | (B["nhs_number"] == ""), "nhs_number"] = -1

    upn_same = ((A["upn"] != "") & ((A["upn"] == B["upn"]) | (A["upn"] == B["former_upn"]))) | \
               ((B["upn"] != "") & (B["upn"] == A["former_upn"]))
    out["upn"] = np.where(upn_same, 0, 1)
    out.loc[((A["upn"] == "") | (B["upn"] == "")) & ~upn_same, "upn"] = -1
    return out.astype(np.int8)
