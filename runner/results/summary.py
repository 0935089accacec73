"""The counts a person wants first, for the Summary sheet and summary.json: rows by status, the
suppressed rows by the rule that stopped them, by ended reason and by assistant, and the reach rate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import polars as pl

from runner.results.report import Report
from runner.statuses import Status

# Ended reasons that mean a person was on the line (reach rate); everything else did not reach anyone.
REACHED_REASONS = {
    "customer-ended-call", "assistant-ended-call", "assistant-said-end-call-phrase",
    "assistant-ended-call-after-message-spoken", "assistant-ended-call-with-hangup-task",
    "assistant-forwarded-call", "exceeded-max-duration", "silence-timed-out",
}  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """The counts a person wants first: by status, by ended reason, by assistant, and the reach rate."""

    by_status: dict[str, int]
    by_ended_reason: dict[str, int]
    by_assistant: dict[str, int]
    ended: int
    reached: int
    by_rule: dict[str, int] = field(default_factory=dict)  # the suppressed rows, by rule (consent, calling hours…)
    by_problem: dict[str, int] = field(default_factory=dict)  # the invalid rows, by kind of reason (too short…)
    heading: tuple[str, ...] = ()  # the Summary sheet's title and who sent what, when
    report: Report | None = None  # the figures to report from (results.report)

    def with_report(self, heading: tuple[str, ...], figures: Report) -> Summary:
        return replace(self, heading=heading, report=figures)

    def with_rules(self, suppressed: Counter[str]) -> Summary:
        """This summary with the plan's count of suppressed rows by rule, most first."""
        return replace(self, by_rule=dict(suppressed.most_common()))

    @property
    def reach_rate(self) -> float | None:
        return self.reached / self.ended if self.ended else None

    def to_json(self) -> dict[str, object]:
        return {
            "by_status": self.by_status,
            "suppressed_by_rule": self.by_rule,
            "invalid_by_reason": self.by_problem,
            "by_ended_reason": self.by_ended_reason,
            "by_assistant": self.by_assistant,
            "ended": self.ended,
            "reached": self.reached,
            "reach_rate": self.reach_rate,
            "title": list(self.heading),
            **({"report": self.report.to_json()} if self.report is not None else {}),
        }


def summarize(results: pl.DataFrame) -> Summary:
    """Counts by status, ended reason and assistant (most first; ties in order of first row), and
    how many ended calls reached a person."""

    def counts(column: str) -> dict[str, int]:
        values = results.get_column(column)
        values = values.filter(values.is_not_null() & (values != ""))
        tally = values.to_frame().group_by(column, maintain_order=True).len()
        ordered = tally.sort("len", descending=True, maintain_order=True)
        return dict(zip(ordered.get_column(column).to_list(), ordered.get_column("len").to_list(), strict=True))

    reasons = counts("ended_reason")
    return Summary(
        by_status=counts("status"),
        by_ended_reason=reasons,
        by_assistant=counts("assistant") if "assistant" in results.columns else {},
        ended=sum(reasons.values()),
        reached=sum(n for reason, n in reasons.items() if reason in REACHED_REASONS),
        by_problem=problems(results),
    )


def problems(results: pl.DataFrame) -> dict[str, int]:
    """The invalid rows by the kind of their reason, the words before its detail: "too short",
    "empty", "not a number", "lost digits", "2 numbers in one cell" (most first)."""
    invalid = results.filter(pl.col("status") == Status.INVALID).select(
        kind=pl.col("reason").str.extract(r"^([^:(]*[^:( ])", 1).fill_null("other")
    )
    tally = invalid.group_by("kind", maintain_order=True).len().sort("len", descending=True, maintain_order=True)
    return dict(zip(tally.get_column("kind").to_list(), tally.get_column("len").to_list(), strict=True))
