"""Privacy attacks on a small sealed county (fast versions of benchmarks/bench_privacy.py).

The dictionary attack must find nothing. The frequency and pattern-mining attacks are
measured, checked against the raw files (an independent truth), and held under generous
bounds: on exact name tokens the frequency attack does re-identify the commonest names
(benchmarks/README.md, "Privacy attacks", reports the figures honestly).

The release gate (issue 13): with a public list from a second, independently seeded county,
frequency on every token column, co-occurrence of every token column with every clear
attribute and the similarity-graph attack, each with a control that succeeds. The goal
(under 1% of records by every attack) is a strict xfail until the name tokens are hardened:
when hardening makes it pass, the marker must go and the gate holds from then on.
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
    gate_markdown,
    markdown,
    pattern_attack,
    public_county,
    public_frequencies,
    release_gate,
    seal_county,
    sealed_records,
)
from familylink.core.contract import SEALED_TOKEN_COLUMNS, SOURCES
from protocols.intruder import (
    PLAINTEXT_OF_CLEAR,
    PUBLIC_KIND_OF,
    frequency_alignment,
    load_hub_view,
    value_counts,
)
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


# --- the release gate (issue 13, part 3): a public list from a second county, every attack ---------


@pytest.fixture(scope="module")
def public_list(tmp_path_factory):
    """The public list: value frequencies of a second county, generated with its own seed."""
    return public_county(2500, 4242, tmp_path_factory.mktemp("public"))


@pytest.fixture(scope="module")
def gate(county, public_list):
    return release_gate(county, public_list)


def _gate(results, attack, column):
    return next(r for r in results if r.attack == attack and r.column == column)


def test_the_public_list_is_another_county_not_the_generators_table(public_list, public):
    assert public_list["family"].keys() != public["family"].keys()
    assert {"given_first", "family", "family_nysiis", "dob_year", "dob_month", "dob_day"} <= public_list.keys()
    assert abs(sum(public_list["family"].values()) - 1) < 1e-9


def test_every_token_column_and_name_filter_is_attacked_by_frequency(gate):
    attacked = {r.column for r in gate if r.attack == "frequency"}
    assert attacked >= {*PUBLIC_KIND_OF} - {"tok_given_forms"} | {"tok_nhs", "tok_postcode", "tok_address"}
    for result in gate:
        assert 0 <= result.reidentified <= result.records


def test_the_frequency_figure_matches_the_raw_files(county, gate, public_list, raw_names):
    """tok_family, checked against the raw family names (an independent truth)."""
    view = load_hub_view(county.sealed_dir)
    counts = value_counts(view.column("tok_family"))
    guesses = frequency_alignment(counts, public_list["family"])
    right = sum(guesses.get(r["tok_family"]) == raw_names[r["source"], r["record_id"]]["family"]
                for r in view.records if r["tok_family"])
    assert _gate(gate, "frequency", "tok_family").reidentified == right


def test_every_attack_has_a_control_showing_the_harness_can_succeed(gate):
    """The same attacks with a weakened setting: the county's own frequencies as the public
    list (frequency, graph) and the date of birth as if it travelled in clear (co-occurrence)."""
    assert _gate(gate, "frequency", "tok_family").control > 0.25
    assert _gate(gate, "frequency", "tok_given_first").control > 0.05
    assert _gate(gate, "frequency", "bf_family").control > 0.25
    assert _gate(gate, "co-occurrence", "tok_dob x true date of birth in clear (control)").control > 0.9
    for column in ("bf_given", "bf_family"):
        assert _gate(gate, "similarity graph", column).control > 0.1
    # pattern mining: on a 2-hash encoding with the true names of the top 100 filters
    assert max(_gate(gate, "pattern mining", c).control for c in ("bf_given", "bf_family")) > 0.005


def test_no_sealed_token_encodes_a_part_of_the_date_of_birth():
    """Schema version 3: a year or month token is decoded by the clear age, a day token by
    frequency, so only the whole date (and its day/month swap) is tokenised."""
    assert [c for c in SEALED_TOKEN_COLUMNS if c.startswith("tok_dob")] == ["tok_dob", "tok_dob_swapped"]
    assert not PLAINTEXT_OF_CLEAR


def test_cooccurrence_runs_the_join_of_every_token_column_with_the_clear_attributes(county, gate):
    view = load_hub_view(county.sealed_dir)
    assert {"age_months", "age_years", "birth_year_month", "birth_date_pinned"} <= view.records[0].keys()
    pairs = {r.column for r in gate if r.attack == "co-occurrence"}
    assert {"tok_dob x birth_date_pinned", "tok_dob_swapped x birth_date_pinned"} <= pairs
    # a statistical join decodes no token into a plaintext, and no date-of-birth token is
    # even one-to-one with a clear value (the postcode tokens can be with their district,
    # which then says nothing the district does not)
    statistical = [r for r in gate if r.attack == "co-occurrence" and "pinned" not in r.column
                   and "control" not in r.column]
    assert all(r.reidentified == 0 for r in statistical), gate_markdown(statistical)
    assert not [r for r in statistical if r.column.startswith("tok_dob") and (r.estimate or 0) > 0]


def test_year_month_and_day_of_birth_are_not_recoverable_by_joining_with_clear_columns(gate):
    """Every date-of-birth token joined with every clear attribute, and with the date the
    clear columns pin for a few records (an age that changes between two dated events)."""
    joins = [r for r in gate if r.attack == "co-occurrence" and r.column.startswith("tok_dob")
             and "control" not in r.column]
    assert len(joins) >= 2
    assert all(r.share < 0.01 and (r.estimate or 0) < 0.01 for r in joins), gate_markdown(joins)


@pytest.mark.xfail(strict=True, reason="issue 13 (blocked): the name tokens fall to frequency until they are "
                                       "hardened, and every hardened design measured costs FEBRL3 more than 0.002 F1 "
                                       "or falls to a chain attack (benchmarks/README.md, 'Name tokens: the hardened "
                                       "designs measured')")
def test_release_gate_every_attack_reidentifies_under_one_percent(gate):
    assert all(r.share < 0.01 for r in gate if "control" not in r.column), gate_markdown(gate)
