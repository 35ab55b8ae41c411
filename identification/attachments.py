"""The council's register of attached families: reading it and linking it to current families.

``read_attachment_register(path, today=None)`` reads the register, a CSV file (UTF-8, a
byte-order mark and Windows line endings accepted) with the columns
``attachment_ref, source, record_id, attached_on, lead_team``: one row per member record the
lead agency holds, several rows sharing an ``attachment_ref``. A problem with the whole file
(missing, empty, not UTF-8, a column missing) raises ``AttachmentRegisterError``. A problem
with a row (blank ref, source or record id, unknown source, a date that is not
``YYYY-MM-DD`` or lies after ``today``, a ref given two different attachment dates, a row
repeated) excludes the row: it is listed in ``register.rejected`` with its reasons, and in
``register.problems`` located by file, row (the header is row 1) and column, never by value.
Rows in = accepted + rejected.

``link_attachments(con, register, problems_by_family=None)`` writes ``attachments`` (the
accepted rows) and ``attached_families`` (ATTACHED_FAMILY_COLUMNS, the last ``problems_basis``):
every current family (``families``, ``persons``) one of whose members' records the register
names. An entry whose records land in two families attaches both (reported); an entry whose
records land in none is reported. ``problems`` are the headlines identified at attachment,
given by the caller (from the run store) or else the family's current headlines
(``candidates.headlines``); ``problems_basis`` says which.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from familylink.core.contract import SOURCES
from familylink.core.errors import FamilylinkError, Problem
from familylink.core.fingerprint import file_sha256
from familylink.core.tables import (
    ATTACHED_FAMILIES,
    ATTACHMENT_COLUMNS,
    ATTACHMENTS,
    CANDIDATES,
    FAMILIES,
    PERSONS,
)

ROW_CONVENTION = "the header is row 1"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
GIVEN_PROBLEMS = "given at attachment"
CURRENT_PROBLEMS = "current headlines"
_GIVEN_TABLE = "attachment_problems_given"


class AttachmentRegisterError(FamilylinkError):
    """The attachment register cannot be used as a whole (missing, empty, not UTF-8, a column missing)."""


@dataclass(frozen=True)
class RegisterRow:
    """One accepted row: a member record of an attached family. ``row`` is its spreadsheet row."""

    attachment_ref: str
    source: str
    record_id: str
    attached_on: dt.date
    lead_team: str
    row: int


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reasons: tuple[str, ...]


@dataclass
class AttachmentRegister:
    path: Path
    sha256: str
    rows: list[RegisterRow]
    rejected: list[RejectedRow]
    problems: list[Problem]
    blank_lines: int = 0

    @property
    def rows_in(self) -> int:
        return len(self.rows) + len(self.rejected)

    @property
    def entries(self) -> int:
        return len({r.attachment_ref for r in self.rows})


def _where(path: Path, row: int | None = None, column: str | None = None) -> str:
    text = path.name
    if row is not None:
        text += f" row {row} ({ROW_CONVENTION})"
    if column:
        text += f", column {column}"
    return text


def _read_records(path: Path) -> list[tuple[int, list[str]]]:
    """(spreadsheet row, record) for every record, header first; blank lines keep their number."""
    if not path.is_file():
        raise AttachmentRegisterError(f"the attachment register {path} does not exist")
    if path.stat().st_size == 0:
        raise AttachmentRegisterError(f"the attachment register {path.name} is empty: it has no header row")
    records: list[tuple[int, list[str]]] = []
    try:
        with open(path, encoding="utf-8-sig", errors="strict", newline="") as handle:
            reader = csv.reader(handle)
            row = 0
            for record in reader:
                row += 1
                records.append((row, record))
    except UnicodeDecodeError:
        raise AttachmentRegisterError(
            f"the attachment register {path.name} is not UTF-8 text (re-save it as CSV UTF-8)",
            [Problem(_where(path), "bytes that are not UTF-8 (the file may be Latin-1 or Windows-1252)",
                     "re-save the file as UTF-8 (CSV UTF-8 in Excel)")]) from None
    except csv.Error as error:
        raise AttachmentRegisterError(
            f"the attachment register {path.name} is not valid CSV near row {row + 1} ({error})") from None
    return records


def _header(path: Path, records: list[tuple[int, list[str]]]) -> dict[str, int]:
    if not records or not any(cell.strip() for cell in records[0][1]):
        raise AttachmentRegisterError(f"the attachment register {path.name} has no header row")
    names = [cell.strip().lower() for cell in records[0][1]]
    missing = [c for c in ATTACHMENT_COLUMNS if c not in names]
    if missing:
        raise AttachmentRegisterError(
            f"the attachment register {path.name} lacks the column(s) {', '.join(missing)}",
            [Problem(_where(path, 1, c), "required column missing",
                     f"the register needs the columns {', '.join(ATTACHMENT_COLUMNS)}") for c in missing])
    if not any(any(cell.strip() for cell in record) for _, record in records[1:]):
        raise AttachmentRegisterError(f"the attachment register {path.name} has a header but no rows")
    return {name: names.index(name) for name in ATTACHMENT_COLUMNS}


def _check_row(path: Path, row: int, cells: dict[str, str], today: dt.date) -> tuple[list[Problem], dt.date | None]:
    problems = []

    def bad(column: str, what: str, fix: str) -> None:
        problems.append(Problem(_where(path, row, column), what, fix))

    for column in ("attachment_ref", "source", "record_id"):
        if not cells[column]:
            bad(column, "blank", f"give the {column.replace('_', ' ')} of every row")
    if cells["source"] and cells["source"] not in SOURCES:
        bad("source", "unknown source", f"use one of {', '.join(SOURCES)}")
    attached_on = None
    text = cells["attached_on"]
    if not text:
        bad("attached_on", "blank", "give the attachment date as YYYY-MM-DD")
    else:
        try:
            attached_on = dt.date.fromisoformat(text) if _DATE.match(text) else None
        except ValueError:
            attached_on = None
        if attached_on is None:
            bad("attached_on", "not a date in the form YYYY-MM-DD", "write the date as YYYY-MM-DD")
        elif attached_on > today:
            bad("attached_on", f"a date after today ({today.isoformat()})", "check the attachment date")
            attached_on = None
    return problems, attached_on


def read_attachment_register(path: str | Path, today: dt.date | None = None) -> AttachmentRegister:
    """Read and check the register; rows with problems are rejected, never guessed at."""
    path = Path(path)
    today = today or dt.date.today()
    records = _read_records(path)
    columns = _header(path, records)
    problems_by_row: dict[int, list[Problem]] = {}
    candidates: list[RegisterRow] = []
    blank = 0
    for row, record in records[1:]:
        if not any(cell.strip() for cell in record):
            blank += 1
            continue
        cells = {name: (record[i].strip() if i < len(record) else "") for name, i in columns.items()}
        cells["source"] = cells["source"].lower()
        problems, attached_on = _check_row(path, row, cells, today)
        if problems:
            problems_by_row[row] = problems
        else:
            candidates.append(RegisterRow(cells["attachment_ref"], cells["source"], cells["record_id"],
                                          attached_on, cells["lead_team"], row))
    # a ref must have one attachment date; a repeated (ref, source, record_id) is kept once
    dates: dict[str, set[dt.date]] = {}
    for r in candidates:
        dates.setdefault(r.attachment_ref, set()).add(r.attached_on)
    seen: dict[tuple[str, str, str], int] = {}
    accepted = []
    for r in candidates:
        if len(dates[r.attachment_ref]) > 1:
            others = sorted(o.row for o in candidates if o.attachment_ref == r.attachment_ref
                            and o.attached_on != r.attached_on)
            problems_by_row[r.row] = [Problem(
                _where(path, r.row, "attached_on"),
                f"the same attachment_ref has a different attachment date on row(s) {', '.join(map(str, others))}",
                "give every row of an attachment the same date")]
            continue
        key = (r.attachment_ref, r.source, r.record_id)
        if key in seen:
            problems_by_row[r.row] = [Problem(_where(path, r.row, "record_id"),
                                              f"repeats row {seen[key]} (same attachment, source and record)",
                                              "remove the repeated row")]
            continue
        seen[key] = r.row
        accepted.append(r)
    rejected = [RejectedRow(row, tuple(f"{p.where.rsplit(', column ', 1)[-1]}: {p.what}" for p in problems))
                for row, problems in sorted(problems_by_row.items())]
    problems = [p for _, ps in sorted(problems_by_row.items()) for p in ps]
    return AttachmentRegister(path, file_sha256(path), accepted, rejected, problems, blank)


# --- linking ------------------------------------------------------------------------------


@dataclass
class LinkSummary:
    entries: int
    linked_entries: int
    families: int
    records: int
    records_matched: int
    unmatched_entries: list[str] = field(default_factory=list)
    #: entries whose records land in more than one current family -> those families
    split_entries: dict[str, list[str]] = field(default_factory=dict)
    #: families attached under more than one entry -> those entries
    families_in_several_entries: dict[str, list[str]] = field(default_factory=dict)
    #: families whose problems came from their current headlines (none given by the caller)
    problems_from_current: int = 0


def write_attachments_table(con: duckdb.DuckDBPyConnection, rows: Iterable[RegisterRow]) -> int:
    """``attachments`` (ATTACHMENT_COLUMNS) from register rows; returns the row count."""
    con.execute(f"""CREATE OR REPLACE TABLE {ATTACHMENTS} (attachment_ref VARCHAR, source VARCHAR,
                    record_id VARCHAR, attached_on DATE, lead_team VARCHAR)""")
    values = [(r.attachment_ref, r.source, r.record_id, r.attached_on, r.lead_team) for r in rows]
    if values:
        con.executemany(f"INSERT INTO {ATTACHMENTS} VALUES (?, ?, ?, ?, ?)", values)
    return len(values)


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute("SELECT (SELECT count(*) FROM duckdb_tables() WHERE table_name = ?) "
                       "+ (SELECT count(*) FROM duckdb_views() WHERE view_name = ?)", [name, name]).fetchone()[0] > 0


def _given_problems(con: duckdb.DuckDBPyConnection,
                    problems_by_family: str | Mapping[str, Sequence[str]] | None) -> tuple[str, bool]:
    """A relation ``(family_id, attachment_ref, problems)`` of the caller's problems; whether it
    is keyed by attachment_ref too."""
    if problems_by_family is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_GIVEN_TABLE} (family_id VARCHAR, problems VARCHAR[])")
        return _GIVEN_TABLE, False
    if isinstance(problems_by_family, str):
        columns = {c[0] for c in con.execute(f"DESCRIBE {problems_by_family}").fetchall()}
        return problems_by_family, "attachment_ref" in columns
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_GIVEN_TABLE} (family_id VARCHAR, problems VARCHAR[])")
    values = [(family, list(problems)) for family, problems in sorted(problems_by_family.items())]
    if values:
        con.executemany(f"INSERT INTO {_GIVEN_TABLE} VALUES (?, ?)", values)
    return _GIVEN_TABLE, False


def link_attachments(con: duckdb.DuckDBPyConnection,
                     register: AttachmentRegister | Iterable[RegisterRow] | str = ATTACHMENTS,
                     problems_by_family: str | Mapping[str, Sequence[str]] | None = None) -> LinkSummary:
    """Write ``attached_families``: current families linked to register entries through members.

    ``register``: a register, its rows, or the name of a table with ATTACHMENT_COLUMNS.
    ``problems_by_family``: the headlines each family had at attachment, as a mapping
    ``family_id -> [headline, ...]`` or the name of a table ``(family_id[, attachment_ref],
    problems VARCHAR[])``; families it does not name get their current headlines.
    """
    if isinstance(register, str):
        table = register
    else:
        write_attachments_table(con, register.rows if isinstance(register, AttachmentRegister) else register)
        table = ATTACHMENTS
    given, by_ref = _given_problems(con, problems_by_family)
    candidates = CANDIDATES if _exists(con, CANDIDATES) else "(SELECT NULL::VARCHAR AS family_id, NULL::VARCHAR AS headlines)"
    given_join = "g.family_id = l.family_id" + (" AND g.attachment_ref = l.attachment_ref" if by_ref else "")
    con.execute(f"""
        CREATE OR REPLACE TABLE {ATTACHED_FAMILIES} AS
        WITH records AS (
            SELECT DISTINCT attachment_ref, source, record_id FROM {table}
        ),
        entries AS (
            SELECT attachment_ref, min(attached_on) AS attached_on,
                   array_to_string(list_sort(list_distinct(list(nullif(trim(lead_team), '')))), '; ')
                       AS lead_team
            FROM {table} GROUP BY attachment_ref
        ),
        hits AS (
            SELECT DISTINCT r.attachment_ref, r.source, r.record_id, f.family_id
            FROM records r
            JOIN {PERSONS} p USING (source, record_id)
            JOIN {FAMILIES} f ON f.person_id = p.person_id AND f.family_id IS NOT NULL
        ),
        linked AS (
            SELECT family_id, attachment_ref, count(*)::INTEGER AS records_matched
            FROM hits GROUP BY family_id, attachment_ref
        )
        SELECT l.family_id, l.attachment_ref, e.attached_on, e.lead_team, l.records_matched,
               coalesce(g.problems,
                        list_filter(string_split(coalesce(c.headlines, ''), ';'), h -> h <> ''))::VARCHAR[]
                   AS problems,
               CASE WHEN g.problems IS NOT NULL THEN ? ELSE ? END AS problems_basis
        FROM linked l
        JOIN entries e USING (attachment_ref)
        LEFT JOIN {given} g ON {given_join}
        LEFT JOIN {candidates} c ON c.family_id = l.family_id
        ORDER BY l.family_id, l.attachment_ref
    """, [GIVEN_PROBLEMS, CURRENT_PROBLEMS])
    entries, records = con.execute(
        f"SELECT count(DISTINCT attachment_ref), count(*) FROM (SELECT DISTINCT attachment_ref, source, record_id "
        f"FROM {table})").fetchone()
    unmatched = [r[0] for r in con.execute(
        f"SELECT DISTINCT attachment_ref FROM {table} ANTI JOIN {ATTACHED_FAMILIES} USING (attachment_ref) "
        "ORDER BY 1").fetchall()]
    split = dict(con.execute(f"""
        SELECT attachment_ref, list_sort(list(family_id)) FROM {ATTACHED_FAMILIES}
        GROUP BY 1 HAVING count(*) > 1 ORDER BY 1""").fetchall())
    several = dict(con.execute(f"""
        SELECT family_id, list_sort(list(attachment_ref)) FROM {ATTACHED_FAMILIES}
        GROUP BY 1 HAVING count(*) > 1 ORDER BY 1""").fetchall())
    families, linked_entries, from_current = con.execute(f"""
        SELECT count(DISTINCT family_id), count(DISTINCT attachment_ref),
               count(DISTINCT family_id) FILTER (WHERE problems_basis = ?)
        FROM {ATTACHED_FAMILIES}""", [CURRENT_PROBLEMS]).fetchone()
    matched = con.execute(f"""
        SELECT count(*) FROM (SELECT DISTINCT a.attachment_ref, a.source, a.record_id FROM {table} a
                              JOIN {PERSONS} p USING (source, record_id)
                              JOIN {FAMILIES} f ON f.person_id = p.person_id AND f.family_id IS NOT NULL)
    """).fetchone()[0]
    return LinkSummary(entries, linked_entries, families, records, matched, unmatched, split, several,
                       from_current)
