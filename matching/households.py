"""Household formation: which persons live together, from sealed address and household evidence.

``form_households(con)`` reads ``persons`` (person linkage), ``linkage_records`` and
``record_addresses`` (``matching.load``) and writes ``households`` (household_id, person_id,
basis: exactly one row per person) and ``communal_addresses`` (address_key, kind, persons,
household_refs). All of it is set-based DuckDB SQL; Python only loops over the few passes of
the connected-components step. Same input tables give the same rows and byte-identical
``households.csv``.

1. **Current address.** Each person gets one: among the address versions of all their
   records, the first by (a) not *superseded* (a record of the person holds the address and
   later a different one: that source saw the move, while other sources often keep an old
   address with recent dates, so this evidence outranks dates); (b) latest ``last_seen``;
   (c) most complete (UPRN, postcode unit, address); (d) held by most of the person's records;
   (e) the tokens, source and record_id, so ties break the same way every run. A field
   missing from that version (a blank address, no UPRN) is taken from the person's next
   version that agrees with it on every field both hold.
2. **Links.** Two persons are linked by
   - ``household_ref``: the same ``tok_household`` on the most recent row of a record of each
     (the token is scoped by source: a DWP claim, a tenancy, a social-care case). A ref held
     by more than ``max_ref_persons`` persons is ignored. A claim or tenancy
     (``binding_ref_sources``) is one household by definition and always links. Any other
     ref (a social-care case may include a parent who lives elsewhere) is *contradicted*, and
     dropped, when both persons have a current postcode unit, the two differ, and neither
     person was ever recorded at the other's current postcode unit (a family that moved,
     with one source still holding the old address, is therefore not contradicted);
   - ``uprn``: the same current UPRN token;
   - ``address``: the same current postcode unit and normalised address token (identical
     Bloom filters, Dice = 1). An address without a postcode joins the one postcode unit
     holding that address, if exactly one does. With ``address_dice`` set, two *different*
     addresses of one postcode unit also link at Bloom-filter Dice >= ``address_dice``. Off by
     default: on synthetic counties every such pair at Dice >= 0.9 was two dwellings
     (neighbouring numbers, flats of one block; "Flat 8, 6 Ketton Ct" and "Flat 6, 8 Ketton
     Ct" score 1.0), and a threshold of 0.95 lowers household F1 from 0.98 to 0.93.
3. **Communal addresses.** UPRN and address links group persons into *places* (connected
   components). A place is communal (hostel, HMO, temporary accommodation) when
   - it has at least ``communal_min_persons`` residents forming at least
     ``communal_min_adult_units`` adult units: a unit is residents connected by household
     refs or a shared family-name part, adult when one of them is 18 or over (or of unknown
     age), so a family with children and a parent's different surname stays one dwelling; or
   - its residents hold two different refs of an ``exclusive_ref_sources`` source (two
     tenancies or homelessness cases at one address are two households).
   At a communal place residents are linked only by household refs, so a family in temporary
   accommodation under one homelessness case still forms a household. ``communal_addresses``
   lists each key of a communal place: ``address_key`` is the UPRN token (kind ``uprn``) or
   ``<postcode token>|<address token>`` (kind ``address``), ``persons`` the residents holding
   it, ``household_refs`` their distinct refs.
4. **Households** are the connected components over the links (label propagation to the
   smallest person_id with pointer jumping). ``household_id`` is ``H`` and the zero-padded
   rank of that smallest person_id; ``basis`` is the strongest link attaching the person
   (``household_ref`` > ``uprn`` > ``address``), or ``alone``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from familylink.core.tables import (
    COMMUNAL_ADDRESSES,
    HOUSEHOLDS,
    LINKAGE_RECORDS,
    PERSONS,
    RECORD_ADDRESSES,
)

#: Bases of a link, strongest first; a person with none is ``alone``.
BASES = ("household_ref", "uprn", "address")
ALONE = "alone"
ADULT_MONTHS = 18 * 12
_MAX_PASSES = 64
_PLACE = "coalesce(tok_postcode, '') || '|' || coalesce(tok_address, '')"
_FIELDS = ("tok_uprn", "tok_postcode", "tok_address")


class HouseholdSettings(BaseModel):
    """Thresholds of household formation (defaults measured on synthetic counties)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Bloom-filter Dice at or above which two *different* normalised addresses of one
    #: postcode unit are one dwelling. ``None`` (default): only equal addresses link.
    address_dice: Annotated[float, Field(gt=0, le=1)] | None = None
    #: A household ref held by more persons than this is not a household (ignored).
    max_ref_persons: Annotated[int, Field(ge=2)] = 30
    #: Sources whose ref is one household by definition (a joint claim, a tenancy): their
    #: links stand when the two current addresses disagree (one of them is stale).
    binding_ref_sources: tuple[str, ...] = ("dwp", "housing")
    #: Sources giving a household at most one ref (a tenancy, a homelessness case): two of
    #: their refs among the residents of one place make it communal.
    exclusive_ref_sources: tuple[str, ...] = ("housing",)
    #: A place needs at least this many residents to be judged communal by its units ...
    communal_min_persons: Annotated[int, Field(ge=2)] = 3
    #: ... and at least this many adult units (residents connected by refs or a family name).
    communal_min_adult_units: Annotated[int, Field(ge=2)] = 3


