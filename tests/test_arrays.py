"""The column helpers agree with the Python they stand in for."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner import arrays
from runner.arrays import WHITESPACE, factorize, fragments, json_strings, map_distinct, strip
from runner.planning.customers import MAX_FIELD, _fields_of


def test_whitespace_is_exactly_what_python_strips() -> None:
    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == WHITESPACE


@given(st.lists(st.text(), max_size=20))
def test_json_strings_and_strip_match_python(values: list[str]) -> None:
    column = pa.array(values, pa.string())
    assert json_strings(column).to_pylist() == [json.dumps(v, ensure_ascii=False) for v in values]
    assert strip(column).to_pylist() == [v.strip() for v in values]


@given(st.lists(st.text(alphabet=" \t\x1c\x85\xa0\u3000a!~\x7fé", max_size=4), max_size=30), st.integers(0, 3))
def test_blank_is_arrows_trim_leaving_nothing(cells: list[str], start: int) -> None:
    values = pa.array(["x", *cells], pa.string())[min(start, len(cells)) :]  # offsets need not start at 0
    expected = pc.equal(pc.utf8_trim_whitespace(values), "").to_pylist()
    assert arrays.blank(values).tolist() == expected
    assert arrays.byte_lengths(values).tolist() == [len(cell.encode()) for cell in values.to_pylist()]


def test_fragments_leave_out_missing_parts_and_keep_every_row() -> None:
    first = pa.array(["a", None, None, "d"], pa.string())
    second = pa.array([None, None, "c", "e"], pa.string())
    assert fragments(first, second, separator="; ").to_pylist() == ["a", "", "c", "d; e"]


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


@given(st.lists(st.text(alphabet='aé \t\n\xa0\u2003"', max_size=60)))
def test_customer_names_are_collapsed_and_shortened_like_python(names: list[str]) -> None:
    """A name's whitespace runs become one space, its ends are trimmed, and it is cut to 40 characters."""
    size = len(names)
    members, _, long_name, _, _ = _fields_of(pa.array(names, pa.string()), pa.nulls(size, pa.string()))
    for name, member, long in zip(names, members.to_pylist(), long_name.to_pylist(), strict=True):
        collapsed = " ".join(name.split())
        expected = collapsed[:MAX_FIELD].rstrip(" ")
        sent = json.loads("{" + member[1:] + "}")
        assert sent.get("name") == (expected or None)
        assert long == (len(collapsed) > MAX_FIELD)
