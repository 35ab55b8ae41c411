"""Reading an Excel workbook (``.xlsx``) extract: one sheet, streamed read-only.

openpyxl's read-only mode parses the sheet's XML as it goes, so memory stays bounded
whatever the sheet's size. Rows come back as CSV text blocks, so the rest of the chain reads a
workbook exactly as it reads a CSV file. Cell values become text as a person sees them: a
whole number without ``.0``, a date cell in the column's date format (the declared one, or
the agreement's), TRUE/FALSE for booleans. Rows are numbered as Excel numbers them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from familylink.core.errors import ExtractError, Problem
from protocols.normalise import compile_date_format

_FIX = "open it in Excel and save it again as .xlsx, or export CSV UTF-8"


class Workbook:
    """One sheet of a workbook: ``sheet`` by name, or the first."""

    def __init__(self, path: Path, sheet: str | None, date_render: Mapping[str, str]) -> None:
        self.path = path
        self.sheet = sheet
        self.date_render = dict(date_render)
        self._rows: int | None = None
        self._header: list[str] | None = None

    def _unreadable(self, what: str = "not a readable Excel workbook (.xlsx)") -> ExtractError:
        return ExtractError(f"{self.path.name}: {what}", [Problem(self.path.name, what, _FIX)])

    @contextlib.contextmanager
    def _worksheet(self):
        from openpyxl import load_workbook

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception:  # openpyxl raises zip, XML, key and value errors for damaged files
            raise self._unreadable() from None
        try:
            names = book.sheetnames
            if self.sheet is None:
                if not names:
                    raise self._unreadable("the workbook has no sheet")
                sheet = book[names[0]]
            elif self.sheet in names:
                sheet = book[self.sheet]
            else:
                raise ExtractError(f"{self.path.name}: no sheet named {self.sheet!r}",
                                   [Problem(self.path.name, f"its sheets are {', '.join(names)}",
                                            "pass --sheet with one of them")])
            yield sheet
        finally:
            with contextlib.suppress(Exception):
                book.close()

    def header(self) -> list[str]:
        if self._header is None:
            try:
                with self._worksheet() as sheet:
                    self._rows = sheet.max_row
                    first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
            except ExtractError:
                raise
            except Exception:
                raise self._unreadable() from None
            header = [_text(value, None) for value in first]
            while header and not header[-1].strip():
                header.pop()
            self._header = header
        return self._header

    def approximate_rows(self) -> int:
        return max((self._rows or 2) - 1, 1)

    def csv_blocks(self, size: int, width: int) -> Iterator[tuple[int, str]]:
        """(first spreadsheet row, CSV text) of at most ``size`` rows each; an empty row is a blank line."""
        formats = [self._strftime(name.strip().lower()) for name in self.header()]
        try:
            with self._worksheet() as sheet:
                first, buffer, count = 2, io.StringIO(), 0
                writer = csv.writer(buffer, lineterminator="\n")
                for values in sheet.iter_rows(min_row=2, values_only=True):
                    if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                        buffer.write("\n")
                    else:
                        cells = [_text(v, formats[i] if i < len(formats) else None) for i, v in enumerate(values)]
                        while len(cells) > width and not cells[-1].strip():
                            cells.pop()
                        writer.writerow(cells)
                    count += 1
                    if count >= size:
                        yield first, buffer.getvalue()
                        first, buffer, count = first + count, io.StringIO(), 0
                        writer = csv.writer(buffer, lineterminator="\n")
                if count:
                    yield first, buffer.getvalue()
        except ExtractError:
            raise
        except Exception:
            raise self._unreadable("the workbook is damaged: its rows cannot be read") from None

    def _strftime(self, column: str) -> str | None:
        pattern = self.date_render.get(column)
        return compile_date_format(pattern) if pattern else None


def _text(value: object, date_format: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime(date_format or "%Y-%m-%d")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
