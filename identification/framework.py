"""Eligibility frameworks: versioned YAML documents of headlines and rules (config/frameworks/).

A framework says which needs (rules) count under which headline, and how many headlines
make a family eligible. It is data a non-programmer can review: every rule names its
indicators as ``source.indicator`` codes from the data contract, a window or "latest N
observations", and plain comparisons (``at_least``, ``below`` ...). ``load_framework``
validates the whole document and reports every problem at once with its location
(``file: rules.3.indicators.0``); unknown indicator codes name the valid ones.

Rule kinds:

* ``event`` - an indicator dated inside a window (``window: {months: 12}`` looks back from
  the reference date, ``window: {months_ahead: 12}`` forward);
* ``spell`` - a spell active at the reference date (started on or before it, not ended by
  it), or with ``active: at_reference_or_started_in_window`` also one that started inside
  the window;
* ``aggregate`` - per person, count / sum / mean / min / max of the indicator's rows over a
  window or over the ``latest`` N observations, met when ``any_of`` its conditions holds.

Every kind takes the filters ``member`` (any, adult, child), ``age_at_event``,
``age_at_reference`` (whole years, inclusive ``from``/``to``) and ``details`` (allowed
``detail`` codes); an indicator can carry a value condition
(``{code: housing.rent_arrears, value: {at_least: 500}}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from familylink.core.contract import DEFAULT_VOCABULARY
from familylink.core.errors import ConfigError, Problem
from familylink.core.fingerprint import fingerprint
from familylink.core.paths import config_dir
from identification.documents import load_yaml_document

FRAMEWORK_SCHEMA = "familylink-framework"
DEFAULT_FRAMEWORK = "phase2-2015"
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=40)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Comparison(_Document):
    """Exactly one of ``at_least`` (>=), ``above`` (>), ``at_most`` (<=), ``below`` (<)."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Comparison:
        if len(self.operands) != 1:
            raise ValueError("give exactly one of at_least, above, at_most, below")
        return self

    @property
    def operands(self) -> list[tuple[str, float]]:
        ops = {"at_least": ">=", "above": ">", "at_most": "<=", "below": "<"}
        return [(op, getattr(self, name)) for name, op in ops.items() if getattr(self, name) is not None]

    def sql(self, expression: str) -> tuple[str, list]:
        op, number = self.operands[0]
        return f"({expression}) {op} ?", [number]

    def describe(self) -> str:
        name = {">=": "at least", ">": "above", "<=": "at most", "<": "below"}
        op, number = self.operands[0]
        return f"{name[op]} {number:g}"


class AgeRange(_Document):
    """Whole years, both ends inclusive; either end may be left open."""

    from_age: int | None = Field(default=None, alias="from", ge=0, le=130)
    to_age: int | None = Field(default=None, alias="to", ge=0, le=130)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.from_age is None and self.to_age is None:
            raise ValueError("give from, to or both")
        if self.from_age is not None and self.to_age is not None and self.from_age > self.to_age:
            raise ValueError("from must not be above to")
        return self


class IndicatorRef(_Document):
    """``source.indicator``, optionally with a condition on the row's value."""

    code: str = Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")
    value: Comparison | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: object) -> object:
        return {"code": data} if isinstance(data, str) else data

    @property
    def source(self) -> str:
        return self.code.split(".", 1)[0]

    @property
    def indicator(self) -> str:
        return self.code.split(".", 1)[1]


class Window(_Document):
    """``months`` back from the reference date, or ``months_ahead`` after it."""

    months: int | None = Field(default=None, ge=1, le=120)
    months_ahead: int | None = Field(default=None, ge=1, le=120)

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.months is None) == (self.months_ahead is None):
            raise ValueError("give exactly one of months, months_ahead")
        return self


class Condition(Comparison):
    """One test on a person's rows in scope: ``{stat: sum, at_least: 10}`` (one comparison)."""

    stat: Literal["count", "sum", "mean", "min", "max"]
    age_at_event: AgeRange | None = None

    @property
    def comparison(self) -> Comparison:
        return self


