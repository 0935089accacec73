"""A run's results as one table: the plan's rows joined, by spreadsheet row number, with the
ledger's requests, the rows' outcomes and the fetched calls. Polars does the joins and the rules,
column by column; SQLite extracts the calls' fields, so no Python object is made per row."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from runner.ended_reasons import FINAL_FOR_ROW, NEVER_RANG
from runner.planning.plan import RESULT_COLUMNS
from runner.results.people import attempts
from runner.results.plan_sheet import results_path
from runner.results.report import Report, heading, report, segment_of
from runner.results.summary import Summary, summarize
from runner.results.write import OUTCOME_COLUMNS, results_table, sheet_columns, write_results
from runner.statuses import CancelState, RequestState, Status
from runner.store.ledger import Ledger
from runner.store.plan_record import PlanRecord
from runner.store.run_folder import RunMeta

# The plan's rows are joined this many at a time: the joins gather some 30 columns, and a
# million rows at once held most of a gigabyte (bench/README.md).
CHUNK_ROWS = 250_000
NOT_FOUND = "the API answered 404 for this call at the last status"
STARTED_FIRST = "started before it could be cancelled (cancel by "
IN_DOUBT = "sent, but the run stopped before Vapi's answer was recorded; the next run checks"


def run_results(
    plan: pl.DataFrame, ledger: Ledger, not_found: set[str], cancelled: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Every plan row (in input order) with RESULT_COLUMNS, OUTCOME_COLUMNS and `assistant`.

    `plan`: each row's number `n` and its RESULT_COLUMNS as planned (PlanRecord.results). A row the
    ledger holds follows it: its current request (the latest that carries it), the outcome Vapi
    gave and the call as last fetched; other rows keep what the plan says."""
    owners = (
        ledger.requests_frame()
        .with_columns(pl.col("rows").str.json_decode(pl.List(pl.Int64)))
        .explode("rows")
        .sort("seq")
        .unique("rows", keep="last")
        .rename({"rows": "n", "request_id": "owner", "earliest_at": "o_earliest_at", "latest_at": "o_latest_at"})
    )
    outcomes = ledger.outcome_calls_frame().rename(
        {"row": "n", "status": "o_status", "reason": "o_reason", "call_id": "o_call_id"}
    )
    if cancelled is None:
        cancelled = pl.DataFrame(schema={"call_id": pl.String, "by": pl.String, "at": pl.String, "state": pl.String})
    cancelled = cancelled.rename({"by": "cancelled_by", "at": "cancelled_at", "state": "cancel_state"})
    if plan.height <= CHUNK_ROWS:
        return _results(plan, owners, outcomes, cancelled, not_found)
    parts = []
    for start in range(0, plan.height, CHUNK_ROWS):
        part = plan.slice(start, CHUNK_ROWS)
        within = pl.col("n").is_between(part.get_column("n").min(), part.get_column("n").max())
        parts.append(_results(part, owners.filter(within), outcomes.filter(within), cancelled, not_found))
    return pl.concat(parts)


