"""Linkage settings (config/linkage/*.yaml), validated once at the edge."""

from __future__ import annotations

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


#: m of the date-of-birth level "dates far apart" unless trained (weight about -10.9)
FAR_APART_DOB_M = 0.0005


class Training(_Document):
    seed: int = 42
    u_max_pairs: Annotated[int, Field(ge=10_000)] = 2_000_000
    #: the u sample is scored in this many chunks (Splink stops early once every level has
    #: 100 pairs; rare levels never do): fewer chunks, less overhead; more, less memory
    u_chunks: Annotated[int, Field(ge=1, le=100)] = 10
    deterministic_rules: list[str] = Field(min_length=1)
    deterministic_recall: Share = 0.8
    #: a fixed m for the date-of-birth level "dates far apart" (EM would learn it from
    #: same-name parents and children inside its blocks), or "train" to let EM estimate it
    dob_far_apart_m: Share | Literal["train"] = FAR_APART_DOB_M
    em_blocking_rules: list[str] = Field(min_length=1)
    #: pairs per EM pass at most (Splink's deterministic hash sample above that)
    em_max_pairs: Annotated[int, Field(ge=10_000)] = 2_000_000


class Guards(_Document):
    #: split pairs with one date of birth at one address whose given names clearly differ
    twins: bool = True


class Clustering(_Document):
    threshold_match_probability: Annotated[float, Field(gt=0, lt=1)] = 0.99
    oversize_cluster: Annotated[int, Field(ge=2)] = 12


class LinkageSettings(_Document):
    schema_: Literal["familylink-linkage"] = Field(alias="schema")
    version: str
    backend: Literal["duckdb", "spark"] = "duckdb"
    dice: DiceThresholds
    blocking_rules: list[str] = Field(min_length=1)
    training: Training
    guards: Guards = Guards()
    clustering: Clustering = Clustering()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model_dump(mode="json", by_alias=True))


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
