"""The results sheet: every input row, its own columns unchanged, then the person's outcome in
plain words (results.people), what their calls cost and said, and the technical columns last.

Cells are typed: counts and costs are numbers, flags booleans, times date-times (in the recipient's
local time; CSV writes them as ISO text without fractions of a second). Text stays text: E.164
keeps its "+", nothing becomes a formula (XLSX cells are typed strings; CSV cells a spreadsheet
would evaluate are neutralized with a leading apostrophe).
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from runner.arrays import Objects, first_bytes, is_text, text_array
from runner.errors import unwritable
from runner.files import atomic_write
from runner.planning.plan import RESULT_COLUMNS
from runner.results.people import PERSON_COLUMNS, person_columns, row_outcome
from runner.results.summary import Summary

# After a run: what became of each row's current call (run_results; the sheet shows PERSON_COLUMNS).
OUTCOME_COLUMNS = (
    "attempts", "ended_reason", "started_at", "ended_at", "duration_s", "cost", "summary", "success_evaluation",
)  # fmt: skip
# The technical columns of a run's sheet, last (a plan's are its RESULT_COLUMNS).
RUN_TECHNICAL = (
    "row", "e164", "status", "reason", "ended_reason", "call_id", "request_id", "earliest_at", "latest_at",
    "called_at_utc",
)  # fmt: skip
SHEET_COLUMNS = 2 + len(PERSON_COLUMNS) + len(RUN_TECHNICAL)  # the most a sheet adds to the input's
ATTEMPTS_CSV = "attempts.csv"  # beside results.csv: one row per call
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"  # a local time in CSV: ISO 8601 without fractions
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header
XLSX_MAX_COLUMNS = 16_384  # a sheet's columns (A to XFD)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_BYTES = np.frombuffer("".join(_FORMULA_START).encode(), dtype=np.uint8)
_SIGNS = np.frombuffer(b"+-", dtype=np.uint8)
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9.]*")  # whole cell: a spreadsheet reads it as a number


def result_headers(input_headers: Sequence[str], names: Sequence[str] = RESULT_COLUMNS) -> list[str]:
    """Our columns after the input's; renamed `vapi_<name>` where the input already has that name
    (then `vapi_<name>_2`, … until the name is free: every header of the sheet is unique)."""
    taken = set(input_headers)
    headers = []
    for name in names:
        header, n = name if name not in taken else f"vapi_{name}", 1
        while header in taken:
            n += 1
            header = f"vapi_{name}_{n}"
        taken.add(header)
        headers.append(header)
    return headers


def sheet_columns(results: pl.DataFrame, calls_made: pl.DataFrame) -> dict[str, pa.Array]:
    """The columns the sheet adds to the input's, typed: `outcome` and `outcome_detail`, then
    PERSON_COLUMNS from every call of the row, then the technical ones. `results`: run_results's;
    `calls_made`: its rows' calls (results.people.attempts)."""
    people = person_columns(results, calls_made)
    technical = results.select(*RUN_TECHNICAL[:-1]).with_columns(pl.col("row").cast(pl.Int64))
    shown = pl.concat([people, technical], how="horizontal")
    return arrow_columns(shown.select("outcome", "outcome_detail", *PERSON_COLUMNS[:-1], *RUN_TECHNICAL))


