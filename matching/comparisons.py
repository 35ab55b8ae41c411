"""The person comparisons, one per concept, as Splink 5 comparison objects over tokens.

Only tokens, Bloom filters and clear derived attributes are compared. Dice coefficients
of Bloom filters use fixed-width BIT columns and stored popcounts (``*_bits``):
``2 * bit_count(a & b) / (bits_a + bits_b)``, which DuckDB computes with popcount
instructions. Address, postcode and UPRN describe one location and form one comparison:
scoring them separately double-counts correlated evidence and merges family members.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl

from matching.settings import LinkageSettings


def dice(column: str, left: str = "{column}_l", right: str = "{column}_r") -> str:
    """SQL for the Dice coefficient of the ``column`` Bloom filters of a pair.

    ``left``/``right`` name each side's column (default: Splink's ``_l``/``_r`` names;
    pass ``"l.{column}"`` and ``"r.{column}"`` for a plain self-join).
    """
    a, b = left.format(column=column), right.format(column=column)
    bits_a, bits_b = left.format(column=f"{column}_bits"), right.format(column=f"{column}_bits")
    return f"(2.0 * bit_count({a} & {b})::INTEGER / nullif({bits_a} + {bits_b}, 0))"


def names_crossed(threshold: float) -> str:
    """SQL: given and family names transposed, with a typo: each record's given-name filter is
    close to the other's family-name filter (both filters share one keyed domain since
    encoding version 2, so their Dice is meaningful)."""
    def cross(a: str, b: str) -> str:
        return f"(2.0 * bit_count({a}_l & {b}_r)::INTEGER / nullif({a}_bits_l + {b}_bits_r, 0))"

    return f"({cross('bf_given', 'bf_family')} >= {threshold} AND {cross('bf_family', 'bf_given')} >= {threshold})"


def names_swapped(left: str = "{column}_l", right: str = "{column}_r") -> str:
    """SQL: both records have the same name parts (given and family swapped).

    Sharing only some parts is not enough: relatives with a double-barrelled family name
    share two parts without being one person, and a twin whose given name is the other's
    middle name has all their parts among the other's (measured: 13 of the 1M county's
    merged twin pairs), so the records must hold the same number of parts.
    """
    a, b = left.format(column="tok_name_parts"), right.format(column="tok_name_parts")
    return f"(len(list_intersect({a}, {b})) >= 2 AND len(list_intersect({a}, {b})) = len({a}) AND len({a}) = len({b}))"


def name_elsewhere(other_differs: str) -> str:
    """SQL: a name part of one record is among the other's, in another position (given and
    family swapped with a typo in one of them; ``other_differs``: the other name disagrees).
    Where the two records' middle names are equal, one shared part is that middle name (which
    its own comparison counts): a second must be shared (measured: two children born the same
    day with one common middle name, NOAH or LILY, and nothing else in common scored 0.7-0.99
    on a 200k county without identifiers)."""
    shared = "len(list_intersect(tok_name_parts_l, tok_name_parts_r))"
    return (f"({other_differs} AND CASE WHEN coalesce(tok_middle_l = tok_middle_r, false) THEN {shared} >= 2 "
            f"ELSE list_has_any(tok_name_parts_l, tok_name_parts_r) END)")


#: labels of the two pattern levels whose weight the run calibrates (matching/calibration.py)
TWIN_LEVEL = "clearly different given names, same date of birth and address, a family name shared"
PARENT_CHILD_LEVEL = "dates far apart, same name and address"
#: Copies of identity columns under other names, for the calibrated levels' contexts:
#: Splink's EM leaves out of a training session every comparison that reads a column of its
#: blocking rule, so a given-name level that read ``tok_dob`` would never be trained in the
#: date-of-birth block (the model adds these to its input views). Leaving the copies empty
#: while training was measured and dropped (benchmarks/README.md, "Tried and dropped").
CONTEXT_COLUMNS = {"ctx_dob": "tok_dob", "ctx_dob_swapped": "tok_dob_swapped", "ctx_uprn": "tok_uprn",
                   "ctx_address": "tok_address", "ctx_postcode": "tok_postcode",
                   "ctx_given_first": "tok_given_first", "ctx_family": "tok_family",
                   "ctx_name_parts": "tok_name_parts"}
SAME_DOB = "(ctx_dob_l = ctx_dob_r OR ctx_dob_swapped_l = ctx_dob_r OR ctx_dob_l = ctx_dob_swapped_r)"
SAME_PLACE = "(ctx_uprn_l = ctx_uprn_r OR ctx_address_l = ctx_address_r OR ctx_postcode_l = ctx_postcode_r)"
SAME_ADDRESS = "(ctx_uprn_l = ctx_uprn_r OR ctx_address_l = ctx_address_r)"
SAME_FAMILY = "(ctx_family_l = ctx_family_r)"
#: a twin's record may carry a typo in the family name the twins share (measured: most of the
#: twins the 1M county still merged, at family-name Dice 0.54-0.83): the twin level reads "the
#: same family name token, a family-name Dice of at least this, or a name part shared"; at one
#: date of birth and address, family names this alike are one family's
TWIN_FAMILY_DICE = 0.5
FAMILY_ALIKE = f"({SAME_FAMILY} OR coalesce({dice('bf_family')} >= {TWIN_FAMILY_DICE}, false))"
SHARED_PART = "list_has_any(ctx_name_parts_l, ctx_name_parts_r)"
#: one name, or the same name parts in other positions (given and family swapped)
SAME_NAME = ("((ctx_given_first_l = ctx_given_first_r AND ctx_family_l = ctx_family_r)"
             " OR ctx_name_parts_l = ctx_name_parts_r)")
HOUSEHOLD_ADDRESS_LEVEL = "same family name and address (household members)"
#: the starting weight of a pattern level (about -9): EM keeps its pairs out of the matches
#: until the run calibrates it from the data
_PATTERN_M, _PATTERN_U = 0.001, 0.5


def pattern_level(condition: str, label: str, m: float = _PATTERN_M) -> cll.CustomLevel:
    """A level whose m and u EM does not touch: the run sets its weight afterwards from the
    data (matching/calibration.py). Levels of one comparison start at different weights
    (``m``): the scored pairs carry a comparison's weight, which tells its level."""
    return cll.CustomLevel(condition, label).configure(
        m_probability=m, u_probability=_PATTERN_U, fix_m_probability=True, fix_u_probability=True)


