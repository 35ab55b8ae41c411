"""County shapes: the default writes the same bytes as before shapes existed; each named shape
makes the hard case it names."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from familylink.cli import cli
from familylink.synth import SynthError, generate_county
from familylink.synth.population import build_population
from familylink.synth.shape import SHAPES, CountyShape, county_shape

REF = dt.date(2026, 9, 30)
#: sha256 of every CSV of ``generate_county(800, 5, REF)`` written by the generator before shapes
DEFAULT_800_5 = "13347c8e5fb7bd06193fbb3b8f58bff9a0501a6c7e267bd686c3efa3a9b93115"


def _digest(root) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.csv")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _records(root, source: str) -> pd.DataFrame:
    rows = pd.read_csv(root / "raw" / f"{source}.csv", dtype=str, keep_default_na=False)
    return rows.drop_duplicates("record_id")


def _truth(root) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = pd.read_csv(root / "truth" / "records.csv", dtype=str, keep_default_na=False)
    persons = pd.read_csv(root / "truth" / "persons.csv", dtype=str, keep_default_na=False)
    return records, persons


def test_the_default_shape_writes_the_same_bytes_as_before(tmp_path):
    generate_county(800, 5, REF, tmp_path / "none")
    generate_county(800, 5, REF, tmp_path / "default", shape="default")
    assert _digest(tmp_path / "none") == _digest(tmp_path / "default") == DEFAULT_800_5


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    for name in SHAPES:
        generate_county(3000, 7, REF, root / name, shape=name)
    return root


def _household_of(root) -> pd.Series:
    records, persons = _truth(root)
    person = records.set_index(["source", "record_id"])["person_id"]
    return person.map(persons.set_index("person_id")["household_id"])


def test_non_resident_parents_share_a_case_with_another_household(shaped):
    def cross_household_refs(root) -> int:
        care = _records(root, "social_care")
        homes = _household_of(root).loc["social_care"]
        care = care[care["household_ref"] != ""].assign(home=lambda f: homes.reindex(f["record_id"]).to_numpy())
        return int((care.groupby("household_ref")["home"].nunique() > 1).sum())

    assert cross_household_refs(shaped / "non-resident-parents") > 10 * max(cross_household_refs(shaped / "default"), 1)


def test_large_communal_and_big_households(shaped):
    def sizes(root) -> pd.Series:
        return _truth(root)[1].groupby("household_id").size()

    _, persons = _truth(shaped / "big-households")
    assert sizes(shaped / "big-households").quantile(0.99) >= 10 > sizes(shaped / "default").quantile(0.99)
    assert len(persons) == 3000

    def establishment_sizes(shape: str) -> pd.Series:  # households per communal dwelling
        population = build_population(np.random.default_rng(1), 20_000, REF, SHAPES[shape], np.random.default_rng(2))
        households = population.households
        return households[households["communal"]].groupby("dwelling").size()

    assert establishment_sizes("large-communal").max() >= 20 > 15 >= establishment_sizes("default").max()


def test_shared_refs_are_held_by_many_and_a_missing_source_is_not_written(shaped):
    held = _records(shaped / "shared-refs", "dwp").query("household_ref != ''").groupby("household_ref").size()
    default = _records(shaped / "default", "dwp").query("household_ref != ''").groupby("household_ref").size()
    assert held.max() >= 20 > default.max()
    missing = shaped / "missing-source"
    assert not (missing / "raw" / "health.csv").exists() and (missing / "raw" / "schools.csv").is_file()
    assert "health" not in set(_truth(missing)[0]["source"])


def test_shapes_are_checked_and_offered_on_the_command_line(tmp_path):
    with pytest.raises(SynthError):
        CountyShape(non_resident_parents=1.5)
    with pytest.raises(SynthError):
        CountyShape(missing_sources=("library",))
    with pytest.raises(SynthError):
        county_shape("pyramid")
    assert county_shape("big-households", ("probation",)).missing_sources == ("probation",)
    result = CliRunner().invoke(cli, ["synth", "--people", "300", "--seed", "2", "--reference-date", "2026-09-30",
                                      "--out", str(tmp_path / "c"), "--shape", "shared-refs",
                                      "--missing-source", "police", "--quiet"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "c" / "raw" / "police.csv").exists() and (tmp_path / "c" / "raw" / "dwp.csv").is_file()
    bad = CliRunner().invoke(cli, ["synth", "--people", "300", "--out", str(tmp_path / "d"), "--missing-source",
                                   "library", "--quiet"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: Invalid county shape.")
