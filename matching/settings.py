"""Linkage settings (config/linkage/*.yaml), validated once at the edge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from familylink.core.errors import ConfigError, Problem
from familylink.core.fingerprint import fingerprint
from familylink.core.paths import config_dir

Share = Annotated[float, Field(gt=0, le=1)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiceThresholds(_Document):
    given_name: list[Share] = Field(min_length=1)
    family_name: list[Share] = Field(min_length=1)
    address: list[Share] = Field(min_length=1)

    @field_validator("given_name", "family_name", "address")
    @classmethod
    def _descending(cls, values: list[float]) -> list[float]:
        if values != sorted(values, reverse=True):
            raise ValueError("thresholds must be listed from highest to lowest")
        return values


#: m of the date-of-birth level "dates far apart" when a settings file fixes it (weight about -10.9)
FAR_APART_DOB_M = 0.0005


class Training(_Document):
    seed: int = 42
    u_max_pairs: Annotated[int, Field(ge=10_000)] = 2_000_000
    #: the u sample is scored in this many chunks (Splink stops early once every level has
    #: 100 pairs; rare levels never do): fewer chunks, less overhead; more, less memory
    u_chunks: Annotated[int, Field(ge=1, le=100)] = 10
    deterministic_rules: list[str] = Field(min_length=1)
    #: the share of true pairs the deterministic rules find: only the starting point of the
    #: prior, which every training run re-estimates from the trained model (``prior: auto``)
    deterministic_recall: Share = 0.8
    #: ``auto``: the probability that two random records match is re-estimated from the
    #: trained model (the fixed point of the expected matches among the scored pairs);
    #: a number fixes it
    prior: Annotated[float, Field(gt=0, lt=1)] | Literal["auto"] = "auto"
    #: the m of the date-of-birth level "dates far apart": "train" (EM learns it; same-name
    #: parents and children at one address have a level of their own), or a fixed value
    dob_far_apart_m: Share | Literal["train"] = "train"
    em_blocking_rules: list[str] = Field(min_length=1)
    #: an EM session left with one field or none to tell matches from non-matches (names and
    #: dates of birth only, blocked on both names) cannot learn that field's m: a session
    #: blocked on this looser rule learns it again, and the failed session's estimates of the
    #: fields it learns are dropped; ``off``: keep them
    em_fallback_blocking_rule: str = "l.tok_family = r.tok_family"
    #: pairs per EM pass at most (Splink's deterministic hash sample above that)
    em_max_pairs: Annotated[int, Field(ge=10_000)] = 2_000_000


class Guards(_Document):
    #: pairs with one date of birth at one address whose given names clearly differ (twins,
    #: or one person recorded under another name), and pairs with one name at one address
    #: whose dates of birth are far apart (parent and child, or a wrong date):
    #: ``evidence`` (default): a comparison level each, whose weight the run calibrates from
    #: the data (how many such pairs there are against how many true matches would show the
    #: pattern), so data with twins learn that it means twins and data without learn that it
    #: means a replaced name; ``veto``: such pairs are never linked; ``off``: no special level
    twins: Literal["evidence", "veto", "off"] = "evidence"

    @field_validator("twins", mode="before")
    @classmethod
    def _boolean_is_veto(cls, value):
        # settings files before 2026.2 said true (veto) or false (off)
        return {True: "veto", False: "off"}.get(value, value) if isinstance(value, bool) else value


class Clustering(_Document):
    #: ``auto``: the threshold that maximises the expected F1 of the links, from the model's
    #: own match probabilities (or, with ``precision_target``, the lowest threshold whose
    #: expected precision reaches it); a number fixes it
    threshold_match_probability: Annotated[float, Field(gt=0, lt=1)] | Literal["auto"] = "auto"
    #: with ``threshold_match_probability: auto``: keep links down to the lowest threshold
    #: whose expected precision is at least this (a council that prefers missed links to
    #: false ones sets, say, 0.995); unset: maximise expected F1
    precision_target: Annotated[float, Field(gt=0, lt=1)] | None = None
    #: correct, after a first clustering, the over-confidence of pairs sharing given and family
    #: name where given names depend on family names (``matching.dependence``): the number is
    #: the pseudo-persons that shrink a small family to the marginal; ``off``: no correction
    name_dependence: Annotated[float, Field(gt=0)] | Literal["off"] = 50.0
    #: where two sources pair nearly everyone, raise a pair of records still without a partner
    #: in each other's source by the Bayes factor of that (``matching.partners``), when the two
    #: sides' factors together reach this; ``off``: never
    unpartnered_min_factor: Annotated[float, Field(gt=1)] | Literal["off"] = 16.0
    #: after a first clustering, lower the pairs of a source pair that links less often than
    #: the partnership as a whole (two records of a source holding each person once) by the
    #: ratio of the rates (``matching.source_prior``): the number is the links of the overall
    #: rate that shrink a source pair with few pairs or links; ``off``: one prior for all pairs
    source_pair_prior: Annotated[float, Field(gt=0)] | Literal["off"] = 10.0
    oversize_cluster: Annotated[int, Field(ge=2)] = 12


class LinkageSettings(_Document):
    schema_: Literal["familylink-linkage"] = Field(alias="schema")
    version: str
    backend: Literal["duckdb", "spark"] = "duckdb"
    dice: DiceThresholds
    blocking_rules: list[str] = Field(min_length=1)
    #: broader rules, used only where the data are small enough to afford them: in order, a
    #: rule is added while the pairs the added rules make stay within the budget, the smaller
    #: of ``comparison_budget_per_record`` times the records and ``comparison_budget_max``
    #: (counted exactly before linking, as an upper bound: pairs a rule shares with another
    #: are counted twice). Each must be a conjunction of equalities (``l.a = r.a AND l.b = r.b``).
    blocking_rules_within_budget: list[str] = Field(default_factory=list)
    comparison_budget_per_record: Annotated[float, Field(gt=0)] = 25.0
    comparison_budget_max: Annotated[int, Field(ge=0)] = 2_000_000
    training: Training
    guards: Guards = Guards()
    clustering: Clustering = Clustering()

    @field_validator("blocking_rules_within_budget")
    @classmethod
    def _equalities(cls, rules: list[str]) -> list[str]:
        for rule in rules:
            if equality_columns(rule) is None:
                raise ValueError(f"{rule!r} is not a conjunction of equalities such as l.a = r.a AND l.b = r.b")
        return rules

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model_dump(mode="json", by_alias=True))


_EQUALITY = re.compile(r"^\s*l\.(\w+)\s*=\s*r\.(\w+)\s*$")


def equality_columns(rule: str) -> list[str] | None:
    """The columns of a rule made only of ``l.x = r.x`` terms joined by AND, else None."""
    columns = []
    for term in re.split(r"\s+AND\s+", rule.strip(), flags=re.IGNORECASE):
        match = _EQUALITY.match(term)
        if not match or match.group(1) != match.group(2):
            return None
        columns.append(match.group(1))
    return columns


def default_linkage_file() -> Path:
    return config_dir() / "linkage" / "default.yaml"


def load_linkage_settings(path: str | Path | None = None) -> LinkageSettings:
    """Read and validate a linkage settings document, reporting every problem at once."""
    path = Path(path) if path else default_linkage_file()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the linkage settings ({error.__class__.__name__})") from None
    try:
        return LinkageSettings.model_validate(document)
    except ValidationError as error:
        problems = [Problem(f"{path}: {'.'.join(str(p) for p in item['loc'])}", item["msg"])
                    for item in error.errors()]
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the linkage settings", problems) from None
