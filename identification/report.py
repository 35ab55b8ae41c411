"""Writes the identification report: one self-contained ``report.html`` for publication.

No script, external stylesheet, font or image: the CSS is inline and the charts are SVG
drawn here (horizontal bars). Sections, in order:

1. title and the run's facts (``meta``);
2. headline counts: families, eligible families, persons in families, persons in eligible
   families, families for review;
3. families by headline count (chart, 0 to the maximum);
4. eligible families by headline and locality (table, with totals);
5. priority grading by locality (table; one column per priority value, ``''`` shown as
   "no grading");
6. link confidence of families (chart of the families' lowest link confidence, binned);
7. evidence by source (table: evidence rows, counted rows, families, persons).

Small-number suppression: every count above 0 and below ``suppress_below`` is shown as
``<N`` and each table or chart says so underneath; a suppressed bar is drawn as a short
hatched stub so its length does not give the count away. ``suppress_below=0`` disables it.
Totals are not adjusted (no secondary suppression). Localities are listed in the configured
order, then any other locality found in the data. The output depends only on the tables and
the arguments: the same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import duckdb

from familylink.core.tables import CANDIDATES, EVIDENCE, FAMILIES
from identification.workbook import (
    NO_LOCALITY,
    check_headline_columns,
    flag_column,
    ordered_localities,
    priority_order,
    quote_ident,
    sql_literal,
)

#: Upper bounds of the link-confidence bins (the last bin is ">= 0.999").
CONFIDENCE_BINS = (
    ("< 0.9", 0.9),
    ("0.9 – 0.95", 0.95),
    ("0.95 – 0.99", 0.99),
    ("0.99 – 0.999", 0.999),
)
NO_GRADING = "no grading"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:64rem;padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .6rem}td{text-align:right}
th{background:#f2f2f2;text-align:left}tr.total th,tr.total td{font-weight:bold}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.meta dt{font-weight:bold}dl.meta dd{margin:0}
p.note{font-size:.85rem;color:#555}svg text{font-size:12px;fill:#1b1b1b}
"""


def _count(n: int | None, below: int) -> str:
    """A count as published: blank if unknown, ``<N`` if suppressed."""
    if n is None:
        return ""
    if 0 < n < below:
        return f"<{below}"
    return f"{n:,}"


def _note(below: int) -> str:
    if below <= 1:
        return ""
    return (
        f'<p class="note">Counts below {below} are suppressed (shown as '
        f"{escape(f'<{below}')}).</p>\n"
    )


def _table(
    header: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int | None]]],
    below: int,
    *,
    total: tuple[str, Sequence[int | None]] | None = None,
) -> str:
    """An HTML table: a row header then counts; ``total`` appended in bold."""
    out = ["<table>\n<thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in header]
    out.append("</tr></thead>\n<tbody>\n")
    for label, counts in rows:
        cells = "".join(f"<td>{escape(_count(n, below))}</td>" for n in counts)
        out.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>\n')
    if total is not None:
        label, counts = total
        cells = "".join(f"<td>{escape(_count(n, below))}</td>" for n in counts)
        out.append(f'<tr class="total"><th scope="row">{escape(label)}</th>{cells}</tr>\n')
    out.append("</tbody>\n</table>\n")
    return "".join(out) + _note(below)


def _bar_chart(anchor: str, title: str, bars: Sequence[tuple[str, int]], below: int) -> str:
    """A horizontal bar chart as inline SVG, followed by the suppression note."""
    label_w, bar_w, value_w, row_h, pad = 150, 420, 70, 22, 6
    width = label_w + bar_w + value_w
    height = pad * 2 + row_h * max(len(bars), 1)
    shown = [n for _, n in bars if not 0 < n < below]
    scale = max(shown, default=0) or 1
    out = [
        f'<svg role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">\n',
        f"<title>{escape(title)}</title>\n",
        f'<defs><pattern id="{anchor}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="4" fill="#9aa5b1"/></pattern>'
        "</defs>\n",
    ]
    for i, (label, n) in enumerate(bars):
        y = pad + i * row_h
        mid = y + row_h / 2 + 4
        suppressed = 0 < n < below
        length = 8 if suppressed else round(bar_w * n / scale)
        fill = f"url(#{anchor}-hatch)" if suppressed else "#2b6cb0"
        out.append(
            f'<text x="{label_w - 8}" y="{mid:g}" text-anchor="end">{escape(label)}</text>'
        )
        if length:
            out.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{length}" height="{row_h - 6}" '
                f'fill="{fill}"/>'
            )
        out.append(
            f'<text x="{label_w + length + 6}" y="{mid:g}">{escape(_count(n, below))}</text>\n'
        )
    out.append("</svg>\n")
    return "".join(out) + _note(below)


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{body}</section>\n'


