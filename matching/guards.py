"""Guards against chaining: edges that must never join two records, and clusters to split.

- Two records with different NHS numbers, NI numbers or UPNs are different people.
- Twins: the same date of birth (or the same with day and month swapped, as one of the
  twins' records may be) at the same address with clearly different given names
  (no equal first, canonical or phonetic name token, no possible form in common (so
  HARRY and HENRY, or JACK and JOHN, may be one person: ``tok_given_forms``), Bloom-filter
  Dice below the lowest given-name threshold, and no sign of a given/family swap) are two
  people, however strongly the rest agrees. Fellegi-Sunter alone cannot tell them apart:
  their family name, date of birth and address all agree. ``guards.twins: false`` turns
  this guard off, for data known to hold no twins where given names are sometimes recorded
  as a different name altogether.
- A record without a date of birth links two records whose ages differ by more than
  ``HUB_AGE_GAP`` years and which are not linked to each other (their own pair scored below
  the threshold, or not at all): one record cannot be two people born years apart. Its weaker
  link of the two is dropped (both when they are equally strong). At a million people, records
  without a date of birth (police, housing) otherwise chain namesakes into one person, and a
  father's police record without a date joins his son of the same name at the same address
  (their own pair scores low, at "dates far apart, same name and address"). Two records that
  are linked themselves despite the gap (a year recorded wrongly) are left alone.
- Two records whose dates of birth differ (and are not the same with day and month swapped),
  where each date is held with the record's name by another record too, are two people: a
  recording error is one record's, while a second person's date is confirmed by their other
  records. Siblings given one name (MUHAMMAD in a Pakistani family), a father and son of one
  name, namesakes: without identifiers to tell them apart (measured on a 1M county with none:
  456 false links and 6 true among such pairs; with identifiers 19 and 4; none on FEBRL,
  fake_1000 or the 20k county).
- Two records born the same day (or the same with day and month swapped) whose first given
  names differ (no equal first or canonical name token, no possible form in common, not the
  same name parts swapped), where each given name is held with the record's family name and
  date of birth by another record too, are two people: twins. A misspelt given name is one
  record's, while a twin's name is confirmed by their other records. Names such as DANIEL and
  NATHANIEL, VIHAAN and ISHAAN are as alike as a typo, so the twins' level alone does not part
  them. Measured: 200k county 3 pairs of twins merged -> 2, F1 0.99455 -> 0.99459; 1M
  0.99275 -> 0.99281; county without identifiers (20k) 0.9868 -> 0.9875; FEBRL1-4, fake_1000
  and the 20k county unchanged. The pairs left are twins with one record each.
- After clustering, a cluster that still holds two different national identifiers (joined
  through a third record) loses its weakest internal edge, and is clustered again, until
  no such cluster remains or the round limit is reached; what remains is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from familylink.core.tables import LINKAGE_RECORDS
from matching.comparisons import dice, names_swapped
from matching.settings import LinkageSettings

EDGES_TABLE = "person_edges"
_CONFLICT = " OR ".join(f"(l.{c} <> r.{c})" for c in ("tok_nhs", "tok_ni", "tok_upn"))
_SAME_DAY = "(l.tok_dob = r.tok_dob OR l.tok_dob_swapped = r.tok_dob OR l.tok_dob = r.tok_dob_swapped)"
#: two first given names that no token, form or swap of given and family names makes one
_GIVEN_NAMES_DIFFER = f"""(l.tok_given_first <> r.tok_given_first AND l.tok_given_canon <> r.tok_given_canon
    AND NOT coalesce(list_has_any(l.tok_given_forms, r.tok_given_forms), false)
    AND NOT coalesce({names_swapped("l.{column}", "r.{column}")}, false))"""


@dataclass(frozen=True)
class GuardSummary:
    edges_kept: int
    dropped_conflicting_identifier: int
    dropped_twins: int
    #: links of a record without a date of birth to two people born years apart (the weaker)
    dropped_dateless_links: int = 0
    #: links between two dates of birth (not the same with day and month swapped) that each
    #: another record holds with the same name: two people, each confirmed
    dropped_confirmed_dates: int = 0
    #: links between two different given names born the same day, each name confirmed by
    #: another record with the same family name and date of birth: twins
    dropped_confirmed_names: int = 0


def guarded_edges(con: duckdb.DuckDBPyConnection, pairs_table: str, settings: LinkageSettings,
                  threshold: float) -> GuardSummary:
    """Write ``person_edges``: pairs at or above ``threshold`` that no guard forbids."""
    lowest_given = min(settings.dice.given_name)
    given_dice = dice("bf_given", "l.{column}", "r.{column}")
    twins = f"""{_SAME_DAY}
        AND (l.tok_uprn = r.tok_uprn OR l.tok_address = r.tok_address OR l.tok_postcode = r.tok_postcode)
        AND {_GIVEN_NAMES_DIFFER}
        AND l.tok_given_nysiis <> r.tok_given_nysiis AND l.tok_given_metaphone <> r.tok_given_metaphone
        AND coalesce({given_dice}, 0) < {lowest_given}"""
    if settings.guards.twins != "veto":
        twins = "false"
    con.execute(f"""
        CREATE OR REPLACE TABLE {EDGES_TABLE} AS
        WITH confirmed AS (  -- a name with a date of birth that two records or more hold
            SELECT tok_given_first, tok_family, tok_dob FROM {LINKAGE_RECORDS}
            WHERE tok_given_first IS NOT NULL AND tok_family IS NOT NULL AND tok_dob IS NOT NULL
            GROUP BY ALL HAVING count(*) >= 2)
        SELECT p.left_id, p.right_id, p.match_weight, p.match_probability,
               coalesce({_CONFLICT}, false) AS conflicting_identifier,
               coalesce({twins}, false) AS twins,
               -- both names confirmed (the confirmed rows need a date of birth on each side)
               cl.tok_dob IS NOT NULL AND cr.tok_dob IS NOT NULL
                   AND NOT coalesce({_SAME_DAY}, false) AS confirmed_dates_differ,
               cl.tok_dob IS NOT NULL AND cr.tok_dob IS NOT NULL
                   AND coalesce({_SAME_DAY} AND {_GIVEN_NAMES_DIFFER}, false) AS confirmed_names_differ
        FROM {pairs_table} p
        JOIN {LINKAGE_RECORDS} l ON l.unique_id = p.left_id
        JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.right_id
        LEFT JOIN confirmed cl ON cl.tok_given_first = l.tok_given_first AND cl.tok_family = l.tok_family
                               AND cl.tok_dob = l.tok_dob
        LEFT JOIN confirmed cr ON cr.tok_given_first = r.tok_given_first AND cr.tok_family = r.tok_family
                               AND cr.tok_dob = r.tok_dob
        WHERE p.match_probability >= ?
        ORDER BY p.left_id, p.right_id
    """, [threshold])
    conflicting, twin_pairs, confirmed, confirmed_names = con.execute(
        f"SELECT count(*) FILTER (conflicting_identifier), count(*) FILTER (twins AND NOT conflicting_identifier), "
        f"count(*) FILTER (confirmed_dates_differ AND NOT conflicting_identifier AND NOT twins), "
        f"count(*) FILTER (confirmed_names_differ AND NOT conflicting_identifier AND NOT twins) "
        f"FROM {EDGES_TABLE}").fetchone()
    con.execute(f"DELETE FROM {EDGES_TABLE} WHERE conflicting_identifier OR twins OR confirmed_dates_differ "
                f"OR confirmed_names_differ")
    dateless = _drop_dateless_links(con)
    kept = con.execute(f"SELECT count(*) FROM {EDGES_TABLE}").fetchone()[0]
    return GuardSummary(kept, conflicting, twin_pairs, dateless, confirmed, confirmed_names)


#: ages (whole years at each extract date) further apart than this are two people, however a
#: record without a date of birth links them (two years: extracts of one person a year apart
#: and a birthday between them differ by up to two)
HUB_AGE_GAP = 2


def _drop_dateless_links(con: duckdb.DuckDBPyConnection) -> int:
    """Drop, for each record without a date of birth linked to two records whose ages differ
    by more than ``HUB_AGE_GAP`` and which are not linked to each other (no edge between them:
    scored below the threshold, or not at all), the weaker of its two links (both when equal).
    One pass leaves no such pair: of any two links of such a record that conflict, the weaker
    (or both) is gone. "Not linked" and not "never scored": a father and son of one name at one
    address score 0.01-0.5 together ("dates far apart, same name and address"), and a father's
    police record without a date would otherwise still join them."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _directed_edges AS
        SELECT left_id AS a, right_id AS b, match_probability AS p FROM {EDGES_TABLE}
        UNION ALL SELECT right_id, left_id, match_probability FROM {EDGES_TABLE}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _dateless_drops AS
        WITH conflicts AS (
            SELECT e1.a AS hub, e1.b AS x, e2.b AS y, e1.p AS px, e2.p AS py
            FROM _directed_edges e1
            JOIN _directed_edges e2 ON e2.a = e1.a AND e1.b < e2.b
            JOIN {LINKAGE_RECORDS} h ON h.unique_id = e1.a
            JOIN {LINKAGE_RECORDS} rx ON rx.unique_id = e1.b
            JOIN {LINKAGE_RECORDS} ry ON ry.unique_id = e2.b
            WHERE h.tok_dob IS NULL AND abs(rx.age_years - ry.age_years) > {HUB_AGE_GAP}
              AND NOT EXISTS (SELECT 1 FROM _directed_edges d WHERE d.a = e1.b AND d.b = e2.b))
        SELECT DISTINCT hub, x AS other FROM conflicts WHERE px <= py
        UNION SELECT DISTINCT hub, y FROM conflicts WHERE py <= px""")
    dropped = con.execute("SELECT count(*) FROM _dateless_drops").fetchone()[0]
    if dropped:
        con.execute(f"""DELETE FROM {EDGES_TABLE} WHERE (left_id, right_id) IN (SELECT hub, other FROM _dateless_drops)
                        OR (left_id, right_id) IN (SELECT other, hub FROM _dateless_drops)""")
    con.execute("DROP TABLE IF EXISTS _directed_edges")
    con.execute("DROP TABLE IF EXISTS _dateless_drops")
    return int(dropped)


def conflicted_clusters_sql(clusters_table: str) -> str:
    """SQL listing cluster ids that hold two different values of a national identifier."""
    checks = " OR ".join(f"count(DISTINCT r.{c}) > 1" for c in ("tok_nhs", "tok_ni", "tok_upn"))
    return f"""SELECT c.cluster_id FROM {clusters_table} c JOIN {LINKAGE_RECORDS} r USING (unique_id)
               GROUP BY c.cluster_id HAVING {checks}"""
