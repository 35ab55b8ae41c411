"""The name-dependence correction (matching/dependence.py) on constructed tables."""

from __future__ import annotations

import math

import duckdb
import pytest

from familylink.core.tables import LINKAGE_RECORDS
from matching.dependence import correct_name_dependence


def _database(people: list[tuple[str, str, str]], pairs: list[tuple[str, str, float]]) -> duckdb.DuckDBPyConnection:
    """``people``: (unique_id, given token, family token), each record its own first-pass person
    unless its id says otherwise (``A#1`` and ``A#2`` are one person); ``pairs``: (left, right, weight)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} (unique_id VARCHAR, tok_given_first VARCHAR, tok_family VARCHAR)")
    con.executemany(f"INSERT INTO {LINKAGE_RECORDS} VALUES (?, ?, ?)", people)
    con.execute("CREATE TABLE clusters AS SELECT unique_id, split_part(unique_id, '#', 1) AS cluster_id "
                f"FROM {LINKAGE_RECORDS}")
    con.execute("CREATE TABLE pairs (left_id VARCHAR, right_id VARCHAR, match_weight DOUBLE, match_probability DOUBLE)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, 1.0 / (1.0 + pow(2.0, -?)))",
                    [(a, b, w, w) for a, b, w in pairs])
    return con


def _population() -> list[tuple[str, str, str]]:
    """200 persons named PATEL, half of them AARAV; 800 persons with 400 other family names and
    varied given names (AARAV is then 100 of 1,000 persons, 10%, but 50% among PATELs)."""
    people = [(f"p{i}", "AARAV" if i % 2 == 0 else f"G{i}", "PATEL") for i in range(200)]
    people += [(f"q{i}", f"H{i % 300}", f"F{i % 400}") for i in range(800)]
    return people


def _weight(con, left: str, right: str) -> float:
    return con.execute("SELECT match_weight FROM pairs WHERE left_id = ? AND right_id = ?", [left, right]).fetchone()[0]


def test_a_concentrated_given_name_within_a_family_name_loses_weight():
    con = _database(_population(), [("p0", "p2", 10.0)])
    summary = correct_name_dependence(con, "pairs", "clusters", alpha=50.0)
    # p0 and p2 are two first-pass persons: the other PATEL AARAVs are 98 of 198 other PATELs;
    # P(AARAV) = 100 / 1000
    expected = math.log2((98 + 50 * 0.1) / (198 + 50) / 0.1)
    assert _weight(con, "p0", "p2") == pytest.approx(10.0 - expected)
    assert summary.pairs_lowered == 1 and summary.pairs_raised == 0
    probability = con.execute("SELECT match_probability FROM pairs").fetchone()[0]
    assert probability == pytest.approx(1 / (1 + 2 ** -(10.0 - expected)))


def test_a_rare_family_name_is_judged_by_the_marginal_and_a_person_never_counts_against_their_own_link():
    people = _population() + [("r#1", "ZED", "QUILLFEATHER"), ("r#2", "ZED", "QUILLFEATHER"),
                              ("s", "ZARA", "MOONWHISTLE"), ("t", "ZARA", "MOONWHISTLE")]
    # r#1 and r#2 are one first-pass person; s and t two persons the pair would join
    con = _database(people, [("r#1", "r#2", 12.0), ("s", "t", 12.0)])
    correct_name_dependence(con, "pairs", "clusters", alpha=50.0)
    # nobody else is called ZED or QUILLFEATHER: (0 + 50 p) / (0 + 50) = p, no correction
    assert _weight(con, "r#1", "r#2") == pytest.approx(12.0)
    # s and t are the only MOONWHISTLEs: both left out, no correction either
    assert _weight(con, "s", "t") == pytest.approx(12.0)


def test_pairs_that_do_not_share_both_names_are_untouched():
    con = _database(_population(), [("p0", "p1", 8.0), ("q0", "q400", 5.0)])
    summary = correct_name_dependence(con, "pairs", "clusters")
    assert _weight(con, "p0", "p1") == 8.0  # given names differ
    assert _weight(con, "q0", "q400") == 5.0  # one family name, given names differ
    assert summary.pairs_corrected == 0
    assert summary.persons == 1000


def test_the_correction_is_deterministic_and_needs_no_plaintext():
    first = _database(_population(), [("p0", "p2", 10.0), ("p4", "p6", 3.0)])
    second = _database(_population(), [("p0", "p2", 10.0), ("p4", "p6", 3.0)])
    assert correct_name_dependence(first, "pairs", "clusters") == correct_name_dependence(second, "pairs", "clusters")
    rows = "SELECT * FROM pairs ORDER BY left_id"
    assert first.execute(rows).fetchall() == second.execute(rows).fetchall()
