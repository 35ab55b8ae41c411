"""The candidate workbook and the HTML report, on small hand-built identification tables."""

from __future__ import annotations

import datetime as dt
import re
import time
import zipfile
from html import escape
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from familylink.core.tables import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    EVIDENCE,
    EVIDENCE_COLUMNS,
    FAMILIES,
    FAMILY_COLUMNS,
    HEADLINE_FLAG_PREFIX,
)
from identification.report import write_report
from identification.workbook import sheet_names, write_candidates_workbook

EDU, HEALTH = "Getting a good education", "Improved mental and physical health"
HEADLINES = [("education", EDU), ("health", HEALTH)]
ODD = "Oadby <&> Wigston"
LOCALITIES = ["Charnwood", ODD, "Melton"]  # Melton has no families
META = {
    "framework": "Supporting Families 2022-2025",
    "version": "3.1",
    "reference date": "2026-09-30",
    "run id": "run-0001",
}
COMPLEX, AT_RISK = "complex", "at risk of becoming complex"

CANDIDATE_TYPES = {
    "family_id": "VARCHAR", "eligible": "BOOLEAN", "headline_count": "INTEGER",
    "headlines": "VARCHAR", "indicators": "VARCHAR", "priority": "VARCHAR",
    "locality": "VARCHAR", "postcode_district": "VARCHAR", "members": "INTEGER",
    "children": "INTEGER", "non_resident_members": "INTEGER", "min_link_confidence": "DOUBLE",
    "review": "BOOLEAN", "review_reasons": "VARCHAR", "status": "VARCHAR",
}
FAMILY_TYPES = {
    "family_id": "VARCHAR", "person_id": "VARCHAR", "household_id": "VARCHAR",
    "role": "VARCHAR", "age": "INTEGER", "resident": "BOOLEAN",
}
EVIDENCE_TYPES = {
    "family_id": "VARCHAR", "person_id": "VARCHAR", "headline": "VARCHAR", "rule_id": "VARCHAR",
    "source": "VARCHAR", "record_id": "VARCHAR", "event_date": "DATE", "indicator": "VARCHAR",
    "value": "DOUBLE", "resident": "BOOLEAN", "counted": "BOOLEAN",
}


def family(fid, locality, count, *, eligible=None, priority="", edu=False, health=False,
           conf=0.999, review=False, members=3):
    eligible = count >= 1 if eligible is None else eligible
    heads = ";".join(h for h, on in (("education", edu), ("health", health)) if on)
    return (fid, eligible, count, heads, "", priority, locality, "LE11", members, 1, 0, conf,
            review, "low confidence" if review else "", "new", edu, health)


# Charnwood: 3 families (a count the report must suppress); Oadby <&> Wigston: 6; Melton: none.
ROWS = [
    family("C2", "Charnwood", 1, priority=AT_RISK, edu=True, conf=0.93),
    family("C3", "Charnwood", 0, eligible=False, conf=0.5),
    family("C1", "Charnwood", 2, priority=COMPLEX, edu=True, health=True, review=True),
    family("W1", ODD, 2, priority=COMPLEX, edu=True, health=True),
    family("W2", ODD, 2, priority=COMPLEX, edu=True, health=True, conf=0.97),
    family("W3", ODD, 1, priority=AT_RISK, health=True),
    family("W4", ODD, 1, priority=AT_RISK, health=True, conf=0.9995),
    family("W5", ODD, 1, priority=AT_RISK, edu=True),
    family("W6", ODD, 0, eligible=False, conf=0.995),
]


def _create(con: duckdb.DuckDBPyConnection, table: str, types: dict[str, str]) -> None:
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in types.items())})")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    assert tuple(CANDIDATE_TYPES) == CANDIDATE_COLUMNS
    assert tuple(FAMILY_TYPES) == FAMILY_COLUMNS
    assert tuple(EVIDENCE_TYPES) == EVIDENCE_COLUMNS
    flags = {f"{HEADLINE_FLAG_PREFIX}{hid}": "BOOLEAN" for hid, _ in HEADLINES}
    _create(con, CANDIDATES, CANDIDATE_TYPES | flags)
    con.executemany(f"INSERT INTO {CANDIDATES} VALUES ({', '.join('?' * 17)})", ROWS)
    _create(con, FAMILIES, FAMILY_TYPES)
    people = [(r[0], f"{r[0]}-p{i}", f"h-{r[0]}", "member", 30, True)
              for r in ROWS for i in range(3)]
    people += [(None, "lonely-1", "h-x", None, 70, True)]
    con.executemany(f"INSERT INTO {FAMILIES} VALUES (?, ?, ?, ?, ?, ?)", people)
    _create(con, EVIDENCE, EVIDENCE_TYPES)
    evidence = [
        ("C1", "C1-p0", "education", "edu.absence", "schools", "S1", dt.date(2026, 3, 1),
         "persistent_absence", 0.2, True, True),
        ("C1", "C1-p1", "health", "health.mh", "health", "H1", dt.date(2026, 5, 1),
         "mental_health", None, True, True),
    ] + [
        (f"W{i}", f"W{i}-p0", "health", "health.mh", "health", f"H{i + 1}", dt.date(2026, 5, 1),
         "mental_health", None, True, i != 4)
        for i in range(1, 7)
    ]
    con.executemany(f"INSERT INTO {EVIDENCE} VALUES ({', '.join('?' * 11)})", evidence)
    yield con
    con.close()


