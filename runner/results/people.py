"""Each person's story in a marketer's words: one plain outcome (statuses.Outcome) beside their
row, what every attempt cost, and their calls one by one (the Attempts sheet).

The lifecycle (planned, suppressed, failed, scheduled, ended…) and Vapi's ended reasons become
outcomes here, and only here: by the row's status and reason, and by runner.ended_reasons's table
for calls that ended. Times are shown in the recipient's local time (their zone beside them)."""

from __future__ import annotations

import polars as pl

from runner.ended_reasons import NEVER_RANG, call_outcome, plain_reason
from runner.frames import per_distinct
from runner.statuses import CALL_OUTCOMES, CallStatus, Outcome, Status
from runner.store.call_store import STORE_SCHEMA
from runner.store.ledger import now_utc

# A suppressed row's outcome, by how its reason opens (runner.planning.screen and
# runner.sending.admission word them); any other rule is plain "Not called", its reason beside it.
_RULE_OPENINGS: tuple[tuple[tuple[str, ...], Outcome], ...] = (
    (("no consent",), Outcome.NO_CONSENT),
    (("opted out",), Outcome.OPTED_OUT),
    (("on the do-not-call list",), Outcome.DO_NOT_CALL),
    (("called ", "a call is scheduled for", "already called"), Outcome.RECENTLY_CALLED),
    (("calling hours",), Outcome.OUTSIDE_HOURS),
)
_LIFECYCLE = {
    Status.PLANNED: Outcome.NOT_SENT,
    Status.NOT_DUE: Outcome.NOT_SENT,
    Status.INVALID: Outcome.INVALID,
    Status.DUPLICATE: Outcome.DUPLICATE,
    Status.FAILED: Outcome.FAILED,
    Status.UNKNOWN: Outcome.NOT_CONFIRMED,
    Status.CANCELLED: Outcome.CANCELLED,
    CallStatus.SCHEDULED: Outcome.SCHEDULED,
    CallStatus.QUEUED: Outcome.IN_PROGRESS,
    "ringing": Outcome.IN_PROGRESS,
    "in-progress": Outcome.IN_PROGRESS,
    "forwarding": Outcome.IN_PROGRESS,
}
_RANK = {outcome.value: rank for rank, outcome in enumerate(CALL_OUTCOMES)}
# The Attempts sheet's columns, in order (one row per call).
ATTEMPT_COLUMNS = (
    "row", "e164", "attempt", "outcome", "outcome_detail", "called_at", "time_zone", "duration_s", "cost",
    "success_evaluation", "summary", "opted_out", "recording_url", "assistant", "ended_reason", "status",
    "call_id", "called_at_utc",
)  # fmt: skip
# What a person's calls add to their row (after `outcome` and `outcome_detail`).
PERSON_COLUMNS = (
    "attempts", "called_at", "time_zone", "duration_s", "total_cost", "first_outcome", "last_outcome",
    "success_evaluation", "summary", "opted_out", "recording_url", "called_at_utc",
)  # fmt: skip


def rule_outcome(reason: pl.Expr) -> pl.Expr:
    """The outcome of a suppressed row, by how its reason opens."""
    chosen = pl.lit(Outcome.NOT_CALLED.value)
    for openings, outcome in reversed(_RULE_OPENINGS):
        opens = pl.any_horizontal(*(reason.str.starts_with(opening) for opening in openings))
        chosen = pl.when(opens).then(pl.lit(outcome.value)).otherwise(chosen)
    return chosen


