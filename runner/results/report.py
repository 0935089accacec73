"""The figures a campaign manager reports from: people by outcome (of those called, of the unique
people), what the calls cost, how long they lasted, and the reach and voicemail rates by local hour
of the call, by assistant and by a segment column of the sheet. One computation for the Summary
sheet and summary.json; polars group-bys over the sheet's person columns and its calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from runner.planning.roles import find_header
from runner.statuses import Outcome

NOT_SENT_OUTCOMES = (Outcome.INVALID.value, Outcome.DUPLICATE.value)  # not a person of their own


@dataclass(frozen=True)
class Rates:
    """A group's calls (or people), how many reached a person, and how many left a voicemail."""

    label: str
    count: int
    reached: int
    voicemail: int

    @property
    def reach_rate(self) -> float | None:
        return self.reached / self.count if self.count else None

    @property
    def voicemail_rate(self) -> float | None:
        return self.voicemail / self.count if self.count else None

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "reach_rate": self.reach_rate, "voicemail_rate": self.voicemail_rate}


@dataclass(frozen=True)
class Report:
    """The Summary sheet's figures (docs/results.md, "The Summary sheet")."""

    people: int  # rows of the sheet
    unique_people: int  # less the invalid rows and the duplicates
    called: int  # people with at least one call that happened
    calls: int  # calls that happened (every attempt)
    by_outcome: dict[str, int]  # people, in the order of statuses.Outcome
    total_cost: float
    reached: int  # people reached
    average_call_s: float | None  # over the calls a person answered
    median_call_s: float | None
    by_hour: list[Rates] = field(default_factory=list)  # calls, by the local hour they were placed
    by_assistant: list[Rates] = field(default_factory=list)  # calls, by assistant (its name where Vapi gave one)
    segment: str = ""  # the sheet's column the campaign segments by ([results] segment)
    by_segment: list[Rates] = field(default_factory=list)  # people, by that column's value

    @property
    def cost_per_reached(self) -> float | None:
        return round(self.total_cost / self.reached, 4) if self.reached else None

    def share(self, outcome: str, of: int) -> float | None:
        return self.by_outcome.get(outcome, 0) / of if of else None

    def to_json(self) -> dict[str, object]:
        return {
            "people": self.people,
            "unique_people": self.unique_people,
            "people_called": self.called,
            "calls": self.calls,
            "by_outcome": {
                outcome: {
                    "people": count,
                    "of_people_called": self.share(outcome, self.called),
                    "of_unique_people": self.share(outcome, self.unique_people),
                }
                for outcome, count in self.by_outcome.items()
            },
            "total_cost": self.total_cost,
            "people_reached": self.reached,
            "cost_per_reached_person": self.cost_per_reached,
            "average_call_seconds": self.average_call_s,
            "median_call_seconds": self.median_call_s,
            "by_local_hour": [rates.to_json() for rates in self.by_hour],
            "by_assistant": [rates.to_json() for rates in self.by_assistant],
            "segment": self.segment,
            "by_segment": [rates.to_json() for rates in self.by_segment],
        }


def report(people: pl.DataFrame, calls: pl.DataFrame, segment: pl.Series | None = None) -> Report:
    """The figures of a sheet: `people` holds its `outcome` column (and after a run `attempts` and
    `total_cost`), `calls` the Attempts sheet's rows (results.people.attempts); `segment`, named
    after its column, the value of each person's row in it."""
    outcomes = people.get_column("outcome")
    counts = outcomes.value_counts()
    tally = dict(zip(counts.get_column("outcome").to_list(), counts.get_column("count").to_list(), strict=True))
    by_outcome = {outcome.value: tally[outcome.value] for outcome in Outcome if tally.get(outcome.value)}
    called = int((people.get_column("attempts") > 0).sum()) if "attempts" in people.columns else 0
    spent = people.get_column("total_cost").sum() if "total_cost" in people.columns else 0.0
    answered = calls.filter(pl.col("outcome") == Outcome.REACHED.value).get_column("duration_s").drop_nulls()
    by_segment: list[Rates] = []
    if segment is not None:
        frame = pl.DataFrame({"label": segment.fill_null("").cast(pl.String), "outcome": outcomes})
        by_segment = _rates(frame)
    hours = calls.filter(pl.col("called_at").is_not_null()).select(
        label=pl.col("called_at").dt.strftime("%H:00"), outcome="outcome"
    )
    return Report(
        people=people.height,
        unique_people=int((~outcomes.is_in(NOT_SENT_OUTCOMES)).sum()),
        called=called,
        calls=calls.filter(pl.col("outcome").is_in([o.value for o in _HAPPENED])).height,
        by_outcome=by_outcome,
        total_cost=round(float(spent or 0.0), 4),
        reached=tally.get(Outcome.REACHED.value, 0),
        average_call_s=round(float(answered.mean()), 1) if answered.len() else None,  # type: ignore[arg-type]
        median_call_s=float(answered.median()) if answered.len() else None,  # type: ignore[arg-type]
        by_hour=sorted(_rates(hours), key=lambda rates: rates.label),
        by_assistant=_rates(calls.select(label=pl.col("assistant").fill_null(""), outcome="outcome")),
        segment=segment.name if segment is not None else "",
        by_segment=by_segment,
    )


_HAPPENED = (Outcome.REACHED, Outcome.VOICEMAIL, Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED)


def _rates(frame: pl.DataFrame) -> list[Rates]:
    """Rates per `label` over `frame`'s rows (label, outcome), most first."""
    grouped = (
        frame.group_by("label", maintain_order=True)
        .agg(
            count=pl.len(),
            reached=(pl.col("outcome") == Outcome.REACHED.value).sum(),
            voicemail=(pl.col("outcome") == Outcome.VOICEMAIL.value).sum(),
        )
        .sort("count", descending=True, maintain_order=True)
    )
    return [Rates(str(label), int(n), int(r), int(v)) for label, n, r, v in grouped.iter_rows()]


def segment_of(inputs: pa.Table, name: str | None) -> pl.Series | None:
    """The input's column a campaign segments by (named as the file writes it), as text."""
    if not name:
        return None
    header = find_header(inputs.column_names, name)
    if header is None:
        return None
    values = inputs.column(inputs.column_names.index(header)).combine_chunks().cast(pa.string())
    return pl.Series(header, values)


def heading(campaign: str, source: str, sent: str, by: str = "") -> tuple[str, ...]:
    """The Summary sheet's title and the line under it: which file, when it was sent, by whom."""
    who = f" by {by}" if by else ""
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{campaign}: results", f"{Path(source).name} · {sent}{who} · this sheet written {written}")
