import shutil

import pytest
import yaml

from familylink.core.contract import SOURCES
from familylink.core.errors import ConfigError
from protocols.agreements import default_agreements_dir, load_agreements


def test_shipped_agreements_cover_the_seven_sources(agreements):
    assert agreements.sources == tuple(sorted(SOURCES))
    assert agreements["dwp"].allowed_details["out_of_work_benefit"] == {"JSA", "ESA", "IS", "UC"}
    assert "attendance_term" in agreements["schools"].indicators
    assert agreements["health"].date_precision == "month"
    for source in agreements.sources:
        agreement = agreements[source]
        assert agreement.fields and all(reason.strip() for reason in agreement.fields.values())
        assert len(agreements.fingerprint_of(source)) == 16


def test_fingerprint_changes_with_content_not_formatting(tmp_path, agreements):
    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "police.yaml"
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(document, sort_keys=True, width=200))
    assert load_agreements(tmp_path / "a")["police"].fingerprint == agreements["police"].fingerprint
    document["retention"]["months"] = 12
    path.write_text(yaml.safe_dump(document))
    assert load_agreements(tmp_path / "a")["police"].fingerprint != agreements["police"].fingerprint


def test_every_problem_is_reported_at_once_with_its_location(tmp_path):
    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "schools.yaml"
    document = yaml.safe_load(path.read_text())
    document["fields"]["nhs_numbr"] = "typo"
    document["date_format"] = "DD/MM/YY"
    document["date_precision"] = "week"
    del document["retention"]
    document["vocabulary"]["details"] = {"no_such_indicator": ["X"]}
    path.write_text(yaml.safe_dump(document))
    (tmp_path / "a" / "police.yaml").write_text("source: police\nowner: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_agreements(tmp_path / "a")
    text = caught.value.render()
    assert "schools.yaml: fields" in text and "nhs_numbr" in text and "valid fields are" in text
    assert "schools.yaml: date_format" in text
    assert "schools.yaml: date_precision" in text
    assert "schools.yaml: retention" in text
    assert "police.yaml: line" in text
    assert len(caught.value.problems) >= 5


def test_special_category_needs_an_article_9_condition(tmp_path):
    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "health.yaml"
    document = yaml.safe_load(path.read_text())
    document["lawful_basis"]["article_9"] = None
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="problem"):
        load_agreements(tmp_path / "a")


def test_unknown_source_names_the_known_ones(agreements):
    with pytest.raises(ConfigError, match="no sharing agreement for source 'school'"):
        agreements["school"]


def test_synthetic_extracts_share_exactly_what_the_agreements_allow(agreements):
    from familylink.synth.records import SOURCE_IDENTITY_COLUMNS

    assert set(SOURCE_IDENTITY_COLUMNS) == set(agreements.sources)
    for source, columns in SOURCE_IDENTITY_COLUMNS.items():
        assert set(columns) == set(agreements[source].fields), source


def test_encoding_fingerprint_covers_the_name_tables(tmp_path, monkeypatch):
    import shutil

    from protocols.agreements import default_agreements_dir, load_agreements
    from protocols.normalise import names

    before = load_agreements(default_agreements_dir()).partnership.encoding_fingerprint
    shutil.copytree(names.DATA_DIR, tmp_path / "data")
    with open(tmp_path / "data" / "nicknames.csv", "a", encoding="utf-8") as handle:
        handle.write("ZEBEDEE,ZACHARY\n")
    monkeypatch.setattr(names, "DATA_DIR", tmp_path / "data")
    assert load_agreements(default_agreements_dir()).partnership.encoding_fingerprint != before
