"""The shipped eligibility frameworks (config/frameworks/) and how a broken one is reported."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from identification.framework import ConfigError, frameworks_dir, load_framework

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"

SHIPPED = {  # id -> (headlines, minimum_headlines)
    "phase1-2012": (3, 2),
    "phase2-2015": (6, 2),
    "supporting-families-2022": (10, 3),
}

PHASE2_RULES = {  # FRAMEWORKS.md, the Phase 2 table
    "1.1": "education", "1.1b": "education", "1.2": "education", "1.3": "education",
    "1.4": "education", "1.5": "education",
    "2.1": "crime", "2.2": "crime", "2.3": "crime", "2.4": "crime", "2.5": "crime",
    "3.1": "work", "3.2": "work", "3.3": "work",
    "4.1": "health", "4.2": "health", "4.3": "health", "4.4": "health",
    "5.1": "domestic_abuse", "5.2": "domestic_abuse", "5.3": "domestic_abuse",
    **{f"6.{n}": "children_need_help" for n in range(1, 8)},
}


@pytest.fixture(autouse=True)
def _shipped_config(monkeypatch):
    """Framework ids resolve to the repository's config/frameworks/, wherever pytest runs."""
    monkeypatch.setenv("FAMILYLINK_CONFIG", str(REPO_CONFIG))


def _document(name: str) -> dict:
    return yaml.safe_load((frameworks_dir() / f"{name}.yaml").read_text(encoding="utf-8"))


def _write(path: Path, document: dict) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _rule(document: dict, rule_id: str) -> tuple[int, dict]:
    return next((i, r) for i, r in enumerate(document["rules"]) if r["id"] == rule_id)


