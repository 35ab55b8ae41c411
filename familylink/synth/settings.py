"""Settings and results of the synthetic county generator: corruption rates and the summary."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from familylink.core.errors import FamilylinkError, Problem


class SynthError(FamilylinkError):
    """An argument of the synthetic county generator is invalid."""


@dataclass(frozen=True)
class CorruptionSettings:
    """How often each kind of recording error happens. Every field is a probability in [0, 1].

    Rates apply per *record* (one person in one source) unless the field says otherwise, so a
    record's identity is consistent across its rows. The defaults aim at what councils see in
    real extracts: most records clean, a few percent with a typo or a nickname, police records
    often in upper case and without a date of birth, movers still at the old address in some
    systems. Set a field to 0 to switch that error off; ``CorruptionSettings.none()`` gives a
    clean county.
    """

    # --- names ---
    #: One keyboard error (insert, delete, substitute or transpose a letter) in a name.
    name_typo: float = 0.025
    #: Given name recorded as a nickname or another spelling (Bill/William, Mohammed/Muhammad),
    #: when the bundled variant table knows one.
    nickname: float = 0.05
    #: Family name recorded in another spelling (Hussain/Hussein, Chowdhury/Choudhury).
    family_spelling: float = 0.03
    #: Given and family name swapped.
    name_swap: float = 0.004
    #: Of people with a double-barrelled surname: only one part recorded, or a space for the hyphen.
    partial_double_barrel: float = 0.35
    #: Of people who took a partner's surname: the source still holds the previous surname.
    old_surname: float = 0.3
    #: Middle names not recorded (sources that have a middle-name column).
    middle_name_missing: float = 0.3
    #: First middle name appended to the given name ("John Paul").
    middle_in_given: float = 0.02
    #: Of names with diacritics (Zoë, Łukasz, Ștefan): recorded without them.
    accent_stripped: float = 0.6
    #: Of names with an apostrophe (O'Brien): recorded as "OBrien" or "O Brien".
    apostrophe_variation: float = 0.4
    #: Names in upper case (schools, DWP, housing, health, social care).
    upper_case: float = 0.1
    #: Names in upper case in police and probation systems.
    upper_case_justice: float = 0.7
    #: Names in lower case.
    lower_case: float = 0.01
    #: Names re-cased word by word (McDonald -> Mcdonald, SMITH-JONES -> Smith-Jones).
    title_case: float = 0.03
    # --- date of birth and sex ---
    #: Date of birth blank (all sources but police).
    dob_missing: float = 0.008
    #: Date of birth blank in police records (nominals often recorded without one).
    dob_missing_police: float = 0.08
    #: Day and month swapped (when the day is 12 or less and differs from the month).
    dob_day_month_swap: float = 0.006
    #: One digit of the day or the year wrong.
    dob_digit_error: float = 0.008
    #: Sex recorded as "U" or blank.
    sex_unknown: float = 0.01
    # --- addresses ---
    #: Of records of people who moved: the source kept the old address on every row.
    stale_address: float = 0.3
    #: Address in a non-canonical layout ("2/14 Mill Ln", "14 Mill Lane Flat 2", no commas).
    address_layout: float = 0.35
    #: Street type abbreviated (Rd, St, Ave, Ln...).
    street_abbreviation: float = 0.3
    #: Town left out of the address.
    town_missing: float = 0.2
    #: Address blank.
    address_missing: float = 0.01
    #: Postcode without its space, with two spaces or in lower case.
    postcode_format: float = 0.12
    #: Postcode blank.
    postcode_missing: float = 0.02
    #: Postcode malformed (a field-level invalid value: truncated, letter for digit).
    postcode_invalid: float = 0.002
    # --- national identifiers ---
    #: National identifier (NHS, NI, UPN) or UPRN blank where the source normally holds it.
    identifier_missing: float = 0.03
    #: NHS number with a wrong check digit (a field-level invalid value).
    nhs_invalid: float = 0.002
    #: NI number written with spaces ("AB 12 34 56 C").
    ni_spaced: float = 0.05
    # --- records ---
    #: Person recorded twice under two record_ids in one source (rows split between them).
    duplicate_record: float = 0.01

    def __post_init__(self) -> None:
        problems = [
            Problem(f"corruption.{f.name}", f"rate {getattr(self, f.name)!r} is not in [0, 1]")
            for f in fields(self)
            if not isinstance(getattr(self, f.name), int | float)
            or not 0.0 <= float(getattr(self, f.name)) <= 1.0
        ]
        if problems:
            raise SynthError("Invalid corruption settings.", problems)

    @classmethod
    def none(cls) -> CorruptionSettings:
        """Settings with every error switched off: each record is a faithful copy."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate_county`` wrote."""

    people: int
    households: int
    families: int
    eligible_families: int
    #: distinct record_ids per source
    records: dict[str, int]
    #: rows per source (event rows plus identity-only rows)
    rows: dict[str, int]
    #: rows with an indicator per source
    event_rows: dict[str, int]
    #: number of families by headline count (0..6)
    headline_counts: dict[int, int]
    out_dir: Path
    seed: int
    reference_date: dt.date
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """An independent random stream for one named stage, stable whatever other stages exist."""
    key = zlib.crc32(stage.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(key,)))