@dataclass(frozen=True)
class HouseholdSummary:
    households: int
    persons: int
    multi_person_households: int
    #: Communal places (one place may be listed under a UPRN and an address key).
    communal_addresses: int
    persons_at_communal_addresses: int
    #: Person pairs linked by each basis (a pair may count under several bases).
    links_by_basis: dict[str, int] = field(default_factory=dict)
    #: Persons by the basis that attached them (``alone`` included).
    persons_by_basis: dict[str, int] = field(default_factory=dict)
    #: Household-ref pairs dropped because the persons' current addresses contradict them.
    contradicted_ref_links: int = 0
    seconds: float = 0.0


def form_households(con: duckdb.DuckDBPyConnection,
                    settings: HouseholdSettings | None = None) -> HouseholdSummary:
    """Write ``households`` and ``communal_addresses`` from ``persons`` and the address tables."""
    settings = settings or HouseholdSettings()
    started = time.perf_counter()
    try:
        _current_addresses(con)
        _ref_links(con, settings)
        _address_links(con, settings)
        _components(con, "SELECT person_id FROM _hh_current", "_hh_address_edges", "_hh_places")
        _communal_places(con, settings)
        _households(con)
        _communal_table(con)
        return _summary(con, time.perf_counter() - started)
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def write_households_csv(con: duckdb.DuckDBPyConnection, path: str | Path) -> Path:
    """``households.csv``: household_id, person_id, basis; sorted, byte-stable."""
    path = Path(path)
    target = str(path).replace("'", "''")
    con.execute(f"""COPY (SELECT household_id, person_id, basis FROM {HOUSEHOLDS}
                    ORDER BY household_id, person_id) TO '{target}' (HEADER, DELIMITER ',')""")
    return path


_TEMP_TABLES = ("_hh_rows", "_hh_ranked", "_hh_current", "_hh_history", "_hh_refs",
                "_hh_ref_pairs", "_hh_address_edges", "_hh_places", "_hh_unit_edges", "_hh_units",
                "_hh_communal", "_hh_edges", "_hh_components", "_hh_und", "_hh_next")


def _agree(left: str, right: str) -> str:
    """SQL: two address versions agree on every field both hold."""
    return " AND ".join(f"({left}.{c} IS NULL OR {right}.{c} IS NULL OR {left}.{c} = {right}.{c})"
                        for c in _FIELDS)