def _either_null(*columns: str) -> str:
    return " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in columns)


def given_name(settings: LinkageSettings) -> cl.CustomComparison:
    high, *lower = settings.dice.given_name
    levels = [
        cll.CustomLevel(_either_null("tok_given_first"), "given name missing").configure(is_null_level=True),
        cll.ExactMatchLevel("tok_given_first", term_frequency_adjustments=True),
        cll.CustomLevel("tok_given_canon_l = tok_given_canon_r", "same canonical name (nickname)"),
        cll.CustomLevel(f"{dice('bf_given')} >= {high}", f"Dice >= {high}"),
        cll.CustomLevel("tok_given_nysiis_l = tok_given_nysiis_r OR tok_given_metaphone_l = tok_given_metaphone_r",
                        "sounds alike"),
        *[cll.CustomLevel(f"{dice('bf_given')} >= {t}", f"Dice >= {t}") for t in lower],
        cll.CustomLevel(names_swapped(), "all name parts shared (given and family swapped)"),
        cll.CustomLevel(names_crossed(high), f"given and family transposed, Dice >= {high}"),
        cll.CustomLevel("list_has_any(tok_given_forms_l, tok_given_forms_r)",
                        "possibly one name (a short form both may stand for)"),
    ]
    if settings.guards.twins == "evidence":
        levels.append(pattern_level(f"{SAME_DOB} AND {SAME_PLACE} AND ({FAMILY_ALIKE} OR {SHARED_PART})", TWIN_LEVEL))
    levels += [cll.CustomLevel(name_elsewhere("NOT list_has_any(tok_family_parts_l, tok_family_parts_r)"),
                               "a name part shared in another position"),
               cll.ElseLevel()]
    return cl.CustomComparison(levels, "given_name", "given name tokens and Bloom filter")


