"""Consecutive quarters of one synthetic county: stable ids, births, moves, closed spells,
new events, dropped old events and the truth of what changed between quarters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from familylink.core.contract import SOURCES
from familylink.core.errors import OutputExistsError
from familylink.synth import SynthError, generate_county, generate_quarters
from familylink.synth.evolve import quarter_after
from familylink.synth.quarters import CHANGE_COLUMNS, truth_changes
from familylink.synth.truth_rules import evaluate

REF = dt.date(2026, 9, 30)
NEXT = dt.date(2026, 12, 31)
PEOPLE = 4000
SEED = 11
TRUTH_FILES = ("records", "persons", "events", "eligible")
IDENTITY = ("given_name", "middle_names", "family_name", "date_of_birth", "sex", "nhs_number",
            "ni_number", "upn")  # fmt: skip


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    out = tmp_path_factory.mktemp("quarters")
    calls: list[tuple[str, int, int]] = []
    summaries = generate_quarters(PEOPLE, SEED, REF, out, progress=lambda *a: calls.append(a))
    return out, summaries, calls


@pytest.fixture(scope="module")
def truth(county):
    out = county[0]
    return [{n: _read(out / q / "truth" / f"{n}.csv") for n in TRUTH_FILES} for q in ("q1", "q2")]


@pytest.fixture(scope="module")
def raw(county):
    out = county[0]
    return [{s: _read(out / q / "raw" / f"{s}.csv") for s in SOURCES} for q in ("q1", "q2")]


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_quarter_after_steps_three_months_to_the_quarter_end():
    assert quarter_after(dt.date(2026, 9, 30)) == dt.date(2026, 12, 31)
    assert quarter_after(dt.date(2026, 12, 31)) == dt.date(2027, 3, 31)
    assert quarter_after(dt.date(2024, 11, 30)) == dt.date(2025, 2, 28)
    assert quarter_after(dt.date(2024, 1, 15)) == dt.date(2024, 4, 15)


def test_first_quarter_is_exactly_the_county_generate_county_writes(county, tmp_path):
    out, summaries, calls = county
    generate_county(PEOPLE, SEED, REF, tmp_path)
    assert _files(out / "q1") == _files(tmp_path)
    for name in _files(tmp_path):
        assert (out / "q1" / name).read_bytes() == (tmp_path / name).read_bytes(), name
    assert [s.reference_date for s in summaries] == [REF, NEXT]
    assert [p.name for p in _files(out / "q2")] == [p.name for p in _files(tmp_path)]
    assert ("quarters", 2, 2) in calls


def test_people_records_and_identities_carry_over(truth, raw):
    first, second = truth
    records = first["records"].merge(
        second["records"], on=["source", "record_id"], how="left", suffixes=("", "_q2")
    )
    assert (records["person_id"] == records["person_id_q2"]).all()
    persons = first["persons"].merge(second["persons"], on="person_id", suffixes=("", "_q2"))
    assert len(persons) == len(first["persons"])
    for column in ("household_id", "sex", "date_of_birth"):
        assert (persons[column] == persons[column + "_q2"]).all(), column
    both = persons[(persons["family_id"] != "") & (persons["family_id_q2"] != "")]
    assert (both["family_id"] == both["family_id_q2"]).all()
    assert len(both) >= 0.95 * (persons["family_id"] != "").sum()
    for source in SOURCES:
        columns = [c for c in IDENTITY if c in raw[0][source].columns]
        before = raw[0][source].drop_duplicates("record_id").set_index("record_id")[columns]
        after = raw[1][source].drop_duplicates("record_id").set_index("record_id")[columns]
        assert before.equals(after.loc[before.index]), source
        assert set(raw[1][source]["record_id"]) == set(
            second["records"].loc[second["records"]["source"] == source, "record_id"]
        )


def test_babies_are_born_into_existing_households(truth):
    first, second = truth
    babies = second["persons"][~second["persons"]["person_id"].isin(first["persons"]["person_id"])]
    assert len(babies) > 0
    assert babies["date_of_birth"].gt(REF.isoformat()).all()
    assert babies["date_of_birth"].le(NEXT.isoformat()).all()
    assert (babies["age"] == "0").all() and (babies["role"] == "child").all()
    assert babies["household_id"].isin(first["persons"]["household_id"]).all()
    health = second["records"][second["records"]["source"] == "health"]
    assert babies["person_id"].isin(health["person_id"]).all()
    # a baby joins its household's family; a household's first baby makes a new family
    old_family = first["persons"].groupby("household_id")["family_id"].first()
    known = babies[babies["household_id"].map(old_family) != ""]
    assert (known["family_id"] == known["household_id"].map(old_family)).all()
    first_baby = babies[babies["household_id"].map(old_family) == ""]
    assert not first_baby["family_id"].isin(first["persons"]["family_id"]).any()
    assert (first_baby["family_id"] != "").all()


def test_moved_households_get_a_new_address_and_some_sources_lag(county, truth, raw):
    out = county[0]
    moves = _read(out / "truth_moves.csv")
    assert len(moves) > 0 and (moves["from_uprn"] != moves["to_uprn"]).all()
    assert moves["move_date"].gt(REF.isoformat()).all()
    persons = truth[0]["persons"].merge(truth[1]["persons"], on="person_id", suffixes=("", "_2"))
    flipped = persons[(persons["moved"] == "false") & (persons["moved_2"] == "true")]
    assert set(flipped["household_id"]) == set(moves["household_id"])
    records = truth[1]["records"]
    movers = records[records["person_id"].isin(flipped["person_id"])]
    held = pd.concat([raw[1][s].assign(source=s) for s in ("housing", "social_care")])
    held = held.merge(movers, on=["source", "record_id"])
    held = held[(held["indicator"] == "") & (held["uprn"] != "")]
    new_home = held["uprn"].isin(moves["to_uprn"])
    assert new_home.any() and (~new_home).any()


def _spells(events: pd.DataFrame, indicator: str) -> pd.DataFrame:
    return events[events["indicator"] == indicator].set_index(
        ["person_id", "source", "indicator", "event_date"]
    )["end_date"]


def test_open_spells_close_inside_the_new_quarter(truth):
    closed = 0
    for indicator in ("out_of_work_benefit", "early_help_assessment", "child_in_need"):
        before = _spells(truth[0]["events"], indicator)
        after = _spells(truth[1]["events"], indicator)
        before = before[before == ""]
        ends = after.reindex(before.index).dropna()
        in_quarter = ends.gt(REF.isoformat()) & ends.le(NEXT.isoformat())
        closed += int(in_quarter.sum())
        if indicator == "out_of_work_benefit":
            assert in_quarter.sum() > 0
            assert in_quarter.mean() < 0.4
    assert closed > 0


def test_new_events_happen_inside_the_quarter_at_similar_rates(truth):
    e1, e2 = truth[0]["events"], truth[1]["events"]
    new = e2[(e2["event_date"] > REF.isoformat()) & (e2["event_date"] <= NEXT.isoformat())]
    for indicator in ("attendance_term", "mental_health", "domestic_callout", "rent_arrears"):
        assert (new["indicator"] == indicator).sum() > 0, indicator
    assert set(new.loc[new["indicator"] == "attendance_term", "event_date"]) == {"2026-12-20"}
    last = e1[(e1["event_date"] > "2026-06-30") & (e1["event_date"] <= REF.isoformat())]
    point = ~new["indicator"].isin(["attendance_term", "unauthorised_absence_term"])
    point_before = ~last["indicator"].isin(["attendance_term", "unauthorised_absence_term"])
    assert 0.6 < point.sum() / point_before.sum() < 1.6
    # nothing dated after the reference date but custody releases and spell ends
    later = e2[e2["event_date"] > NEXT.isoformat()]
    assert set(later["indicator"]) <= {"custody_release_due"}


def test_events_older_than_the_look_back_drop_out(truth):
    e1, e2 = truth[0]["events"], truth[1]["events"]
    cutoff = (NEXT - dt.timedelta(days=730)).isoformat()
    point = e2[e2["end_date"] == ""]
    assert (e1["event_date"] < cutoff).any()
    old = point[point["event_date"] < cutoff]
    assert set(old["indicator"]) <= {
        "out_of_work_benefit", "licence", "community_order", "alternative_provision",
        "not_on_roll", "temporary_accommodation", "early_help_assessment", "child_in_need",
        "child_protection_plan", "looked_after",
    }  # fmt: skip
    terms = e2[e2["indicator"] == "attendance_term"].groupby("person_id").size()
    assert terms.max() <= 4


def test_eligibility_is_evaluated_at_each_quarters_reference_date(truth):
    second = truth[1]
    expected = evaluate(second["persons"], second["events"], NEXT)
    got = second["eligible"]
    assert list(got["family_id"]) == list(expected["family_id"])
    assert list(got["headlines"]) == list(expected["headlines"])
    assert list(got["eligible"] == "true") == list(expected["eligible"])
    assert set(second["persons"]["family_id"]) - {""} == set(got["family_id"])


def test_truth_changes_match_the_two_eligible_files(county, truth):
    out = county[0]
    changes = _read(out / "truth_changes.csv")
    assert list(changes.columns) == list(CHANGE_COLUMNS)
    assert set(changes["from_quarter"]) == {"q1"} and set(changes["to_quarter"]) == {"q2"}
    before = truth[0]["eligible"].set_index("family_id")
    after = truth[1]["eligible"].set_index("family_id")
    was = set(before.index[before["eligible"] == "true"])
    now = set(after.index[after["eligible"] == "true"])
    assert set(changes["family_id"]) == was | now
    assert changes["family_id"].is_unique
    kinds = changes.set_index("family_id")["change"]
    assert set(kinds[kinds == "entered"].index) == now - was
    assert set(kinds[kinds == "left"].index) == was - now
    stayed = changes[changes["family_id"].isin(was & now)]
    same = stayed["headlines_before"] == stayed["headlines_after"]
    assert (stayed.loc[same, "change"] == "continuing").all()
    assert (stayed.loc[~same, "change"] == "headlines_changed").all()
    for row in changes.itertuples():
        if row.family_id in was:
            assert row.headlines_before == before.at[row.family_id, "headlines"]
        if row.family_id in now:
            assert row.headlines_after == after.at[row.family_id, "headlines"]
    assert {"entered", "left", "continuing", "headlines_changed"} <= set(changes["change"])


def test_truth_changes_classifies_each_case():
    before = pd.DataFrame(
        {"family_id": ["F1", "F2", "F3", "F4"], "eligible": ["true", "true", "true", "false"],
         "headlines": ["work;health", "crime;work", "work;health", "work"]}
    )  # fmt: skip
    after = pd.DataFrame(
        {"family_id": ["F1", "F2", "F3", "F4", "F5"],
         "eligible": ["true", "false", "true", "true", "true"],
         "headlines": ["work;health", "work", "crime;work;health", "work;health", "work;health"]}
    )  # fmt: skip
    frame = truth_changes(before, after, "q1", "q2").set_index("family_id")
    assert frame["change"].to_dict() == {
        "F1": "continuing",
        "F2": "left",
        "F3": "headlines_changed",
        "F4": "entered",
        "F5": "entered",
    }
    assert frame.at["F2", "headlines_after"] == "" and frame.at["F4", "headlines_before"] == ""


def test_same_arguments_give_the_same_bytes_for_every_quarter(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_quarters(700, 3, REF, first, quarters=3)
    generate_quarters(700, 3, REF, second, quarters=3)
    generate_quarters(700, 4, REF, other, quarters=3)
    names = _files(first)
    assert {n.parts[0] for n in names} == {"q1", "q2", "q3", "truth_changes.csv",
                                           "truth_moves.csv"}  # fmt: skip
    assert names == _files(second)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert any((first / n).read_bytes() != (other / n).read_bytes() for n in names)
    changes = _read(first / "truth_changes.csv")
    assert set(zip(changes["from_quarter"], changes["to_quarter"], strict=True)) <= {
        ("q1", "q2"),
        ("q2", "q3"),
    }
    readme = (first / "q3" / "truth" / "README.txt").read_text(encoding="utf-8")
    assert "Reference date: 2027-03-31" in readme and "Quarter 3 of a quarterly series" in readme


def test_bad_arguments_and_existing_output_are_refused(tmp_path):
    with pytest.raises(SynthError):
        generate_quarters(500, 1, REF, tmp_path / "x", quarters=0)
    with pytest.raises(SynthError):
        generate_quarters(5, 1, REF, tmp_path / "x")
    (tmp_path / "y" / "q2" / "raw").mkdir(parents=True)
    (tmp_path / "y" / "q2" / "raw" / "schools.csv").write_text("x", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        generate_quarters(500, 1, REF, tmp_path / "y")
    assert not (tmp_path / "y" / "q1").exists()