def _workbook(con, path: Path, localities=LOCALITIES) -> list[str]:
    return write_candidates_workbook(con, path, headlines=HEADLINES, localities=localities,
                                     meta=META)


def _report(con, path: Path, **kwargs) -> str:
    write_report(con, path, headlines=HEADLINES, localities=LOCALITIES, meta=META, **kwargs)
    return path.read_text(encoding="utf-8")


# --- workbook -------------------------------------------------------------------------------


def test_sheet_names_and_order(con, tmp_path):
    path = tmp_path / "candidates.xlsx"
    names = _workbook(con, path)
    assert names == ["Summary", "Charnwood", ODD, "Melton"]
    assert load_workbook(path).sheetnames == names


def test_locality_sheets_frozen_filtered_and_bold(con, tmp_path):
    path = tmp_path / "candidates.xlsx"
    _workbook(con, path)
    wb = load_workbook(path)
    last = "Q"  # 15 candidate columns + 2 headline flags
    for name, n in (("Charnwood", 3), (ODD, 6), ("Melton", 0)):
        ws = wb[name]
        assert ws.freeze_panes == "B2"
        assert ws.auto_filter.ref == f"A1:{last}{n + 1}"
        assert ws.max_row == n + 1
        assert all(cell.font.bold for cell in ws[1])
        assert ws.column_dimensions["A"].width >= len("family_id")


def test_locality_rows_eligible_first_then_headline_count(con, tmp_path):
    path = tmp_path / "candidates.xlsx"
    _workbook(con, path)
    wb = load_workbook(path)
    ids = {name: [row[0] for row in wb[name].iter_rows(min_row=2, values_only=True)]
           for name in LOCALITIES}
    assert ids == {"Charnwood": ["C1", "C2", "C3"], ODD: ["W1", "W2", "W3", "W4", "W5", "W6"],
                   "Melton": []}


def test_every_column_written_and_headline_flags_titled(con, tmp_path):
    path = tmp_path / "candidates.xlsx"
    _workbook(con, path)
    ws = load_workbook(path)["Charnwood"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == [*CANDIDATE_COLUMNS, *(title for _, title in HEADLINES)]
    c1, c2, c3 = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert (c1[EDU], c1[HEALTH]) == ("yes", "yes")
    assert (c2[EDU], c2[HEALTH]) == ("yes", None)
    assert c1["eligible"] is True and c3["eligible"] is False
    assert c1["headline_count"] == 2 and c1["priority"] == COMPLEX
    assert c1["min_link_confidence"] == pytest.approx(0.999)


def test_summary_sheet(con, tmp_path):
    path = tmp_path / "candidates.xlsx"
    _workbook(con, path)
    rows = [tuple(v for v in row if v is not None)
            for row in load_workbook(path)["Summary"].iter_rows(values_only=True)]
    for key, value in META.items():
        assert (key, value) in rows
    assert ("Locality", "Families", "Eligible", "Complex", "At risk of becoming complex",
            "For review") in rows
    # locality, families, eligible, complex, at risk, for review
    assert ("Charnwood", 3, 2, 1, 1, 1) in rows
    assert (ODD, 6, 5, 2, 3, 0) in rows
    assert ("Melton", 0, 0, 0, 0, 0) in rows
    assert ("Total", 9, 7, 3, 4, 1) in rows
    assert rows.index(("Charnwood", 3, 2, 1, 1, 1)) < rows.index((ODD, 6, 5, 2, 3, 0)) \
        < rows.index(("Melton", 0, 0, 0, 0, 0))
    by_count = rows.index(("Eligible families by headline count",))
    assert rows[by_count + 2: by_count + 5] == [(0, 0), (1, 4), (2, 3)]
    assert ("education", EDU, 5, 5) in rows
    assert ("health", HEALTH, 5, 5) in rows


def test_workbook_bytes_identical_on_rewrite(con, tmp_path, monkeypatch):
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    _workbook(con, first)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3 * 86400)  # a later "now" for zip stamps
    _workbook(con, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 9, 30, 0, 0, 0)}
        assert "2026-09-30T00:00:00Z" in archive.read("docProps/core.xml").decode()


def test_unconfigured_locality_gets_a_sheet_after_the_configured_ones(con, tmp_path):
    con.execute(f"UPDATE {CANDIDATES} SET locality = NULL WHERE family_id = 'W6'")
    con.execute(f"UPDATE {CANDIDATES} SET locality = 'Rutland' WHERE family_id = 'W5'")
    names = _workbook(con, tmp_path / "candidates.xlsx")
    assert names == ["Summary", "Charnwood", ODD, "Melton", "(none)", "Rutland"]


