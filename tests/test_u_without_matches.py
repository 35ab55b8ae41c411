"""The u Splink samples from random pairs, without the matches among them
(``matching.calibration.UCorrection``), and the matches blocking never paired
(``matching.blocking_capture``): constructed cases whose right answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching.blocking_capture import (
    blocking_missed,
    matches_reached_and_all,
    needs_one_date,
    split_by_date,
)
from matching.calibration import MAX_U_SHIFT, BlockingCaptures, SampledLevel, UCorrection


def _level(weight: float = 8.0, m: float = 0.5, u: float = 0.002) -> SampledLevel:
    return SampledLevel("date_of_birth", "Exact match on tok_dob", weight, m, u)


def test_u_is_what_random_pairs_show_less_the_matches_among_them():
    # among all pairs, P(level) = prior x m + (1 - prior) x u: 0.002 = 0.001 x 0.5 + 0.999 x u
    correction = UCorrection([_level()], {"mw_date_of_birth": np.array([8.0, 1.0, 8.0])})
    (bits,) = correction.shifts(0.001)
    u = (0.002 - 0.001 * 0.5) / (1 - 0.001)
    assert bits == pytest.approx(math.log2(0.002 / u))
    # only the pairs at the level move
    assert correction.pair_shift(0.001).tolist() == pytest.approx([bits, 0.0, bits])
    (document,) = correction.corrected(0.001)
    assert document["u"] == pytest.approx(u, rel=1e-8) and document["u_sampled"] == 0.002


def test_no_prior_leaves_u_alone_and_a_level_made_of_matches_is_floored():
    correction = UCorrection([_level()], {"mw_date_of_birth": np.array([8.0])})
    assert correction.shifts(0.0) == [0.0]
    # every random pair at the level a match: u would be 0, it is floored
    assert correction.shifts(0.004) == [pytest.approx(MAX_U_SHIFT)]


def test_the_level_that_takes_the_rest_rises_a_little():
    # the "all other" level: m is small, so the correction is negative (u rises by the prior)
    correction = UCorrection([_level(-3.0, m=0.01, u=0.9)], {"mw_date_of_birth": np.array([-3.0])})
    (bits,) = correction.shifts(0.01)
    assert -0.02 < bits < 0


def test_no_sampled_levels_no_shift():
    assert UCorrection([], {}).pair_shift(0.01) == 0.0


def test_lincoln_petersen_counts_the_matches_neither_kind_of_rule_reached():
    # 100 matches with both dates: 80 reached by dated rules, 60 by dateless, 48 by both
    reached, total = matches_reached_and_all(80.0, 60.0, 48.0, 0.0)
    assert reached == 92.0 and total == pytest.approx(100.0)
    assert blocking_missed(80.0, 60.0, 48.0, 0.0) == pytest.approx(8.0)
    # 12 matches with a date missing on one side reached (dateless rules, rate 48/80): 20 in all
    assert blocking_missed(80.0, 60.0, 48.0, 12.0) == pytest.approx(8.0 + 8.0)
    # too small an overlap to tell: nothing added
    assert matches_reached_and_all(30.0, 20.0, 5.0, 0.0) is None
    assert blocking_missed(30.0, 20.0, 5.0, 0.0) == 0.0


def test_the_calibration_counts_matches_blocking_missed_from_the_scored_pairs():
    # 50 certain matches caught by both kinds, 50 by dated rules only, 50 by dateless only:
    # n_A = n_B = 100, n_AB = 50, so 200 matches, 150 reached
    p = np.ones(150)
    dated = np.array([True] * 100 + [False] * 50)
    dateless = np.array([True] * 50 + [False] * 50 + [True] * 50)
    captures = BlockingCaptures(dated, dateless, np.ones(150, dtype=bool))
    assert captures.matches(p) == pytest.approx(200.0)
    # rules of one kind only (no capture columns): the scored pairs are every match
    assert BlockingCaptures.of({}).matches(p) == 150.0


def test_rules_split_by_whether_they_need_one_date_of_birth():
    dated, dateless = split_by_date(["l.tok_dob = r.tok_dob AND l.tok_family = r.tok_family",
                                     "l.tok_family = r.tok_family", "l.tok_dob_swapped = r.tok_dob"])
    assert dated == ["l.tok_dob = r.tok_dob AND l.tok_family = r.tok_family", "l.tok_dob_swapped = r.tok_dob"]
    assert dateless == ["l.tok_family = r.tok_family"]
    assert not needs_one_date("l.age_years = r.age_years")
