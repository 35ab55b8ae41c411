"""Normalisation of raw identity values: pure, deterministic, total functions.

Standard library and jellyfish only (a data provider installs this without the hub's
dependencies). Functions that validate raise ``ValueError`` with a message that never
contains the value; every other function accepts any string. Bundled tables live in
``protocols/data/`` (``nicknames.csv``, ``given_name_forms.csv``, ``given_name_affixes.csv``,
``titles.csv``), each naming its sources in its header.
"""

from .dates import (
    age_in_months,
    age_in_years,
    compile_date_format,
    parse_date,
    swap_day_month,
    truncate_to_month,
)
from .identifiers import (
    nhs_check_digit,
    normalise_household_ref,
    normalise_nhs_number,
    normalise_ni_number,
    normalise_sex,
    normalise_upn,
    normalise_uprn,
    upn_check_letter,
)
from .names import (
    bigrams,
    canonical_given_name,
    metaphone,
    name_parts,
    normalise_name,
    normalise_text,
    nysiis,
)
from .places import Address, Postcode, normalise_address, parse_postcode

__all__ = [
    "Address",
    "Postcode",
    "age_in_months",
    "age_in_years",
    "bigrams",
    "canonical_given_name",
    "compile_date_format",
    "metaphone",
    "name_parts",
    "nhs_check_digit",
    "normalise_address",
    "normalise_household_ref",
    "normalise_name",
    "normalise_ni_number",
    "normalise_nhs_number",
    "normalise_sex",
    "normalise_text",
    "normalise_upn",
    "normalise_uprn",
    "nysiis",
    "parse_date",
    "parse_postcode",
    "swap_day_month",
    "truncate_to_month",
    "upn_check_letter",
]
