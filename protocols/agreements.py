"""Sharing agreements: the single source of truth for what each source may send.

A partnership document (``partnership.yaml``) holds what must be common to everyone (the
hub, the encoding settings, security measures); one document per source holds that
source's owner, purpose, lawful basis, the identity fields it shares and why, its
indicator vocabulary, date format and precision, and retention. Documents are validated at
load and every problem is reported at once with its file and location.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from familylink.core.contract import (
    DEFAULT_VOCABULARY,
    IDENTITY_COLUMNS,
    IndicatorSpec,
)
from familylink.core.documents import validation_problems, yaml_syntax_problem
from familylink.core.errors import ConfigError, Problem
from familylink.core.fingerprint import fingerprint
from familylink.core.paths import config_dir
from protocols.normalise import compile_date_format
from protocols.normalise.names import name_tables_fingerprint

PARTNERSHIP_FILE = "partnership.yaml"
SHAREABLE_FIELDS = tuple(c for c in IDENTITY_COLUMNS if c != "record_id")
NonEmpty = Annotated[str, Field(min_length=1)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Document):
    organisation: NonEmpty
    role: Literal["controller", "joint_controller", "processor"]
    contact: NonEmpty
    responsibilities: list[NonEmpty] = Field([], description="what this party does and answers for")


class LawfulBasis(_Document):
    article_6: NonEmpty = Field(description="UK GDPR Article 6 basis")
    article_9: str | None = Field(None, description="Art 9 condition for special-category data")
    article_10: str | None = Field(None, description="condition for criminal-offence data")
    legal_gateways: list[NonEmpty] = Field(min_length=1)


class Indicator(_Document):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    kind: Literal["event", "spell"] = "event"
    value: Literal["none", "optional", "required"] = "none"
    meaning: NonEmpty
    details: list[NonEmpty] | None = None


class Vocabulary(_Document):
    contract_defaults: bool = True
    add: list[Indicator] = []
    details: dict[str, list[NonEmpty]] = {}


class Retention(_Document):
    months: Annotated[int, Field(gt=0, le=120)]
    action: NonEmpty


class BloomSettings(_Document):
    bits: Annotated[int, Field(ge=64, le=65536)]
    hashes: Annotated[int, Field(ge=1, le=64)]

    @field_validator("bits")
    @classmethod
    def _power_of_two(cls, bits: int) -> int:
        if bits & (bits - 1):
            raise ValueError("must be a power of two (e.g. 512 or 1024)")
        return bits


class EncodingSettings(_Document):
    version: Annotated[int, Field(ge=1)]
    token_bytes: Annotated[int, Field(ge=8, le=32)] = 16
    bloom: dict[Literal["given_name", "family_name", "address"], BloomSettings]

    @field_validator("bloom")
    @classmethod
    def _all_filters(cls, bloom: dict) -> dict:
        missing = {"given_name", "family_name", "address"} - set(bloom)
        if missing:
            raise ValueError(f"missing Bloom filter settings for {', '.join(sorted(missing))}")
        given, family = bloom["given_name"], bloom["family_name"]
        if (given.bits, given.hashes) != (family.bits, family.hashes):
            raise ValueError(
                f"encoding.bloom.family_name ({family.bits} bits, {family.hashes} hashes) must equal "
                f"encoding.bloom.given_name ({given.bits} bits, {given.hashes} hashes): both name filters "
                "share one key so that a given name can be compared with a family name")
        return bloom


class Partnership(_Document):
    schema_: Literal["familylink-partnership"] = Field(alias="schema")
    name: NonEmpty
    version: NonEmpty
    purpose: NonEmpty
    hub: Party
    encoding: EncodingSettings
    security_measures: list[NonEmpty] = Field(min_length=1)
    re_identification: list[NonEmpty] = Field([], description="how a record_id is resolved, by whom")
    residual_risks: list[NonEmpty] = []

    @field_validator("hub")
    @classmethod
    def _hub_role(cls, hub: Party) -> Party:
        if hub.role == "controller":
            raise ValueError("the hub is a processor or a joint_controller, never a sole controller")
        return hub

    @cached_property
    def encoding_fingerprint(self) -> str:
        """The encoding settings and the name tables normalisation uses: tokens made under
        different ones cannot be compared, so the hub refuses to mix them."""
        return fingerprint({**self.encoding.model_dump(mode="json"), "name_tables": name_tables_fingerprint()})


class Agreement(_Document):
    schema_: Literal["familylink-agreement"] = Field(alias="schema")
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    version: NonEmpty
    owner: Party
    purpose: NonEmpty
    lawful_basis: LawfulBasis
    special_category: bool
    special_category_data: str | None = Field(None, description="which special-category data, if any")
    criminal_offence_data: bool
    criminal_offence_detail: str | None = Field(None, description="which criminal-offence data, if any")
    fields: dict[str, NonEmpty] = Field(description="identity field -> why it is needed")
    vocabulary: Vocabulary = Vocabulary()
    date_format: NonEmpty = Field("YYYY-MM-DD", description="the usual date format of the extract: a column "
                                  "whose values clearly are in another format is detected")
    date_formats: dict[Literal["date_of_birth", "event_date", "end_date"], NonEmpty] = Field(
        {}, description="a binding format per date column, e.g. {date_of_birth: DD/MM/YYYY}")
    date_precision: Literal["day", "month"] = "day"
    age_precision: Literal["years", "months"] = Field(
        "years", description="the age sent in clear: whole years at the extract date (age_years), or also whole "
        "months (age_months), which with the extract date gives the year and month of birth")
    age_months_reason: str | None = Field(None, description="why the hub needs this source's ages in months "
                                          "(required with age_precision: months)")
    retention: Retention

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(fields) - set(SHAREABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown identity field(s) {', '.join(unknown)}; "
                f"valid fields are {', '.join(SHAREABLE_FIELDS)}"
            )
        return fields

    @field_validator("owner")
    @classmethod
    def _owner_controls(cls, owner: Party) -> Party:
        if owner.role != "controller":
            raise ValueError("each provider is the controller of the data it shares: set role: controller")
        return owner

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, pattern: str) -> str:
        compile_date_format(pattern)
        return pattern

    @field_validator("date_formats")
    @classmethod
    def _date_formats(cls, patterns: dict[str, str]) -> dict[str, str]:
        for pattern in patterns.values():
            compile_date_format(pattern)
        return patterns

    @model_validator(mode="after")
    def _consistent(self) -> Agreement:
        if self.age_precision == "months" and not (self.age_months_reason or "").strip():
            raise ValueError("age_months_reason: age_precision is months, so say which rule needs ages in months "
                             "(the year and month of birth reach the hub)")
        if self.special_category and not self.lawful_basis.article_9:
            raise ValueError("lawful_basis.article_9: special_category is true but no Art 9 condition is given")
        if self.criminal_offence_data and not self.lawful_basis.article_10:
            raise ValueError(
                "lawful_basis.article_10: criminal_offence_data is true but no Art 10 condition is given"
            )
        defaults = {i.code for i in DEFAULT_VOCABULARY.get(self.source, ())}
        if not self.vocabulary.contract_defaults or not defaults:
            defaults = set()
        if not defaults and not self.vocabulary.add:
            raise ValueError(
                f"vocabulary.add: source {self.source!r} has no contract vocabulary: list its indicators here"
            )
        added = [i.code for i in self.vocabulary.add]
        clashes = sorted({c for c in added if c in defaults or added.count(c) > 1})
        if clashes:
            raise ValueError(f"vocabulary.add: repeats indicator code(s) {', '.join(clashes)}")
        unknown = sorted(set(self.vocabulary.details) - defaults - set(added))
        if unknown:
            raise ValueError(f"vocabulary.details: names unknown indicator(s) {', '.join(unknown)}")
        return self

    @cached_property
    def indicators(self) -> dict[str, IndicatorSpec]:
        """Every indicator code this source may send."""
        specs: dict[str, IndicatorSpec] = {}
        if self.vocabulary.contract_defaults:
            for spec in DEFAULT_VOCABULARY.get(self.source, ()):
                specs[spec.code] = spec
        for item in self.vocabulary.add:
            specs[item.code] = IndicatorSpec(item.code, item.kind, item.value, item.meaning)
        return specs

    @cached_property
    def allowed_details(self) -> dict[str, frozenset[str]]:
        """Indicator -> the detail codes allowed (indicators absent here take any detail)."""
        allowed = {code: frozenset(v) for code, v in self.vocabulary.details.items()}
        for item in self.vocabulary.add:
            if item.details is not None:
                allowed[item.code] = frozenset(item.details)
        return allowed

    @cached_property
    def fingerprint(self) -> str:
        document = self.model_dump(mode="json", by_alias=True)
        if not document["date_formats"]:  # agreements from before per-column formats keep their fingerprint
            del document["date_formats"]
        return fingerprint(document)

    def date_format_of(self, column: str) -> str:
        """The format the agreement gives a date column (its own, or the usual one)."""
        return self.date_formats.get(column, self.date_format)

    def shares(self, field: str) -> bool:
        return field in self.fields


class AgreementSet:
    """The partnership document and every source agreement, validated together."""

    def __init__(self, directory: Path, partnership: Partnership, agreements: dict[str, Agreement]):
        self.directory = directory
        self.partnership = partnership
        self.agreements = agreements

    def __getitem__(self, source: str) -> Agreement:
        try:
            return self.agreements[source]
        except KeyError:
            raise ConfigError(
                f"no sharing agreement for source {source!r} in {self.directory}",
                [Problem(str(self.directory), f"known sources: {', '.join(sorted(self.agreements))}",
                         "check --source or add an agreement file")],
            ) from None

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted(self.agreements))

    def fingerprint_of(self, source: str) -> str:
        """Fingerprint of one source's agreement together with the partnership's encoding."""
        return fingerprint([self[source].fingerprint, self.partnership.encoding_fingerprint])

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the whole set (partnership and every agreement), formatting aside."""
        return fingerprint({
            "partnership": self.partnership.model_dump(mode="json", by_alias=True),
            "agreements": {source: self.agreements[source].fingerprint for source in self.sources},
        })

    def path_of(self, source: str | None = None) -> Path:
        """The file a source's agreement (or, with no source, the partnership) was read from."""
        return self.directory / (f"{source}.yaml" if source else PARTNERSHIP_FILE)