def _problems(error: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    """``location -> message (fix)``, the location without the file name.

    pydantic names a rule's kind in the location of a mistake inside it
    (``rules.0.aggregate.any_of.0``); it is dropped here (``rules.0.any_of.0``).
    """
    found: dict[str, str] = {}
    for problem in error.value.problems:
        where = problem.where.split(": ", 1)[1] if ": " in problem.where else problem.where
        where = re.sub(r"^(rules\.\d+)\.(event|spell|aggregate)\b", r"\1", where)
        found[where] = " ".join([found.get(where, ""), problem.what, problem.fix]).strip()
    return found


# --- the shipped frameworks -----------------------------------------------------------------


def test_the_shipped_frameworks_are_the_three_documented_ones():
    assert sorted(p.stem for p in frameworks_dir().glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_shipped_framework_loads_with_its_headlines_and_minimum(name):
    framework = load_framework(name)
    headlines, minimum = SHIPPED[name]
    assert framework.id == name
    assert len(framework.headlines) == headlines
    assert framework.minimum_headlines == minimum
    assert {rule.headline for rule in framework.rules} == set(framework.headline_ids)
    assert len({rule.id for rule in framework.rules}) == len(framework.rules)
    assert framework.sources.strip() and framework.mapping_notes.strip()
    assert framework.priority_of(minimum), "an eligible family gets a priority grade"


def test_phase2_has_every_rule_of_the_frameworks_table_under_its_headline():
    framework = load_framework("phase2-2015")
    rules = {rule.id: rule.headline for rule in framework.rules}
    assert {rule_id: rules.get(rule_id) for rule_id in PHASE2_RULES} == PHASE2_RULES
    assert framework.priority_of(2) == framework.priority_of(4) == "at risk of becoming complex"
    assert framework.priority_of(5) == framework.priority_of(6) == "complex"


def test_phase1_has_the_three_headlines_and_grades_two_or_three():
    framework = load_framework("phase1-2012")
    assert framework.headline_ids == ["crime", "education", "work"]
    assert framework.priority_of(2) == "two headlines"
    assert framework.priority_of(3) == "all three headlines"
    codes = {ref.code for rule in framework.rules for ref in rule.indicators}
    assert codes == {
        "police.proven_offence", "police.asb_intervention", "housing.asb_housing_intervention",
        "schools.permanent_exclusion", "schools.fixed_term_exclusion", "schools.alternative_provision",
        "schools.not_on_roll", "schools.unauthorised_absence_term", "dwp.out_of_work_benefit",
    }
    exclusions = next(r for r in framework.rules if "fixed_term_exclusion" in r.indicators[0].code)
    assert exclusions.window.months == 12
    assert [(c.stat, c.comparison.describe()) for c in exclusions.any_of] == [("count", "at least 3")]


def test_supporting_families_maps_the_ten_outcomes_and_uses_each_indicator_once():
    framework = load_framework("supporting-families-2022")
    assert framework.headline_ids == [
        "education", "early_years", "health", "substance_use", "family_relationships",
        "safe_from_abuse", "crime", "domestic_abuse", "housing", "financial_stability",
    ]
    assert all(re.fullmatch(r"SF\d+\.\d+", rule.id) for rule in framework.rules)
    headline_of: dict[str, set[str]] = {}
    for rule in framework.rules:
        for ref in rule.indicators:
            headline_of.setdefault(ref.code, set()).add(rule.headline)
    assert {code: h for code, h in headline_of.items() if len(h) > 1} == {}
    assert headline_of["police.domestic_callout"] == {"family_relationships"}
    assert headline_of["schools.neet"] == {"education"}
    assert headline_of["housing.rent_arrears"] == {"financial_stability"}
    assert headline_of["housing.eviction_notice"] == {"housing"}
    for gap in ("parental conflict", "young carers", "rent arrears", "worklessness", "school readiness",
                "physical health", "early_help_assessment", "looked_after"):
        assert gap in framework.mapping_notes.lower(), gap
    assert framework.priority_of(2) == ""
    assert framework.priority_of(3) == "at risk of becoming complex"


# --- mistakes are reported, all at once, with their location ---------------------------------


def test_cross_field_mistakes_are_all_reported_with_their_location(tmp_path):
    document = _document("phase2-2015")
    document["id"] = "broken"
    at = {}  # rule id -> its position, which the problems name
    for rule_id in ("1.3", "2.2", "2.3", "2.4", "3.2", "4.2"):
        at[rule_id], _ = _rule(document, rule_id)
    rules = document["rules"]
    rules[at["1.3"]]["indicators"] = ["schools.permanent_exclusoin"]  # unknown indicator code
    rules[at["2.2"]]["indicators"] = ["polis.asb_intervention", "housing.asb_housing_intervention"]
    rules[at["2.3"]]["headline"] = "crimes"  # unknown headline
    rules[at["2.4"]]["id"] = "2.3"  # a duplicated rule id
    neet = rules[at["3.2"]]  # a spell rule on an event indicator
    neet["kind"] = "spell"
    del neet["window"]
    rules[at["4.2"]]["indicators"] = [{"code": "health.substance_misuse", "value": {"at_least": 1}}]
    document["rules"] = [r for r in rules if r["headline"] != "children_need_help"]  # no rule left
    path = _write(tmp_path / "broken.yaml", document)

    with pytest.raises(ConfigError) as error:
        load_framework(path)

    problems = _problems(error)
    assert all(p.where.startswith(f"{path}: ") for p in error.value.problems)
    unknown = problems[f"rules.{at['1.3']}.indicators.0"]
    assert "unknown indicator 'schools.permanent_exclusoin'" in unknown
    assert "valid for schools: alternative_provision, attendance_term, fixed_term_exclusion" in unknown
    source = problems[f"rules.{at['2.2']}.indicators.0"]
    assert "unknown source 'polis'" in source
    assert "valid sources: dwp, health, housing, police, probation, schools, social_care" in source
    assert f"rules.{at['2.2']}.indicators.1" not in problems
    headline = problems[f"rules.{at['2.3']}.headline"]
    assert "unknown headline 'crimes'" in headline
    assert "valid headlines: education, crime, work, health, domestic_abuse, children_need_help" in headline
    assert "rule id '2.3' is used twice" in problems[f"rules.{at['2.4']}.id"]
    assert "schools.neet is an event, not a spell" in problems[f"rules.{at['3.2']}.indicators.0"]
    assert "health.substance_misuse carries no value" in problems[f"rules.{at['4.2']}.indicators.0.value"]
    assert "headline 'children_need_help' has no rule" in problems["headlines.5"]
    assert len(error.value.problems) == 7, "one problem per mistake, no more"
    assert "7 problem(s)" in error.value.summary


def test_document_shape_mistakes_are_all_reported_with_their_location(tmp_path):
    document = _document("phase2-2015")
    document["id"] = "broken"
    document["minimum_headline"] = 2  # unknown key (a typo)
    rules = document["rules"]
    rules[0]["any_of"] = [{"stat": "mean", "below": 90, "at_least": 50}]  # two comparisons
    rules[2]["windw"] = {"months": 12}  # unknown key in a rule
    rules[3]["window"] = {}  # neither months nor months_ahead
    rules[4]["kind"] = "sometimes"  # unknown rule kind
    path = _write(tmp_path / "broken.yaml", document)

    with pytest.raises(ConfigError) as error:
        load_framework(path)

    problems = _problems(error)
    assert "unknown key" in problems["minimum_headline"]
    assert "give exactly one of at_least, above, at_most, below" in problems["rules.0.any_of.0"]
    assert "unknown key" in problems["rules.2.windw"]
    assert "give exactly one of months, months_ahead" in problems["rules.3.window"]
    assert "'sometimes'" in problems["rules.4"] and "'event', 'spell', 'aggregate'" in problems["rules.4"]
    assert len(error.value.problems) == 5


def test_a_yaml_syntax_error_reports_line_and_column(tmp_path):
    text = (frameworks_dir() / "phase1-2012.yaml").read_text(encoding="utf-8")
    path = tmp_path / "phase1-copy.yaml"
    path.write_text(text.replace("minimum_headlines: 2", "minimum_headlines: [2", 1), encoding="utf-8")
    line = text.splitlines().index("minimum_headlines: 2") + 1

    with pytest.raises(ConfigError) as error:
        load_framework(path)

    (problem,) = error.value.problems
    assert re.search(r"line \d+, column \d+$", problem.where)
    reported = int(re.search(r"line (\d+)", problem.where).group(1))
    assert line <= reported <= line + 2
    assert "not valid YAML" in problem.what


def test_an_unknown_framework_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError) as error:
        load_framework("phase3-2030")
    assert "no framework named 'phase3-2030'" in error.value.summary
    (problem,) = error.value.problems
    assert "phase1-2012, phase2-2015, supporting-families-2022" in problem.what


def test_a_framework_whose_id_differs_from_its_file_name_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(frameworks_dir(), config / "frameworks")
    document = _document("phase1-2012")
    document["id"] = "phase1-2013"
    _write(config / "frameworks" / "phase1-2012.yaml", document)
    monkeypatch.setenv("FAMILYLINK_CONFIG", str(config))

    with pytest.raises(ConfigError) as error:
        load_framework("phase1-2012")

    (problem,) = error.value.problems
    assert problem.where.endswith("phase1-2012.yaml: id")
    assert "'phase1-2012'" in problem.what
    assert load_framework("phase2-2015").id == "phase2-2015"


def test_a_copy_with_a_changed_threshold_loads_under_its_own_id(tmp_path):
    document = _document("phase2-2015")
    document["id"] = "phase2-local"
    index, rule = _rule(document, "1.1")
    rule["any_of"] = [{"stat": "mean", "below": 85}]
    framework = load_framework(_write(tmp_path / "phase2-local.yaml", document))
    assert framework.rules[index].any_of[0].comparison.describe() == "below 85"
    assert framework.fingerprint != load_framework("phase2-2015").fingerprint