def _current_addresses(con: duckdb.DuckDBPyConnection) -> None:
    """``_hh_current``: each person's current address (rule 1); ``_hh_history``: postcodes held."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_rows AS
        SELECT p.person_id, a.source, a.record_id, a.tok_uprn, a.tok_postcode, a.tok_address,
               a.bf_address::BIT AS bf_address, a.bf_address_bits, max(a.last_seen) AS last_seen,
               {_PLACE.replace("tok_", "a.tok_")} AS place
        FROM {PERSONS} p JOIN {RECORD_ADDRESSES} a ON a.unique_id = p.unique_id
        GROUP BY ALL
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_ranked AS
        WITH superseded AS (
            SELECT DISTINCT o.person_id, o.place
            FROM _hh_rows o JOIN _hh_rows n
              ON n.source = o.source AND n.record_id = o.record_id
             AND n.last_seen > o.last_seen AND NOT ({_agree("n", "o")})
        ), support AS (
            SELECT person_id, place, count(DISTINCT (source, record_id)) AS records
            FROM _hh_rows GROUP BY person_id, place
        )
        SELECT v.*, s.place IS NOT NULL AS superseded, row_number() OVER (
                PARTITION BY v.person_id
                ORDER BY s.place IS NOT NULL, v.last_seen DESC,
                         (v.tok_uprn IS NOT NULL)::INT + (v.tok_postcode IS NOT NULL)::INT
                             + (v.tok_address IS NOT NULL)::INT DESC,
                         n.records DESC, v.tok_postcode NULLS LAST, v.tok_address NULLS LAST,
                         v.tok_uprn NULLS LAST, v.source, v.record_id) AS choice
        FROM _hh_rows v
        LEFT JOIN superseded s ON s.person_id = v.person_id AND s.place = v.place
        JOIN support n ON n.person_id = v.person_id AND n.place = v.place
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_current AS
        WITH filled AS (
            SELECT c.person_id,
                   first(r.tok_uprn ORDER BY r.choice) FILTER (r.tok_uprn IS NOT NULL) AS tok_uprn,
                   first(r.tok_postcode ORDER BY r.choice)
                       FILTER (r.tok_postcode IS NOT NULL) AS tok_postcode,
                   first(r.choice ORDER BY r.choice) FILTER (r.tok_address IS NOT NULL) AS address_from
            FROM _hh_ranked c JOIN _hh_ranked r
              ON r.person_id = c.person_id AND (r.choice = 1 OR (NOT r.superseded AND {_agree("r", "c")}))
            WHERE c.choice = 1
            GROUP BY c.person_id
        )
        SELECT f.person_id, f.tok_uprn, f.tok_postcode, a.tok_address, a.bf_address, a.bf_address_bits
        FROM filled f LEFT JOIN _hh_ranked a ON a.person_id = f.person_id AND a.choice = f.address_from
    """)
    con.execute("""CREATE OR REPLACE TEMP TABLE _hh_history AS
                   SELECT DISTINCT person_id, tok_postcode FROM _hh_rows WHERE tok_postcode IS NOT NULL""")


