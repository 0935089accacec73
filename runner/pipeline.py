"""Spreadsheet + campaign -> a Plan (every row with a status, the POST /call bodies), and writing it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import Campaign, load_campaign
from runner.customers import PLANNED, Row, build_rows, variable_columns
from runner.errors import OutdirError
from runner.load import Sheet, load_sheet
from runner.plan import CallRequest, build_requests
from runner.results import RowResult, default_format, results_frame, write_results
from runner.screen import mark_duplicates

REQUESTS_FILE = "requests.jsonl"


@dataclass
class Plan:
    """Everything decided before the network: each row's status and the exact requests to send."""

    campaign: Campaign
    sheet: Sheet
    rows: list[Row]
    requests: list[CallRequest]
    variables: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def run_tag(self) -> str:
        """8 hex of the input's content hash: names the default run folder and each externalId."""
        return self.sheet.content_hash[:8]

    def counts(self) -> dict[str, int]:
        return dict(Counter(row.status for row in self.rows))

    def row_results(self) -> list[RowResult]:
        schedule = self.requests[0].body.get("schedulePlan", {}) if self.requests else {}
        return [
            RowResult(
                row=row.number,
                e164=row.phone.e164 or row.phone.sip_uri or "",
                status=row.status,
                reason=row.reason,
                request_id=row.request_id,
                earliest_at=schedule.get("earliestAt", "") if row.status == PLANNED else "",
                latest_at=schedule.get("latestAt", "") if row.status == PLANNED else "",
            )
            for row in self.rows
        ]

    def summary_lines(self) -> list[str]:
        counts = self.counts()
        lines = [
            f"rows: {len(self.rows)}",
            *(f"{status}: {counts.get(status, 0)}" for status in ("planned", "invalid", "duplicate")),
            *(f"{status}: {n}" for status, n in counts.items() if status not in {"planned", "invalid", "duplicate"}),
            f"requests: {len(self.requests)}",
        ]
        if self.variables:
            lines.append(f"variables: {', '.join(self.variables)}")
        return lines


def plan_file(input_path: str | Path, campaign: Campaign | str | Path) -> Plan:
    """Load, normalize, screen and group one spreadsheet. Raises InputError/CampaignError."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    sheet = load_sheet(input_path, campaign.columns, campaign.sheet)
    rows = build_rows(sheet, campaign, sheet.content_hash[:8])
    mark_duplicates(rows)
    requests = build_requests(rows, campaign)
    variables = list(variable_columns(sheet, campaign))
    return Plan(campaign, sheet, rows, requests, variables, warnings=list(sheet.warnings))


def results_path(outdir: Path, fmt: str | None, row_count: int) -> Path:
    return outdir / f"results.{fmt or default_format(row_count)}"


def write_requests(plan: Plan, outdir: Path, fmt: str | None) -> Path:
    """Write requests.jsonl; returns where the results sheet goes (never over the input)."""
    target = results_path(outdir, fmt, len(plan.rows))
    if target.resolve() == plan.sheet.path.resolve():
        raise OutdirError(f"{target}: would overwrite the input; choose another --out folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with (outdir / REQUESTS_FILE).open("w", encoding="utf-8") as handle:
            for request in plan.requests:
                handle.write(request.to_json() + "\n")
    except OSError as exc:
        raise OutdirError(f"{outdir}: cannot write: {exc.strerror}") from None
    return target


def write_plan(plan: Plan, outdir: str | Path, fmt: str | None = None) -> Path:
    """Write requests.jsonl and the results sheet (every row `planned` or set aside); returns its path."""
    target = write_requests(plan, Path(outdir), fmt)
    return write_results(results_frame(plan.sheet.frame, plan.row_results()), target, plan.counts())