def family_name(settings: LinkageSettings) -> cl.CustomComparison:
    high, *lower = settings.dice.family_name
    levels = [
        cll.CustomLevel(_either_null("tok_family"), "family name missing").configure(is_null_level=True),
        cll.ExactMatchLevel("tok_family", term_frequency_adjustments=True),
        cll.CustomLevel("list_has_any(tok_family_parts_l, tok_family_parts_r)",
                        "a part of a multi-part name shared"),
        cll.CustomLevel(f"{dice('bf_family')} >= {high}", f"Dice >= {high}"),
        cll.CustomLevel("tok_family_nysiis_l = tok_family_nysiis_r OR tok_family_metaphone_l = tok_family_metaphone_r",
                        "sounds alike"),
        *[cll.CustomLevel(f"{dice('bf_family')} >= {t}", f"Dice >= {t}") for t in lower],
        cll.CustomLevel(names_swapped(), "all name parts shared (given and family swapped)"),
        cll.CustomLevel(names_crossed(high), f"given and family transposed, Dice >= {high}"),
        cll.CustomLevel(name_elsewhere("tok_given_first_l <> tok_given_first_r"),
                        "a name part shared in another position"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, "family_name", "family name tokens and Bloom filter")


#: ages in months within 14 months, or (a source whose agreement sends ages in whole years
#: only) ages in years within one
_AGES_WITHIN_A_YEAR = "coalesce(abs(age_months_l - age_months_r) <= 14, abs(age_years_l - age_years_r) <= 1)"


def date_of_birth(settings: LinkageSettings) -> cl.CustomComparison:
    # Same year and month of birth, another day: from the clear age in months and each record's
    # extract date (no token of a part of the date is sealed: the clear age decodes year and
    # month tokens, frequency a day token). A month-and-day token (a year recorded wrongly)
    # was measured and dropped: no F1 gain, and a leak (benchmarks/README.md).
    same_year_month = ("coalesce(year(extract_date_l) * 12 + month(extract_date_l) - age_months_l"
                       " = year(extract_date_r) * 12 + month(extract_date_r) - age_months_r,"
                       " age_years_l = age_years_r AND extract_date_l = extract_date_r)")
    # Dates differing in every component and ages more than a year apart. Parents and
    # children with the same name at one address would teach EM that this is common among
    # matches: with guards.twins "evidence" they have a level of their own, calibrated by the
    # run, and EM learns the m of the rest (training.dob_far_apart_m may fix it instead).
    far_apart = cll.ElseLevel()
    if settings.training.dob_far_apart_m != "train":
        far_apart = far_apart.configure(m_probability=settings.training.dob_far_apart_m, fix_m_probability=True)
    levels = [
        cll.CustomLevel(_either_null("tok_dob"), "date of birth missing").configure(is_null_level=True),
        cll.ExactMatchLevel("tok_dob"),
        cll.CustomLevel("tok_dob_swapped_l = tok_dob_r OR tok_dob_l = tok_dob_swapped_r", "day and month swapped"),
        cll.CustomLevel(same_year_month, "same year and month of birth, another day"),
        cll.CustomLevel(_AGES_WITHIN_A_YEAR, "different dates, ages within a year"),
    ]
    if settings.guards.twins == "evidence":
        levels.append(pattern_level(f"{SAME_NAME} AND {SAME_PLACE}", PARENT_CHILD_LEVEL))
    levels.append(far_apart)
    return cl.CustomComparison(levels, "date_of_birth", "date of birth tokens, and ages in clear")


#: a word of the address's locality (town, district) shared: where postcodes are missing or
#: foreign, the only place finer than nothing
_LOCALITY = "list_has_any(tok_locality_parts_l, tok_locality_parts_r)"


def location(settings: LinkageSettings) -> cl.CustomComparison:
    high, *lower = settings.dice.address
    none = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in ("tok_uprn", "tok_address", "tok_postcode"))
    levels = [
        cll.CustomLevel(none, "no location on one side").configure(is_null_level=True),
        cll.CustomLevel("tok_uprn_l = tok_uprn_r", "same UPRN"),
        cll.CustomLevel("tok_address_l = tok_address_r AND tok_postcode_l = tok_postcode_r", "same address"),
        cll.CustomLevel(f"tok_postcode_l = tok_postcode_r AND {dice('bf_address')} >= {high}",
                        f"same postcode, address Dice >= {high}"),
        cll.CustomLevel(f"tok_address_l = tok_address_r AND {_LOCALITY}", "same address line and town"),
        cll.CustomLevel("tok_address_l = tok_address_r", "same address line, postcode differs"),
        # a mistyped postcode: nearly the same address line in the same postcode district
        cll.CustomLevel(f"postcode_district_l = postcode_district_r AND {dice('bf_address')} >= {high}",
                        f"same postcode district, address Dice >= {high}"),
        cll.CustomLevel(f"{_LOCALITY} AND {dice('bf_address')} >= {high}", f"same town, address Dice >= {high}"),
        *[cll.CustomLevel(f"tok_postcode_l = tok_postcode_r AND {dice('bf_address')} >= {t}",
                          f"same postcode, address Dice >= {t}") for t in lower],
        cll.CustomLevel("tok_postcode_l = tok_postcode_r", "same postcode unit"),
        cll.CustomLevel("tok_postcode_sector_l = tok_postcode_sector_r", "same postcode sector"),
        cll.CustomLevel(_LOCALITY, "same town (a locality word shared)"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, "location", "UPRN, address and postcode as one location")


#: P(a person's NHS, NI or UPN differs between two of their records, where both carry one):
#: identifiers are check-digit validated at sealing, so 1% is generous
DIFFERENT_IDENTIFIER_M = 0.01


def national_identifiers(settings: LinkageSettings) -> cl.CustomComparison:
    pairs = ("tok_nhs", "tok_ni", "tok_upn")
    shared = " OR ".join(f"({c}_l IS NOT NULL AND {c}_r IS NOT NULL)" for c in pairs)
    levels = [
        cll.CustomLevel(f"NOT ({shared})", "no identifier in common use").configure(is_null_level=True),
        cll.CustomLevel(" OR ".join(f"{c}_l = {c}_r" for c in pairs), "same NHS, NI or UPN"),
        # different identifiers of one kind: never linked (matching.guards); fixed, so that EM
        # does not learn otherwise from twins and parents it would count as matches
        cll.ElseLevel().configure(m_probability=DIFFERENT_IDENTIFIER_M, fix_m_probability=True),
    ]
    return cl.CustomComparison(levels, "national_id", "NHS number, NI number, UPN")


def sex(settings: LinkageSettings) -> cl.CustomComparison:
    levels = [
        cll.CustomLevel("sex_l IS NULL OR sex_r IS NULL OR sex_l = 'U' OR sex_r = 'U'",
                        "sex unknown").configure(is_null_level=True),
        cll.ExactMatchLevel("sex"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, "sex", "recorded sex")


def middle_names(settings: LinkageSettings) -> cl.CustomComparison:
    levels = [
        cll.CustomLevel(_either_null("tok_middle"), "middle names missing").configure(is_null_level=True),
        cll.ExactMatchLevel("tok_middle"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, "middle_names", "middle names token")


def household(settings: LinkageSettings) -> cl.CustomComparison:
    """A correction, not a comparison of its own: people of one household share their family
    name and address far more often than the product of the two chances says, so the family
    name and location comparisons count that evidence twice for household members. The run
    measures how much more often (``matching.calibration``) and sets these levels' weights
    to take it back out; every other pair is at the null level (weight 0)."""
    at_address = f"{SAME_FAMILY} AND {SAME_ADDRESS}"
    levels = [
        cll.CustomLevel(f"NOT coalesce({at_address}, false)",
                        "no family name shared at one address").configure(is_null_level=True),
        pattern_level(f"coalesce({at_address}, false)", HOUSEHOLD_ADDRESS_LEVEL),
        # never reached (Splink needs two levels besides the null one); fixed, so never "untrained"
        cll.ElseLevel().configure(m_probability=0.5, u_probability=0.5, fix_m_probability=True,
                                  fix_u_probability=True),
    ]
    return cl.CustomComparison(levels, "household", "correction for household members (family name and place)")


def person_comparisons(settings: LinkageSettings) -> list[cl.CustomComparison]:
    builders = [given_name, family_name, date_of_birth, location, national_identifiers, sex, middle_names]
    if settings.guards.twins == "evidence":
        builders.append(household)
    return [builder(settings) for builder in builders]