def _ref_links(con: duckdb.DuckDBPyConnection, settings: HouseholdSettings) -> None:
    """``_hh_refs`` (person_id, tok_household, source) and ``_hh_ref_pairs`` (a, b, contradicted)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_refs AS
        SELECT DISTINCT p.person_id, r.tok_household, r.source
        FROM {PERSONS} p JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.unique_id
        WHERE r.tok_household IS NOT NULL
        QUALIFY count(*) OVER (PARTITION BY r.tok_household) <= ?
    """, [settings.max_ref_persons])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _hh_ref_pairs AS
        WITH pairs AS (
            SELECT x.person_id AS a, y.person_id AS b, bool_or(list_contains(?, x.source)) AS binding
            FROM _hh_refs x JOIN _hh_refs y
              ON y.tok_household = x.tok_household AND x.person_id < y.person_id
            GROUP BY x.person_id, y.person_id
        )
        SELECT p.a, p.b,
               NOT p.binding AND coalesce(ca.tok_postcode <> cb.tok_postcode, false)
               AND NOT EXISTS (SELECT 1 FROM _hh_history h
                               WHERE h.person_id = p.a AND h.tok_postcode = cb.tok_postcode)
               AND NOT EXISTS (SELECT 1 FROM _hh_history h
                               WHERE h.person_id = p.b AND h.tok_postcode = ca.tok_postcode)
               AS contradicted
        FROM pairs p
        LEFT JOIN _hh_current ca ON ca.person_id = p.a
        LEFT JOIN _hh_current cb ON cb.person_id = p.b
    """, [list(settings.binding_ref_sources)])


def _address_links(con: duckdb.DuckDBPyConnection, settings: HouseholdSettings) -> None:
    """``_hh_address_edges`` (a, b, basis, key): each person to the smallest person_id holding
    the same UPRN or postcode and address (a star per ``key``), plus fuzzy pairs (key NULL)."""
    star = """SELECT person_id AS a, min(person_id) OVER (PARTITION BY {key}) AS b,
                     '{basis}' AS basis, {key} AS key
              FROM _hh_current WHERE {where}"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_address_edges AS
        SELECT a, b, basis, key FROM (
            {star.format(basis="uprn", key="tok_uprn", where="tok_uprn IS NOT NULL")}
            UNION ALL
            {star.format(basis="address", key=f"({_PLACE})",
                         where="tok_postcode IS NOT NULL AND tok_address IS NOT NULL")}
        ) WHERE a <> b
    """)
    con.execute(f"""
        INSERT INTO _hh_address_edges
        WITH held AS (
            SELECT tok_postcode, tok_address, min(person_id) AS anchor,
                   count(*) OVER (PARTITION BY tok_address) AS units
            FROM _hh_current WHERE tok_postcode IS NOT NULL AND tok_address IS NOT NULL
            GROUP BY tok_postcode, tok_address
        )
        SELECT c.person_id, h.anchor, 'address', {_PLACE.replace("tok_", "h.tok_")}
        FROM _hh_current c JOIN held h ON h.tok_address = c.tok_address AND h.units = 1
        WHERE c.tok_postcode IS NULL
    """)
    if settings.address_dice is not None:
        con.execute("""
            INSERT INTO _hh_address_edges
            SELECT x.person_id, y.person_id, 'address', NULL
            FROM _hh_current x JOIN _hh_current y
              ON y.tok_postcode = x.tok_postcode AND x.person_id < y.person_id
             AND y.tok_address <> x.tok_address
            WHERE 2.0 * bit_count(x.bf_address & y.bf_address)::INTEGER
                  / nullif(x.bf_address_bits + y.bf_address_bits, 0) >= ?
        """, [settings.address_dice])


def _communal_places(con: duckdb.DuckDBPyConnection, settings: HouseholdSettings) -> None:
    """``_hh_communal`` (person_id, place): the residents of communal places (rule 3)."""
    crowded = f"""SELECT node AS person_id, label AS place FROM _hh_places
                  QUALIFY count(*) OVER (PARTITION BY label) >= {int(settings.communal_min_persons)}"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_unit_edges AS
        WITH crowded AS ({crowded}), names AS (
            SELECT DISTINCT c.person_id, c.place, unnest(r.tok_family_parts) AS part
            FROM crowded c JOIN {PERSONS} p ON p.person_id = c.person_id
            JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.unique_id
        )
        SELECT r.a, r.b FROM _hh_ref_pairs r
        JOIN crowded x ON x.person_id = r.a JOIN crowded y ON y.person_id = r.b
        WHERE x.place = y.place AND NOT r.contradicted
        UNION ALL
        SELECT person_id, min(person_id) OVER (PARTITION BY place, part) FROM names
        WHERE part IS NOT NULL
    """)
    _components(con, f"SELECT person_id FROM ({crowded})", "_hh_unit_edges", "_hh_units")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_communal AS
        WITH ages AS (
            SELECT p.person_id, max(coalesce(r.age_months, 12 * r.age_years)) AS age_months  -- whole years: 12 x
            FROM {PERSONS} p JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.unique_id
            GROUP BY p.person_id
        ), units AS (
            SELECT p.label AS place, u.label AS unit,
                   bool_or(coalesce(a.age_months >= {ADULT_MONTHS}, true)) AS adult
            FROM _hh_units u JOIN _hh_places p ON p.node = u.node
            LEFT JOIN ages a ON a.person_id = u.node
            GROUP BY p.label, u.label
        ), places AS (
            SELECT place FROM units GROUP BY place HAVING count(*) FILTER (adult) >= ?
            UNION
            SELECT p.label FROM _hh_places p JOIN _hh_refs r ON r.person_id = p.node
            WHERE list_contains(?, r.source)
            GROUP BY p.label HAVING count(DISTINCT r.tok_household) >= 2
        )
        SELECT p.node AS person_id, p.label AS place
        FROM _hh_places p JOIN places ON places.place = p.label
    """, [settings.communal_min_adult_units, list(settings.exclusive_ref_sources)])


def _households(con: duckdb.DuckDBPyConnection) -> None:
    """``households``: components over kept ref links and address links off communal places."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _hh_edges AS
        SELECT a, b, 'household_ref' AS basis FROM _hh_ref_pairs WHERE NOT contradicted
        UNION ALL
        SELECT a, b, basis FROM _hh_address_edges
        WHERE a NOT IN (SELECT person_id FROM _hh_communal)
    """)
    _components(con, f"SELECT person_id FROM {PERSONS}", "_hh_edges", "_hh_components")
    rank = " ".join(f"WHEN '{basis}' THEN {i}" for i, basis in enumerate(BASES))
    count = con.execute("SELECT count(*) FROM _hh_components").fetchone()[0]
    con.execute(f"""
        CREATE OR REPLACE TABLE {HOUSEHOLDS} AS
        WITH ends AS (
            SELECT a AS person_id, basis FROM _hh_edges UNION ALL SELECT b, basis FROM _hh_edges
        ), best AS (
            SELECT person_id, arg_min(basis, CASE basis {rank} END) AS basis
            FROM ends GROUP BY person_id
        )
        SELECT 'H' || lpad(dense_rank() OVER (ORDER BY c.label)::VARCHAR, {max(7, len(str(count)))}, '0')
                   AS household_id,
               c.node AS person_id, coalesce(b.basis, '{ALONE}') AS basis
        FROM _hh_components c LEFT JOIN best b ON b.person_id = c.node
        ORDER BY household_id, person_id
    """)


