"""Follow-up attempts: the next call for rows whose last call ended for a reason the campaign's
[retry] names, screened again as of when it will leave, within calling hours, at most once per
attempt and never past max_attempts. They go into the ledger as planned requests; the submitter
sends them like any other (admission screens them once more as they leave)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl

from runner.campaign import Campaign
from runner.hours import HORIZON
from runner.planning.body import dumps, followup_body, request_id
from runner.planning.customers import PLANNED, WHEN, Rows, with_status
from runner.planning.plan import Plan
from runner.planning.requests import CallRequest, build_requests
from runner.planning.screen import Screen, load_do_not_call, load_opt_outs
from runner.statuses import CallStatus, Status
from runner.store.ledger import Ledger


def schedule_followups(
    ledger: Ledger, campaign: Campaign, results: pl.DataFrame, plan: Callable[[], Plan], now: datetime
) -> int:
    """Plan the next attempt of every row of `results` (the run's, as run_results has them) that is
    due one; `plan()` gives the run's plan (made again only when some row is due). Returns rows planned."""
    retry = campaign.retry
    if retry is None:
        return 0
    do_not_call = load_do_not_call(campaign.dnc_paths(), campaign.default_region)
    ended_at = pl.col("ended_at").str.strptime(pl.Datetime("us", "UTC"), "%+", strict=False)
    attempts = pl.col("attempts").cast(pl.Int64, strict=False)
    due = (
        results.with_row_index("position")
        .filter(
            (pl.col("status") == CallStatus.ENDED.value)
            & pl.col("ended_reason").is_in(retry.on)
            & (attempts < retry.max_attempts)
        )
        .with_columns(
            next_attempt=attempts + 1,
            start=pl.max_horizontal(pl.lit(now), ended_at.fill_null(pl.lit(now)) + retry.delay),
        )
        .group_by("next_attempt", "start", maintain_order=True)
        .agg("position")
    )
    planned = 0
    for attempt, start, positions in due.iter_rows():
        run_plan = plan()
        screen = Screen(
            campaign, run_plan.sheet.roles, start, do_not_call,
            opt_outs=load_opt_outs(campaign), free_numbers=run_plan.free_numbers,
        )  # fmt: skip
        again = _placeable(screen.apply(run_plan.rows.subset(positions))[0], start, campaign)
        requests = [
            CallRequest(
                request_id(run_plan.plan_id, request.rows, attempt),
                request.rows,
                dumps(followup_body(request.body, attempt)),
            )
            for request in build_requests(again, campaign, run_plan.plan_id)
        ]
        ledger.add_requests(requests, attempt)
        planned += again.counts()[Status.PLANNED]
    return planned


def _placeable(rows: Rows, start: datetime, campaign: Campaign) -> Rows:
    """Follow-up rows as they can be placed from `start`: with calling hours off, a window from
    then until the schedule ends; a window under a minute long is `not due` yet."""
    unscheduled = PLANNED & pl.col("window_start").is_null()
    end = campaign.schedule.latest_at or start + HORIZON
    rows = rows.with_columns(
        window_start=pl.when(unscheduled).then(pl.lit(start, WHEN)).otherwise("window_start"),
        window_end=pl.when(unscheduled).then(pl.lit(end, WHEN)).otherwise("window_end"),
    )
    too_short = pl.col("window_end") - pl.col("window_start") < timedelta(minutes=1)
    return rows.with_columns(**with_status(PLANNED & too_short.fill_null(False), Status.NOT_DUE, ""))
