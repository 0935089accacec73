"""Set aside rows that must not be called, each with the rule that stopped it: repeats, no consent,
do-not-call lists, free-number limits, recent calls, and local calling hours (TCPA and state rules).
Rows that pass get the calling window their schedulePlan will carry."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runner.config import Campaign
from runner.customers import DUPLICATE, PLANNED, SUPPRESSED, Row
from runner.errors import InputError
from runner.hours import Interval, Rules, first_window
from runner.load import read_cells
from runner.number_facts import NumberFacts, fact_key, number_facts
from runner.phones import Normalizer

CONSENT_YES = {"yes", "y", "true", "1", "x"}


def mark_duplicates(rows: list[Row]) -> None:
    """A destination (E.164 + extension, or SIP URI) is called once: later rows become duplicates."""
    first: dict[str, int] = {}
    for row in rows:
        if row.status != PLANNED:
            continue
        seen = first.setdefault(row.phone.key, row.number)
        if seen != row.number:
            row.status, row.reason = DUPLICATE, f"same number as row {seen}"


def load_do_not_call(paths: list[Path], region: str) -> dict[str, str]:
    """E.164 -> list file name, from lists in any layout and number format (header or not)."""
    normalizer = Normalizer()
    numbers: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: do-not-call list not found (from [compliance] do_not_call)")
        for record in read_cells(path):
            for cell in record:
                phone = normalizer(cell, region) if cell.strip() else None
                if phone is not None and phone.e164:
                    numbers.setdefault(phone.e164, path.name)
    return numbers


@dataclass
class Screen:
    """The inputs that decide who may be called now: the campaign, the clock, and what was called before."""

    campaign: Campaign
    roles: dict[str, str]
    start: datetime  # the earliest moment a call may be placed
    do_not_call: dict[str, str]
    recent_calls: dict[str, list[datetime]]
    _known: dict[str, NumberFacts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._hours = self.campaign.schedule.hours

    def apply(self, rows: list[Row]) -> Counter[str]:
        """Suppress rows in place; returns counts by rule."""
        suppressed: Counter[str] = Counter()
        windows: dict[tuple[tuple[str, ...], str | None], Interval | None] = {}
        for row in rows:
            if row.status != PLANNED:
                continue
            rule, reason = self._check(row, row.cells, windows)
            if rule:
                row.status, row.reason = SUPPRESSED, reason
                suppressed[rule] += 1
        return suppressed

    def _check(
        self, row: Row, cell: dict[str, str], windows: dict[tuple[tuple[str, ...], str | None], Interval | None]
    ) -> tuple[str, str]:
        compliance = self.campaign.compliance
        if compliance.require_consent:
            problem = self._consent_problem(cell)
            if problem:
                return "consent", problem
        e164 = row.phone.e164
        if e164 and e164 in self.do_not_call:
            return "do-not-call", f"on the do-not-call list {self.do_not_call[e164]}"
        facts = self._facts(e164) if e164 else None
        if compliance.from_free_number and facts is not None and facts.region != "US":
            return "free number", "international number: a free Vapi number cannot call abroad (from_free_number)"
        recent = self._history_problem(e164)
        if recent:
            return recent
        hours = self._hours
        if hours is None:
            return "", ""
        zones, problem = self._zones(facts, cell)
        if problem:
            return "calling hours", problem
        state = facts.state if facts is not None else None
        key = (zones, state)
        if key not in windows:
            rules = Rules(hours, compliance.state_rules, timedelta(minutes=compliance.closing_margin_minutes))
            windows[key] = first_window(rules, zones, state, self.start, self.campaign.schedule.latest_at)
        window = windows[key]
        if window is None:
            return "calling hours", _no_window_reason(zones, state, self.campaign.schedule.latest_at)
        row.window = window
        return "", ""

    def _consent_problem(self, cell: dict[str, str]) -> str:
        column = self.roles.get("consent")
        if column is None:
            return "no consent: the file has no consent column (require_consent = true)"
        value = cell.get("consent", "").strip()
        if value.casefold() in CONSENT_YES:
            return ""
        return f"no consent: column {column!r} is {value!r}" if value else f"no consent: column {column!r} is empty"

    def _history_problem(self, e164: str | None) -> tuple[str, str] | None:
        compliance = self.campaign.compliance
        times = sorted(self.recent_calls.get(e164 or "", []))
        if not times:
            return None
        last = times[-1]
        if self.start - last < timedelta(days=compliance.min_days_between_calls):
            return "recently called", (
                f"called {last:%Y-%m-%d %H:%M} UTC, less than min_days_between_calls = "
                f"{compliance.min_days_between_calls:g} day(s) ago"
            )
        in_a_day = [t for t in times if self.start - t < timedelta(days=1)]
        if len(in_a_day) >= compliance.max_calls_per_day:
            return "calls per day", f"already called {len(in_a_day)} times in 24 hours (max_calls_per_day)"
        return None

    def _facts(self, e164: str) -> NumberFacts:
        key = fact_key(e164)
        facts = self._known.get(key)
        if facts is None:
            facts = self._known[key] = number_facts(e164)
        return facts

    def _zones(self, facts: NumberFacts | None, cell: dict[str, str]) -> tuple[tuple[str, ...], str]:
        """The recipient's candidate time zones: the timezone column beats the number's own."""
        given = cell.get("timezone", "").strip()
        if given:
            try:
                ZoneInfo(given)
            except (ZoneInfoNotFoundError, ValueError):
                return (), f"calling hours: unknown time zone {given!r} in column {self.roles['timezone']!r}"
            return (given,), ""
        if facts is None:
            return (), "calling hours: a SIP address has no time zone; add a timezone column"
        if not facts.geographic:
            return (), "calling hours: a toll-free or non-geographic number has no time zone; add a timezone column"
        if not facts.zones:
            return (), "calling hours: no time zone is known for this number; add a timezone column"
        return facts.zones, ""


def _no_window_reason(zones: tuple[str, ...], state: str | None, latest: datetime | None) -> str:
    place = " and ".join(zones) if len(zones) <= 3 else f"all {len(zones)} of its possible time zones"
    if state:
        place = f"{state} ({place})"
    until = f"before {latest.isoformat()}" if latest else "in the next 8 days"
    hint = " (a toll-free or non-geographic number: add a timezone column)" if len(zones) > 3 else ""
    return f"calling hours: no window open in {place} {until}{hint}"
