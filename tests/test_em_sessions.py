"""What each EM session could learn from (matching/model.py: em_session_report), and its warning."""

from __future__ import annotations

import duckdb

from familylink.core.tables import LINKAGE_RECORDS
from matching.model import MIN_CARRIED_SHARE, comparisons_carried, em_session_report

_CARRIED_BY_NAMES_AND_DATES = {"given_name": 0.8, "family_name": 0.8, "date_of_birth": 0.95, "location": 0.0,
                               "national_id": 0.0, "sex": 0.0, "middle_names": 0.0}


def test_a_session_left_with_one_field_warns_and_names_it():
    # fake_1000: names and dates only; blocked on both names, only the date is left
    report = em_session_report("l.tok_given_canon = r.tok_given_canon AND l.tok_family = r.tok_family",
                               ["date_of_birth", "location", "national_id", "sex", "middle_names", "household"],
                               _CARRIED_BY_NAMES_AND_DATES)
    assert report["informative"] == ["date_of_birth"]
    assert "agree on family name, given name left only date of birth to tell" in report["warning"]
    assert "address, postcode or sex" in report["warning"]


def test_a_session_with_two_fields_or_more_does_not_warn():
    report = em_session_report("l.tok_dob = r.tok_dob", ["given_name", "family_name", "location", "sex"],
                               _CARRIED_BY_NAMES_AND_DATES)
    assert report["informative"] == ["family_name", "given_name"] and "warning" not in report
    nothing = em_session_report("l.tok_dob = r.tok_dob", ["location", "sex"], _CARRIED_BY_NAMES_AND_DATES)
    assert nothing["informative"] == [] and "left only no field" in nothing["warning"]


def test_the_share_carried_is_read_from_the_linkage_records():
    con = duckdb.connect()
    columns = ("tok_given_first", "tok_family", "tok_dob", "tok_uprn", "tok_address", "tok_postcode", "tok_nhs",
               "tok_ni", "tok_upn", "sex", "tok_middle")
    con.execute(f"CREATE TABLE {LINKAGE_RECORDS} ({', '.join(f'{c} VARCHAR' for c in columns)})")
    con.executemany(f"INSERT INTO {LINKAGE_RECORDS} VALUES ({', '.join('?' for _ in columns)})", [
        ("g1", "f1", "d1", None, None, "p1", None, None, None, "M", None),
        ("g2", "f2", None, None, None, None, None, None, None, "U", None),
        ("g3", None, "d3", None, "a3", None, "n3", None, None, "F", "m3"),
        (None, "f4", "d4", "u4", None, None, None, None, None, None, None)])
    carried = comparisons_carried(con)
    assert carried == {"given_name": 0.75, "family_name": 0.75, "date_of_birth": 0.75, "location": 0.75,
                       "national_id": 0.25, "sex": 0.5, "middle_names": 0.25}
    assert MIN_CARRIED_SHARE <= 0.25