def _read_yaml(path: Path, problems: list[Problem]) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:  # syntax (with line and column), or characters YAML does not allow
        problems.append(yaml_syntax_problem(path, error))
    except RecursionError:
        problems.append(Problem(str(path), "not valid YAML (nested too deeply)", "fix the YAML syntax"))
    except UnicodeDecodeError:
        problems.append(Problem(str(path), "not UTF-8 text", "save the file as UTF-8"))
    except OSError as error:
        problems.append(Problem(str(path), f"cannot read the file ({error.strerror or type(error).__name__})"))
    return None


def _validate(model: type[_Document], path: Path, data: object, problems: list[Problem]):
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "the document must be a YAML mapping"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems.extend(validation_problems(path, [_located(item) for item in error.errors()]))
    return None


def _located(item: dict) -> dict:
    """Move a ``key.path: message`` raised by a document-level check into the error's location."""
    match = _KEYED_MESSAGE.match(str(item["msg"]))
    if item["loc"] or not match:
        return item
    return {**item, "loc": tuple(match[1].split(".")), "msg": match[2]}


_KEYED_MESSAGE = re.compile(r"^(?:Value error, )?([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.S)


def collect_agreements(directory: str | Path) -> tuple[Partnership | None, dict[str, Agreement], list[Problem]]:
    """Every document in ``directory`` that validates, and every problem of those that do not.

    ``load_agreements`` refuses the folder when there is any problem; a reviewer's lint
    (``protocols.protocol_document.check_protocol``) reads what it can and reports the rest.
    """
    directory = Path(directory)
    problems: list[Problem] = []
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no agreements folder there")
    partnership_path = directory / PARTNERSHIP_FILE
    partnership = None
    if partnership_path.is_file():
        partnership = _validate(Partnership, partnership_path, _read_yaml(partnership_path, problems), problems)
    else:
        problems.append(Problem(str(partnership_path), "missing", "every agreements folder needs a partnership.yaml"))
    agreements: dict[str, Agreement] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == PARTNERSHIP_FILE:
            continue
        agreement = _validate(Agreement, path, _read_yaml(path, problems), problems)
        if agreement is None:
            continue
        if agreement.source in agreements:
            problems.append(Problem(str(path), f"a second agreement for source {agreement.source!r}"))
        elif path.stem != agreement.source:
            problems.append(Problem(f"{path}: source", f"names {agreement.source!r} but the file is {path.name}",
                                    f"rename the file to {agreement.source}.yaml"))
        else:
            agreements[agreement.source] = agreement
    if not agreements and not problems:
        problems.append(Problem(str(directory), "no source agreements found"))
    return partnership, agreements, problems


def load_agreements(directory: str | Path) -> AgreementSet:
    """Load and validate ``partnership.yaml`` and every other ``*.yaml`` in ``directory``."""
    directory = Path(directory)
    partnership, agreements, problems = collect_agreements(directory)
    if problems:
        raise ConfigError(f"the sharing agreements in {directory} have {len(problems)} problem(s)", problems)
    return AgreementSet(directory, partnership, agreements)


def default_agreements_dir() -> Path:
    """The agreements folder in use: ``config/agreements`` (see ``familylink.core.paths``)."""
    return config_dir() / "agreements"
