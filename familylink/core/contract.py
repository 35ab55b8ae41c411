"""The data contract of ../shared/spec/EXTRACTS.md as constants, declared once.

Raw extract columns, the default indicator vocabulary of each source, and the columns of
a sealed extract. Everything that reads or writes these files takes the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Version 2: bf_given and bf_family under one shared Bloom key (a given name can be compared
#: with a family name), tok_family_parts with the solid form of a multi-part family name, and
#: tok_given_forms with the forms of the part after a prefix, and tok_locality_parts (the words
#: of the address's town or district). Version 3 (issue 13): no token of a part of the date of
#: birth (year, month, day: the clear age decodes the first two, frequency the third), and
#: ``age_years`` in clear for the linkage's same-cohort blocking. Earlier extracts are refused.
SCHEMA_VERSION = 4

CORE_SOURCES = ("schools", "police", "dwp", "housing", "health")
OPTIONAL_SOURCES = ("social_care", "probation")
SOURCES = CORE_SOURCES + OPTIONAL_SOURCES

# --- raw extracts ---------------------------------------------------------------------

#: Identity columns: name -> required in the header (a required column may still be blank).
IDENTITY_COLUMNS: dict[str, bool] = {
    "record_id": True,
    "given_name": True,
    "middle_names": False,
    "family_name": True,
    "date_of_birth": True,
    "sex": False,
    "address": False,
    "postcode": False,
    "uprn": False,
    "household_ref": False,
    "nhs_number": False,
    "ni_number": False,
    "upn": False,
}

#: Event columns: name -> required in the header.
EVENT_COLUMNS: dict[str, bool] = {
    "indicator": True,
    "event_date": True,
    "end_date": False,
    "value": False,
    "detail": False,
}

RAW_COLUMNS: tuple[str, ...] = tuple(IDENTITY_COLUMNS) + tuple(EVENT_COLUMNS)
REQUIRED_RAW_COLUMNS: tuple[str, ...] = tuple(
    c for c, required in {**IDENTITY_COLUMNS, **EVENT_COLUMNS}.items() if required
)
#: Columns every agreement shares whether or not it lists them.
ALWAYS_SHARED = ("record_id", "indicator", "event_date", "end_date", "value", "detail")
#: Identity columns that are personal identifiers and never leave the provider in clear.
PERSONAL_COLUMNS = (
    "given_name",
    "middle_names",
    "family_name",
    "date_of_birth",
    "address",
    "postcode",
    "uprn",
    "household_ref",
    "nhs_number",
    "ni_number",
    "upn",
)
SEX_VALUES = ("M", "F", "U")

IndicatorKind = Literal["event", "spell"]
ValueUse = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator code of a source's vocabulary."""

    code: str
    kind: IndicatorKind = "event"
    value: ValueUse = "none"
    meaning: str = ""


def _v(code: str, kind: IndicatorKind = "event", value: ValueUse = "none", meaning: str = ""):
    return IndicatorSpec(code, kind, value, meaning)


DEFAULT_VOCABULARY: dict[str, tuple[IndicatorSpec, ...]] = {
    "schools": (
        _v("attendance_term", value="required", meaning="% of possible sessions attended in the term; event_date = last day of term"),
        _v("unauthorised_absence_term", value="required", meaning="% of possible sessions missed unauthorised in the term"),
        _v("fixed_term_exclusion", value="required", meaning="school days excluded; event_date = first day"),
        _v("permanent_exclusion", meaning="permanent exclusion"),
        _v("alternative_provision", "spell", meaning="in alternative provision for behavioural problems (PRU etc.)"),
        _v("not_on_roll", "spell", meaning="child missing education, not registered anywhere"),
        _v("neet", meaning="young person 16-24 not in education, employment or training"),
    ),
    "police": (
        _v("proven_offence", meaning="proven offence"),
        _v("asb_intervention", meaning="ASB injunction, order, contract, warning or equivalent"),
        _v("domestic_abuse_victim", meaning="victim of a domestic incident"),
        _v("domestic_abuse_perpetrator", meaning="perpetrator of a domestic incident"),
        _v("domestic_callout", meaning="call-out to a domestic incident at the person's address"),
        _v("arrest", meaning="arrest leading to an outcome"),
        _v("missing_episode", meaning="child reported missing"),
    ),
    "dwp": (
        _v("out_of_work_benefit", "spell", meaning="out-of-work benefit spell; detail = JSA, ESA, IS or UC"),
    ),
    "housing": (
        _v("asb_housing_intervention", meaning="housing-related ASB intervention"),
        _v("rent_arrears", value="required", meaning="arrears in pounds at event_date"),
        _v("eviction_notice", meaning="notice seeking possession or equivalent"),
        _v("homelessness_application", meaning="homelessness application"),
        _v("temporary_accommodation", "spell", meaning="in temporary accommodation"),
    ),
    "health": (
        _v("mental_health", meaning="contact with a mental health service"),
        _v("substance_misuse", meaning="drug or alcohol treatment contact"),
        _v("perinatal_mental_health", meaning="new or expectant mother with mental health or substance misuse support"),
        _v("speech_language_delay", meaning="identified at the 2-2.5 year review"),
        _v("health_concern", meaning="nominated by a health professional"),
    ),
    "social_care": (
        _v("early_help_assessment", "spell", meaning="early help assessment"),
        _v("child_in_need", "spell", meaning="child in need, s17 Children Act 1989"),
        _v("s47_enquiry", meaning="s47 enquiry"),
        _v("child_protection_plan", "spell", meaning="child protection plan"),
        _v("looked_after", "spell", meaning="looked after child"),
        _v("cse_concern", meaning="child sexual or criminal exploitation concern"),
        _v("early_education_not_taken", meaning="eligible 2-year-old not taking up funded early education"),
    ),
    "probation": (
        _v("custody_release_due", meaning="event_date = expected release date"),
        _v("licence", "spell", meaning="on licence or supervision after release"),
        _v("community_order", "spell", meaning="community order or suspended sentence"),
    ),
}

