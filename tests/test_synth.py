"""The synthetic county generator: files, determinism, validity of rows, truth and rules."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from familylink.core.contract import DEFAULT_VOCABULARY, RAW_COLUMNS, SOURCES
from familylink.core.errors import FamilylinkError, OutputExistsError
from familylink.synth import CorruptionSettings, SynthError, SynthSummary, generate_county
from familylink.synth.identifiers import (
    NI_PREFIXES,
    nhs_number_is_valid,
    nhs_numbers,
    ni_numbers,
    upn_is_valid,
)
from familylink.synth.names import one_name
from familylink.synth.population import build_population
from familylink.synth.records import SOURCE_IDENTITY_COLUMNS, source_columns
from familylink.synth.truth_rules import evaluate, months_before

REF = dt.date(2024, 3, 31)
PEOPLE = 3000
SEED = 11
CLEAN_NHS = dataclasses.replace(CorruptionSettings(), nhs_invalid=0.0)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> tuple[Path, SynthSummary, list]:
    out = tmp_path_factory.mktemp("county")
    calls: list[tuple[str, int, int]] = []
    summary = generate_county(
        PEOPLE, SEED, REF, out, CLEAN_NHS, progress=lambda *a: calls.append(a)
    )
    return out, summary, calls


@pytest.fixture(scope="module")
def raw(county) -> dict[str, pd.DataFrame]:
    out = county[0]
    return {source: _read(out / "raw" / f"{source}.csv") for source in SOURCES}


@pytest.fixture(scope="module")
def truth(county) -> dict[str, pd.DataFrame]:
    out = county[0]
    return {
        name: _read(out / "truth" / f"{name}.csv")
        for name in ("records", "persons", "events", "eligible")
    }


def test_every_source_file_has_the_contract_columns_in_order(county, raw):
    out, summary, _ = county
    for source in SOURCES:
        with open(out / "raw" / f"{source}.csv", encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        shared = {
            "record_id",
            *SOURCE_IDENTITY_COLUMNS[source],
            "indicator",
            "event_date",
            "end_date",
            "value",
            "detail",
        }
        assert header == [c for c in RAW_COLUMNS if c in shared] == source_columns(source)
        assert len(raw[source]) == summary.rows[source] > 0
        assert raw[source]["record_id"].nunique() == summary.records[source]
    assert (
        (out / "truth" / "README.txt")
        .read_text(encoding="utf-8")
        .startswith("Truth of a synthetic county")
    )


def test_files_use_unix_line_endings_and_utf8(county):
    out = county[0]
    data = (out / "raw" / "schools.csv").read_bytes()
    assert b"\r\n" not in data
    data.decode("utf-8")


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_county(600, 3, REF, first)
    generate_county(600, 3, REF, second)
    generate_county(600, 4, REF, other)
    names = sorted(p.relative_to(first) for p in first.rglob("*.csv"))
    assert len(names) == len(SOURCES) + 4
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert any((first / n).read_bytes() != (other / n).read_bytes() for n in names)


def test_every_raw_record_is_in_the_truth_and_nothing_else(raw, truth):
    records = truth["records"]
    assert not records.duplicated(["source", "record_id"]).any()
    for source in SOURCES:
        assert set(raw[source]["record_id"]) == set(
            records.loc[records["source"] == source, "record_id"]
        )
    assert set(records["person_id"]) <= set(truth["persons"]["person_id"])
    assert records.equals(records.sort_values(["source", "record_id"], ignore_index=True))


def test_rows_are_valid_for_the_contract(raw, truth):
    persons = truth["persons"].set_index("person_id")
    for source in SOURCES:
        rows = raw[source]
        vocabulary = {spec.code: spec for spec in DEFAULT_VOCABULARY[source]}
        indicator = rows["indicator"]
        assert set(indicator[indicator != ""]) <= set(vocabulary), source
        assert (rows.loc[indicator != "", "event_date"] != "").all()
        assert (
            (rows.loc[indicator == "", ["event_date", "end_date", "value", "detail"]] == "")
            .all()
            .all()
        )
        start = pd.to_datetime(rows["event_date"].replace("", None), format="%Y-%m-%d")
        end = pd.to_datetime(rows["end_date"].replace("", None), format="%Y-%m-%d")
        assert not (end < start).any(), source
        required = [c for c, spec in vocabulary.items() if spec.value == "required"]
        values = pd.to_numeric(rows.loc[indicator.isin(required), "value"], errors="coerce")
        assert values.notna().all(), source
        dob = pd.to_datetime(rows["date_of_birth"].replace("", None), format="%Y-%m-%d")
        assert not (start < dob).any(), source
        assert set(rows["sex"]) <= {"M", "F", "U", ""}
    events = truth["events"]
    true_dob = pd.to_datetime(persons.loc[events["person_id"], "date_of_birth"].to_numpy())
    assert (pd.to_datetime(events["event_date"]).to_numpy() >= true_dob).all()


def test_people_without_events_appear_once_with_an_empty_indicator(raw):
    for source in ("police", "dwp", "housing", "social_care"):
        rows = raw[source]
        silent = rows[rows["indicator"] == ""]
        assert len(silent) > 0, source
        assert not silent["record_id"].duplicated().any()


def test_nhs_numbers_are_valid_when_no_invalid_ones_are_configured(raw):
    for source in ("health", "social_care"):
        numbers = raw[source]["nhs_number"]
        numbers = numbers[numbers != ""]
        assert len(numbers) > 0
        assert all(nhs_number_is_valid(n) for n in numbers), source
    upns = raw["schools"]["upn"]
    assert all(upn_is_valid(u) for u in upns[upns != ""])


def test_default_settings_spoil_only_a_few_nhs_numbers(tmp_path):
    generate_county(2500, 5, REF, tmp_path, CorruptionSettings(nhs_invalid=0.05))
    numbers = _read(tmp_path / "raw" / "health.csv").drop_duplicates("record_id")["nhs_number"]
    numbers = numbers[numbers != ""]
    invalid = sum(not nhs_number_is_valid(n) for n in numbers)
    assert 0 < invalid < 0.15 * len(numbers)


def test_twins_share_household_and_birth_date(truth):
    persons = truth["persons"].set_index("person_id")
    twins = persons[persons["twin_of"] != ""]
    assert len(twins) >= 2
    other = persons.loc[twins["twin_of"]]
    assert (other["date_of_birth"].to_numpy() == twins["date_of_birth"].to_numpy()).all()
    assert (other["household_id"].to_numpy() == twins["household_id"].to_numpy()).all()


def test_population_has_twins_with_different_names_and_juniors():
    population = build_population(np.random.default_rng(2), 8000, REF)
    persons = population.persons
    twins = persons[persons["twin_of"] >= 0]
    other = persons.iloc[twins["twin_of"].to_numpy()]
    assert (twins["given_name"].to_numpy() != other["given_name"].to_numpy()).all()
    # nor two spellings or forms of one name (MOHAMMAD and MUHAMMAD, WILLIAM and LIAM)
    assert not any(one_name(a, b) for a, b in zip(twins["given_name"], other["given_name"], strict=True))
    # a father and son with the same name (different dates of birth) exist
    key = persons[["household", "given_name", "family_name"]]
    same = persons[key.duplicated(keep=False)]
    assert (same.groupby(["household", "given_name"])["dob"].nunique() > 1).any()
    # very common names occur many times, and names from several communities appear
    assert persons["family_name"].value_counts().iloc[0] > 80
    assert persons["community"].nunique() >= 8
    assert persons["middle_names"].ne("").mean() > 0.3
    # hostels: several unrelated households at one dwelling (one UPRN)
    households = population.households
    shared = households[households["communal"]].groupby("dwelling")["household"].nunique()
    assert (shared >= 3).any()
    assert not households.loc[~households["communal"], "dwelling"].duplicated().any()


def test_households_have_the_expected_shapes(truth):
    persons = truth["persons"]
    kinds = set(persons["household_kind"])
    assert {"couple_children", "lone_parent", "step_family", "communal_single", "single"} <= kinds
    assert (persons["communal"] == "true").any() and (persons["moved"] == "true").any()
    families = persons[persons["family_id"] != ""]
    assert (families.groupby("family_id")["role"].apply(lambda r: (r == "child").any())).all()
    assert set(persons.loc[persons["family_id"] == "", "role"]) == {"adult"}
    assert set(persons["locality"]) >= {"Leicester City", "Charnwood", "other"}


def test_provider_views_carry_realistic_structure(raw, truth):
    records = truth["records"]
    duplicated = records.groupby(["source", "person_id"]).size()
    assert (duplicated > 1).any()
    dwp = raw["dwp"]
    assert (dwp.groupby("household_ref")["record_id"].nunique() > 1).any()
    schools = raw["schools"]
    assert schools["record_id"].str.match(r"^SCH-\d{6,}$").all()
    assert raw["police"]["record_id"].str.match(r"^NOM/\d{4}/\d{5}$").all()
    moved = schools.groupby("record_id")["address"].nunique()
    assert (moved > 1).any()
    assert (raw["police"]["date_of_birth"] == "").mean() > 0.01


def test_eligibility_has_a_spread_of_headline_counts(county, truth):
    eligible = truth["eligible"]
    summary = county[1]
    counts = eligible["headline_count"].astype(int)
    assert eligible["family_id"].is_unique
    assert set(counts) >= {0, 1, 2, 3}
    assert summary.eligible_families == (eligible["eligible"] == "true").sum() > 0
    assert 0.03 < summary.eligible_families / summary.families < 0.25
    assert ((counts >= 2) == (eligible["eligible"] == "true")).all()
    order = ["education", "crime", "work", "health", "domestic_abuse", "children_need_help"]
    for text in eligible.loc[counts > 1, "headlines"]:
        parts = text.split(";")
        assert parts == sorted(parts, key=order.index)
    assert set(truth["persons"]["family_id"]) - {""} == set(eligible["family_id"])


def test_progress_reports_every_stage(county):
    calls = county[2]
    stages = [c[0] for c in calls]
    assert {"population", "events", "extracts", "truth"} <= set(stages)
    assert all(0 <= done <= total for _, done, total in calls)


def test_bad_arguments_raise_familylink_errors(tmp_path):
    with pytest.raises(SynthError):
        generate_county(9, 1, REF, tmp_path / "x")
    with pytest.raises(FamilylinkError):
        generate_county(100, -1, REF, tmp_path / "x")
    with pytest.raises(SynthError):
        CorruptionSettings(name_typo=1.5)
    (tmp_path / "y" / "raw").mkdir(parents=True)
    (tmp_path / "y" / "raw" / "schools.csv").write_text("x", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        generate_county(100, 1, REF, tmp_path / "y")


def test_clean_settings_keep_identity_faithful(tmp_path):
    generate_county(800, 9, REF, tmp_path, CorruptionSettings.none())
    records = _read(tmp_path / "truth" / "records.csv")
    persons = _read(tmp_path / "truth" / "persons.csv").set_index("person_id")
    health = _read(tmp_path / "raw" / "health.csv").merge(
        records[records["source"] == "health"], on="record_id"
    )
    assert (
        health["date_of_birth"].to_numpy()
        == persons.loc[health["person_id"], "date_of_birth"].to_numpy()
    ).all()
    assert records.groupby(["source", "person_id"]).size().max() == 1
    assert health["postcode"].str.match(r"^[A-Z]{1,2}\d{1,2} \d[A-Z]{2}$").all()


def test_identifier_formats():
    assert nhs_number_is_valid("9434765919") and not nhs_number_is_valid("9434765918")
    assert upn_is_valid("B801200005001") and not upn_is_valid("A801200005001")
    rng = np.random.default_rng(0)
    numbers = nhs_numbers(rng, 500)
    assert len(set(numbers)) == 500 and all(nhs_number_is_valid(n) for n in numbers)
    ni = ni_numbers(rng, 500)
    assert len(set(ni)) == 500
    assert all(
        len(n) == 9 and n[:2] in NI_PREFIXES and n[2:8].isdigit() and n[8] in "ABCD" for n in ni
    )
    assert not {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"} & set(NI_PREFIXES)


# --- the independent Phase 2 rules -----------------------------------------------------


def _family(*members: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"person_id": p, "family_id": "F1", "role": role, "date_of_birth": dob}
            for p, role, dob in members
        ]
    )


def _events(*rows: tuple) -> pd.DataFrame:
    columns = ["person_id", "source", "indicator", "event_date", "end_date", "value"]
    return pd.DataFrame([dict(zip(columns, r, strict=True)) for r in rows], columns=columns)


FAMILY = _family(("A", "adult", "1985-05-05"), ("C", "child", "2016-06-06"))


def _headlines(events: pd.DataFrame, persons: pd.DataFrame = FAMILY) -> str:
    return evaluate(persons, events, REF).set_index("family_id").at["F1", "headlines"]


def test_months_before_clamps_to_month_end():
    assert months_before(dt.date(2024, 8, 31), 6) == dt.date(2024, 2, 29)
    assert months_before(dt.date(2024, 3, 31), 12) == dt.date(2023, 3, 31)
    assert months_before(dt.date(2024, 3, 31), -12) == dt.date(2025, 3, 31)


def test_window_excludes_its_start_and_includes_the_reference_date():
    assert _headlines(_events(("A", "health", "mental_health", "2023-03-31", "", ""))) == ""
    assert _headlines(_events(("A", "health", "mental_health", "2023-04-01", "", ""))) == "health"
    assert _headlines(_events(("A", "health", "mental_health", "2024-04-01", "", ""))) == ""


def test_spells_count_when_active_at_the_reference_date():
    benefit = ("A", "dwp", "out_of_work_benefit", "2020-01-01")
    assert _headlines(_events((*benefit, "", ""))) == "work"
    assert _headlines(_events((*benefit, "2024-04-01", ""))) == "work"
    assert _headlines(_events((*benefit, "2024-03-31", ""))) == ""
    help_ = ("C", "social_care", "early_help_assessment")
    assert _headlines(_events((*help_, "2023-06-01", "2023-09-01", ""))) == "children_need_help"
    assert _headlines(_events((*help_, "2022-06-01", "2023-09-01", ""))) == ""


def test_attendance_uses_the_latest_three_terms():
    terms = [("2023-03-29", "50"), ("2023-07-21", "92"), ("2023-12-20", "91"), ("2024-03-29", "89")]
    rows = [("C", "schools", "attendance_term", d, "", v) for d, v in terms]
    assert _headlines(_events(*rows)) == ""
    rows[-1] = ("C", "schools", "attendance_term", "2024-03-29", "", "80")
    assert _headlines(_events(*rows)) == "education"


def test_exclusion_days_threshold_depends_on_age_at_the_exclusion():
    # the child is 7 at these exclusions: 5 days in total is enough at primary age
    rows = [
        ("C", "schools", "fixed_term_exclusion", "2023-10-02", "", "2"),
        ("C", "schools", "fixed_term_exclusion", "2023-11-06", "", "3"),
    ]
    assert _headlines(_events(*rows)) == "education"
    older = _family(("A", "adult", "1985-05-05"), ("C", "child", "2010-06-06"))
    assert _headlines(_events(*rows), older) == ""


def test_crime_work_and_multi_headline_rules():
    rows = [
        ("A", "probation", "custody_release_due", "2025-02-01", "", ""),
        ("A", "housing", "rent_arrears", "2024-01-15", "", "499.99"),
        ("C", "police", "missing_episode", "2024-01-10", "", ""),
    ]
    assert _headlines(_events(*rows)) == "crime;children_need_help"
    rows[1] = ("A", "housing", "rent_arrears", "2024-01-15", "", "500.00")
    result = evaluate(FAMILY, _events(*rows), REF).iloc[0]
    assert result["headlines"] == "crime;work;children_need_help"
    assert result["headline_count"] == 3 and bool(result["eligible"])
    assert result["rules"] == "2.3;3.3;6.5"
    too_late = _events(("A", "probation", "custody_release_due", "2025-04-01", "", ""))
    assert _headlines(too_late) == ""
    adult_offence = _events(("A", "police", "proven_offence", "2024-01-01", "", ""))
    assert _headlines(adult_offence) == ""