def plan_columns(columns: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
    """The columns a plan's sheet adds to the input's: `outcome` and `outcome_detail`, then the
    plan's own result columns (Plan.result_columns) as they are, `row` as a number."""
    frame = pl.from_arrow(pa.table({name: columns[name] for name in ("row", "status", "reason", "time_zone")}))
    assert isinstance(frame, pl.DataFrame)
    said = arrow_columns(frame.select(outcome=row_outcome(frame), outcome_detail=pl.col("reason").fill_null("")))
    return {**said, **columns, "row": pc.cast(columns["row"], pa.int64())}


def arrow_columns(frame: pl.DataFrame) -> dict[str, pa.Array]:
    """A polars frame's columns as single Arrow arrays (text as Arrow's string: no copy of a
    chunk, the offsets narrowed)."""
    table = frame.to_arrow()
    found = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        found[name] = array.cast(pa.string()) if pa.types.is_large_string(array.type) else array
    return found


def results_table(inputs: pa.Table, columns: Mapping[str, Sequence[str] | Objects | pa.Array]) -> pa.Table:
    """The input's columns, unchanged and in input order, then the result columns: text columns as
    text ("" for none), typed ones (numbers, flags, times) as they are (null for none)."""
    headers = [*inputs.column_names, *result_headers(inputs.column_names, list(columns))]
    ours = [
        values if isinstance(values, pa.Array | pa.ChunkedArray) and not is_text(values) else text_array(values)
        for values in columns.values()
    ]
    arrays = [
        pc.fill_null(array, "") if is_text(array) else array for array in [*map(text_array, inputs.columns), *ours]
    ]
    fields = [pa.field(name, array.type) for name, array in zip(headers, arrays, strict=True)]
    kinds = [inputs.schema.field(index).metadata for index in range(inputs.num_columns)]
    fields[: inputs.num_columns] = [
        field.with_metadata(kind) for field, kind in zip(fields[: inputs.num_columns], kinds, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def csv_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A typed column as CSV text: times as ISO 8601 to the second, flags as true/false, numbers
    as Arrow writes them; nulls as empty cells."""
    if is_text(column):
        text = text_array(column)
        return text if text.null_count == 0 else pc.fill_null(text, "")  # the writer's text: no copy made
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_timestamp(column.type):
        column = pc.strftime(column.cast(pa.timestamp("s"), safe=False), ISO_SECONDS)  # %S: no fraction in seconds
    elif pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    return pc.fill_null(text_array(column), "")


def default_format(row_count: int, input_columns: int = 0) -> str:
    """xlsx, unless the sheet would not fit Excel's grid (our columns come after the input's)."""
    columns = input_columns + SHEET_COLUMNS
    return "xlsx" if row_count <= XLSX_MAX_ROWS and columns <= XLSX_MAX_COLUMNS else "csv"


def write_results(table: pa.Table, path: Path, summary: Summary, attempts: pa.Table | None = None) -> Path:
    """Write atomically (temp file, then rename): XLSX with a Summary sheet (and an Attempts sheet,
    one row per call, after a run), or CSV + summary.json (+ attempts.csv)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(path.parent, f"the results sheet {path.name}", exc) from None
    with atomic_write(path, f"the results sheet {path.name}") as temporary:
        if path.suffix == ".xlsx":
            from runner.results.xlsx import write_workbook  # openpyxl loads only when a workbook is written

            write_workbook(table, temporary, summary, attempts)
        else:
            _write_csv(table, temporary)
            if attempts is not None:
                with atomic_write(path.parent / ATTEMPTS_CSV, f"the calls sheet {ATTEMPTS_CSV}") as calls:
                    _write_csv(attempts, calls)
            (path.parent / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return path


def neutralize(value: str) -> str:
    """A CSV cell no spreadsheet evaluates: formula-looking text gets a leading apostrophe."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _write_csv(table: pa.Table, path: Path) -> None:
    """Column by column (vectorized, a thread per core), then Arrow's C++ writer. A UTF-8 BOM first:
    Excel reads a BOM-less CSV as the local code page and garbles accents."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        columns = list(pool.map(neutralize_column, map(csv_text, table.columns)))
    safe = pa.table(columns, names=list(map(neutralize, table.column_names)))
    with pa.OSFile(str(path), "wb") as handle:  # Arrow's own file: writing never waits for the GIL
        handle.write(codecs.BOM_UTF8)
        pa_csv.write_csv(safe, handle, pa_csv.WriteOptions(eol="\r\n"))


def neutralize_column(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`neutralize` on a whole column. The first byte of each cell decides whether to look closer,
    so a column of names costs one pass over its offsets, not a regex."""
    column = text_array(column)
    first = first_bytes(column)
    starts = np.isin(first, _FORMULA_BYTES)
    if not starts.any():
        return column
    if starts.mean() > 0.5:  # a column of E.164 numbers, say: one pass settles a sign and digits
        digits = pc.fill_null(pc.ascii_is_decimal(pc.utf8_slice_codeunits(column, 1)), False)
        starts &= ~(np.isin(first, _SIGNS) & digits.to_numpy(zero_copy_only=False))
    positions = np.flatnonzero(starts)
    formula = np.zeros(len(column), dtype=bool)
    formula[positions[~_plain_numbers(column.take(positions))]] = True
    if not formula.any():
        return column
    mask = pa.array(formula)
    return pc.replace_with_mask(column, mask, pc.binary_join_element_wise("'", column.filter(mask), ""))


def _plain_numbers(cells: pa.Array) -> npt.NDArray[np.bool_]:
    """`_PLAIN_NUMBER` matched whole, without a regex: a sign, a digit, then digits and dots."""
    signed = pc.or_(pc.starts_with(cells, "+"), pc.starts_with(cells, "-"))
    body = pc.utf8_slice_codeunits(cells, 1)
    number = pc.and_(
        pc.ascii_is_decimal(pc.utf8_slice_codeunits(body, 0, 1)),
        pc.ascii_is_decimal(pc.replace_substring(body, ".", "")),
    )
    return np.asarray(pc.and_(signed, number).to_numpy(zero_copy_only=False), dtype=bool)
