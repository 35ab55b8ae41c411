"""Identification settings (config/identification.yaml) and localities (config/localities.yaml).

Both are documents validated once at the edge, with every problem reported at once.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from familylink.core.fingerprint import fingerprint
from familylink.core.paths import config_dir
from identification.documents import load_yaml_document

OTHER_LOCALITY = "other"


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.model_dump(mode="json", by_alias=True))


class FamilyDefinition(_Document):
    """Who makes a family: a household with a dependent child or an expectant parent, plus
    adults with parenting responsibility who live elsewhere."""

    child_max_age: int = Field(15, ge=0, le=18, description="a child up to this age is always dependent")
    presumed_in_education_max_age: int = Field(
        17, ge=0, le=18, description="up to this age a young person is presumed in education or training (England's "
        "participation age, Education and Skills Act 2008) or else NEET: dependent either way")
    young_person_max_age: int = Field(18, ge=0, le=25, description="older children are dependent up to this age ...")
    education_sources: list[str] = Field(["schools"], description="... when a record of these sources is recent")
    unemployed_indicators: list[str] = Field(["schools.neet"],
                                             description="... or one of these is recent or active")
    recent_months: int = Field(12, ge=1, le=36)
    adult_age: int = Field(18, ge=16, le=21, description="role is adult from this age (unless a dependent child)")
    expectant_indicators: list[str] = Field(["health.perinatal_mental_health"])
    expectant_months: int = Field(9, ge=1, le=12)
    non_resident_link_sources: list[str] = Field(["social_care", "probation", "dwp"],
                                                 description="a household ref of these sources shared with a "
                                                 "family member links an adult living elsewhere")
    max_ref_persons: int = Field(12, ge=2, description="a ref shared by more persons than this links nobody")


class Review(_Document):
    """When a family is marked for review rather than silently included or dropped."""

    min_link_confidence: float = Field(0.999, gt=0, le=1,
                                       description="a member linked more weakly than this (weakest internal link)")
    max_members: int = Field(12, ge=2, description="more members than this (a possible over-merge)")
    unknown_age: bool = Field(True, description="a member whose age no source gives")


class Publication(_Document):
    suppress_below: int = Field(5, ge=0, description="aggregate counts under this are shown as '<N'")


class IdentificationSettings(_Document):
    schema_: str = Field("familylink-identification", alias="schema", pattern="^familylink-identification$")
    version: str = "2026.1"
    family: FamilyDefinition = FamilyDefinition()
    review: Review = Review()
    publication: Publication = Publication()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Locality(_Document):
    name: str = Field(min_length=1, max_length=31)
    postcode_districts: list[str] = Field(min_length=1)
    note: str = ""


class Localities(_Document):
    schema_: str = Field(alias="schema", pattern="^familylink-localities$")
    version: str
    area: str
    localities: list[Locality] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _each_district_once(self) -> Localities:
        seen: dict[str, str] = {}
        clashes = []
        for locality in self.localities:
            if locality.name == OTHER_LOCALITY:
                clashes.append(f"{OTHER_LOCALITY!r} is reserved for districts no locality lists")
            for district in locality.postcode_districts:
                key = district.strip().upper()
                if key in seen:
                    clashes.append(f"{key} is in both {seen[key]!r} and {locality.name!r}")
                seen[key] = locality.name
        if clashes:
            raise ValueError("; ".join(clashes))
        return self

    @property
    def names(self) -> list[str]:
        """Locality names in order, then ``other``."""
        return [locality.name for locality in self.localities] + [OTHER_LOCALITY]

    def district_rows(self) -> list[tuple[str, str]]:
        return [(d.strip().upper(), loc.name) for loc in self.localities for d in loc.postcode_districts]


def load_identification_settings(path: str | Path | None = None) -> IdentificationSettings:
    """``config/identification.yaml`` (defaults when the file is absent and no path is given)."""
    if path is None:
        path = config_dir() / "identification.yaml"
        if not path.is_file():
            return IdentificationSettings()
    return load_yaml_document(IdentificationSettings, path, "identification settings")


def load_localities(path: str | Path | None = None) -> Localities:
    return load_yaml_document(Localities, path or config_dir() / "localities.yaml", "localities file")
