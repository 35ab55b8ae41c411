"""Bounds on a pattern level's share of matches (matching/calibration.py): recorded sex, households."""

from __future__ import annotations

import numpy as np
import pytest

from matching.calibration import (
    MAX_PATTERN_PAIRS_PER_HOUSEHOLD_PAIR,
    MIN_SEXED_PAIRS,
    LevelSpec,
    _calibrate_pattern,
    sex_bound,
)


def _arrays(level: int, known: int, differ: int, others: int = 0):
    """``level`` pairs at the pattern, ``known`` of them with both sexes, ``differ`` of those
    differing; ``others`` pairs elsewhere."""
    n = level + others
    in_level = np.arange(n) < level
    sex_known = np.arange(n) < known
    sex_differs = np.arange(n) < differ
    return in_level, (sex_known, sex_differs)


def test_twins_half_of_them_boy_and_girl_bound_the_share_near_zero():
    in_level, sexed = _arrays(20, 20, 10)
    assert sex_bound(in_level, sexed, m=0.01, u=0.5) == pytest.approx(1e-6)
    # a quarter differing: at most (0.5 - 0.25) / (0.5 - 0.01) of the pairs are matches
    in_level, sexed = _arrays(20, 20, 5)
    assert sex_bound(in_level, sexed, m=0.01, u=0.5) == pytest.approx(0.25 / 0.49)


def test_one_person_recorded_twice_or_too_few_sexes_leave_no_bound():
    in_level, sexed = _arrays(20, 20, 0)  # a father and son, or matches: sexes agree
    assert sex_bound(in_level, sexed, m=0.01, u=0.5) == pytest.approx(0.999)
    in_level, sexed = _arrays(20, MIN_SEXED_PAIRS - 1, 5)
    assert sex_bound(in_level, sexed, m=0.01, u=0.5) is None
    in_level, sexed = _arrays(20, 20, 10)
    assert sex_bound(in_level, sexed, m=float("nan"), u=0.5) is None  # no trained sex comparison


def test_the_bound_lowers_an_amplified_expected_share_and_never_raises_one():
    # 16 twin-level pairs, half boy and girl; 1,000 expected matches in the context, and an EM m
    # that E / T amplifies to nearly all of them
    in_level, sexed = _arrays(16, 16, 8, others=1_000)
    in_context = np.ones(in_level.size, dtype=bool)
    weights = np.where(in_level, -9.0, 20.0)
    identified = (np.zeros(in_level.size, dtype=bool), np.zeros(in_level.size, dtype=bool))
    level = LevelSpec("given_name", "twins", -9.0, differ_m=0.005, sex_differ_m=0.01, sex_differ_u=0.5)
    unbounded = _calibrate_pattern(level, in_level, in_context, weights, identified)
    bounded = _calibrate_pattern(level, in_level, in_context, weights, identified, sexed)
    assert unbounded.share_matching > 0.5 and unbounded.method == "expected matches"
    assert bounded.share_matching < 0.001 and bounded.method == "expected matches, bounded by recorded sex"
    # sexes that agree leave E / T as it was
    agreeing = (sexed[0], np.zeros(in_level.size, dtype=bool))
    assert _calibrate_pattern(level, in_level, in_context, weights, identified, agreeing) == unbounded


def test_few_households_raise_a_low_expected_share_and_many_leave_it():
    # 23 pairs at the twin level, E / T puts 0.35 of them as matches (EM's m of a replaced given
    # name); FEBRL-like data: 7 pairs of different people share a family name and an address
    in_level, sexed = _arrays(23, 0, 0, others=2_200)
    in_context = np.arange(in_level.size) < 223  # 200 matches in the context, 2,000 outside it
    weights = np.where(in_level, -9.0, 20.0)
    identified = (np.zeros(in_level.size, dtype=bool), np.zeros(in_level.size, dtype=bool))
    plain = LevelSpec("given_name", "twins", -9.0, differ_m=0.04)
    few = LevelSpec("given_name", "twins", -9.0, differ_m=0.04, household_pairs=7.0)
    many = LevelSpec("given_name", "twins", -9.0, differ_m=0.04, household_pairs=13_427.0)
    base = _calibrate_pattern(plain, in_level, in_context, weights, identified, sexed)
    raised = _calibrate_pattern(few, in_level, in_context, weights, identified, sexed)
    assert base.share_matching < 0.9
    assert raised.share_matching == pytest.approx(1 - MAX_PATTERN_PAIRS_PER_HOUSEHOLD_PAIR * 7 / 23)
    assert raised.method.startswith("expected matches, raised")
    assert _calibrate_pattern(many, in_level, in_context, weights, identified, sexed) == \
        _calibrate_pattern(plain, in_level, in_context, weights, identified, sexed)
    # recorded sexes that say twins have the last word
    in_level, sexed = _arrays(23, 20, 10, others=2_200)
    bounded = _calibrate_pattern(LevelSpec("given_name", "twins", -9.0, differ_m=0.04, sex_differ_m=0.01,
                                           sex_differ_u=0.5, household_pairs=7.0),
                                 in_level, in_context, weights, identified, sexed)
    assert bounded.share_matching < 0.001
