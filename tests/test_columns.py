"""The column helpers agree with the Python they stand in for."""

from __future__ import annotations

import json
import sys

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from runner.columns import WHITESPACE, fragments, json_strings, map_distinct, strip


def test_whitespace_is_exactly_what_python_strips() -> None:
    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == WHITESPACE


@given(st.lists(st.text(), max_size=20))
def test_json_strings_and_strip_match_python(values: list[str]) -> None:
    column = pa.array(values, pa.string())
    assert json_strings(column).to_pylist() == [json.dumps(v, ensure_ascii=False) for v in values]
    assert strip(column).to_pylist() == [v.strip() for v in values]


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
