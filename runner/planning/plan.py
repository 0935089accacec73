"""Spreadsheet + campaign -> a Plan (every row with a status, the POST /call bodies), and writing it."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import polars as pl
import pyarrow as pa

from runner.arrays import text_array
from runner.campaign import Campaign, load_campaign
from runner.errors import CampaignError, OutdirError
from runner.frames import per_distinct
from runner.hours import FEDERAL_HOURS, named_zones, us_state
from runner.planning.customers import HIDDEN_ROW, Rows, build_rows, variable_columns
from runner.planning.requests import GROUP_KEYS, CallRequest, PlannedRequests, campaign_schedule_plan, plan_requests
from runner.planning.roles import find_header, with_roles
from runner.planning.screen import Screen, load_do_not_call, load_opt_outs, mark_duplicates
from runner.planning.spread import spread
from runner.sheets.read import Sheet, load_sheet
from runner.spec import properties, violations
from runner.statuses import Status
from runner.text import closest_header, shown_headers

REQUESTS_FILE = "requests.jsonl"
# The columns a plan gives every row of the results sheet (Plan.result_columns), in their order.
RESULT_COLUMNS = ("row", "e164", "status", "reason", "call_id", "request_id", "earliest_at", "latest_at", "time_zone")
SHOWN_VARIABLES = 20  # the summary names this many variables, then counts the rest
MANY_VARIABLES = 100  # more than this per call is a sheet of the wrong shape, most likely


@dataclass
class Plan:
    """Everything decided before the network: each row's status and the exact requests to send."""

    campaign: Campaign
    sheet: Sheet
    rows: Rows
    planned_requests: PlannedRequests
    variables: list[str]
    plan_id: str
    suppressed: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    blocked: str = ""  # why the campaign itself can call no one (then plan and run exit 1)
    free_numbers: frozenset[str] = frozenset()  # the free Vapi numbers it was screened for (preflight)
    schedule_lines: list[str] = field(default_factory=list)  # when the scheduled calls are due, by day

    @property
    def exit_code(self) -> int:
        """`plan`'s: 1 when the campaign can call no one, whatever the sheet holds."""
        return 1 if self.blocked else 0

    @cached_property
    def requests(self) -> list[CallRequest]:
        """The POST /call requests, bodies joined on first use."""
        return self.planned_requests.build()

    @property
    def input_tag(self) -> str:
        """8 hex of the input's content hash: names the default run folder and each externalId."""
        return self.sheet.content_hash[:8]

    def counts(self) -> dict[str, int]:
        return dict(self.rows.counts())

    def result_columns(self) -> dict[str, pa.Array]:
        """The result columns for every row (RESULT_COLUMNS), as Arrow text columns: a selection
        of the planning table's columns. A row sent without a window of its own carries the
        campaign's schedule; a row not sent, none."""
        campaign_schedule = campaign_schedule_plan(self.campaign) or {}
        ids = pl.DataFrame(
            {"request": range(len(self.planned_requests)), "request_id": self.planned_requests.ids},
            schema={"request": pl.Int64, "request_id": pl.String},
        )
        sent = pl.col("request").is_not_null()

        def moment(column: str, campaign: str) -> pl.Expr:
            # Formatted once per distinct window (a few), not once per row.
            windows = frame.get_column(column).drop_nulls().unique()
            texts = windows.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            own = pl.col(column).replace_strict(windows, texts, default=None, return_dtype=pl.String)
            return pl.when(~sent).then(pl.lit("")).otherwise(own.fill_null(pl.lit(campaign)))

        frame = self.planned_requests.rows.frame.join(ids, on="request", how="left", maintain_order="left")
        # The recipient's time zone, for their local times in the results: the zone column's, else
        # the number's where it has one zone only ("" where neither says: shown in UTC).
        own_zones = pl.Series([facts.zones[0] if len(facts.zones) == 1 else None for facts in self.rows.facts],
                              dtype=pl.String)  # fmt: skip
        number_zone = (
            pl.when(pl.col("fact") >= 0).then(pl.lit(own_zones).gather(pl.col("fact").clip(0)))
            if len(own_zones)
            else pl.lit(None, pl.String)
        )
        cell_zone = (
            per_distinct(frame, "cell_timezone", lambda cell: _one_zone(cell.strip()))
            if "cell_timezone" in frame.columns and len(own_zones)
            else pl.lit(None, pl.String)
        )
        table = frame.select(
            row=pl.col("row").cast(pl.String),
            e164=pl.coalesce("e164", "sip_uri", pl.lit("")),
            status="status",
            reason="reason",
            call_id=pl.lit(None, pl.String),
            request_id=pl.col("request_id").fill_null(""),
            earliest_at=moment("window_start", campaign_schedule.get("earliestAt", "")),
            latest_at=moment("window_end", campaign_schedule.get("latestAt", "")),
            time_zone=pl.coalesce(cell_zone, number_zone, pl.lit("")),
        ).to_arrow()
        return {name: text_array(table.column(name)) for name in table.column_names}

    def _per_customer_hint(self, planned: int) -> str:
        """When personal variables split the rows into about a request each: how many requests
        `overrides = "per-customer"` (each customer carrying its own variables) would need."""
        requests = len(self.planned_requests)
        if self.campaign.overrides != "split" or not self.variables or requests < max(10, planned // 2):
            return ""
        sizes = self.rows.frame.filter(pl.col("status") == Status.PLANNED).group_by(GROUP_KEYS).len().get_column("len")
        needed = int(((sizes + self.campaign.batch_size - 1) // self.campaign.batch_size).sum())
        if needed * 2 > requests:
            return ""
        return f' (about one per row: each row\'s variables differ; overrides = "per-customer" would need {needed})'

    def summary_lines(self) -> list[str]:
        counts = self.counts()
        rules = ", ".join(f"{rule} {n}" for rule, n in self.suppressed.most_common())
        lines = [
            f"rows: {len(self.rows)}",
            *(f"{status}: {counts.get(status, 0)}" for status in (Status.PLANNED, Status.INVALID, Status.DUPLICATE)),
            f"suppressed: {counts.get(Status.SUPPRESSED, 0)}" + (f" ({rules})" if rules else ""),
            f"requests: {len(self.planned_requests)}" + self._per_customer_hint(counts.get(Status.PLANNED, 0)),
        ]
        if self.variables:
            shown = ", ".join(self.variables[:SHOWN_VARIABLES])
            more = len(self.variables) - SHOWN_VARIABLES
            lines.append(f"variables: {shown}" + (f" and {more:,} more" if more > 0 else ""))
        roles = self.sheet.roles
        lines.append("columns: " + ", ".join(f"{role} = {header!r}" for role, header in roles.items()))
        lines.append(self.campaign.dialing.budget(counts.get(Status.PLANNED, 0)))
        return lines + self.schedule_lines


def _one_zone(cell: str) -> str | None:
    """The one time zone a zone cell names (None: none, or several, such as "Mountain")."""
    zones = named_zones(cell) if cell else None
    return zones[0] if zones and len(zones) == 1 else None


def plan_file(
    input_path: str | Path,
    campaign: Campaign | str | Path,
    now: datetime | None = None,
    recent_calls: pl.DataFrame | None = None,
    free_numbers: Collection[str] = (),
) -> Plan:
    """Load, normalize, screen and group one spreadsheet: no network, no state but the files named
    (the sheet, the campaign, its do-not-call lists). Raises InputError/CampaignError.

    `now` is when calls may start (default: the clock); `recent_calls` is when each E.164 number was
    called by this campaign, a frame of `e164` and `at` (UTC) (the call history:
    `runner.store.run_folder.plan_for` reads it);
    `free_numbers` the phone number ids that are free Vapi numbers, which call the US only
    (preflight finds them: runner.sending.preflight).

    Examples:
        >>> from datetime import UTC, datetime
        >>> plan = plan_file("sample_data/customers.csv", "campaigns/example/campaign.toml",
        ...                  now=datetime(2030, 12, 2, 15, tzinfo=UTC))
        >>> plan.counts(), len(plan.requests)
        ({'planned': 30}, 12)
        >>> plan.requests[0].body["customers"][0]["number"]
        '+12025550100'
    """
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    sheet = with_roles(load_sheet(input_path, campaign.columns, campaign.sheet), campaign.columns)
    segment = campaign.results.segment
    if segment is not None and find_header(sheet.table.column_names, segment) is None:
        headers = sheet.table.column_names
        raise CampaignError(
            f"[results] segment = {segment!r}: {sheet.path} has no such column{closest_header(segment, headers)}; "
            f"its headers are: {shown_headers(headers)}"
        )
    plan_id = hashlib.sha256((campaign.fingerprint() + sheet.content_hash).encode()).hexdigest()
    rows = build_rows(sheet, campaign, sheet.content_hash[:8])
    rows = mark_duplicates(rows)
    list_warnings: list[str] = []
    start = start_time(campaign, now or datetime.now(UTC))
    screen = Screen(
        campaign=campaign,
        roles=sheet.roles,
        start=start,
        do_not_call=load_do_not_call(campaign.dnc_paths(), campaign.default_region, list_warnings),
        recent_calls=recent_calls,
        opt_outs=load_opt_outs(campaign, list_warnings),
        free_numbers=frozenset(free_numbers),
    )
    rows, suppressed = screen.apply(rows)
    hidden = rows.frame.filter(pl.col("reason") == HIDDEN_ROW).height
    if hidden:  # the workbook's own rule, decided before the screen's: counted with them
        suppressed = Counter({"hidden row": hidden}) + suppressed
    rows, schedule_lines, spread_warnings = spread(
        rows, campaign, start, lambda at, positions: replace(screen, start=at).apply(rows.subset(positions))[0]
    )
    requests = plan_requests(rows, campaign, plan_id)
    variables = list(variable_columns(sheet, campaign))
    warnings = [
        *sheet.warnings, *list_warnings, *_unknown_states(rows, sheet, campaign), *_relaxed_rules(campaign),
        *spec_warnings(campaign), *spread_warnings,
    ]  # fmt: skip
    if len(variables) > MANY_VARIABLES:
        warnings.append(
            f"{len(variables):,} template variables go with every call (every column not used for a role): "
            "list the ones the assistant uses in [variables]"
        )
    blocked = _never_callable(campaign, start)
    if blocked:
        blocked = f"nobody can be called: {blocked}"
        warnings.append(blocked)
    return Plan(
        campaign, sheet, rows, requests, variables, plan_id, suppressed, warnings, blocked, frozenset(free_numbers),
        schedule_lines,
    )  # fmt: skip


def _unknown_states(rows: Rows, sheet: Sheet, campaign: Campaign) -> list[str]:
    """A state column's cells that name no US state: those rows follow their number's state and
    zones alone, which the sheet's owner should know (the column may be a lead's state, "Open")."""
    if "state" not in sheet.roles or campaign.schedule.hours is None:
        return []
    cells = rows.frame.get_column("cell_state").str.strip_chars().fill_null("")
    unknown = [cell for cell in cells.unique(maintain_order=True).to_list() if cell and us_state(cell) is None]
    if not unknown:
        return []
    count = cells.is_in(unknown).sum()
    shown = ", ".join(map(repr, unknown[:3])) + (", …" if len(unknown) > 3 else "")
    return [
        f"{sheet.path}: column {sheet.roles['state']!r}: {count} row(s) name no US state ({shown}); "
        "their number's state and time zones decide their calling hours alone"
    ]


def _never_callable(campaign: Campaign, start: datetime) -> str:
    """A campaign that suppresses every row whatever the sheet holds: say why, rather than exit 0."""
    latest = campaign.schedule.latest_at
    if latest is not None and latest <= start + timedelta(minutes=1):
        return f"[schedule] latest_at {latest.isoformat()} is already past; move the schedule"
    hours = campaign.schedule.hours
    if hours is not None:
        begin, end = (datetime.combine(datetime.min, moment) for moment in hours)
        margin = timedelta(minutes=campaign.compliance.closing_margin_minutes)
        if end - begin <= margin:
            return (
                f"calling_hours {campaign.schedule.calling_hours} is no longer than the closing margin of "
                f"{campaign.compliance.closing_margin_minutes} minutes ([compliance] closing_margin_minutes)"
            )
    return ""


def start_time(campaign: Campaign, now: datetime) -> datetime:
    """The schedule's start, or now rounded up to the minute (whichever is later), in UTC."""
    now = (now + timedelta(minutes=1)).replace(second=0, microsecond=0) if now.second or now.microsecond else now
    earliest = campaign.schedule.earliest_at
    return max(now, earliest).astimezone(UTC) if earliest else now.astimezone(UTC)


def spec_warnings(campaign: Campaign) -> list[str]:
    """Each key of the campaign's tables passed to Vapi as written ([assistant_overrides],
    [assistant], [squad]) that Vapi's spec refuses, naming the key and the limit (every call would
    then be refused at send time), and the keys the spec does not know (a warning only: Vapi adds
    fields faster than its spec)."""
    overrides = "WorkflowOverrides" if campaign.workflow_id else "AssistantOverrides"
    tables = (
        ("assistant_overrides", campaign.assistant_overrides, overrides),
        ("assistant", campaign.assistant, "CreateAssistantDTO"),
        ("squad", campaign.squad, "CreateSquadDTO"),
    )
    warnings = []
    for key, table, schema in tables:
        if table is None:
            continue
        warnings += [
            f"[{key}] `{path or key}`: {what} (Vapi's spec, {schema}): every call would be refused; fix the campaign"
            for path, what in violations(table, schema)
        ]
        unknown = sorted(set(table) - properties(schema))
        if unknown:
            warnings.append(
                f"[{key}] {', '.join(f'`{name}`' for name in unknown)}: not in Vapi's spec ({schema}) as this tool "
                "knows it: Vapi refuses keys it does not know, unless it is newer than this copy of its spec"
            )
    return warnings


def _relaxed_rules(campaign: Campaign) -> list[str]:
    """Every summary says so when a campaign turns a safety rule off."""
    warnings = []
    if not campaign.compliance.require_consent:
        warnings.append("require_consent = false: rows are called without checking consent")
    hours, compliance = campaign.schedule.hours, campaign.compliance
    if hours is None:
        warnings.append('calling_hours = "any": calls are not limited to the recipients\' local hours')
        return warnings
    if not compliance.state_rules:
        warnings.append("state_rules = false: state calling-hour rules are not applied")
    written = campaign.schedule.calling_hours
    if not compliance.telemarketing:
        warnings.append(
            f"telemarketing = false: the federal 08:00-21:00 (TCPA) and Canada's (CRTC) calling hours are not "
            f"applied; calling_hours {written} is used as written"
        )
    elif hours[0] < FEDERAL_HOURS[0] or hours[1] > FEDERAL_HOURS[1]:
        warnings.append(
            f"calling_hours {written} is wider than the federal 08:00-21:00 (TCPA): US numbers are called within "
            "08:00-21:00 and Canadian ones within the CRTC's hours, in their local time; if these calls are not "
            "telemarketing, say so with [compliance] telemarketing = false"
        )
    if compliance.other_countries == "calling_hours":
        warnings.append(
            'other_countries = "calling_hours": numbers outside the US and Canada are called within calling_hours '
            f"{written} in their local time; their country's own rules are the campaign's to check"
        )
    return warnings


def write_requests(plan: Plan, outdir: Path) -> Path:
    """Write the plan's POST /call bodies, one JSON line each, to requests.jsonl (makes the folder)."""
    path = outdir / REQUESTS_FILE
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for lines in plan.planned_requests.json_lines():
                handle.write(lines)
    except OSError as exc:
        raise OutdirError(f"{outdir}: cannot write: {exc.strerror}") from None
    return path
