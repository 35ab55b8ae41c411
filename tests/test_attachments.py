"""The attachment register: reading and checking it, and linking it to current families."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

from familylink.core.errors import FamilylinkError
from familylink.core.tables import ATTACHED_FAMILY_COLUMNS, ATTACHMENT_COLUMNS
from identification.attachments import (
    CURRENT_PROBLEMS,
    GIVEN_PROBLEMS,
    AttachmentRegisterError,
    RegisterRow,
    link_attachments,
    read_attachment_register,
)
from tests.conftest import write_csv

TODAY = dt.date(2026, 10, 15)
HEADER = list(ATTACHMENT_COLUMNS)


def row(ref="A1", source="schools", record_id="S1", attached_on="2025-06-01", lead_team="North"):
    return {"attachment_ref": ref, "source": source, "record_id": record_id, "attached_on": attached_on,
            "lead_team": lead_team}


def register(tmp_path, rows, **options):
    return read_attachment_register(write_csv(tmp_path / "register.csv", rows, HEADER, **options), today=TODAY)


# --- reading ------------------------------------------------------------------------------


def test_good_register_with_bom_and_crlf(tmp_path):
    rows = [row(), row(source="Police", record_id="P1"), row(ref="A2", record_id="S2", attached_on="2026-01-10")]
    result = register(tmp_path, rows, bom=True, crlf=True)
    assert result.rejected == [] and result.problems == []
    assert result.rows[0] == RegisterRow("A1", "schools", "S1", dt.date(2025, 6, 1), "North", 2)
    assert result.rows[1].source == "police"
    assert result.rows_in == 3 and result.entries == 2
    assert result.sha256 == hashlib.sha256((tmp_path / "register.csv").read_bytes()).hexdigest()


def test_every_row_problem_is_located_and_the_row_rejected(tmp_path):
    rows = [
        row(),                                              # 2 fine
        row(ref=" ", record_id="S3"),                       # 3 blank ref
        row(source="", record_id="S4"),                     # 4 blank source
        row(record_id=""),                                  # 5 blank record id
        row(source="tesco", record_id="S6"),                # 6 unknown source
        row(ref="A3", attached_on="01/06/2025"),            # 7 bad date
        row(ref="A4", attached_on="2025-02-30"),            # 8 impossible date
        row(ref="A5", attached_on="2026-10-16"),            # 9 after today
        row(ref="A6", record_id="S9", attached_on="2025-01-01"),   # 10 } one ref,
        row(ref="A6", record_id="S10", attached_on="2025-02-01"),  # 11 } two dates
        row(record_id="S1", lead_team="South"),             # 12 repeats row 2
        row(ref="A7", attached_on=""),                      # 13 blank date
    ]
    result = register(tmp_path, rows)
    located = {(p.where, p.what) for p in result.problems}
    expected = {
        (3, "attachment_ref", "blank"), (4, "source", "blank"), (5, "record_id", "blank"),
        (6, "source", "unknown source"), (7, "attached_on", "not a date in the form YYYY-MM-DD"),
        (8, "attached_on", "not a date in the form YYYY-MM-DD"),
        (9, "attached_on", "a date after today (2026-10-15)"),
        (10, "attached_on", "the same attachment_ref has a different attachment date on row(s) 11"),
        (11, "attached_on", "the same attachment_ref has a different attachment date on row(s) 10"),
        (12, "record_id", "repeats row 2 (same attachment, source and record)"),
        (13, "attached_on", "blank"),
    }
    assert located == {(f"register.csv row {r} (the header is row 1), column {c}", w) for r, c, w in expected}
    assert [r.row for r in result.rejected] == list(range(3, 14))
    assert result.rejected[3].reasons == ("source: unknown source",)
    assert [r.row for r in result.rows] == [2]
    assert result.rows_in == len(rows) == len(result.rows) + len(result.rejected)
    text = "\n".join(str(p) for p in result.problems)
    for value in ("tesco", "01/06/2025", "2025-02-30", "2026-10-16", "South"):
        assert value not in text  # never a cell value


def test_blank_lines_are_not_rows(tmp_path):
    path = tmp_path / "register.csv"
    path.write_text(",".join(HEADER) + "\nA1,schools,S1,2025-06-01,North\n\nA1,police,P1,2025-06-01,\n",
                    encoding="utf-8")
    result = read_attachment_register(path, today=TODAY)
    assert [r.row for r in result.rows] == [2, 4] and result.blank_lines == 1 and result.rows_in == 2


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"attachment_ref,source,record_id,attached_on\nA1,schools,S1,2025-06-01\n", "lacks the column(s) lead_team"),
    (b"attachment_ref,source,record_id,attached_on,lead_team\n", "has a header but no rows"),
    ("attachment_ref,source,record_id,attached_on,lead_team\nA1,schools,S1,2025-06-01,Équipe\n".encode("latin-1"),
     "is not UTF-8"),
])
def test_whole_file_problems_raise_one_sentence(tmp_path, content, message):
    path = tmp_path / "register.csv"
    path.write_bytes(content)
    with pytest.raises(AttachmentRegisterError) as error:
        read_attachment_register(path, today=TODAY)
    assert message in error.value.summary and "\n" not in error.value.summary
    assert isinstance(error.value, FamilylinkError)


def test_missing_file_raises(tmp_path):
    with pytest.raises(AttachmentRegisterError):
        read_attachment_register(tmp_path / "nowhere.csv")


# --- linking ------------------------------------------------------------------------------


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE persons (source VARCHAR, record_id VARCHAR, unique_id VARCHAR, person_id VARCHAR, "
                "link_confidence DOUBLE)")
    con.execute("CREATE TABLE families (family_id VARCHAR, person_id VARCHAR, household_id VARCHAR, role VARCHAR, "
                "age INTEGER, resident BOOLEAN)")
    con.execute("CREATE TABLE candidates (family_id VARCHAR, headlines VARCHAR)")
    persons = [("schools", "S1", "p1"), ("health", "H1", "p1"), ("police", "P2", "p2"), ("dwp", "D3", "p3"),
               ("schools", "S4", "p4"), ("schools", "S9", "p9")]
    con.executemany("INSERT INTO persons VALUES (?, ?, ? || '|' || ?, ?, 1.0)",
                    [(s, r, s, r, p) for s, r, p in persons])
    con.executemany("INSERT INTO families VALUES (?, ?, 'H', ?, ?, true)", [
        ("F1", "p1", "child", 9), ("F1", "p2", "adult", 35), ("F2", "p3", "adult", 40), ("F2", "p4", "child", 4),
        (None, "p9", "adult", 50)])
    con.executemany("INSERT INTO candidates VALUES (?, ?)", [("F1", "education;crime"), ("F2", "")])
    return con


def regrows(*specs):
    return [RegisterRow(ref, source, record, dt.date(2025, 6, 1), team, i + 2)
            for i, (ref, source, record, team) in enumerate(specs)]


def attached(con):
    return {(r[0], r[1]): dict(zip(ATTACHED_FAMILY_COLUMNS, r, strict=True))
            for r in con.execute("SELECT * FROM attached_families").fetchall()}


def test_family_found_through_one_members_record(con):
    summary = link_attachments(con, regrows(("A1", "police", "P2", "North"), ("A1", "schools", "S77", "North")))
    rows = attached(con)
    assert list(rows) == [("F1", "A1")]
    assert rows[("F1", "A1")]["records_matched"] == 1 and rows[("F1", "A1")]["attached_on"] == dt.date(2025, 6, 1)
    assert rows[("F1", "A1")]["problems"] == ["education", "crime"]
    assert rows[("F1", "A1")]["problems_basis"] == CURRENT_PROBLEMS and rows[("F1", "A1")]["lead_team"] == "North"
    assert summary.entries == 1 and summary.linked_entries == 1 and summary.families == 1
    assert summary.records == 2 and summary.records_matched == 1 and summary.unmatched_entries == []


def test_entry_matching_no_family_is_reported(con):
    summary = link_attachments(con, regrows(("A1", "schools", "S1", ""), ("A9", "schools", "S9", ""),
                                            ("A8", "housing", "X1", "")))
    assert summary.unmatched_entries == ["A8", "A9"]  # S9 is a person in no family
    assert list(attached(con)) == [("F1", "A1")]


def test_entry_spread_over_two_families_attaches_both(con):
    summary = link_attachments(con, regrows(("A1", "schools", "S1", "North"), ("A1", "health", "H1", "North"),
                                            ("A1", "dwp", "D3", "South")))
    rows = attached(con)
    assert set(rows) == {("F1", "A1"), ("F2", "A1")}
    assert rows[("F1", "A1")]["records_matched"] == 2 and rows[("F2", "A1")]["records_matched"] == 1
    assert rows[("F1", "A1")]["lead_team"] == "North; South"
    assert rows[("F2", "A1")]["problems"] == []
    assert summary.split_entries == {"A1": ["F1", "F2"]}


def test_problems_at_attachment_given_by_the_caller(con):
    rows = regrows(("A1", "schools", "S1", ""), ("A2", "schools", "S4", ""))
    summary = link_attachments(con, rows, {"F1": ["work", "health"]})
    linked = attached(con)
    assert linked[("F1", "A1")]["problems"] == ["work", "health"]
    assert linked[("F1", "A1")]["problems_basis"] == GIVEN_PROBLEMS
    assert linked[("F2", "A2")]["problems_basis"] == CURRENT_PROBLEMS and summary.problems_from_current == 1
    con.execute("CREATE TABLE given AS SELECT 'F2' AS family_id, 'A2' AS attachment_ref, ['crime'] AS problems")
    link_attachments(con, rows, "given")
    assert attached(con)[("F2", "A2")]["problems"] == ["crime"]
    assert attached(con)[("F1", "A1")]["problems"] == ["education", "crime"]


def test_register_read_then_linked(tmp_path, con):
    reg = register(tmp_path, [row(record_id="S1"), row(ref="A2", source="dwp", record_id="D3")])
    summary = link_attachments(con, reg)
    assert summary.families == 2
    assert con.execute("SELECT count(*) FROM attachments").fetchone()[0] == 2
    again = link_attachments(con, "attachments")  # from the table the first call wrote
    assert again == summary
