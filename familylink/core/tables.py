"""DuckDB tables exchanged between stages, declared once.

``matching`` writes them and ``identification`` reads them; neither imports the other.
Each constant names a table; ``*_COLUMNS`` lists the columns every producer must write.
"""

from __future__ import annotations

#: Every row of every sealed extract (the sealed columns plus ``extract_date``).
SEALED_ROWS = "sealed_rows"

#: One row per (source, record_id): the identity of its most recent row, for comparison.
LINKAGE_RECORDS = "linkage_records"
LINKAGE_RECORD_COLUMNS = (
    "unique_id",  # "<source>|<record_id>"
    "source",
    "record_id",
    "sex",
    "age_months",
    "age_years",
    "extract_date",
    "postcode_district",
    "tok_given_first", "tok_given_canon", "tok_given_nysiis", "tok_given_metaphone",
    "tok_middle", "tok_family", "tok_family_nysiis", "tok_family_metaphone", "tok_family_parts",
    "tok_name_parts", "tok_given_forms", "tok_locality_parts",
    "tok_dob", "tok_dob_swapped",
    "tok_postcode", "tok_postcode_sector", "tok_address", "tok_building", "tok_uprn",
    "tok_nhs", "tok_ni", "tok_upn", "tok_household",
    "bf_given", "bf_family", "bf_address",  # BIT
    "bf_given_bits", "bf_family_bits", "bf_address_bits",  # popcounts (INTEGER)
    "latest_event_date",
    # the first and last of a record's sorted locality-word tokens: scalar keys for blocking on
    # "a name and the town" where postcodes are missing (derived at load, not sealed)
    "locality_first", "locality_last",
)

#: Every distinct address a record has carried, newest first (for household formation).
RECORD_ADDRESSES = "record_addresses"
RECORD_ADDRESS_COLUMNS = (
    "unique_id", "source", "record_id", "tok_uprn", "tok_postcode", "tok_address", "tok_building",
    "bf_address", "bf_address_bits", "tok_household", "last_seen", "is_latest",
)

#: Person clusters: one row per (source, record_id).
PERSONS = "persons"
PERSON_COLUMNS = ("source", "record_id", "unique_id", "person_id", "link_confidence")

#: Households: one row per person.
HOUSEHOLDS = "households"
HOUSEHOLD_COLUMNS = ("household_id", "person_id", "basis")

#: Addresses judged communal (hostels, HMOs, temporary accommodation).
COMMUNAL_ADDRESSES = "communal_addresses"
COMMUNAL_ADDRESS_COLUMNS = ("address_key", "kind", "persons", "household_refs")

# --- identification ----------------------------------------------------------------------

#: Every person, with the family they belong to (``family_id`` NULL when in none).
#: A family is a household with a dependent child or an expectant parent, plus adults with
#: parenting responsibility living elsewhere (``resident`` false).
FAMILIES = "families"
FAMILY_COLUMNS = ("family_id", "person_id", "household_id", "role", "age", "resident")

#: One row per family: the candidate list. After these columns come one BOOLEAN column per
#: headline of the framework, named ``flag_<headline id>``, in framework order.
CANDIDATES = "candidates"
CANDIDATE_COLUMNS = (
    "family_id", "eligible", "headline_count", "headlines", "indicators", "priority",
    "locality", "postcode_district", "members", "children", "non_resident_members",
    "min_link_confidence", "review", "review_reasons", "status",
)
HEADLINE_FLAG_PREFIX = "flag_"

#: Why each family qualifies: one row per (family, person, rule, source row).
#: ``counted`` is false for a non-resident adult's evidence beyond the one headline they may
#: account for.
EVIDENCE = "evidence"
EVIDENCE_COLUMNS = (
    "family_id", "person_id", "headline", "rule_id", "source", "record_id", "event_date",
    "indicator", "value", "resident", "counted",
)

# --- refresh: attachments and outcomes ------------------------------------------------------

#: The council's register of attached families, one row per member record it names.
ATTACHMENTS = "attachments"
ATTACHMENT_COLUMNS = ("attachment_ref", "source", "record_id", "attached_on", "lead_team")

#: Current families linked to a register entry through their members' records.
#: ``problems`` (VARCHAR[]) are the headlines identified at attachment.
ATTACHED_FAMILIES = "attached_families"
ATTACHED_FAMILY_COLUMNS = ("family_id", "attachment_ref", "attached_on", "lead_team", "records_matched", "problems",
                           "problems_basis")

#: Outcome measures of attached families: one row per (family, problem identified at attachment).
OUTCOMES = "outcomes"
OUTCOME_COLUMNS = ("family_id", "attachment_ref", "attached_on", "problem", "measure", "met", "evidence",
                   "claimable")

#: Family changes against the previous run (``;``-separated id and headline lists).
CHANGES = "changes"
CHANGE_COLUMNS = ("family_id", "previous_family_ids", "change", "headlines_before", "headlines_after", "detail")