def row_outcome(frame: pl.DataFrame) -> pl.Expr:
    """Each row's outcome by its status (and reason, ended reason): what it is now."""
    status, reason = pl.col("status"), pl.col("reason").fill_null("")
    by_status = status.replace_strict(
        [str(name) for name in _LIFECYCLE],
        [outcome.value for outcome in _LIFECYCLE.values()],
        default=None,
        return_dtype=pl.String,
    )
    has_calls = "ended_reason" in frame.columns
    of_call = per_distinct(frame, "ended_reason", _ended_outcome) if has_calls else pl.lit(None, pl.String)
    waits = pl.lit(False)
    if "earliest_at" in frame.columns:  # Vapi answers `queued` for a call scheduled later
        due = pl.col("earliest_at").str.to_datetime("%+", time_zone="UTC", strict=False)
        waits = status.is_in([CallStatus.QUEUED.value, CallStatus.SCHEDULED.value]) & (due > pl.lit(now_utc()))
    return (
        pl.when(waits)
        .then(pl.lit(Outcome.SCHEDULED.value))
        .when(status == Status.SUPPRESSED)
        .then(rule_outcome(reason))
        .when(status == CallStatus.ENDED)
        .then(of_call)
        .otherwise(by_status.fill_null(pl.lit(Outcome.NOT_CONFIRMED.value)))
    )


def _ended_outcome(reason: str) -> str:
    """A call that ended: its outcome (a value no rule names yet counts as a failed call)."""
    return (call_outcome(reason) or Outcome.FAILED).value


def _detail_of_reason(reason: str) -> str:
    return plain_reason(reason) if reason else ""


