"""A pattern level whose pairs score on the threshold is reported for review (model.json, summary)."""

from __future__ import annotations

from matching.calibration import Calibration, PatternLevel


def _level(label: str, pairs: int, expected: float, method: str = "expected matches") -> PatternLevel:
    return PatternLevel("date_of_birth", label, pairs, 0.0, 0.02, expected, 0.0, method)


def test_a_level_scoring_on_the_threshold_is_listed_for_review_and_others_are_not():
    calibration = Calibration(1e-4, "auto", 0.5, "maximum expected F1", 100.0, 1000, [
        _level("dates far apart, same name and address", 57, 28.55),  # share 0.501
        _level("clearly different given names", 204, 192.1),  # share 0.94
        _level("same family name and address (household members)", 1605, 52.0, "exact pair counts"),
    ])
    document = calibration.as_document()
    assert document["levels_on_threshold"] == [
        {"label": "dates far apart, same name and address", "pairs": 57, "share_matching": 0.5009}]


def test_a_level_without_pairs_is_never_on_the_threshold():
    calibration = Calibration(1e-4, "auto", 0.5, "fixed", 0.0, 10, [_level("twins", 0, 0.0)])
    assert calibration.as_document()["levels_on_threshold"] == []
