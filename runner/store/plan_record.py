"""What a run's results sheet needs of its plan, kept in the run folder beside the ledger.

`status`, `cancel` and `--watch` read it back instead of planning the sheet again: at a million
rows that is seconds of CPU and most of a gigabyte, for a table the first planning already made.
It also keeps the sheet faithful: a row the run did not send keeps the reason its first planning
gave, not one worked out later against a call history that has moved on. Only follow-up attempts
need the plan itself (CampaignRun.plan plans again when they do).

Two Parquet files, each written to a temporary name and renamed: `plan.parquet` (each row's
number `n` and its RESULT_COLUMNS, with the plan's summary facts in the file's metadata) and
`sheet.parquet` (the input's columns as read, stored by position since headers may repeat).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from runner.files import atomic_write
from runner.planning.plan import RESULT_COLUMNS, Plan

RECORD_FILE = "plan.parquet"
SHEET_FILE = "sheet.parquet"
_FACTS = b"vapi-campaign"  # the metadata key of the plan's facts in plan.parquet
# The record's layout: a file of another layout is planned again, never misread.
VERSION = 2  # 2: the rows' time zone


@dataclass(frozen=True)
class PlanRecord:
    """A plan as its run's results need it: every row's plan columns, the input's columns, and
    the facts its summary and callers show."""

    results: pl.DataFrame  # `n` (the spreadsheet row number, Int64), then RESULT_COLUMNS as text
    sheet: pa.Table  # the input's columns, every cell text, in input order
    roles: dict[str, str]  # role -> the header the plan used for it
    suppressed: Counter[str]  # rows set aside, by rule
    warnings: list[str]
    blocked: str  # why the campaign itself can call no one

    @classmethod
    def of(cls, plan: Plan) -> PlanRecord:
        numbers = plan.rows.frame.get_column("row").to_arrow()
        results = pl.from_arrow(pa.table({"n": numbers, **plan.result_columns()}))
        assert isinstance(results, pl.DataFrame)
        return cls(
            results, plan.sheet.as_written(), dict(plan.sheet.roles), Counter(plan.suppressed), list(plan.warnings),
            plan.blocked,
        )  # fmt: skip

    def save(self, folder: Path) -> None:
        """Write both files (the sheet first: a record found always has its sheet)."""
        facts = {
            "version": VERSION,
            "headers": self.sheet.column_names,
            "roles": self.roles,
            "suppressed": dict(self.suppressed),
            "warnings": self.warnings,
            "blocked": self.blocked,
        }
        positional = self.sheet.rename_columns([f"c{i}" for i in range(self.sheet.num_columns)])
        results = self.results.to_arrow()
        _write(positional, folder / SHEET_FILE)
        _write(results.replace_schema_metadata({_FACTS: json.dumps(facts).encode()}), folder / RECORD_FILE)

    @classmethod
    def load(cls, folder: Path) -> PlanRecord | None:
        """The record in `folder`; None when there is none (a folder of an older version, or one
        whose run stopped before writing it) or it cannot be read: then the run plans again."""
        try:
            results = pq.read_table(folder / RECORD_FILE)
            facts = json.loads((results.schema.metadata or {})[_FACTS])
            if facts.get("version") != VERSION or results.column_names != ["n", *RESULT_COLUMNS]:
                return None
            sheet = pq.read_table(folder / SHEET_FILE).rename_columns(facts["headers"])
        except (OSError, KeyError, ValueError, pa.ArrowException):
            return None
        frame = pl.from_arrow(results.replace_schema_metadata(None))
        assert isinstance(frame, pl.DataFrame)
        return cls(frame, sheet, facts["roles"], Counter(facts["suppressed"]), facts["warnings"], facts["blocked"])


def _write(table: pa.Table, path: Path) -> None:
    with atomic_write(path, "the plan's record") as temporary:
        pq.write_table(table, temporary, compression="zstd")
