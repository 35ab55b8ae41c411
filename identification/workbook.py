"""Writes the candidate list as an Excel workbook (``candidates.xlsx``).

Sheets, in order:

* ``Summary``: the run's facts (``meta``), then families per locality (families, eligible,
  one column per priority grading found, highest band first, e.g. "Complex" then "At risk of
  becoming complex", and for review; with a total), eligible families by headline count (0 to
  the maximum, zeros included) and families per headline (all and eligible).
* One sheet per locality in the configured order, holding that locality's rows of the
  ``candidates`` table: eligible first, then by headline count (descending) and family id.
  A configured locality with no families still gets its sheet (header row only), so the
  sheet set does not depend on the data. Localities found in the data but not configured
  (and a missing locality, shown as ``(none)``) follow in alphabetical order, so no family is
  left out. Every ``candidates`` column is written; headline flags are titled with the
  headline's title and shown as ``yes`` or blank. The header row is bold and frozen
  (``B2``, so ``family_id`` stays visible) and carries an autofilter.
* ``Changes`` (families that entered, left, changed headlines, merged or split since the
  previous run) and ``Outcomes`` (attached families' outcome measures), when the run has them.

The file is deterministic: the same tables and arguments give byte-identical files. The
document's created/modified dates are midnight of ``meta``'s reference date when it has one
(``reference date``, ``reference_date`` or ``reference-date``, ISO format), else a constant,
and every zip entry is stamped with that same time.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.writer.excel import ExcelWriter

from familylink.core.tables import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    CHANGE_COLUMNS,
    CHANGES,
    HEADLINE_FLAG_PREFIX,
    OUTCOME_COLUMNS,
    OUTCOMES,
)

SUMMARY_SHEET = "Summary"
CHANGES_SHEET = "Changes"
OUTCOMES_SHEET = "Outcomes"
NO_LOCALITY = "(none)"

#: Used for the document dates when ``meta`` has no reference date.
FIXED_STAMP = dt.datetime(2000, 1, 1)
_REFERENCE_DATE_KEYS = {"referencedate"}
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET_NAME = 31
_BATCH = 10_000
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_BOLD = Font(bold=True)


def quote_ident(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def priority_order(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The non-empty priority gradings in ``candidates``, highest band first.

    Bands are ranked by the fewest headlines a family holding them has (so "complex" comes
    before "at risk of becoming complex"), then by label; no framework knowledge is needed.
    """
    return [
        p
        for (p,) in con.execute(
            f"""
            SELECT priority FROM {CANDIDATES} WHERE coalesce(priority, '') <> ''
            GROUP BY priority ORDER BY min(headline_count) DESC NULLS LAST, priority
            """
        ).fetchall()
    ]


def flag_column(headline_id: str) -> str:
    """The ``candidates`` column holding headline ``headline_id``'s flag."""
    return HEADLINE_FLAG_PREFIX + headline_id


def ordered_localities(con: duckdb.DuckDBPyConnection, localities: Sequence[str]) -> list[str]:
    """Configured localities in order, then any other locality in ``candidates`` (sorted).

    A NULL locality is reported as :data:`NO_LOCALITY`.
    """
    order = list(dict.fromkeys(localities))
    found = con.execute(
        f"SELECT DISTINCT coalesce(locality, ?) AS loc FROM {CANDIDATES} ORDER BY loc",
        [NO_LOCALITY],
    ).fetchall()
    known = set(order)
    return order + [loc for (loc,) in found if loc not in known]


def check_headline_columns(
    con: duckdb.DuckDBPyConnection, headlines: Sequence[tuple[str, str]]
) -> dict[str, str]:
    """The type of each ``candidates`` column; ``ValueError`` if one the writers read is missing."""
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [CANDIDATES],
        ).fetchall()
    )
    wanted = list(CANDIDATE_COLUMNS) + [flag_column(hid) for hid, _ in headlines]
    missing = [c for c in wanted if c not in types]
    if missing:
        raise ValueError(f"{CANDIDATES} lacks columns: {', '.join(missing)}")
    return types


def document_stamp(meta: Mapping[str, str]) -> dt.datetime:
    """Midnight of ``meta``'s reference date if it has a parseable one, else a constant."""
    for key, value in meta.items():
        if re.sub(r"[\s_\-]", "", key.lower()) in _REFERENCE_DATE_KEYS:
            try:
                day = dt.date.fromisoformat(str(value).strip()[:10])
            except ValueError:
                continue
            if day.year >= 1980:  # the earliest time a zip entry can carry
                return dt.datetime(day.year, day.month, day.day)
    return FIXED_STAMP


