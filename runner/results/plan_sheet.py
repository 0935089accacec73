"""A plan's results sheet, before (or instead of) sending: every row `planned` or set aside with
its reason; and where a run folder's sheet goes, never over the input."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa

from runner.errors import OutdirError
from runner.planning.customers import PLANNED, with_status
from runner.planning.plan import Plan, write_requests
from runner.results.people import attempts_frame
from runner.results.report import heading, report, segment_of
from runner.results.summary import Summary, problems
from runner.results.write import default_format, plan_columns, results_table, write_results
from runner.statuses import Status


def plan_summary(plan: Plan, columns: Mapping[str, pa.Array] | None = None) -> Summary:
    """The Summary of a plan: rows by status, the suppressed ones by rule, the problems found, and
    (given its sheet's columns, plan_columns) people by outcome and by the campaign's segment."""
    counts = dict(plan.rows.counts().most_common())
    summary = Summary(counts, {}, {}, 0, 0, by_problem=problems(plan.rows.frame)).with_rules(plan.suppressed)
    if columns is None:
        return summary
    people = pl.DataFrame({"outcome": columns["outcome"]})
    segment = segment_of(plan.sheet.as_written(), plan.campaign.results.segment)
    title = heading(plan.campaign.name, str(plan.sheet.path), "planned, not sent")
    return summary.with_report(title, report(people, attempts_frame(), segment))


def results_path(outdir: Path, fmt: str | None, row_count: int, input_columns: int = 0) -> Path:
    return outdir / f"results.{fmt or default_format(row_count, input_columns)}"


def results_target(plan: Plan, outdir: Path, fmt: str | None) -> Path:
    """Where the results sheet goes, never over the input; makes the folder."""
    target = results_path(outdir, fmt, len(plan.rows), plan.sheet.table.num_columns)
    if target.resolve() == plan.sheet.path.resolve():
        raise OutdirError(f"{target}: would overwrite the input; choose another --out folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutdirError(f"{outdir}: cannot write: {exc.strerror}") from None
    return target


def write_plan(plan: Plan, outdir: str | Path, fmt: str | None = None) -> Path:
    """Write requests.jsonl and the results sheet (every row `planned` or set aside); returns its path.

    The sheet is written on a second thread while the request bodies are joined and written: both
    are mostly Arrow's work, which lets go of the GIL."""
    outdir = Path(outdir)
    target = results_target(plan, outdir, fmt)
    with ThreadPoolExecutor(max_workers=1) as worker:

        def write() -> Path:
            columns = plan_columns(plan.result_columns())
            return write_results(results_table(plan.sheet.as_written(), columns), target, plan_summary(plan, columns))

        written = worker.submit(write)
        write_requests(plan, outdir)
        return written.result()


def write_unsent(plan: Plan, outdir: Path, fmt: str | None, why: str) -> Path:
    """The results sheet of a run stopped before anything was sent: every row as planned, the
    planned ones saying they were not sent and why."""
    rows = plan.planned_requests.rows
    why = f"not sent: {why}"
    reason = pl.concat_str(
        [pl.lit(why), pl.when(pl.col("reason") != "").then("; " + pl.col("reason"))], ignore_nulls=True
    )
    stopped = replace(
        plan,
        planned_requests=replace(
            plan.planned_requests, rows=rows.with_columns(**with_status(PLANNED, Status.PLANNED, reason))
        ),
    )
    target = results_target(plan, outdir, fmt)
    columns = plan_columns(stopped.result_columns())
    return write_results(results_table(plan.sheet.as_written(), columns), target, plan_summary(stopped, columns))