def _communal_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE OR REPLACE TABLE {COMMUNAL_ADDRESSES} AS
        WITH residents AS (
            SELECT c.* FROM _hh_current c JOIN _hh_communal USING (person_id)
        ), keys AS (
            SELECT person_id, tok_uprn AS address_key, 'uprn' AS kind
            FROM residents WHERE tok_uprn IS NOT NULL
            UNION ALL
            SELECT person_id, {_PLACE}, 'address'
            FROM residents WHERE tok_postcode IS NOT NULL AND tok_address IS NOT NULL
        )
        SELECT k.address_key, k.kind, count(DISTINCT k.person_id) AS persons,
               count(DISTINCT r.tok_household) AS household_refs
        FROM keys k LEFT JOIN _hh_refs r ON r.person_id = k.person_id
        GROUP BY k.address_key, k.kind
        ORDER BY k.kind, k.address_key
    """)


def _summary(con: duckdb.DuckDBPyConnection, seconds: float) -> HouseholdSummary:
    households, persons, multi = con.execute(f"""
        SELECT count(*), sum(n), count(*) FILTER (n > 1)
        FROM (SELECT count(*) AS n FROM {HOUSEHOLDS} GROUP BY household_id)""").fetchone()
    places, residents = con.execute(
        "SELECT count(DISTINCT place), count(*) FROM _hh_communal").fetchone()
    links = dict(con.execute("""
        WITH kept AS (SELECT * FROM _hh_address_edges
                      WHERE a NOT IN (SELECT person_id FROM _hh_communal))
        SELECT 'household_ref', count(*) FROM _hh_ref_pairs WHERE NOT contradicted
        UNION ALL
        SELECT basis, sum(n * (n - 1) // 2) FROM (
            SELECT basis, count(*) + 1 AS n FROM kept WHERE key IS NOT NULL GROUP BY basis, key)
        GROUP BY basis
        UNION ALL
        SELECT 'fuzzy_address', count(*) FROM kept WHERE key IS NULL
    """).fetchall())
    by_basis = dict(con.execute(f"SELECT basis, count(*) FROM {HOUSEHOLDS} GROUP BY basis").fetchall())
    contradicted = con.execute("SELECT count(*) FROM _hh_ref_pairs WHERE contradicted").fetchone()[0]
    return HouseholdSummary(
        households=households, persons=int(persons or 0), multi_person_households=multi,
        communal_addresses=places, persons_at_communal_addresses=residents,
        links_by_basis={b: int(links.get(b) or 0) for b in (*BASES, "fuzzy_address")},
        persons_by_basis={b: int(by_basis.get(b, 0)) for b in (*BASES, ALONE)},
        contradicted_ref_links=contradicted, seconds=round(seconds, 3))


def _components(con: duckdb.DuckDBPyConnection, nodes_sql: str, edges: str, out: str) -> None:
    """``out`` (node, label): connected components of the nodes of ``nodes_sql`` (one column)
    over the undirected edges (a, b) of ``edges`` between them; label = smallest node.

    Each pass every node takes its neighbours' smallest label, then its label's label
    (pointer jumping), until no label changes.
    """
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {out} AS
                    SELECT DISTINCT n AS node, n AS label FROM ({nodes_sql}) t(n)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_und AS
        SELECT DISTINCT x, y FROM (SELECT a AS x, b AS y FROM {edges}
                                   UNION ALL SELECT b, a FROM {edges})
        WHERE x <> y AND x IN (SELECT node FROM {out}) AND y IN (SELECT node FROM {out})
    """)
    for _ in range(_MAX_PASSES):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _hh_next AS
            WITH spread AS (
                SELECT e.x AS node, min(n.label) AS label
                FROM _hh_und e JOIN {out} n ON n.node = e.y GROUP BY e.x
            ), merged AS (
                SELECT l.node, least(l.label, coalesce(s.label, l.label)) AS label
                FROM {out} l LEFT JOIN spread s USING (node)
            )
            SELECT m.node, least(m.label, j.label) AS label
            FROM merged m JOIN merged j ON j.node = m.label
        """)
        changed = con.execute(f"""SELECT count(*) FROM _hh_next n JOIN {out} o USING (node)
                                  WHERE n.label <> o.label""").fetchone()[0]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM _hh_next")
        if not changed:
            return
    raise RuntimeError(f"connected components over {edges} did not settle in {_MAX_PASSES} passes")
