"""The link threshold refitted from analysts' rulings moves only on enough evidence, and only as
far as the rulings hold it (a full link using it: tests/matching/test_link.py)."""
from __future__ import annotations

import numpy as np

from matching.score import MIN_THRESHOLD_LABELS, fitted_link_at


def rulings(probs_same: list[float], probs_different: list[float]):
    prob = np.array(probs_same + probs_different)
    same = np.array([True] * len(probs_same) + [False] * len(probs_different))
    return prob, same, ~same


def test_the_threshold_falls_to_where_analysts_keep_finding_the_same_child():
    # 60 rulings: every pair at 0.80 or more was one child; under it, half were two.
    prob, same, different = rulings([0.80 + 0.002 * i for i in range(50)], [0.55, 0.6, 0.65, 0.7, 0.75] * 2)
    assert fitted_link_at(prob, same, different) == 0.76


def test_the_threshold_stays_without_enough_rulings_or_where_they_disagree():
    prob, same, different = rulings([0.9] * (MIN_THRESHOLD_LABELS - 1), [])
    assert fitted_link_at(prob, same, different) is None, "too few rulings to move it"
    # Above every candidate, one pair in ten was two children: no threshold holds.
    prob, same, different = rulings([0.99] * 45, [0.99] * 5)
    assert fitted_link_at(prob, same, different) is None
