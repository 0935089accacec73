"""The polars expressions the planner shares agree with the Python they stand in for."""

from __future__ import annotations

import json
import sys

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.arrays import WHITESPACE
from runner.frames import json_text, json_texts, per_distinct, strip
from runner.planning.customers import MAX_FIELD, customer_fields


def test_whitespace_is_exactly_what_python_strips() -> None:
    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == WHITESPACE


@settings(deadline=None)
@given(st.lists(st.text() | st.none(), max_size=20))
def test_json_text_and_strip_match_python(values: list[str | None]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    got = frame.select(json=json_text(pl.col("v")), stripped=strip(pl.col("v")))
    assert got["json"].to_list() == [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    assert got["stripped"].to_list() == [None if v is None else v.strip() for v in values]


def test_per_distinct_calls_once_per_value_reading_missing_as_empty() -> None:
    calls: list[str] = []

    def shout(value: str) -> str | None:
        calls.append(value)
        return value.upper() or None

    frame = pl.DataFrame({"v": ["a", "b", "a", None, ""]})
    assert frame.select(per_distinct(frame, "v", shout)).to_series().to_list() == ["A", "B", "A", None, None]
    assert sorted(calls) == ["", "a", "b"]


@settings(deadline=None)
@given(st.lists(st.text(alphabet='aé \t\n\xa0\u2003"', max_size=60) | st.none()))
def test_customer_names_are_collapsed_and_shortened_like_python(names: list[str | None]) -> None:
    """A name's whitespace runs become one space, its ends are trimmed, and it is cut to 40 characters."""
    frame = pl.DataFrame({"name": names, "email": None}, schema={"name": pl.String, "email": pl.String})
    got = customer_fields(frame)
    for cell, sent, note in zip(names, got["name_sent"].to_list(), got["name_note"].to_list(), strict=True):
        collapsed = " ".join((cell or "").split())
        assert sent == (collapsed[:MAX_FIELD].rstrip(" ") or None)
        assert (note is not None) == (len(collapsed) > MAX_FIELD)


@settings(deadline=None)
@given(st.lists(st.text(alphabet='ab"\\\x01\n\té', max_size=5) | st.none(), max_size=10))
def test_json_texts_quotes_plainly_only_what_needs_no_escape(values: list[str | None]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    got = frame.select(json_texts(frame, "v")).to_series().to_list()
    assert got == [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
