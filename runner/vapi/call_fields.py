"""What a run keeps of a call: the few fields of Vapi's call JSON that the results sheet shows and
the rules read (the opt-out flag), as a table with one row per call, worked out when `status`
fetches the calls.

A page of Vapi's call list (up to 1,000 calls) is read by polars straight from the answer's bytes
against a declared schema (`read_page`): no Python object per call. `texts_of` is the plain
specification, one dict at a time; it reads what polars refuses (a field holding an object where
text belongs) and the few calls fetched by id, and a hypothesis test holds the two equal wherever
polars reads a page. Both end in the same `shown` stage, which derives the sheet's texts (once per
look, over every page's calls at once: a stage per page would cost more than reading it)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import polars as pl

# The results sheet's columns of a call, in its order.
CALL_COLUMNS = (
    "status",
    "ended_reason",
    "started_at",
    "ended_at",
    "duration_s",
    "cost",
    "summary",
    "success_evaluation",
)
# What a run keeps of each call (beside the spreadsheet row it belongs to): the id, the sheet's
# columns, then what the rules read. `created_at` is what the call list pages by.
CALL_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "created_at": pl.String(),
    **{name: pl.String() for name in CALL_COLUMNS},
    "recording_url": pl.String(),
    "assistant_name": pl.String(),
    "number": pl.String(),
    "opted_out": pl.Boolean(),
}
# The fields read of a call, by where they are in Vapi's JSON (the keys down to it).
_TEXTS: dict[str, tuple[str, ...]] = {
    "call_id": ("id",),
    "created_at": ("createdAt",),
    "status": ("status",),
    "ended_reason": ("endedReason",),
    "started_at": ("startedAt",),
    "ended_at": ("endedAt",),
    "cost": ("cost",),
    "number": ("customer", "number"),
    "summary": ("analysis", "summary"),
    "success_evaluation": ("analysis", "successEvaluation"),
    "recording_url": ("artifact", "recordingUrl"),
    "assistant_name": ("assistant", "name"),
}
OPTED_OUT_TEXTS = ("true", "1")  # a flag of true or 1 (or that text) means "do not call me again"


def page_calls(page: bytes, opt_out_field: str) -> pl.DataFrame:
    """CALL_SCHEMA of each call in one answer of GET /call (a JSON array), in its order. Raises
    ValueError when the answer is not a JSON array of objects."""
    return shown(read_page(page, opt_out_field), opt_out_field)


def calls_of(calls: list[dict[str, Any]], opt_out_field: str) -> pl.DataFrame:
    """CALL_SCHEMA of each call, one dict at a time: the specification `page_calls` is held to."""
    return shown(texts_of(calls, opt_out_field), opt_out_field)


def read_page(page: bytes, opt_out_field: str) -> pl.DataFrame:
    """The fields of each call in one answer of GET /call as they were sent (text, null where
    absent), for `shown`: by polars, or by `texts_of` where polars will not read the page."""
    read = polars_page(page, opt_out_field)
    if read is not None:
        return read
    calls = orjson.loads(page)
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        raise ValueError("not a JSON array of calls")
    return texts_of(calls, opt_out_field)


def polars_page(page: bytes, opt_out_field: str) -> pl.DataFrame | None:
    """read_page by polars, or None where polars will not read a field as declared (an object
    where text belongs, text where an object does) or the page is not a JSON array."""
    if page.lstrip()[:1] != b"[":
        return None
    try:
        return pl.read_json(io.BytesIO(page), schema=_read_schema(opt_out_field))
    except pl.exceptions.PolarsError:
        return None


def texts_of(calls: list[dict[str, Any]], opt_out_field: str) -> pl.DataFrame:
    """read_page's fields of each call, one dict at a time (the specification): each field as
    text, in objects as they are nested in the call."""
    paths = _paths(opt_out_field).values()
    rows = [_nested((path, _text(_at(call, path))) for path in paths) for call in calls]
    return pl.DataFrame(rows, schema=_read_schema(opt_out_field))


def shown(read: pl.DataFrame, opt_out_field: str) -> pl.DataFrame:
    """CALL_SCHEMA of calls as read_page read them: texts ('' where Vapi sent nothing), the duration
    in whole seconds (half to even) when both ends are ISO 8601 times with a zone, the cost as a
    plain number, and whether the opt-out flag is set. A `row` column is kept."""
    row = [name for name in ("row",) if name in read.columns]
    raw = read.select(*row, *(_column(path).alias(name) for name, path in _paths(opt_out_field).items()))
    moment = {
        end: pl.col(end).str.to_datetime("%+", time_zone="UTC", strict=False) for end in ("started_at", "ended_at")
    }
    seconds = (moment["ended_at"] - moment["started_at"]).dt.total_microseconds() / 1_000_000
    cost = pl.col("cost").cast(pl.Float64, strict=False)
    return raw.with_columns(
        duration_s=seconds.round(0, mode="half_to_even").cast(pl.Int64).cast(pl.String).fill_null(""),
        cost=pl.when(cost.is_finite()).then(cost.cast(pl.String).str.strip_suffix(".0")).otherwise(pl.lit("")),
        opted_out=pl.col("opted_out").str.to_lowercase().is_in(OPTED_OUT_TEXTS).fill_null(False),
    ).select(
        *row,
        *(pl.col(name).fill_null("") if dtype == pl.String else pl.col(name) for name, dtype in CALL_SCHEMA.items()),
    )


@cache  # once per campaign, not once per page
def _read_schema(opt_out_field: str) -> dict[str, pl.DataType]:
    """The nested schema polars reads a page with: every field as text, its objects as structs."""
    schema = _nested((path, pl.String()) for path in _paths(opt_out_field).values())
    return {name: _struct(value) for name, value in schema.items()}


def _nested(items: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """{keys: value} as nested objects: (("a", "b"), 1) is {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for (*objects, leaf), value in items:
        level = nested
        for name in objects:
            level = level.setdefault(name, {})
        level[leaf] = value
    return nested


def _struct(value: dict[str, Any] | pl.DataType) -> pl.DataType:
    return pl.Struct({k: _struct(v) for k, v in value.items()}) if isinstance(value, dict) else value


def _paths(opt_out_field: str) -> dict[str, tuple[str, ...]]:
    """Each column read, and where it is in a call: the opt-out flag is one key of structuredData."""
    return {**_TEXTS, "opted_out": ("analysis", "structuredData", opt_out_field)}


def _column(path: tuple[str, ...]) -> pl.Expr:
    column = pl.col(path[0])
    for name in path[1:]:
        column = column.struct.field(name)
    return column


def _at(call: dict[str, Any], path: tuple[str, ...]) -> object:
    """The value down these keys; None where an object on the way is missing or not an object."""
    value: object = call
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _text(value: object) -> str | None:
    """A value as polars reads it into a text column: text as it is, true and false, numbers in
    plain decimal notation (1.0 is "1"), and anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        plain = format(Decimal(repr(value)), "f")
        return plain.rstrip("0").rstrip(".") if "." in plain else plain
    return orjson.dumps(value).decode()