class _Rule(_Document):
    id: Id
    headline: Id
    title: str = Field(min_length=3)
    indicators: list[IndicatorRef] = Field(min_length=1)
    member: Literal["any", "adult", "child"] = "any"
    age_at_event: AgeRange | None = None
    age_at_reference: AgeRange | None = None
    details: list[str] | None = None
    note: str = ""


class EventRule(_Rule):
    kind: Literal["event"]
    window: Window


class SpellRule(_Rule):
    kind: Literal["spell"]
    active: Literal["at_reference", "at_reference_or_started_in_window"] = "at_reference"
    window: Window | None = None

    @model_validator(mode="after")
    def _window(self) -> SpellRule:
        if (self.active == "at_reference") != (self.window is None):
            raise ValueError("a window goes with active: at_reference_or_started_in_window, and only with it")
        if self.window is not None and self.window.months is None:
            raise ValueError("a spell's window looks back: use months")
        return self


class AggregateRule(_Rule):
    kind: Literal["aggregate"]
    window: Window | None = None
    latest: int | None = Field(default=None, ge=1, le=24)
    any_of: list[Condition] = Field(min_length=1)

    @model_validator(mode="after")
    def _scope(self) -> AggregateRule:
        if (self.window is None) == (self.latest is None):
            raise ValueError("give exactly one of window and latest (the rows the statistics are taken over)")
        if self.window is not None and self.window.months is None:
            raise ValueError("an aggregate's window looks back: use months")
        return self


Rule = Annotated[EventRule | SpellRule | AggregateRule, Field(discriminator="kind")]
_KINDS = ("event", "spell", "aggregate")


class Headline(_Document):
    id: Id
    title: str = Field(min_length=3)
    description: str = ""


class PriorityBand(_Document):
    """Families with ``from``..``to`` headlines (``to`` open when absent) get ``label``."""

    from_count: int = Field(alias="from", ge=0)
    to_count: int | None = Field(default=None, alias="to", ge=0)
    label: str = Field(min_length=1)


class Framework(_Document):
    schema_: Literal["familylink-framework"] = Field(alias="schema")
    id: Id
    version: str = Field(min_length=1)
    title: str = Field(min_length=3)
    sources: str = Field(min_length=3, description="the documents the rules are drawn from")
    description: str = ""
    minimum_headlines: int = Field(ge=1)
    non_resident_headlines: int = Field(default=1, ge=0, description="headlines one non-resident adult can account for")
    priority: list[PriorityBand] = Field(default_factory=list)
    headlines: list[Headline] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)
    mapping_notes: str = ""

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.model_dump(mode="json", by_alias=True))

    @property
    def headline_ids(self) -> list[str]:
        return [h.id for h in self.headlines]

    def priority_of(self, headline_count: int) -> str:
        for band in self.priority:
            if headline_count >= band.from_count and (band.to_count is None or headline_count <= band.to_count):
                return band.label
        return ""


def _check(framework: Framework, path: Path, vocabulary: Mapping[str, Mapping[str, object]]) -> list[Problem]:
    """Cross-field checks pydantic cannot express, every one located."""
    problems: list[Problem] = []
    where = f"{path}: "
    headlines = framework.headline_ids
    for number, headline in enumerate(framework.headlines):
        if headline.id in headlines[:number]:
            problems.append(Problem(f"{where}headlines.{number}.id", f"headline {headline.id!r} is defined twice"))
    seen: set[str] = set()
    for number, rule in enumerate(framework.rules):
        at = f"{where}rules.{number}"
        if rule.id in seen:
            problems.append(Problem(f"{at}.id", f"rule id {rule.id!r} is used twice", "give every rule its own id"))
        seen.add(rule.id)
        if rule.headline not in headlines:
            problems.append(Problem(f"{at}.headline", f"unknown headline {rule.headline!r}",
                                    f"valid headlines: {', '.join(headlines)}"))
        for i, ref in enumerate(rule.indicators):
            codes = vocabulary.get(ref.source)
            if codes is None:
                problems.append(Problem(f"{at}.indicators.{i}", f"unknown source {ref.source!r}",
                                        f"valid sources: {', '.join(sorted(vocabulary))}"))
            elif ref.indicator not in codes:
                problems.append(Problem(f"{at}.indicators.{i}", f"unknown indicator {ref.code!r}",
                                        f"valid for {ref.source}: {', '.join(sorted(codes))}"))
            else:
                problems.extend(_kind_problems(rule, ref, codes[ref.indicator], f"{at}.indicators.{i}"))
    ruled = {rule.headline for rule in framework.rules}
    for number, headline in enumerate(framework.headlines):
        if headline.id not in ruled:
            problems.append(Problem(f"{where}headlines.{number}", f"headline {headline.id!r} has no rule",
                                    "add a rule for it or remove it"))
    if framework.minimum_headlines > len(framework.headlines):
        problems.append(Problem(f"{where}minimum_headlines",
                                f"{framework.minimum_headlines} is more than the {len(headlines)} headlines"))
    for number, band in enumerate(framework.priority):
        if band.to_count is not None and band.to_count < band.from_count:
            problems.append(Problem(f"{where}priority.{number}", "to is below from"))
        for other in framework.priority[:number]:
            top = other.to_count if other.to_count is not None else 10**6
            if band.from_count <= top and (band.to_count is None or band.to_count >= other.from_count):
                problems.append(Problem(f"{where}priority.{number}", f"overlaps the band {other.label!r}"))
    return problems


