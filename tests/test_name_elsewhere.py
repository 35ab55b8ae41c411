"""The "a name part shared in another position" levels (matching/comparisons.py: name_elsewhere)."""

from __future__ import annotations

import duckdb

from matching.comparisons import name_elsewhere


def _shared(left_parts, right_parts, left_middle, right_middle) -> bool:
    con = duckdb.connect()
    sql = name_elsewhere("true")
    return con.execute(f"""SELECT {sql} FROM (SELECT ?::VARCHAR[] AS tok_name_parts_l, ?::VARCHAR[] AS tok_name_parts_r,
                           ?::VARCHAR AS tok_middle_l, ?::VARCHAR AS tok_middle_r)""",
                       [left_parts, right_parts, left_middle, right_middle]).fetchone()[0]


def test_a_part_in_another_position_counts():
    # SMITH JOHN against JOHN SMYTH: JOHN is shared, given and family swapped with a typo
    assert _shared(["smith", "john"], ["john", "smyth"], None, None)


def test_one_shared_middle_name_is_not_a_swapped_name():
    # ALFIE NOAH CLARKE and JOSHUA NOAH SMITH: NOAH alone is shared, and it is the middle name
    # both carry (the middle-name comparison counts it already)
    assert not _shared(["alfie", "noah", "clarke"], ["joshua", "noah", "smith"], "noah", "noah")
    # the same middle name and a second part in common still count
    assert _shared(["alfie", "noah", "clarke"], ["clarke", "noah", "alfy"], "noah", "noah")
    # different middle names: one shared part is enough, as before
    assert _shared(["alfie", "noah", "clarke"], ["clarke", "james", "alfy"], "noah", "james")
