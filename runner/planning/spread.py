"""Scheduled calls spread over their window at the line rate.

A row whose calling window opens later is scheduled (Vapi dials it at its earliestAt). Without a
spread every row of a window would be due at its opening: 5,000 calls at 09:00 on 10 lines. Here,
over the whole plan (lines are the account's, so across every time zone in it), no more than
`lines - reserve_lines` customers are due within any `expected_call_seconds`: each window's rows
take the next free slots from its opening, and a row's earliestAt is its slot. Rows that find no
slot before their window closes go to their next day's window, as the screen gives it (a day's
calling hours are the screen's to decide, not a shift of 24 hours), until the schedule ends; what
does not fit by then is `not due`, with the reason.

Rows whose window is open now are not spread: the run paces them to the free lines as it sends."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from runner.campaign import DEFAULT_CALL_SECONDS, DEFAULT_LINES, Campaign
from runner.hours import HORIZON
from runner.planning.customers import PLANNED, WHEN, Rows
from runner.statuses import Status

DUE_NOW = timedelta(seconds=30)  # a window opening within this is open now: the run paces its rows


def spread(
    rows: Rows, campaign: Campaign, now: datetime, rescreen: Callable[[datetime, list[int]], Rows] | None = None
) -> tuple[Rows, list[str], list[str]]:
    """The rows with each scheduled one's window_start moved to its slot; when they are due, day by
    day (for the plan's summary), and what a person must be warned of (rows that did not fit).

    Rows that find no slot before their window closes are screened again (`rescreen(start,
    positions)`: the plan's screen as of `start`, over those rows) as of the moment the last of
    their windows closes, which gives each its next day's window (that day's calling hours, state
    rules and lists); day after day until the schedule's latest_at (else the planning horizon)."""
    dialing = campaign.dialing
    usable = max(1, (dialing.lines or DEFAULT_LINES) - dialing.reserve_lines)
    step = timedelta(seconds=dialing.expected_call_seconds or DEFAULT_CALL_SECONDS)
    later = PLANNED & pl.col("window_start").is_not_null() & (pl.col("window_start") > now + DUE_NOW)
    frame = rows.frame.with_row_index("position")
    waiting = frame.filter(later).select("position", "status", "reason", "window_start", "window_end")
    if waiting.height <= usable:
        return rows, [], []
    until = campaign.schedule.latest_at or now + HORIZON
    settled: list[pl.DataFrame] = []  # position, status, reason, window_start (the slot), window_end
    stuck: list[pl.DataFrame] = []  # rows with no slot and no later window
    cursor: datetime | None = None
    while waiting.height:
        waiting = waiting.sort("window_start", "window_end", "position")
        slots, cursor = _slots(waiting, usable, step, cursor)
        settled.append(waiting.with_columns(window_start=slots).filter(pl.col("window_start").is_not_null()))
        left = waiting.filter(slots.is_null())
        closes = left.get_column("window_end").max()
        if not isinstance(closes, datetime) or rescreen is None or closes >= until:
            waiting = left  # all placed, or what is left cannot go to a later day
            break
        positions = left.get_column("position").to_list()
        again = rescreen(closes + timedelta(minutes=1), positions).frame
        again = again.select("status", "reason", "window_start", "window_end").with_columns(
            position=pl.Series(positions, dtype=pl.UInt32)
        )
        # No later window (the schedule ends first): what kept them is the lines, said as such.
        keeps = again.select(PLANNED & pl.col("window_start").is_not_null()).to_series()
        stuck.append(left.filter(~keeps))  # `again` holds `left`'s rows, in its order
        waiting = again.filter(keeps).select(*waiting.columns)
    reason = (
        f"not due: no line free for it before {until:%Y-%m-%d %H:%M} UTC ({usable} line(s), about "
        f"{step.total_seconds():g} s a call); plan it again with a new --out folder later"
    )
    unplaced = pl.concat([*stuck, waiting]).with_columns(status=pl.lit(Status.NOT_DUE.value), reason=pl.lit(reason))
    updates = pl.concat([*settled, unplaced]).rename(lambda name: name if name == "position" else f"new_{name}")
    changed = ("status", "reason", "window_start", "window_end")
    frame = frame.join(updates, on="position", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("new_status").is_not_null()).then(f"new_{name}").otherwise(name).alias(name) for name in changed
    )
    placed = pl.concat(settled).filter(PLANNED & pl.col("window_start").is_not_null()) if settled else waiting.clear()
    summary, warnings = _notes(placed.get_column("window_start"), unplaced.height, usable, step)
    return Rows(frame.drop("position", *(f"new_{name}" for name in changed)), rows.facts), summary, warnings


def _slots(
    waiting: pl.DataFrame, usable: int, step: timedelta, cursor: datetime | None
) -> tuple[pl.Series, datetime | None]:
    """Each row's slot (null: none before its window closes), windows in order from `cursor` on,
    `usable` rows a slot; and where the next free slot is."""
    counts = waiting.group_by("window_start", "window_end", maintain_order=True).len()
    due = np.full(waiting.height, np.datetime64("NaT"), dtype="datetime64[us]")
    micros = np.timedelta64(int(step.total_seconds() * 1_000_000), "us")
    first = 0
    for opens, closes, count in counts.iter_rows():
        cursor = max(cursor or opens, opens)
        fit = min(count, max(0, math.ceil((closes - cursor) / step)) * usable)  # a slot starts before it closes
        due[first : first + fit] = (
            np.datetime64(cursor.replace(tzinfo=None), "us") + (np.arange(fit) // usable) * micros
        )
        cursor += step * math.ceil(fit / usable)
        first += count
    return pl.Series("window_start", due).dt.replace_time_zone("UTC").cast(WHEN), cursor


def _notes(due: pl.Series, unplaced: int, usable: int, step: timedelta) -> tuple[list[str], list[str]]:
    """When the scheduled calls go out, day by day; and how many rows wait (a warning)."""
    warnings = [f"{unplaced:,} row(s) do not fit before the schedule ends: not due (each says why)"] if unplaced else []
    if due.is_empty():
        return [], warnings
    days = due.dt.date().value_counts(sort=False).sort(due.name)
    said = ", ".join(f"{count:,} on {day:%a %d %b}" for day, count in days.iter_rows())
    summary = (
        f"scheduled: {due.len():,} call(s) at {usable} line(s), about {step.total_seconds():g} s a call: {said} (UTC)"
    )
    return [summary], warnings
