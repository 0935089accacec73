"""Follow-up attempts: the next call for rows whose last call ended for a reason the campaign's
[retry] names, screened again as of when it will leave, within calling hours, at most once per
attempt and never past max_attempts. They go into the ledger as planned requests; the submitter
sends them like any other (admission screens them once more as they leave)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from runner.campaign import Campaign
from runner.ended_reasons import NEVER_RANG
from runner.hours import HORIZON
from runner.planning.body import customers_of, dumps, followup_body, request_id, with_customers
from runner.planning.customers import PLANNED, WHEN, Rows, with_status
from runner.planning.plan import Plan
from runner.planning.requests import CallRequest, build_requests
from runner.planning.screen import Screen, load_do_not_call, load_opt_outs
from runner.statuses import CallStatus, Status
from runner.store.history import CallHistory, open_history
from runner.store.ledger import Ledger

MAX_PLACEMENTS = 3  # a row placed again this often, its call never ringing, is left with the reason
_PLACEMENT = re.compile(r"-p(\d+)$")  # the externalId suffix of a row placed again


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


def place_again(ledger: Ledger, plan_id: str, never_rang: Mapping[str, str], forget: Callable[[str, int], None]) -> int:
    """Rows whose call never rang (no line was free, a fault before dialling: `never_rang`, call id
    -> ended reason) become planned requests again, of the same attempt: no call happened, so it is
    not an attempt, and the claim of the call that never rang is forgotten (`forget(request id,
    row)`), so it counts toward no cap. Each customer's externalId names the placement (-p1, -p2,
    …), so a call that never rang is never taken for the one placed after it; a row placed
    MAX_PLACEMENTS times keeps its last call's reason (and no claim). Returns the rows placed again."""
    by_attempt: dict[int, list[CallRequest]] = defaultdict(list)
    for _, row, request in ledger.requests_of_calls(never_rang):
        customer = dict(zip(request.rows, customers_of(request.body), strict=True))[row]
        external = str(customer.get("externalId") or "")
        earlier = _PLACEMENT.search(external)
        placement = int(earlier[1]) + 1 if earlier else 1
        forget(request.id, row)  # whether or not it is placed again: its call never happened
        if placement > MAX_PLACEMENTS:
            continue
        if external:
            customer = {
                **customer,
                "externalId": f"{external[: earlier.start()] if earlier else external}-p{placement}",
            }
        body = dumps(with_customers(request.body, [customer]))
        by_attempt[request.attempt].append(
            CallRequest(request_id(plan_id, (row,), request.attempt, placement=placement), (row,), body)
        )
    for attempt, requests in by_attempt.items():
        ledger.add_requests(requests, attempt, "placed again: its call never rang; not sent yet")
    return sum(len(requests) for requests in by_attempt.values())


def forgetting(history: CallHistory, folder: Path) -> Callable[[str, int], None]:
    """What takes a row's claim of a request out of the history (a call that never happened)."""
    run_dir = str(folder.resolve())
    return lambda request_id, row: history.forget(run_dir, request_id, [row])


def place_never_rang(ledger: Ledger, campaign: Campaign, plan_id: str, folder: Path) -> list[str]:
    """After a look at a run's calls: the rows whose call never rang, planned again (place_again);
    what a person should know of it."""
    # The fetched calls alone (a Parquet file): the rows' outcomes are read only when one never rang,
    # and the history opened only when such a call is still its row's (not one placed again before).
    never_rang = ledger.calls.frame().filter(pl.col("ended_reason").is_in(list(NEVER_RANG)))
    reasons = dict(never_rang.select("call_id", "ended_reason").iter_rows())
    current = ledger.current_calls(reasons) if reasons else set()
    if not current:
        return []
    history = open_history(campaign)
    try:
        placed = place_again(ledger, plan_id, {call: reasons[call] for call in current}, forgetting(history, folder))
    finally:
        history.close()
    if not placed:
        return []
    return [
        f"{placed} call(s) never rang (no line was free, or Vapi failed before dialling): placed again, "
        "not counted as attempts; `status --retry` or the next run sends them"
    ]