def test_sheet_names_are_valid_and_distinct():
    names = sheet_names(["Hinckley and Bosworth", "North West Leicestershire", "a/b:c*d?e[f]g\\h",
                         "summary", "x" * 40, "x" * 40])
    assert names[:3] == ["Summary", "Hinckley and Bosworth", "North West Leicestershire"]
    assert names[3] == "a_b_c_d_e_f_g_h"
    assert names[4] == "summary (2)"
    assert names[5] == "x" * 31 and names[6] == "x" * 27 + " (2)"
    assert all(len(n) <= 31 for n in names)
    assert len({n.casefold() for n in names}) == len(names)


# --- report ---------------------------------------------------------------------------------

SECTIONS = ("headline-counts", "headline-count", "headlines-by-locality", "priority-by-locality",
            "link-confidence", "evidence-by-source")


def _row(html: str, section: str, label: str) -> list[str]:
    """The cells of the row headed ``label`` (escaped) in section ``section``."""
    body = html.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    match = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', body)
    assert match, (section, label)
    return re.findall(r"<td>(.*?)</td>", match.group(1))


def test_report_is_self_contained_with_every_section(con, tmp_path):
    html = _report(con, tmp_path / "report.html")
    for forbidden in ("<script", "http://", "https://", "<link", "@import", "url(http"):
        assert forbidden not in html
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    assert html.count("<svg") == 2
    for value in META.values():
        assert value in html
    assert _row(html, "headline-counts", "Families") == ["9"]
    assert _row(html, "headline-counts", "Persons in families") == ["27"]


def test_report_suppresses_small_counts(con, tmp_path):
    html = _report(con, tmp_path / "report.html")
    # Charnwood: 3 families, 2 eligible, 1 complex, 1 at risk, 1 without grading
    assert _row(html, "priority-by-locality", "Charnwood") == ["&lt;5"] * 4
    assert _row(html, "priority-by-locality", "Melton") == ["0"] * 4
    assert _row(html, "headlines-by-locality", escape(ODD)) == ["5", "&lt;5", "&lt;5"]
    note = "Counts below 5 are suppressed (shown as &lt;5)."
    assert html.count(note) == html.count("</table>") + html.count("</svg>")
    assert ">3<" not in html


def test_report_without_suppression_shows_small_counts(con, tmp_path):
    html = _report(con, tmp_path / "report.html", suppress_below=0)
    assert _row(html, "priority-by-locality", "Charnwood") == ["3", "1", "1", "1"]
    assert "suppressed" not in html
    assert "&lt;" not in html.replace("&lt;&amp;&gt;", "").replace("&lt; 0.9", "")


def test_report_escapes_text(con, tmp_path):
    html = _report(con, tmp_path / "report.html")
    assert ODD not in html
    assert "Oadby &lt;&amp;&gt; Wigston" in html


def test_report_is_deterministic(con, tmp_path):
    assert _report(con, tmp_path / "a.html") == _report(con, tmp_path / "b.html")


def test_report_rejects_negative_threshold(con, tmp_path):
    with pytest.raises(ValueError):
        _report(con, tmp_path / "report.html", suppress_below=-1)


def test_empty_tables_give_header_only_sheets_and_a_report(con, tmp_path):
    for table in (CANDIDATES, FAMILIES, EVIDENCE):
        con.execute(f"DELETE FROM {table}")
    path = tmp_path / "candidates.xlsx"
    assert _workbook(con, path) == ["Summary", *LOCALITIES]
    wb = load_workbook(path)
    assert all(wb[name].max_row == 1 for name in LOCALITIES)
    html = _report(con, tmp_path / "report.html")
    assert _row(html, "headline-counts", "Families") == ["0"]


def test_missing_headline_column_is_an_error(con, tmp_path):
    with pytest.raises(ValueError, match="flag_housing"):
        write_candidates_workbook(con, tmp_path / "c.xlsx", headlines=[("housing", "Housing")],
                                  localities=LOCALITIES, meta=META)


def test_priority_columns_follow_the_data_highest_band_first(con, tmp_path):
    con.execute(f"UPDATE {CANDIDATES} SET priority = CASE priority WHEN '{COMPLEX}' "
                "THEN 'all three headlines' WHEN '' THEN '' ELSE 'two headlines' END")
    path = tmp_path / "candidates.xlsx"
    _workbook(con, path)
    header = next(row for row in load_workbook(path)["Summary"].iter_rows(values_only=True)
                  if row[0] == "Locality")
    assert header[:6] == ("Locality", "Families", "Eligible", "All three headlines",
                          "Two headlines", "For review")
    html = _report(con, tmp_path / "report.html", suppress_below=0)
    assert _row(html, "priority-by-locality", escape(ODD)) == ["6", "2", "3", "1"]