def attempts(calls: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """One row per call that rang or may still ring (a placement that never rang is left out: no
    call happened), in row and then creation order: ATTEMPT_COLUMNS. `people`: row, e164,
    time_zone and assistant of each spreadsheet row (joined by `row`)."""
    rang = calls.filter(~pl.col("ended_reason").is_in(list(NEVER_RANG)))
    frame = rang.join(people.select("row", "e164", "time_zone", "assistant"), on="row", how="left")
    frame = frame.with_columns(pl.col("time_zone").fill_null(""), pl.col("e164").fill_null(""), reason=pl.lit(""))
    moment = pl.coalesce(
        pl.col("started_at").str.to_datetime("%+", time_zone="UTC", strict=False),
        pl.col("ended_at").str.to_datetime("%+", time_zone="UTC", strict=False),
    )
    ended = pl.col("status") == CallStatus.ENDED
    frame = frame.with_columns(
        attempt=pl.int_range(1, pl.len() + 1).over("row"),
        outcome=pl.when(ended).then(per_distinct(frame, "ended_reason", _ended_outcome)).otherwise(row_outcome(frame)),
        outcome_detail=per_distinct(frame, "ended_reason", _detail_of_reason),
        _moment=moment,
        duration_s=pl.col("duration_s").cast(pl.Int64, strict=False),
        cost=pl.col("cost").cast(pl.Float64, strict=False),
        assistant=pl.when(pl.col("assistant_name") != "").then("assistant_name").otherwise("assistant"),
    )
    made = frame.with_columns(
        called_at=local_time(frame, "_moment").dt.truncate("1s"),
        called_at_utc=pl.col("_moment").dt.strftime("%Y-%m-%dT%H:%M:%SZ").fill_null(""),
    ).select(*ATTEMPT_COLUMNS)
    return made.with_columns(success_evaluation=typed_flags(made.get_column("success_evaluation")))


def attempts_frame() -> pl.DataFrame:
    """The Attempts sheet of no calls (a plan's)."""
    people = pl.DataFrame(schema={"row": pl.Int64, "e164": pl.String, "time_zone": pl.String, "assistant": pl.String})
    return attempts(pl.DataFrame(schema=STORE_SCHEMA), people)


def local_time(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A UTC datetime column as the wall-clock time in each row's `time_zone` (UTC where it has
    none): one conversion per distinct zone, a campaign holds a handful."""
    zones = [zone for zone in frame.get_column("time_zone").unique().to_list() if zone]
    shown = pl.col(column).dt.replace_time_zone(None)
    for zone in zones:
        local = pl.col(column).dt.convert_time_zone(zone).dt.replace_time_zone(None)
        shown = pl.when(pl.col("time_zone") == zone).then(local).otherwise(shown)
    return shown


def person_columns(results: pl.DataFrame, calls_made: pl.DataFrame) -> pl.DataFrame:
    """`outcome`, `outcome_detail` and PERSON_COLUMNS for every row of `results` (run_results's),
    in its order, from its status and every call of the row (`calls_made`: the rows' calls as
    `attempts` gives them).

    The outcome is the best of the person's calls that ended (Reached, then Left voicemail, No
    answer, Busy, Call failed), unless nobody was reached yet and a call is still to come
    (Scheduled, In progress); a row never called says why (Not called — …, Not sent yet)."""
    results = results.with_columns(pl.col("row").cast(pl.Int64))
    now = results.select("row", "time_zone", current=row_outcome(results), detail=_current_detail(results))
    made = calls_made.filter(pl.col("outcome").is_in(list(_RANK)))
    rank = pl.col("outcome").replace_strict(_RANK, default=None, return_dtype=pl.Int64)
    per_person = made.group_by("row").agg(
        _made=pl.len().cast(pl.Int64),
        first_outcome=pl.col("outcome").first(),
        last_outcome=pl.col("outcome").last(),
        best=pl.col("outcome").sort_by(rank, maintain_order=True).first(),
        best_detail=pl.col("outcome_detail").sort_by(rank, maintain_order=True).first(),
        called_at=pl.col("called_at").last(),
        duration_s=pl.col("duration_s").last(),
        success_evaluation=pl.col("success_evaluation").last(),
        summary=pl.col("summary").last(),
        opted_out=pl.col("opted_out").any(),
        recording_url=pl.col("recording_url").last(),
        called_at_utc=pl.col("called_at_utc").last(),
    )
    spent = pl.col("cost")
    cost = calls_made.group_by("row").agg(total_cost=pl.when(spent.is_not_null().any()).then(spent.sum().round(4)))
    joined = (
        now.join(per_person, on="row", how="left", maintain_order="left")
        .join(cost, on="row", how="left", maintain_order="left")
        .with_columns(_n=pl.col("_made").fill_null(0))
    )
    pending = pl.col("current").is_in([Outcome.SCHEDULED.value, Outcome.IN_PROGRESS.value])
    use_best = pl.col("best").is_not_null() & ((pl.col("best") == Outcome.REACHED.value) | ~pending)
    several = pl.when(pl.col("_n") > 1).then(pl.format("; best of {} calls", pl.col("_n"))).otherwise(pl.lit(""))
    return joined.select(
        outcome=pl.when(use_best).then("best").otherwise("current"),
        outcome_detail=pl.when(use_best).then(pl.concat_str("best_detail", several)).otherwise("detail"),
        attempts=pl.col("_n"),
        called_at="called_at",
        time_zone="time_zone",
        duration_s="duration_s",
        total_cost="total_cost",
        first_outcome=pl.col("first_outcome").fill_null(""),
        last_outcome=pl.col("last_outcome").fill_null(""),
        success_evaluation="success_evaluation",
        summary=pl.col("summary").fill_null(""),
        opted_out="opted_out",
        recording_url=pl.col("recording_url").fill_null(""),
        called_at_utc=pl.col("called_at_utc").fill_null(""),
    )


def _current_detail(results: pl.DataFrame) -> pl.Expr:
    """What the row's current state says: the reason, else Vapi's ended reason in plain words."""
    reason = pl.col("reason").fill_null("")
    plain = per_distinct(results, "ended_reason", _detail_of_reason)
    return pl.when(reason != "").then(reason).otherwise(plain.fill_null(""))


def typed_flags(column: pl.Series) -> pl.Series:
    """A text column of true/false (and blanks) as booleans; any other column as it is."""
    if column.dtype != pl.String:
        return column
    values = column.drop_nulls().filter(column.drop_nulls() != "").str.to_lowercase().unique()
    if values.len() and values.is_in(["true", "false"]).all():
        return column.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None)
    return column