def sheet_names(localities: Sequence[str]) -> list[str]:
    """Valid, distinct Excel sheet names: ``Summary`` then one per locality, in order.

    Characters Excel forbids become ``_``; names are cut to 31 characters; a name equal
    (ignoring case) to an earlier one gets a `` (2)``, `` (3)``... suffix.
    """
    names: list[str] = []
    taken: set[str] = set()
    for raw in [SUMMARY_SHEET, *localities]:
        base = _INVALID_SHEET_CHARS.sub("_", raw).strip().strip("'") or "_"
        base = base[:_MAX_SHEET_NAME]
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: _MAX_SHEET_NAME - len(suffix)] + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def _bold(ws: WriteOnlyWorksheet, value: object) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.font = _BOLD
    return cell


def _bold_row(ws: WriteOnlyWorksheet, values: Sequence[object]) -> list[WriteOnlyCell]:
    return [_bold(ws, v) for v in values]


def _fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> Iterator[tuple]:
    result = con.execute(sql, list(params))
    while batch := result.fetchmany(_BATCH):
        yield from batch


def _locality_counts(alias: str, priorities: Sequence[str]) -> str:
    """SQL counting families, eligible, each priority and for review among ``alias``."""
    fid = f"{alias}.family_id"
    counts = [f"count({fid})", f"count({fid}) FILTER (WHERE {alias}.eligible)"]
    counts += [
        f"count({fid}) FILTER (WHERE {alias}.priority = {sql_literal(p)})" for p in priorities
    ]
    counts.append(f"count({fid}) FILTER (WHERE {alias}.review)")
    return ", ".join(f"{c}::INTEGER" for c in counts)


def _write_summary(
    ws: WriteOnlyWorksheet,
    con: duckdb.DuckDBPyConnection,
    headlines: Sequence[tuple[str, str]],
    localities: Sequence[str],
    meta: Mapping[str, str],
) -> None:
    ws.column_dimensions["A"].width = 36
    for col in "BCDEFGHIJ":
        ws.column_dimensions[col].width = 16

    ws.append(_bold_row(ws, ["Supporting Families candidate list"]))
    for key, value in meta.items():
        ws.append([_bold(ws, str(key)), str(value)])
    ws.append([])

    ws.append(_bold_row(ws, ["Families by locality"]))
    priorities = priority_order(con)
    ws.append(_bold_row(ws, [
        "Locality", "Families", "Eligible", *(p[:1].upper() + p[1:] for p in priorities),
        "For review",
    ]))
    counts = _locality_counts("c", priorities)
    rows = con.execute(
        f"""
        SELECT l.locality, {counts}
        FROM (SELECT unnest($locs::VARCHAR[]) AS locality) l
        LEFT JOIN {CANDIDATES} c ON coalesce(c.locality, $none) = l.locality
        GROUP BY l.locality ORDER BY list_position($locs::VARCHAR[], l.locality)
        """,
        {"none": NO_LOCALITY, "locs": list(localities)},
    ).fetchall()
    for row in rows:
        ws.append(list(row))
    total = con.execute(f"SELECT 'Total', {counts} FROM {CANDIDATES} c").fetchone() or ()
    ws.append(_bold_row(ws, list(total)))
    ws.append([])

    ws.append(_bold_row(ws, ["Eligible families by headline count"]))
    ws.append(_bold_row(ws, ["Headlines", "Families"]))
    for row in _fetch(
        con,
        f"""
        SELECT n.k::INTEGER, count(c.family_id)::INTEGER
        FROM range(0, (SELECT coalesce(max(headline_count), 0) + 1
                       FROM {CANDIDATES} WHERE eligible)) n(k)
        LEFT JOIN {CANDIDATES} c ON c.eligible AND c.headline_count = n.k
        GROUP BY n.k ORDER BY n.k
        """,
    ):
        ws.append(list(row))
    ws.append([])

    ws.append(_bold_row(ws, ["Families by headline"]))
    ws.append(_bold_row(ws, ["Headline", "Title", "Families", "Eligible families"]))
    if headlines:
        selects = ", ".join(
            f"count(*) FILTER (WHERE {quote_ident(flag_column(hid))})::INTEGER, "
            f"count(*) FILTER (WHERE eligible AND {quote_ident(flag_column(hid))})::INTEGER"
            for hid, _ in headlines
        )
        flat = con.execute(f"SELECT {selects} FROM {CANDIDATES}").fetchone() or ()
        for i, (hid, title) in enumerate(headlines):
            ws.append([hid, title, flat[2 * i], flat[2 * i + 1]])


