"""Set aside rows that must not be called, each with the rule that stopped it: repeats, no consent,
do-not-call lists, free-number limits, recent calls, and local calling hours (TCPA and state rules).
Rows that pass get the calling window their schedulePlan will carry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from runner.arrays import Objects, factorize, filled, map_distinct, objects, strip
from runner.campaign import Campaign
from runner.errors import InputError
from runner.hours import Interval, Rules, first_window
from runner.phones.facts import NumberFacts
from runner.phones.parse import Normalizer
from runner.planning.customers import Rows
from runner.sheets.read import read_cells
from runner.statuses import Status

CONSENT_YES = {"yes", "y", "true", "1", "x"}
_NO_CONSENT_COLUMN = "no consent: the file has no consent column (require_consent = true)"
_ABROAD = "international number: a free Vapi number cannot call abroad (from_free_number)"


def _take(column: pa.Array, positions: npt.NDArray[np.intp]) -> pa.Array:
    return column.take(pa.array(positions, pa.int64()))


def _listed(e164: pa.Array, listing: Mapping[str, object]) -> list[tuple[int, str]]:
    """(position, number) of the numbers found in `listing`, looked up column-wide."""
    found = pc.is_in(e164, value_set=pa.array(list(listing), pa.string()))
    hits = np.flatnonzero(pc.fill_null(found, False).to_numpy(zero_copy_only=False))
    return [(int(hit), str(e164[int(hit)].as_py())) for hit in hits]


def mark_duplicates(rows: Rows) -> Rows:
    """A destination (E.164 + extension, or SIP URI) is called once: later rows become duplicates."""
    planned = np.flatnonzero(rows.planned())
    codes, first = factorize(rows.destination[planned])
    first_of_row = planned[first[codes]]
    repeats = planned[first_of_row != planned]
    firsts = rows.numbers[first_of_row[first_of_row != planned]]
    return rows.with_status(repeats, Status.DUPLICATE, objects([f"same number as row {n}" for n in firsts.tolist()]))


def load_do_not_call(paths: list[Path], region: str, warnings: list[str] | None = None) -> dict[str, str]:
    """E.164 -> list file name, from lists in any layout and number format (header or not). A list
    in which no phone number was found is said in `warnings`: an empty export protects no one."""
    normalizer = Normalizer()
    numbers: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: do-not-call list not found (from [compliance] do_not_call)")
        found = 0
        for record in read_cells(path):
            for cell in record:
                phone = normalizer(cell, region) if cell.strip() else None
                if phone is not None and phone.e164:
                    numbers.setdefault(phone.e164, path.name)
                    found += 1
        if not found and warnings is not None:
            warnings.append(f"{path}: the do-not-call list holds no phone number (empty, or not a list of numbers?)")
    return numbers


@dataclass
class Screen:
    """The inputs that decide who may be called now: the campaign, the clock, and what was called before."""

    campaign: Campaign
    roles: dict[str, str]
    start: datetime  # the earliest moment a call may be placed
    do_not_call: dict[str, str]
    recent_calls: dict[str, list[datetime]]

    def __post_init__(self) -> None:
        self._hours = self.campaign.schedule.hours

    def apply(self, rows: Rows) -> tuple[Rows, Counter[str]]:
        """The rows with those that must not be called suppressed (the first rule a row breaks
        decides its reason) and the rest given their calling window, and the counts by rule. Rules
        are decided per distinct value."""
        suppressed: Counter[str] = Counter()
        pending = np.flatnonzero(rows.planned())
        statuses, reasons = rows.status, rows.reason

        def suppress(rule: str, problems: Objects) -> npt.NDArray[np.bool_]:
            """problems: one reason per pending row, "" where the rule lets it through. Returns which
            pending rows are still pending, to keep arrays that run beside `pending` aligned."""
            nonlocal pending, statuses, reasons
            broken = np.asarray(problems != "", dtype=bool)
            if broken.any():
                statuses = statuses.with_set(pending[broken], Status.SUPPRESSED)
                reasons = reasons.with_set(pending[broken], problems[broken])
                suppressed[rule] += int(broken.sum())
                pending = pending[~broken]
            return ~broken

        compliance = self.campaign.compliance
        opt_out = rows.cells.get("opt_out")
        if opt_out is not None:  # honoured whether or not consent is required
            suppress("opted out", map_distinct(_take(opt_out, pending), self._opt_out_problem))
        if compliance.require_consent:
            consent = rows.cells.get("consent")
            if consent is None:
                suppress("consent", filled(len(pending), _NO_CONSENT_COLUMN))
            else:
                suppress("consent", map_distinct(_take(consent, pending), self._consent_problem))
        if self.do_not_call:
            problems = filled(len(pending), "")
            for hit, e164 in _listed(_take(rows.e164, pending), self.do_not_call):
                problems[hit] = f"on the do-not-call list {self.do_not_call[e164]}"
            suppress("do-not-call", problems)
        fact_index, facts = rows.fact_index[pending], rows.facts
        if compliance.from_free_number:
            abroad = objects([_ABROAD if f.region != "US" else "" for f in facts] + [""])
            fact_index = fact_index[suppress("free number", abroad[fact_index])]
        if self.recent_calls:
            rule_of = filled(len(pending), "")
            reason_of = filled(len(pending), "")
            for hit, e164 in _listed(_take(rows.e164, pending), self.recent_calls):
                rule_of[hit], reason_of[hit] = self._history_problem(e164) or ("", "")
            for rule in ("recently called", "calls per day"):
                kept = suppress(rule, np.where(rule_of == rule, reason_of, ""))
                rule_of, reason_of, fact_index = rule_of[kept], reason_of[kept], fact_index[kept]
        if self._hours is not None:
            rows = self._windows(rows, pending, fact_index, facts, suppress)
        return replace(rows, status=statuses, reason=reasons), suppressed

    def _windows(
        self,
        rows: Rows,
        pending: npt.NDArray[np.intp],
        fact_index: npt.NDArray[np.intp],
        facts: list[NumberFacts],
        suppress: Callable[[str, Objects], npt.NDArray[np.bool_]],
    ) -> Rows:
        """The rows with each pending row's first calling window, decided once per (time zone
        cell, number facts); rows with none are suppressed through `suppress`."""
        assert self._hours is not None
        compliance = self.campaign.compliance
        rules = Rules(self._hours, compliance.state_rules, timedelta(minutes=compliance.closing_margin_minutes))
        timezone = rows.cells.get("timezone")
        given, zone_cells = np.zeros(len(pending), dtype=np.int64), [""]
        if timezone is not None:
            encoded = pc.dictionary_encode(strip(pc.fill_null(_take(timezone, pending), "")))
            given, zone_cells = encoded.indices.to_numpy().astype(np.int64), encoded.dictionary.to_pylist()
        inverse, first = factorize(given * (len(facts) + 1) + fact_index + 1)
        known = list(rows.windows)
        by_interval: dict[Interval, int] = {window: i for i, window in enumerate(known)}
        by_place: dict[tuple[tuple[str, ...], str | None], Interval | None] = {}
        problems, windows = [], []
        for position in first:
            number_facts = facts[fact_index[position]] if fact_index[position] >= 0 else None
            zones, problem = self._zones(number_facts, zone_cells[given[position]])
            state = number_facts.state if number_facts is not None else None
            window = None
            if not problem:
                place = (zones, state)
                if place not in by_place:
                    by_place[place] = first_window(rules, zones, state, self.start, self.campaign.schedule.latest_at)
                window = by_place[place]
                if window is None:
                    problem = _no_window_reason(zones, state, self.campaign.schedule.latest_at)
            if window is not None and window not in by_interval:
                by_interval[window] = len(known)
                known.append(window)
            problems.append(problem)
            windows.append(-1 if window is None else by_interval[window])
        window_of = rows.window.copy()
        window_of[pending] = np.asarray(windows, dtype=np.intp)[inverse]
        suppress("calling hours", objects(problems)[inverse])
        return rows.with_windows(window_of, tuple(known))

    def _consent_problem(self, cell: str | None) -> str:
        column = self.roles["consent"]
        value = (cell or "").strip()
        if value.casefold() in CONSENT_YES:
            return ""
        return f"no consent: column {column!r} is {value!r}" if value else f"no consent: column {column!r} is empty"

    def _opt_out_problem(self, cell: str | None) -> str:
        value = (cell or "").strip()
        return f"opted out: column {self.roles['opt_out']!r} is {value!r}" if value.casefold() in CONSENT_YES else ""

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

    def _zones(self, facts: NumberFacts | None, given: str) -> tuple[tuple[str, ...], str]:
        """The recipient's candidate time zones: the timezone column (stripped) beats the number's own."""
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