def _headline_counts(con: duckdb.DuckDBPyConnection, below: int) -> str:
    families, eligible, review = con.execute(
        f"""
        SELECT count(*)::INTEGER, count(*) FILTER (WHERE eligible)::INTEGER,
               count(*) FILTER (WHERE review)::INTEGER
        FROM {CANDIDATES}
        """
    ).fetchone() or (0, 0, 0)
    persons, eligible_persons = con.execute(
        f"""
        SELECT count(DISTINCT f.person_id)::INTEGER,
               count(DISTINCT f.person_id) FILTER (WHERE c.eligible)::INTEGER
        FROM {FAMILIES} f LEFT JOIN {CANDIDATES} c USING (family_id)
        WHERE f.family_id IS NOT NULL
        """
    ).fetchone() or (0, 0)
    rows = [
        ("Families", [families]),
        ("Eligible families", [eligible]),
        ("Persons in families", [persons]),
        ("Persons in eligible families", [eligible_persons]),
        ("Families for review", [review]),
    ]
    return _table(["", "Count"], rows, below)


def _by_headline_count(con: duckdb.DuckDBPyConnection, below: int) -> str:
    bars = con.execute(
        f"""
        SELECT n.k::INTEGER, count(c.family_id)::INTEGER
        FROM range(0, (SELECT coalesce(max(headline_count), 0) + 1 FROM {CANDIDATES})) n(k)
        LEFT JOIN {CANDIDATES} c ON c.headline_count = n.k
        GROUP BY n.k ORDER BY n.k
        """
    ).fetchall()
    return _bar_chart(
        "headline-count", "Families by number of headlines", [(str(k), n) for k, n in bars], below
    )


def _per_locality(
    con: duckdb.DuckDBPyConnection, localities: Sequence[str], selects: Sequence[str]
) -> tuple[list[tuple[str, list[int]]], list[int]]:
    """For each locality (in order) and in total, the counts ``selects`` compute."""
    cols = ", ".join(f"({s})::INTEGER" for s in selects)
    rows = con.execute(
        f"""
        SELECT l.locality, {cols}
        FROM (SELECT unnest($locs::VARCHAR[]) AS locality) l
        LEFT JOIN {CANDIDATES} c ON coalesce(c.locality, $none) = l.locality
        GROUP BY l.locality ORDER BY list_position($locs::VARCHAR[], l.locality)
        """,
        {"locs": list(localities), "none": NO_LOCALITY},
    ).fetchall()
    total = con.execute(f"SELECT {cols} FROM {CANDIDATES} c").fetchone() or ()
    return [(r[0], list(r[1:])) for r in rows], list(total)


def _headline_by_locality(
    con: duckdb.DuckDBPyConnection,
    headlines: Sequence[tuple[str, str]],
    localities: Sequence[str],
    below: int,
) -> str:
    selects = ["count(c.family_id) FILTER (WHERE c.eligible)"] + [
        f"count(c.family_id) FILTER (WHERE c.eligible AND c.{quote_ident(flag_column(hid))})"
        for hid, _ in headlines
    ]
    rows, total = _per_locality(con, localities, selects)
    header = ["Locality", "Eligible families", *(title for _, title in headlines)]
    return _table(header, rows, below, total=("Total", total))


