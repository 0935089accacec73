"""The results workbook: every cell typed text (nothing becomes a formula, E.164 keeps its +), a
styled and filterable Results sheet, and a Summary sheet with counts, reach rate and a chart."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from runner.arrays import records
from runner.sheets.summary import Summary

XLSX_MAX_CELL = 32_767
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
# XML cannot hold these; OOXML writes them as _xHHHH_ (ECMA-376 ST_Xstring), which Excel shows as
# the character. A literal "_xHHHH_" in a cell is escaped the same way so that it stays as written.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def write_workbook(table: pa.Table, path: Path, summary: Summary) -> None:
    """Results sheet (styled header, frozen, autofilter, fitted widths) and a Summary sheet."""
    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet("Results")  # Any: the stubs miss write-only column_dimensions
    sheet.freeze_panes = "A2"
    for index, width in enumerate(_widths(table), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    if table.num_columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(table.num_columns)}{table.num_rows + 1}"
    _append_text(sheet, table.column_names, header=True)
    for batch in table.to_batches(max_chunksize=10_000):
        for record in records(batch):
            _append_text(sheet, record)
    _write_summary(book.create_sheet("Summary"), summary)
    book.save(path)


def _widths(table: pa.Table, sample: int = 500) -> list[float]:
    """Wide enough for the header and the first rows' values, within reason."""
    widths = []
    for name, column in zip(table.column_names, table.slice(0, sample).columns, strict=True):
        longest = max([len(name), *(len(value or "") for value in column.to_pylist())])
        widths.append(float(min(max(longest + 2, 8), 60)))
    return widths


def _write_summary(sheet: Any, summary: Summary) -> None:  # Any: the stubs miss write-only charts
    """Counts by status, ended reason and assistant, the reach rate, and a bar chart of outcomes."""
    sheet.column_dimensions["A"].width = 36
    sheet.column_dimensions["B"].width = 10
    row = 1
    tables: list[tuple[str, dict[str, int]]] = [
        ("status", summary.by_status),
        ("ended reason", summary.by_ended_reason),
        ("assistant", summary.by_assistant),
    ]
    chart_rows = (0, 0)
    for title, counts in tables:
        _append_text(sheet, [title, "rows"], header=True)
        first = row + 1
        for key, count in counts.items():
            sheet.append([_text_cell(sheet, key), count])
        if title == "status":
            chart_rows = (first, first + len(counts) - 1)
        sheet.append([])
        row += len(counts) + 2
    rate = summary.reach_rate
    sheet.append([_text_cell(sheet, "ended calls"), summary.ended])
    sheet.append([_text_cell(sheet, "reached a person"), summary.reached])
    sheet.append([_text_cell(sheet, "reach rate"), round(rate, 4) if rate is not None else None])
    if chart_rows[1] >= chart_rows[0]:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Rows by status"
        chart.legend = None
        data = Reference(sheet, min_col=2, min_row=chart_rows[0] - 1, max_row=chart_rows[1])
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=chart_rows[0], max_row=chart_rows[1]))
        sheet.add_chart(chart, "D2")


def _text_cell(sheet: WriteOnlyWorksheet, value: object, header: bool = False) -> Cell:
    """A typed string cell: openpyxl would otherwise make '=…' a live formula."""
    cell = WriteOnlyCell(sheet, value=ooxml_text(str(value))[:XLSX_MAX_CELL])
    cell.data_type = "s"
    if header:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    return cell


def ooxml_text(text: str) -> str:
    """The text as an XLSX cell holds it: characters XML forbids as _xHHHH_ escapes."""
    return _NOT_XML.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


def _append_text(sheet: WriteOnlyWorksheet, values: Iterable[object], header: bool = False) -> None:
    sheet.append([_text_cell(sheet, value, header) for value in values])
