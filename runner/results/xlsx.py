"""The results workbook: every cell typed text (nothing becomes a formula, E.164 keeps its +), a
styled and filterable Results sheet, and a Summary sheet with counts, reach rate and a chart."""

from __future__ import annotations

import io
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from runner.arrays import map_distinct, string_buffers, strip, text_array
from runner.results.summary import Summary

XLSX_MAX_CELL = 32_767
RESULTS_PART = "xl/worksheets/sheet1.xml"  # the Results sheet: the workbook's first
REPEATS = 4  # a column with at most a quarter as many distinct cells as rows is written by index
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
# XML cannot hold these; OOXML writes them as _xHHHH_ (ECMA-376 ST_Xstring), which Excel shows as
# the character. A literal "_xHHHH_" in a cell is escaped the same way so that it stays as written.
_NOT_XML_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]|_x[0-9A-Fa-f]{4}_"  # _NOT_XML, found by Arrow
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def write_workbook(table: pa.Table, path: Path, summary: Summary) -> None:
    """Results sheet (styled header, frozen, autofilter, fitted widths) and a Summary sheet.

    openpyxl writes the workbook around the data (styles, the header, the Summary sheet and its
    chart); the data rows are spliced into the Results sheet's XML as Arrow builds them, a block
    at a time, in exactly the form openpyxl gives them (tests/test_xlsx.py compares the bytes)."""
    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet("Results")  # Any: the stubs miss write-only column_dimensions
    sheet.freeze_panes = "A2"
    for index, width in enumerate(_widths(table), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    if table.num_columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(table.num_columns)}{table.num_rows + 1}"
    _append_text(sheet, table.column_names, header=True)
    _write_summary(book.create_sheet("Summary"), summary)
    frame = io.BytesIO()
    book.save(frame)
    with zipfile.ZipFile(frame) as parts, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in parts.infolist():
            data = parts.read(info)
            if info.filename != RESULTS_PART:
                out.writestr(info, data)
                continue
            head, tail = data.split(b"</sheetData>")
            # Opened by name, the part takes the archive's compresslevel (a ZipInfo of its own would be deflated at 6).
            with out.open(info.filename, "w", force_zip64=True) as handle:
                # zipfile deflates with zlib and has no hook for another deflater: its writer holds one
                # compressor object, swapped before the first write for ISA-L's (the same raw deflate,
                # faster: bench/README.md). Were the attribute renamed, zlib would still write it right.
                handle._compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)  # type: ignore[attr-defined]
                handle.write(head)
                for block in row_blocks(table):
                    handle.write(block)
                handle.write(b"</sheetData>" + tail)


def row_blocks(table: pa.Table, rows_per_block: int = 20_000, ahead: int = 2) -> Iterator[memoryview]:
    """The data rows of the Results sheet as XML, a block of rows at a time (row 2 onwards), in
    order. `ahead` blocks are built on worker threads while the caller deflates the current one
    (Arrow's kernels and zlib both let go of the GIL)."""
    letters = [get_column_letter(index) for index in range(1, table.num_columns + 1)]
    # A column whose first block repeats its cells (a status, a reason, a campaign's assistant) has
    # each distinct cell's XML made once per block, then repeated by index.
    first = table.slice(0, rows_per_block)
    few = [pc.count_distinct(column).as_py() * REPEATS <= first.num_rows for column in first.columns]
    starts = iter(range(0, table.num_rows, rows_per_block))
    with ThreadPoolExecutor(max_workers=ahead) as workers:
        pending = deque(
            workers.submit(_row_block, table.slice(start, rows_per_block), start, letters, few)
            for start in islice(starts, ahead)
        )
        while pending:
            block = pending.popleft().result()
            for start in islice(starts, 1):
                pending.append(workers.submit(_row_block, table.slice(start, rows_per_block), start, letters, few))
            yield block


def _row_block(block: pa.Table, start: int, letters: list[str], few: list[bool]) -> memoryview:
    """One block of rows, joined in a single pass: per cell its reference, then the cell's XML
    (its text's opening or the empty cell's end, the text, its closing)."""
    numbers = pc.cast(pa.array(np.arange(start + 2, start + 2 + block.num_rows)), pa.string())
    pieces: list[pa.Array | str] = ['<row r="', numbers, '">']
    for column, letter, repeats in zip(block.columns, letters, few, strict=True):
        text = pc.fill_null(text_array(column), "")
        if repeats:
            encoded = pc.dictionary_encode(text)
            cells = pc.binary_join_element_wise(*_cell_parts(encoded.dictionary), "")
            pieces += [f'<c r="{letter}', numbers, cells.take(encoded.indices)]
        else:
            pieces += [f'<c r="{letter}', numbers, *_cell_parts(text)]
    rows = pc.binary_join_element_wise(*pieces, "</row>", "")
    offsets, data = string_buffers(rows)
    return data[offsets[0] : offsets[-1]].data


def _cell_parts(cells: pa.Array) -> list[pa.Array | str]:
    """What follows each cell's reference: the opening (or the empty cell's end), the escaped
    text, the closing."""
    text = _escaped(cells)
    opening = pc.if_else(_preserve(text), '" t="inlineStr"><is><t xml:space="preserve">', '" t="inlineStr"><is><t>')
    closing: pa.Array | str = "</t></is></c>"
    empty = pc.equal(text, "")
    if pc.any(empty).as_py():
        opening = pc.if_else(empty, '" t="inlineStr" />', opening)
        closing = pc.if_else(empty, "", closing)
    return [opening, text, closing]


def _preserve(text: pa.Array) -> pa.Array:
    """Where openpyxl marks a cell xml:space="preserve": text that is not blank but has blank ends.
    Only cells whose first or last byte may be whitespace (ASCII space and below, or non-ASCII)
    are stripped to find out."""
    offsets, data = string_buffers(text)
    filled = offsets[1:] > offsets[:-1]
    if not len(data):
        return pa.array(np.zeros(len(text), dtype=bool))
    first = np.where(filled, data[np.where(filled, offsets[:-1], 0)], 0x41)
    last = np.where(filled, data[np.where(filled, offsets[1:] - 1, 0)], 0x41)
    unsure = np.flatnonzero((first <= 0x20) | (first >= 0x7F) | (last <= 0x20) | (last >= 0x7F))
    preserve = np.zeros(len(text), dtype=bool)
    if len(unsure):
        cells = text.take(pa.array(unsure, pa.int64()))
        stripped = strip(cells)
        found = pc.and_(pc.not_equal(stripped, ""), pc.not_equal(cells, stripped))
        preserve[unsure] = found.to_numpy(zero_copy_only=False)
    return pa.array(preserve)


def _escaped(column: pa.Array) -> pa.Array:
    """ooxml_text, the 32,767-character cap, then XML's &, < and > escapes, over a whole column.
    Columns holding a control character or a literal _xHHHH_ (rare) go through ooxml_text itself."""
    if pc.any(pc.match_substring_regex(column, _NOT_XML_RE2)).as_py():
        column = pa.array(map_distinct(column, lambda cell: ooxml_text(cell or "")[:XLSX_MAX_CELL]), pa.string())
    elif pc.max(pc.utf8_length(column)).as_py() or XLSX_MAX_CELL < 0:
        column = pc.utf8_slice_codeunits(column, 0, XLSX_MAX_CELL)
    for character, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(column, character)).as_py():
            column = pc.replace_substring(column, character, entity)
    return column


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
        ("suppressed, by rule", summary.by_rule),
        ("invalid, by reason", summary.by_problem),
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
