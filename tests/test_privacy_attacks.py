"""Privacy attacks on a small sealed county (fast versions of benchmarks/bench_privacy.py).

The dictionary attack must find nothing. The frequency and pattern-mining attacks are
measured, checked against the raw files (an independent truth), and held under generous
bounds: on exact name tokens the frequency attack does re-identify the commonest names
(benchmarks/README.md, "Privacy attacks", reports the figures honestly).
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from benchmarks.bench_privacy import (
    NAME_FIELDS,
    dictionary_attack,
    frequency_attack,
    frequent_pattern_attack,
    markdown,
    pattern_attack,
    public_frequencies,
    seal_county,
    sealed_records,
)
from familylink.core.contract import SOURCES
from protocols.normalise import name_parts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return seal_county(2500, 11, tmp_path_factory.mktemp("privacy"))


@pytest.fixture(scope="module")
def public():
    return public_frequencies()


@pytest.fixture(scope="module")
def records(county):
    return sealed_records(county.sealed_dir)


@pytest.fixture(scope="module")
def raw_names(county) -> dict[tuple[str, str], dict[str, str]]:
    """(source, record_id) -> the normalised first given name and family name in the raw file."""
    names = {}
    for source in SOURCES:
        with open(county.raw_dir / f"{source}.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                given, family = name_parts(row["given_name"]), name_parts(row["family_name"])
                names.setdefault((source, row["record_id"]), {
                    "first_given": given[0] if given else "", "given": " ".join(given), "family": " ".join(family)})
    return names


def test_the_public_lists_are_frequency_tables_of_normalised_names(public):
    assert len(public["given"]) > 300 and len(public["family"]) > 300
    assert abs(sum(public["given"].values()) - 1) < 0.01 and abs(sum(public["family"].values()) - 1) < 0.01
    assert max(public["family"], key=public["family"].get) == "SMITH"
    assert all(name == name.upper() for name in public["given"])


def test_unkeyed_guessed_and_wrong_key_encodings_match_nothing(county, public):
    results = dictionary_attack(county, set(public["given"]) | set(public["family"]))
    control = results.pop("true key (control)")
    assert control[0] > 1000 and control[1] > 500, "the harness must find the true key's encodings"
    assert len(results) >= 10 and "unkeyed SHA-256" in results and "HKDF from a wrong random secret" in results
    assert {label: hits for label, hits in results.items() if hits != (0, 0)} == {}


@pytest.mark.parametrize("field", list(NAME_FIELDS))
def test_the_frequency_attack_figure_is_measured_and_reported_correctly(county, records, public, raw_names, field):
    result = frequency_attack(county, records, public, field)
    column = NAME_FIELDS[field][0]
    truth = "first_given" if field == "given" else "family"
    sealed = [r for r in records if r[column]]
    right = sum(result.guesses.get(r[column]) == raw_names[r["source"], r["record_id"]][truth] for r in sealed)
    assert result.records == len(sealed) > 1000
    assert result.reidentified == right and result.share == right / len(sealed)
    counts = Counter(r[column] for r in sealed)
    assert result.names_right == sum(1 for t, name in result.guesses.items() if counts[t] and
                                     any(raw_names[r["source"], r["record_id"]][truth] == name
                                         for r in sealed if r[column] == t))
    # exact tokens of very common names are exposed to frequency analysis: a generous bound
    assert result.share < 0.10, markdown({}, [result])


@pytest.mark.parametrize("field", list(NAME_FIELDS))
def test_the_pattern_mining_attack_is_measured_and_stays_low(county, records, public, raw_names, field):
    frequent, mined, upper = pattern_attack(county, records, public, field, top=20)
    discovered = frequent_pattern_attack(county, records, public, field, bigram_count=30)
    column = NAME_FIELDS[field][1]
    sealed = [r for r in records if r[column]]
    for result in (frequent, mined, upper, discovered):
        right = sum(result.guesses.get(r[column]) == raw_names[r["source"], r["record_id"]][field] for r in sealed)
        assert result.records == len(sealed) and result.reidentified == right
    assert "bigrams located" in mined.attack and "upper bound" in upper.attack
    assert frequent.share < 0.10
    assert mined.share < 0.05 and discovered.share < 0.05, markdown({}, [frequent, mined, upper, discovered])
    assert "patterns" in discovered.attack and "genuine" in discovered.attack
