"""The results workbook: its data rows are spliced in as Arrow builds them, and must be exactly the
XML openpyxl writes cell by cell; read back by calamine and openpyxl it holds what the CSV holds."""

from __future__ import annotations

import csv
import io
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from runner.results.summary import Summary
from runner.results.write import write_results
from runner.results.xlsx import REPEATS, RESULTS_PART, _append_text, write_workbook

SUMMARY = Summary({"planned": 3, "invalid": 1}, {}, {}, 0, 0)
TRICKY = [
    "", " ", "a\nb", "a ", "\ta", " a", "\u00a0a", "a\u3000", "x\"y'z", "é€😀", "\r\n", "a\x01b", "\x1b", "]]>",
    "<b>&amp;</b>", "_x0041_", "_x0041_x0042_", "_xZZZZ_", "=SUM(A1)", "+12025550100", "0123", "x" * 40_000,
]  # fmt: skip


def openpyxl_rows(table: pa.Table) -> bytes:
    """The Results sheet's XML as openpyxl writes it cell by cell (the writer this one replaced)."""
    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet("Results")
    _append_text(sheet, table.column_names, header=True)
    for record in zip(*(column.to_pylist() for column in table.columns), strict=True):
        _append_text(sheet, record)
    saved = io.BytesIO()  # in memory: tests on other xdist workers write their own at the same time
    book.save(saved)
    with zipfile.ZipFile(saved) as parts:
        return parts.read(RESULTS_PART)


def sheet_data(xml: bytes) -> bytes:
    return xml[xml.index(b"<sheetData>") : xml.index(b"</sheetData>")]


def spliced_rows(table: pa.Table, tmp: Path) -> bytes:
    write_workbook(table, tmp, SUMMARY)
    with zipfile.ZipFile(tmp) as parts:
        return parts.read(RESULTS_PART)


def test_tricky_cells_are_written_exactly_as_openpyxl_writes_them(tmp_path: Path) -> None:
    table = pa.table({"value": TRICKY, "other": list(reversed(TRICKY))})
    assert sheet_data(spliced_rows(table, tmp_path / "r.xlsx")) == sheet_data(openpyxl_rows(table))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=3, max_size=3), min_size=1, max_size=30))
def test_any_cells_are_written_exactly_as_openpyxl_writes_them(rows: list[list[str]]) -> None:
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(("a", "b", "c"))})
    with tempfile.TemporaryDirectory() as folder:  # hypothesis runs many examples in one test: no tmp_path
        assert sheet_data(spliced_rows(table, Path(folder) / "r.xlsx")) == sheet_data(openpyxl_rows(table))


REPEATED = st.sampled_from(["", " a", "a&b", "\x01", "_x0041_", "ok", "=1+1", "x" * 40_000])


@pytest.mark.slow  # a property test over workbooks: over a second
@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(REPEATED, REPEATED, st.text(max_size=8)), min_size=40, max_size=120))
def test_columns_of_repeated_cells_are_written_exactly_as_openpyxl_writes_them(
    rows: list[tuple[str, str, str]],
) -> None:
    """A column with few distinct cells has each one's XML made once and repeated by index."""
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(("a", "b", "c"))})
    assert pc.count_distinct(table.column("a")).as_py() * REPEATS <= table.num_rows  # that path is taken
    with tempfile.TemporaryDirectory() as folder:  # hypothesis runs many examples in one test: no tmp_path
        assert sheet_data(spliced_rows(table, Path(folder) / "r.xlsx")) == sheet_data(openpyxl_rows(table))


@pytest.mark.slow
def test_a_large_workbook_reads_back_as_its_csv(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = 30_000
    words = ["Ann", "Bob", " padded ", "=1+1", "+12025550100", "a&b<c>", "é", "", "line\nbreak", "\x01", "0042"]
    table = pa.table({f"c{n}": [rng.choice(words) for _ in range(rows)] for n in range(6)})
    write_results(table, tmp_path / "results.csv", SUMMARY)
    write_results(table, tmp_path / "results.xlsx", SUMMARY)
    with (tmp_path / "results.csv").open(newline="", encoding="utf-8-sig") as handle:
        expected = [[cell.removeprefix("'") for cell in record] for record in csv.reader(handle)]
    calamine = CalamineWorkbook.from_path(str(tmp_path / "results.xlsx")).get_sheet_by_name("Results")
    from_calamine = [[str(cell) for cell in row] for row in calamine.to_python(skip_empty_area=False)]
    book = openpyxl.load_workbook(tmp_path / "results.xlsx", read_only=True)
    results = book["Results"]
    from_openpyxl = [["" if cell is None else str(cell) for cell in row] for row in results.iter_rows(values_only=True)]
    assert from_calamine == expected  # calamine reads _x0001_ back as the character, as Excel does
    assert from_openpyxl == [[cell.replace("\x01", "_x0001_") for cell in record] for record in expected]
    assert len(expected) == rows + 1