def _kind_problems(rule, ref: IndicatorRef, spec: object, at: str) -> list[Problem]:
    kind = getattr(spec, "kind", "event")
    value = getattr(spec, "value", "optional")
    problems = []
    if rule.kind == "spell" and kind != "spell":
        problems.append(Problem(at, f"{ref.code} is an event, not a spell", "use kind: event with a window"))
    if ref.value is not None and value == "none":
        problems.append(Problem(f"{at}.value", f"{ref.code} carries no value to compare"))
    if rule.kind == "aggregate" and value == "none":
        for condition in rule.any_of:
            if condition.stat != "count":
                problems.append(Problem(at, f"{ref.code} carries no value for a {condition.stat}",
                                        "use stat: count, or an indicator with a value"))
                break
    return problems


def vocabulary_with(extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, dict[str, object]]:
    """The contract's indicator vocabulary, plus codes a deployment's agreements add."""
    vocabulary = {source: {spec.code: spec for spec in specs} for source, specs in DEFAULT_VOCABULARY.items()}
    for source, codes in (extra or {}).items():
        for code in codes:
            vocabulary.setdefault(source, {}).setdefault(code, None)
    return vocabulary


def _without_kind_tag(item: Mapping) -> Mapping:
    """A rule's location carries pydantic's union tag (rules.3.aggregate.any_of.0): drop it."""
    loc = item["loc"]
    return {**item, "loc": tuple(p for i, p in enumerate(loc) if not (i == 2 and loc[0] == "rules" and p in _KINDS))}


def load_framework_file(path: str | Path, *, extra_indicators: Mapping[str, Iterable[str]] | None = None) -> Framework:
    """Load and validate one framework document; every problem is reported at once."""
    path = Path(path)
    framework = load_yaml_document(Framework, path, "framework", adjust=_without_kind_tag)
    problems = _check(framework, path, vocabulary_with(extra_indicators))
    if problems:
        raise ConfigError(f"the framework {path} has {len(problems)} problem(s)", problems)
    return framework


def frameworks_dir() -> Path:
    return config_dir() / "frameworks"


def available_frameworks(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or frameworks_dir()).glob("*.yaml"))


def load_framework(name_or_path: str | Path = DEFAULT_FRAMEWORK, *,
                   extra_indicators: Mapping[str, Iterable[str]] | None = None) -> Framework:
    """A shipped framework by id (``phase2-2015``) or a framework file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return load_framework_file(candidate, extra_indicators=extra_indicators)
    path = frameworks_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(available_frameworks()) or "none"
        raise ConfigError(f"no framework named {name_or_path!r}",
                          [Problem(str(frameworks_dir()), f"shipped frameworks: {known}", "or give a path to a .yaml file")])
    framework = load_framework_file(path, extra_indicators=extra_indicators)
    if framework.id != path.stem:
        raise ConfigError(f"the framework {path} has id {framework.id!r}",
                          [Problem(f"{path}: id", f"should be {path.stem!r}, like its file name")])
    return framework
