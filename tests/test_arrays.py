"""The column helpers agree with the Python they stand in for."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner import arrays
from runner.arrays import factorize, map_distinct


@given(st.lists(st.text(alphabet=" \t\x1c\x85\xa0\u3000a!~\x7fé", max_size=4), max_size=30), st.integers(0, 3))
def test_blank_is_arrows_trim_leaving_nothing(cells: list[str], start: int) -> None:
    values = pa.array(["x", *cells], pa.string())[min(start, len(cells)) :]  # offsets need not start at 0
    expected = pc.equal(pc.utf8_trim_whitespace(values), "").to_pylist()
    assert arrays.blank(values).tolist() == expected
    assert arrays.byte_lengths(values).tolist() == [len(cell.encode()) for cell in values.to_pylist()]


def test_map_distinct_calls_once_per_value_including_missing() -> None:
    calls: list[str | None] = []

    def shout(value: str | None) -> str:
        calls.append(value)
        return (value or "-").upper()

    assert map_distinct(pa.array(["a", "b", "a", None], pa.string()), shout).tolist() == ["A", "B", "A", "-"]
    assert sorted(calls, key=str) == sorted(["a", "b", None], key=str)


@given(st.lists(st.one_of(st.none(), st.sampled_from([0, 3, -2, 2**40])), max_size=30) | st.lists(st.integers(-3, 5)))
def test_factorize_numbers_by_first_appearance(values: list[int | None]) -> None:
    order = list(dict.fromkeys(value for value in values if value is not None))
    expected = [order.index(value) if value is not None else -1 for value in values]
    firsts = [values.index(value) for value in order]
    texts = [None if value is None else str(value) for value in values]
    for column in (pa.array(texts, pa.string()), pa.array(values, pa.int64())):
        codes, first = factorize(column)
        assert (codes.tolist(), first.tolist()) == (expected, firsts)
    if None not in values:
        codes, first = factorize(np.array(values, dtype=np.int64))
        assert (codes.tolist(), first.tolist()) == (expected, firsts)


def test_on_every_core_gives_what_one_call_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrays, "SLICE_ROWS", 3)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # the os module runner.arrays asks
    column = pa.array([f"r{n}" if n % 3 else None for n in range(14)], pa.string())

    def upper_and_length(part: pa.Array) -> tuple[pa.Array, ...]:
        return pc.utf8_upper(part), pc.utf8_length(part)

    assert arrays.on_every_core(upper_and_length, column) == upper_and_length(column)