def _priority_by_locality(
    con: duckdb.DuckDBPyConnection, localities: Sequence[str], below: int
) -> str:
    priorities = priority_order(con)
    graded = con.execute(
        f"SELECT count(*) FILTER (WHERE coalesce(priority, '') = '') > 0 FROM {CANDIDATES}"
    ).fetchone()
    if graded and graded[0]:
        priorities.append("")
    selects = [
        f"count(c.family_id) FILTER (WHERE coalesce(c.priority, '') = {sql_literal(p)})"
        for p in priorities
    ]
    rows, total = _per_locality(con, localities, ["count(c.family_id)", *selects])
    header = ["Locality", "Families", *(p or NO_GRADING for p in priorities)]
    return _table(header, rows, below, total=("Total", total))


def _link_confidence(con: duckdb.DuckDBPyConnection, below: int) -> str:
    cases = " ".join(
        f"WHEN min_link_confidence < {bound} THEN {i}"
        for i, (_, bound) in enumerate(CONFIDENCE_BINS)
    )
    labels = [label for label, _ in CONFIDENCE_BINS] + ["≥ 0.999"]
    found = dict(
        con.execute(
            f"""
            SELECT CASE WHEN min_link_confidence IS NULL THEN -1 {cases}
                        ELSE {len(CONFIDENCE_BINS)} END AS bin,
                   count(*)::INTEGER
            FROM {CANDIDATES} GROUP BY bin ORDER BY bin
            """
        ).fetchall()
    )
    bars = [(label, found.get(i, 0)) for i, label in enumerate(labels)]
    if -1 in found:
        bars.append(("unknown", found[-1]))
    return _bar_chart(
        "link-confidence", "Families by lowest link confidence of their members", bars, below
    )


def _evidence_by_source(con: duckdb.DuckDBPyConnection, below: int) -> str:
    rows = con.execute(
        f"""
        SELECT coalesce(source, ''), count(*)::INTEGER,
               count(*) FILTER (WHERE counted)::INTEGER,
               count(DISTINCT family_id)::INTEGER, count(DISTINCT person_id)::INTEGER
        FROM {EVIDENCE} GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    total = con.execute(
        f"""
        SELECT count(*)::INTEGER, count(*) FILTER (WHERE counted)::INTEGER,
               count(DISTINCT family_id)::INTEGER, count(DISTINCT person_id)::INTEGER
        FROM {EVIDENCE}
        """
    ).fetchone() or ()
    header = ["Source", "Evidence rows", "Counted rows", "Families", "Persons"]
    return _table(header, [(r[0], r[1:]) for r in rows], below, total=("All sources", total))


def write_report(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    headlines: Sequence[tuple[str, str]],
    localities: Sequence[str],
    meta: Mapping[str, str],
    suppress_below: int = 5,
) -> None:
    """Write the self-contained HTML report to ``path`` (see the module docstring)."""
    if suppress_below < 0:
        raise ValueError("suppress_below must be 0 (no suppression) or more")
    check_headline_columns(con, headlines)
    below = suppress_below
    locs = ordered_localities(con, localities)
    title = "Supporting Families: families with multiple needs"
    meta_html = "".join(
        f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>\n" for k, v in meta.items()
    )
    sections = [
        _section("headline-counts", "Headline counts", _headline_counts(con, below)),
        _section("headline-count", "Families by number of headlines",
                 _by_headline_count(con, below)),
        _section("headlines-by-locality", "Eligible families by headline and locality",
                 _headline_by_locality(con, headlines, locs, below)),
        _section("priority-by-locality", "Priority grading by locality",
                 _priority_by_locality(con, locs, below)),
        _section("link-confidence", "Link confidence of families", _link_confidence(con, below)),
        _section("evidence-by-source", "Evidence by source", _evidence_by_source(con, below)),
    ]
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<dl class=\"meta\">\n{meta_html}</dl>\n"
        + "".join(sections)
        + "</body>\n</html>\n"
    )
    Path(path).write_text(document, encoding="utf-8", newline="\n")
