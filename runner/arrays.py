"""Column helpers for the planner: whole-column string work in Arrow, Python only per distinct value.

A million-row sheet holds few distinct consent answers, countries or time zones; deciding each once
and spreading the answer with an index is what keeps planning near the cost of reading the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Objects = npt.NDArray[np.object_]
# Control characters: C0 but tab and line breaks, DEL, C1. They are never sent (docs/input.md).
CONTROL_CLASS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
# Exactly the characters Python's str.split() and str.strip() treat as whitespace (RE2's \s is ASCII);
# tests/test_arrays.py checks it against str.isspace.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Integer keys spanning fewer values than this are numbered without a hash table.
SMALL_RANGE = 1 << 16
# Columns are worked on in slices of about this many rows, one thread per core; shorter ones whole.
SLICE_ROWS = 125_000
WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"


def is_text(array: pa.Array | pa.ChunkedArray) -> bool:
    """A column of text (or of nothing at all), as opposed to numbers, flags or times."""
    kind = array.type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind))


def text_array(values: Sequence[str] | Objects | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any column of text as one Arrow string array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, type=pa.string())


def string_buffers(values: pa.Array) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """A string column's offsets (one more than its length) and UTF-8 bytes, as numpy views without a
    copy: cell i is bytes[offsets[i]:offsets[i + 1]]."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)
    return offsets, np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)


def joined_bytes(values: pa.Array | pa.ChunkedArray) -> memoryview:
    """A text column's cells one after the other, as the bytes Arrow holds them (no copy): what
    polars' str.join("") would give at several times the cost."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    wide = pa.types.is_large_string(values.type)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64 if wide else np.int32, count=len(values) + 1,
                            offset=values.offset * (8 if wide else 4))  # fmt: skip
    data = values.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data is not None else memoryview(b"")


def byte_lengths(values: pa.Array) -> npt.NDArray[np.int32]:
    """Each cell's length in UTF-8 bytes (never less than its length in characters), from the offsets."""
    return np.diff(string_buffers(values)[0])


def first_bytes(values: pa.Array) -> npt.NDArray[np.uint8]:
    """The first UTF-8 byte of each cell (0 for an empty or null one), read off Arrow's buffers."""
    values = pc.fill_null(values, "")
    offsets, data = string_buffers(values)
    if not len(data):
        return np.zeros(len(values), dtype=np.uint8)
    starts = offsets[:-1]
    filled = offsets[1:] > starts
    return np.where(filled, data[np.where(filled, starts, 0)], 0).astype(np.uint8)


def records(table: pa.Table | pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    """The table's rows as tuples of cells."""
    return zip(*(column.to_pylist() for column in table.columns), strict=True)


def blank(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Where a cell is empty or whitespace only. A cell that starts with a visible ASCII character is
    not; Arrow's trim runs only on the few others."""
    first = first_bytes(values)
    unsure = np.flatnonzero((first <= ord(" ")) | (first >= 0x7F))
    result = np.zeros(len(values), dtype=bool)
    trimmed = pc.utf8_trim_whitespace(values.take(pa.array(unsure, pa.int64())))
    result[unsure] = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
    return result


def on_every_core(function: Callable[..., tuple[pa.Array, ...]], *columns: pa.Array) -> tuple[pa.Array, ...]:
    """function(*columns), run on row slices of long, aligned columns by one thread per core, the
    results joined. Arrow's kernels let go of the GIL, so the slices really run at once; and each
    thread reuses its scratch memory from slice to slice, where fresh memory is costly."""
    size = len(columns[0])
    pieces = max(1, size // SLICE_ROWS)
    if pieces < 2:
        return function(*columns)
    bounds = np.linspace(0, size, pieces + 1).astype(int).tolist()
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, pieces)) as pool:
        parts = list(pool.map(lambda start, end: function(*(c[start:end] for c in columns)), bounds[:-1], bounds[1:]))
    return tuple(pa.concat_arrays(list(arrays)) for arrays in zip(*parts, strict=True))


def factorize(values: npt.NDArray[Any] | pa.Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(a code per row, numbered in order of first appearance, -1 for null; the first row of each
    code), by hashing: np.unique would sort a million rows to find the same. Integers go through
    pandas' hash table, four times faster than Arrow's on a million distinct values."""
    if isinstance(values, pa.Array) and pa.types.is_integer(values.type):
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        return _factorize_integers(values.fill_null(0).to_numpy(), None if valid.all() else valid)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return _factorize_integers(values, None)
    codes = pc.fill_null(pc.dictionary_encode(pa.array(values)).indices, -1).to_numpy(zero_copy_only=False)
    return codes.astype(np.intp), first_rows(codes)


def _factorize_integers(
    values: npt.NDArray[np.integer[Any]], valid: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    if valid is not None:
        codes = np.full(len(values), -1, dtype=np.intp)
        codes[valid] = _factorize_integers(values[valid], None)[0]
        return codes, first_rows(codes)
    if len(values) and int(values.max()) - int(values.min()) < SMALL_RANGE:
        return _factorize_small(np.asarray(values - values.min(), dtype=np.intp))
    codes = np.asarray(pd.factorize(values)[0], dtype=np.intp)
    return codes, first_rows(codes)


def _factorize_small(values: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Integers from 0 to a few thousand: each value's first row by one pass, no hash table."""
    first = np.full(int(values.max()) + 1, len(values), dtype=np.intp)
    np.minimum.at(first, values, np.arange(len(values)))
    present = np.flatnonzero(first < len(values))
    order = present[np.argsort(first[present])]  # the values in order of first appearance
    rank = np.empty(len(first), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return rank[values], first[order]


def first_rows(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp]:
    """For codes numbered in order of first appearance (-1 ignored), the row where each first appears:
    where a code is above every code before it."""
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    before = np.maximum.accumulate(np.concatenate([[-1], codes[:-1]]))
    return np.flatnonzero(codes > before)


def objects(values: pa.Array | Sequence[Any]) -> Objects:
    """An object ndarray (Arrow nulls become None): cheap to mask, take and assign."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def map_distinct(values: pa.Array, function: Callable[[str | None], Any]) -> Objects:
    """function(value) for every row, calling it once per distinct value."""
    encoded = pc.dictionary_encode(values)
    answers = objects([function(value) for value in encoded.dictionary.to_pylist()] + [function(None)])
    indices = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return np.asarray(answers[indices], dtype=object)


def strip(values: pa.Array) -> pa.Array:
    """str.strip() on a whole column."""
    return pc.utf8_trim(values, characters=WHITESPACE)
