"""Each row's result as an object, for assertions: the library works on tables and builds none."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from runner.planning.plan import RESULT_COLUMNS, Plan
from runner.results.write import OUTCOME_COLUMNS
from runner.sending.run import CampaignRun


@dataclass(slots=True)
class RowResult:
    """What happened to one input row: the results sheet's columns of it, as text."""

    row: int
    e164: str
    status: str
    reason: str
    call_id: str = ""
    request_id: str = ""
    earliest_at: str = ""
    latest_at: str = ""
    time_zone: str = ""
    attempts: str = ""
    ended_reason: str = ""
    started_at: str = ""
    ended_at: str = ""
    duration_s: str = ""
    cost: str = ""
    summary: str = ""
    success_evaluation: str = ""


def row_results(source: Plan | CampaignRun) -> list[RowResult]:
    """A plan's rows as planned, or a run's as its ledger has them now, one object per row."""
    if isinstance(source, Plan):
        table = pa.table(source.result_columns())
        names: tuple[str, ...] = RESULT_COLUMNS
    else:
        names = RESULT_COLUMNS + OUTCOME_COLUMNS
        table = source.results().select(*names).to_arrow()
    columns = [[cell or "" for cell in table.column(name).to_pylist()] for name in names]
    return [RowResult(int(cells[0]), *cells[1:]) for cells in zip(*columns, strict=True)]
