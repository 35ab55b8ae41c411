"""`familylink protocol assess` on a small sealed county, and the assessment in `protocol render`."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from protocols.assessment import assess_extracts, k_anonymity
from protocols.intruder import (
    cooccurrence,
    expected_alignment_share,
    load_hub_view,
    pinned_join,
    read_public_list,
)

pytestmark = pytest.mark.slow
REF = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, agreements, key):
    root = tmp_path_factory.mktemp("assess")
    generate_county(900, 5, REF, root / "county")
    seal_folder(root / "county" / "raw", root / "sealed", key, agreements, extract_date=REF)
    return root


@pytest.fixture(scope="module")
def assessed(sealed):
    out = sealed / "assessment.json"
    result = CliRunner().invoke(cli, ["protocol", "assess", "--extracts", str(sealed / "sealed"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text(encoding="utf-8"))


def test_assess_has_help():
    result = CliRunner().invoke(cli, ["protocol", "assess", "--help"])
    assert result.exit_code == 0
    for word in ("--extracts", "--public-names", "--out", "k-anonymity", "<5"):
        assert word in result.output


def test_assess_prints_the_k_anonymity_table_and_every_attack_figure(assessed):
    output, document = assessed
    assert "k-anonymity" in output and "all sources" in output
    for what in ("frequency alignment", "similarity graph", "tok_given_first", "bf_family"):
        assert what in output, what
    assert document["format"] == "familylink-privacy-assessment"
    assert {r["column"] for r in document["graph"]} == {"bf_given", "bf_family"}
    assert document["above_goal"], "today's name tokens exceed the 1% goal (issue 13)"
    # schema version 3: no date-of-birth token is decoded by a clear attribute
    assert not [r for r in document["cooccurrence"] if r["column"].startswith("tok_dob") and r["decoded"] > 0.01]
    assert any(r["column"] == "tok_dob" and r["clear"] == "birth_date_pinned" for r in document["cooccurrence"])


def test_counts_under_five_are_suppressed(assessed):
    _, document = assessed
    counts = [document["records"][s] for s in document["sources"]]
    counts += [r["records"] for r in document["k_anonymity"]]
    assert all(isinstance(c, int) and c >= 5 or c == "<5" for c in counts)
    text = json.dumps(document)
    for small in range(1, 5):
        assert f'"records": {small},' not in text and f'"records": {small}}}' not in text


def test_k_anonymity_matches_a_direct_count(sealed):
    view = load_hub_view(sealed / "sealed")
    rows = {(r["quasi_identifiers"], r["scope"]): r for r in k_anonymity(view)}
    keys = [(r["birth_cohort"], r["sex"], r["postcode_district"]) for r in view.records]
    sizes = Counter(keys)
    overall = rows["age in clear, sex, postcode district", "all sources"]
    assert overall["records"] == len(keys)
    assert overall["unique"] == round(sum(sizes[k] == 1 for k in keys) / len(keys), 4)
    assert overall["under_5"] == round(sum(sizes[k] < 5 for k in keys) / len(keys), 4)
    # the default agreements send ages in whole years only (issue 13): no year and month of
    # birth at the hub, the age at the extract date is the finest age in clear
    assert all(r["age_months"] is None and r["birth_year_month"] is None for r in view.records)
    record = next(r for r in view.records if r["age_years"] is not None)
    assert record["birth_cohort"] == f"aged {record['age_years']} on {REF.isoformat()}"


def test_the_cooccurrence_join_and_the_estimate_are_what_they_say():
    tokens = ["a"] * 20 + ["b"] * 20 + ["c"] * 3
    clear = [1990] * 20 + [1991] * 19 + [1992] + [1993] * 3
    found = cooccurrence(tokens, clear)
    assert found.decoding == {"a": 1990, "b": 1991}  # c has too few records to count as decoded
    assert found.decoded == 40 and found.records == 43
    assert cooccurrence(["x", "y"] * 20, ["M"] * 40).decoding == {}  # many tokens, one value: nothing decoded
    assert expected_alignment_share({"A": 0.9, "B": 0.1}, 1000, 1000) > 0.95
    assert expected_alignment_share({str(i): 0.01 for i in range(100)}, 1000, 1000) < 0.2


def test_render_includes_the_latest_assessment(sealed, assessed):
    out = sealed / "protocol.md"
    result = CliRunner().invoke(cli, ["protocol", "render", "--out", str(out), "--assessment",
                                      str(sealed / "assessment.json")])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "Privacy assessment of the sealed extracts" in text
    for heading in ("k-anonymity", "Attacks that exceed the goal", "co-occurrence", "Similarity-graph attack",
                    "What an intruder at the hub learns"):
        assert heading in text, heading
    assert "second, independently seeded synthetic county" in text
    html = sealed / "protocol.html"
    result = CliRunner().invoke(cli, ["protocol", "render", "--format", "html", "--out", str(html), "--assessment",
                                      str(sealed / "assessment.json")])
    assert result.exit_code == 0 and "Privacy assessment" in html.read_text(encoding="utf-8")


def test_a_public_list_can_be_given_and_bad_input_is_a_clear_error(sealed, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("# published name counts\nkind,value,count\nfamily,SMITH,500\nfamily,JONES,300\n"
                     "given_first,OLIVIA,40\n", encoding="utf-8")
    assert read_public_list(names)["family"]["SMITH"] == 500 / 800
    document = assess_extracts(sealed / "sealed", names)
    assert "names.csv" in document["public_list"]
    assert {r["column"] for r in document["frequency"] if r["public_list"]} >= {"tok_family", "tok_given_first"}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,count\nSMITH,5\n", encoding="utf-8")
    for args in (["--extracts", str(tmp_path / "missing")],
                 ["--extracts", str(sealed / "sealed"), "--public-names", str(bad)]):
        result = CliRunner().invoke(cli, ["protocol", "assess", *args, "--out", str(tmp_path / "a.json")])
        assert result.exit_code != 0 and result.output.startswith("Error:"), result.output
        assert "Traceback" not in result.output


def _pin(dob: dt.date, extract: dt.date, events: list[dt.date], months: bool, month_precision: bool = False):
    """What the intruder pins for one record born on ``dob`` (the clear columns the sealing writes)."""
    from protocols.intruder import _month_end, _narrow, _pinned_date
    from protocols.normalise import age_in_months, age_in_years

    bounds: dict = {}
    for event in events:
        shown = event.replace(day=1) if month_precision else event
        _narrow(bounds, "r", shown, _month_end(shown) if month_precision else shown, age_in_years(dob, event))
    row = {"extract_date": extract, "age_years": age_in_years(dob, extract),
           "age_months": age_in_months(dob, extract) if months else None}
    return _pinned_date(row, bounds.get("r"))


def test_an_age_that_changes_between_two_dated_events_pins_the_birthday():
    dob, extract = dt.date(2015, 3, 17), dt.date(2026, 9, 30)
    both_sides = [dt.date(2025, 3, 16), dt.date(2025, 3, 17)]
    assert _pin(dob, extract, both_sides, months=True) == "2015-03-17"
    assert _pin(dob, extract, both_sides, months=False) == "2015-03-17"
    assert _pin(dob, extract, [dt.date(2025, 3, 10), dt.date(2025, 3, 20)], months=True) is None  # ten days left
    assert _pin(dob, extract, [], months=True) is None
    # an event date cut to the month was any day of it: nothing wrongly pinned
    assert _pin(dob, extract, both_sides, months=True, month_precision=True) is None


def test_the_pinned_join_decodes_a_token_for_every_record_that_carries_it():
    tokens = ["t1", "t1", "t1", "t2", "t2", None]
    pinned = ["2015-03-17", None, None, "2001-01-01", "2001-01-02", "2015-03-17"]
    assert pinned_join(tokens, pinned) == {"t1": "2015-03-17"}  # t2's pinned dates disagree
