"""The pattern-mining attacks on both name Bloom filters pooled: since schema version 2,
bf_given and bf_family are made under one key, so an attacker can mine both columns at once
(a fast version of the given+family rows of benchmarks/bench_privacy.py)."""

from __future__ import annotations

import pytest

from benchmarks.bench_privacy import (
    POOLED,
    frequent_pattern_attack,
    markdown,
    pattern_attack,
    pooled_names,
)
from tests.test_privacy_attacks import county, public, raw_names, records  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def test_pooled_name_filters_are_attacked_and_stay_low(county, records, public, raw_names):  # noqa: F811
    pooled, pooled_public = pooled_names(records, public)
    assert len(pooled) == 2 * len(records)
    assert abs(sum(pooled_public[POOLED].values()) - 1.0) < 1e-6
    frequent, mined, upper = pattern_attack(county, pooled, pooled_public, POOLED, top=20)
    discovered = frequent_pattern_attack(county, pooled, pooled_public, POOLED, bigram_count=30)
    # scored against the raw files: a guess is right when it is the given or family name it encodes
    truth = {}
    for record in records:
        names = raw_names[record["source"], record["record_id"]]
        for column, field in (("bf_given", "given"), ("bf_family", "family")):
            if record[column]:
                truth.setdefault(record[column], names[field])
    sealed = [r["bf_name"] for r in pooled if r["bf_name"]]
    for result in (frequent, mined, upper, discovered):
        assert result.records == len(sealed)
        assert result.reidentified == sum(result.guesses.get(f) == truth[f] for f in sealed)
    assert frequent.share < 0.10
    assert mined.share < 0.05 and discovered.share < 0.05, markdown({}, [frequent, mined, upper, discovered])