BENEFIT_DETAILS = ("JSA", "ESA", "IS", "UC")

# --- sealed extracts ------------------------------------------------------------------

SEALED_FORMAT = "familylink-sealed-extract"
SEALED_DATA_MEMBER = "data.parquet"
SEALED_MANIFEST_MEMBER = "manifest.json"

#: Clear columns of a sealed extract.
SEALED_CLEAR_COLUMNS = (
    "source",
    "record_id",
    "row_number",  # the row in the provider's raw file (spreadsheet numbering)
    "sex",
    "age_months",  # whole months at the extract date
    "age_years",  # whole years at the extract date
    "age_at_event",  # whole years at event_date
    "postcode_district",
    "indicator",
    "event_date",
    "end_date",
    "value",
    "detail",
)

#: Keyed HMAC token columns (hex strings) -> the normalised value they encode.
SEALED_TOKEN_COLUMNS = {
    "tok_given_first": "first given-name part",
    "tok_given_canon": "canonical form of the first given-name part (nicknames resolved)",
    "tok_given_nysiis": "NYSIIS code of the first given-name part",
    "tok_given_metaphone": "metaphone code of the first given-name part",
    "tok_middle": "middle names, normalised",
    "tok_family": "family name, normalised (all parts)",
    "tok_family_nysiis": "NYSIIS code of the family name (parts joined)",
    "tok_family_metaphone": "metaphone code of the family name (parts joined)",
    "tok_dob": "date of birth",
    "tok_dob_swapped": "date of birth with day and month swapped (when that is a valid date)",
    "tok_postcode": "postcode unit",
    "tok_postcode_sector": "postcode sector",
    "tok_address": "address: flat, number and street",
    "tok_building": "address: number and street",
    "tok_uprn": "UPRN",
    "tok_nhs": "NHS number",
    "tok_ni": "National Insurance number",
    "tok_upn": "Unique Pupil Number",
    "tok_household": "household_ref, scoped by source",
}

#: Token list columns (list of hex strings).
SEALED_TOKEN_LIST_COLUMNS = {
    "tok_family_parts": "each part of the family name (split at hyphens and spaces) and, for two or more "
                        "parts, the parts written solid",
    "tok_name_parts": "every name part (given, middle, family) in one shared name domain",
    "tok_locality_parts": "each word of the address's locality (what follows the street: town, district), "
                          "under one key of its own",
    "tok_given_forms": "every possible form of the first given-name part (itself, its canonical form, "
                       "the full names a short form may stand for, and those of the next part after a "
                       "prefix such as Muhammad), under one key of its own",
}

#: Keyed Bloom filter columns (fixed-width binary).
SEALED_BLOOM_COLUMNS = {
    "bf_given": "given name bigrams, under the name Bloom key shared with bf_family",
    "bf_family": "family name bigrams, under the name Bloom key shared with bf_given",
    "bf_address": "address (flat, number, street) bigrams",
}

SEALED_COLUMNS: tuple[str, ...] = (
    SEALED_CLEAR_COLUMNS
    + tuple(SEALED_TOKEN_COLUMNS)
    + tuple(SEALED_TOKEN_LIST_COLUMNS)
    + tuple(SEALED_BLOOM_COLUMNS)
)