def _candidate_selects(
    headlines: Sequence[tuple[str, str]], types: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """(header titles, SQL select expressions) of a locality sheet's columns.

    Empty strings become NULL (an empty cell) and headline flags ``'yes'`` or NULL.
    """
    titles = list(CANDIDATE_COLUMNS)
    exprs = [
        f"nullif({quote_ident(c)}, '')" if types[c] == "VARCHAR" else quote_ident(c)
        for c in CANDIDATE_COLUMNS
    ]
    for hid, title in headlines:
        titles.append(title)
        exprs.append(f"CASE WHEN {quote_ident(flag_column(hid))} THEN 'yes' END")
    return titles, exprs


def _column_widths(
    con: duckdb.DuckDBPyConnection, titles: Sequence[str], exprs: Sequence[str], table: str = CANDIDATES
) -> list[float]:
    """One width per column, from the header and the longest value in ``table``."""
    lengths = ", ".join(f"max(length(CAST({e} AS VARCHAR)))" for e in exprs)
    longest = con.execute(f"SELECT {lengths} FROM {table}").fetchone() or ()
    widths = []
    for title, data in zip(titles, longest, strict=True):
        chars = max(len(title) + 2, (data or 0) + 1)
        widths.append(float(min(max(chars, _MIN_WIDTH), _MAX_WIDTH)))
    return widths


def _write_locality(
    ws: WriteOnlyWorksheet,
    con: duckdb.DuckDBPyConnection,
    locality: str,
    titles: Sequence[str],
    exprs: Sequence[str],
    widths: Sequence[float],
) -> None:
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "B2"
    ws.append(_bold_row(ws, titles))
    n = 0
    for row in _fetch(
        con,
        f"""
        SELECT {', '.join(exprs)} FROM {CANDIDATES}
        WHERE coalesce(locality, ?) = ?
        ORDER BY eligible DESC NULLS LAST, headline_count DESC NULLS LAST, family_id
        """,
        [NO_LOCALITY, locality],
    ):
        ws.append(row)
        n += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(titles))}{n + 1}"


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the run database holds ``table`` (``changes``, ``outcomes`` exist only with a store)."""
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                       "AND schema_name = 'main' AND table_name = ?", [table]).fetchone()[0] > 0


def _write_table(ws: WriteOnlyWorksheet, con: duckdb.DuckDBPyConnection, table: str,
                 columns: Sequence[str]) -> None:
    """A whole table (``changes``, ``outcomes``) as one sheet, in its stored order."""
    exprs = [quote_ident(c) for c in columns]
    for i, width in enumerate(_column_widths(con, columns, exprs, table), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "B2"
    ws.append(_bold_row(ws, columns))
    n = 0
    for row in _fetch(con, f"SELECT {', '.join(exprs)} FROM {table} ORDER BY ALL"):
        ws.append(row)
        n += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n + 1}"


def _normalised_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """``data`` (a zip) rewritten with every entry stamped ``stamp``, in the same order."""
    out = io.BytesIO()
    date_time = stamp.timetuple()[:6]
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def write_candidates_workbook(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    headlines: Sequence[tuple[str, str]],
    localities: Sequence[str],
    meta: Mapping[str, str],
) -> list[str]:
    """Write the candidate list workbook to ``path``; return the sheet names, in order.

    ``headlines``: (id, title) in framework order; ``localities``: locality names in the
    configured order; ``meta``: ordered facts for the summary sheet.
    """
    types = check_headline_columns(con, headlines)
    all_localities = ordered_localities(con, localities)
    names = sheet_names(all_localities)
    stamp = document_stamp(meta)

    wb = Workbook(write_only=True)
    wb.properties.creator = "familylink"
    wb.properties.created = stamp
    wb.properties.modified = stamp

    _write_summary(wb.create_sheet(names[0]), con, headlines, all_localities, meta)
    titles, exprs = _candidate_selects(headlines, types)
    widths = _column_widths(con, titles, exprs)
    for name, locality in zip(names[1:], all_localities, strict=True):
        _write_locality(wb.create_sheet(name), con, locality, titles, exprs, widths)
    for sheet, table, columns in ((CHANGES_SHEET, CHANGES, CHANGE_COLUMNS), (OUTCOMES_SHEET, OUTCOMES, OUTCOME_COLUMNS)):
        if has_table(con, table):
            _write_table(wb.create_sheet(sheet), con, table, columns)
            names.append(sheet)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).write_data()  # Workbook.save would stamp "modified" with now
    Path(path).write_bytes(_normalised_zip(buffer.getvalue(), stamp))
    return names
