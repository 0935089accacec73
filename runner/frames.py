"""Polars expressions the planning stages share: JSON text, Python's strip, per-distinct answers.

The planning table is a polars frame; these are the few things its stages need that polars does
not say in one word. Each is held to the Python it stands for by tests/test_frames.py."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from runner.arrays import WHITESPACE

ESCAPED = r'["\\\x00-\x1f]'  # what JSON escapes in a string


def json_text(value: pl.Expr) -> pl.Expr:
    """Each value as a JSON string literal, exactly as json.dumps(..., ensure_ascii=False) writes
    it (null stays null). Polars' JSON writer escapes as Python's does; wrapping the value in a
    one-field struct and cutting the field's name off is its only way to say a bare string."""
    encoded = pl.struct(value.alias("v")).struct.json_encode()
    return pl.when(value.is_not_null()).then(encoded.str.slice(5).str.head(-1))


def json_texts(frame: pl.DataFrame, column: str) -> pl.Expr:
    """json_text of `frame`'s column, as plain quotes around each cell where none needs escaping
    (most columns: a fifth of the cost)."""
    if frame.get_column(column).str.contains(ESCAPED).any():
        return json_text(pl.col(column))
    return pl.concat_str([pl.lit('"'), pl.col(column), pl.lit('"')])


def member(name: str, json: pl.Expr) -> pl.Expr:
    """',"name":<json>' where there is a value, else empty."""
    return pl.concat_str([pl.lit(f',"{name}":'), json]).fill_null("")


def strip(value: pl.Expr) -> pl.Expr:
    """str.strip() on a whole column (polars' own strip_chars() strips ASCII whitespace only)."""
    return value.str.strip_chars(WHITESPACE)


def per_distinct(frame: pl.DataFrame, column: str, function: Callable[[str], str | None]) -> pl.Expr:
    """function(cell) for every row of `column` (null read as ""), called once per distinct cell:
    a million rows hold few consent answers or time zones."""
    cells = frame.get_column(column).fill_null("").unique()
    answers = [function(cell) for cell in cells.to_list()]
    return (
        pl.col(column)
        .fill_null("")
        .replace_strict(cells, pl.Series(answers, dtype=pl.String), default=None, return_dtype=pl.String)
    )