def _results(
    plan: pl.DataFrame, owners: pl.DataFrame, outcomes: pl.DataFrame, cancelled: pl.DataFrame, not_found: set[str]
) -> pl.DataFrame:
    """run_results for some of the plan's rows (`owners` and `outcomes` hold at least theirs)."""
    joined = (
        plan.join(owners, on="n", how="left", maintain_order="left")
        .join(outcomes, on="n", how="left", maintain_order="left")
        .join(cancelled, left_on="o_call_id", right_on="call_id", how="left", maintain_order="left")
    )
    was_cancelled = pl.col("cancel_state") == CancelState.CANCELLED.value
    too_late = pl.col("cancel_state") == CancelState.STARTED.value
    owned = pl.col("owner").is_not_null()
    state = pl.col("state")
    has_outcome = pl.col("o_status").is_not_null()
    status = (
        pl.when(has_outcome).then(pl.col("o_status"))
        .when(state == RequestState.SENDING).then(pl.lit(Status.UNKNOWN.value))
        .when(state == RequestState.REJECTED).then(pl.lit(Status.FAILED.value))
        .when(state == RequestState.UNKNOWN).then(pl.lit(Status.UNKNOWN.value))
        .otherwise(pl.lit(Status.PLANNED.value))
    )  # fmt: skip
    error = pl.col("error")
    reason = (
        pl.when(has_outcome).then(pl.col("o_reason"))
        .when(state == RequestState.SENDING).then(pl.lit(IN_DOUBT))
        .when(state.is_in([RequestState.REJECTED, RequestState.UNKNOWN])).then(error)
        .when(error != "").then(pl.concat_str(error, pl.lit("; run the same command again to send it")))
        .otherwise(pl.lit(""))
    )  # fmt: skip
    call_id = pl.col("o_call_id").fill_null("")
    notes = pl.when(pl.col("status") == Status.PLANNED).then(pl.col("reason")).otherwise(pl.lit(""))
    missing = pl.when(call_id.is_in(list(not_found))).then(pl.lit(NOT_FOUND)).otherwise(pl.lit(""))
    joined_reason = pl.concat_str(*(_unless_empty(part) for part in (reason, notes, missing)), separator="; ",
                                  ignore_nulls=True)  # fmt: skip
    call_status = pl.col("c_status")
    # A call that ended before it could ring, for good: the row failed, in plain words.
    final = list(FINAL_FOR_ROW)
    words = pl.col("ended_reason").replace_strict(final, list(FINAL_FOR_ROW.values()), default=None)
    never_rang = pl.col("ended_reason").is_in(list(NEVER_RANG))
    unplaced = pl.when(never_rang).then(
        pl.concat_str(pl.lit("never rang: placed again as often as allowed, each time "), "ended_reason")
    )
    failed_at_start = pl.coalesce(words, unplaced)
    owned_columns = {
        "status": pl.when(was_cancelled)
        .then(pl.lit(Status.CANCELLED.value))
        .when(failed_at_start.is_not_null())
        .then(pl.lit(Status.FAILED.value))
        .when(call_status.is_not_null() & (call_status != ""))
        .then(call_status)
        .otherwise(status),
        "reason": pl.when(was_cancelled)
        .then(pl.concat_str(pl.lit("cancelled by "), "cancelled_by", pl.lit(" at "), "cancelled_at"))
        .when(too_late)
        .then(
            pl.concat_str(
                [
                    pl.lit(STARTED_FIRST),
                    "cancelled_by",
                    pl.lit(" at "),
                    "cancelled_at",
                    pl.lit(")"),
                    pl.lit("; ") + _unless_empty(joined_reason),
                ],
                ignore_nulls=True,
            )
        )
        .when(failed_at_start.is_not_null())
        .then(failed_at_start)
        .otherwise(joined_reason),
        "call_id": call_id,
        "request_id": pl.col("owner"),
        "earliest_at": pl.col("o_earliest_at"),
        "latest_at": pl.col("o_latest_at"),
        "attempts": pl.col("attempt").cast(pl.String),
        **{name: pl.col(name).fill_null("") for name in OUTCOME_COLUMNS if name != "attempts"},
    }
    columns = [
        pl.when(owned).then(expression).otherwise(pl.col(name) if name in RESULT_COLUMNS else pl.lit("")).alias(name)
        for name, expression in owned_columns.items()
    ]
    assistant = pl.when(owned).then(pl.col("assistant")).otherwise(pl.lit(None, pl.String)).alias("assistant")
    return joined.with_columns(*columns, assistant).select(*RESULT_COLUMNS, *OUTCOME_COLUMNS, "assistant")


def _unless_empty(text: pl.Expr) -> pl.Expr:
    """The text, or null when it is empty: concat_str then skips it (no list filtered per row)."""
    return pl.when(text != "").then(text)


class RunSheet:
    """A run folder's results sheet: its plan's record joined with its ledger as it is now, the
    summary of that, and the file (results.xlsx, or .csv as the run asked or the size demands)."""

    def __init__(self, record: PlanRecord, ledger: Ledger, outdir: Path, meta: RunMeta) -> None:
        self._record = record
        self._ledger = ledger
        self._outdir = outdir
        self._fmt = meta.format
        self._meta = meta

    def results(self, not_found: set[str]) -> pl.DataFrame:
        """Every row's result (run_results); `not_found`: the calls the API answered 404 for."""
        return run_results(self._record.results, self._ledger, not_found, self._cancelled())

    def summary(self, results: pl.DataFrame) -> Summary:
        """The results' counts, with the suppressed rows by rule: the plan's, and those admission
        set aside when they were to leave."""
        return summarize(results).with_rules(self._record.suppressed + self._ledger.set_aside_by_rule())

    def path(self, rows: int) -> Path:
        return results_path(self._outdir, self._fmt, rows, self._record.sheet.num_columns)

    def write(self, not_found: set[str]) -> tuple[Path, Summary]:
        """Write the sheet (atomically); its path and summary. OutdirError when it cannot be written."""
        results = self.results(not_found)
        path = self.path(results.height)
        people = results.select(pl.col("row").cast(pl.Int64), "e164", "time_zone", "assistant")
        calls_made = attempts(self._ledger.calls.frame(), people)
        columns = sheet_columns(results, calls_made)
        summary = self.summary(results).with_report(self._heading(), self._figures(columns, calls_made))
        table = results_table(self._record.sheet, columns)
        return write_results(table, path, summary, calls_made.to_arrow()), summary

    def _figures(self, columns: dict[str, pa.Array], calls_made: pl.DataFrame) -> Report:
        people = pl.from_arrow(pa.table({name: columns[name] for name in ("outcome", "attempts", "total_cost")}))
        assert isinstance(people, pl.DataFrame)
        segment = segment_of(self._record.sheet, self._meta.campaign.results.segment)
        return report(people, calls_made, segment)

    def _heading(self) -> tuple[str, ...]:
        meta, first = self._meta, self._ledger.first_sent()
        sent = f"sent {first:%Y-%m-%d %H:%M} UTC" if first else "not sent yet"
        return heading(meta.campaign.name, meta.source or meta.input, sent, meta.by)

    def _cancelled(self) -> pl.DataFrame:
        """The calls `cancel` deleted, or found started before it could: call id, who, when, state."""
        frame = self._ledger.cancellations_frame()
        done = pl.col("state").is_in([CancelState.CANCELLED.value, CancelState.STARTED.value])
        return frame.filter(done).select("call_id", "by", "at", "state")
