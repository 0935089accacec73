"""Set aside rows that must not be called, each with the rule that stopped it: repeats, no consent,
do-not-call lists, free-number limits, recent calls, and local calling hours (TCPA and state rules).
Rows that pass get the calling window their schedulePlan will carry."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from runner.campaign import Campaign
from runner.errors import InputError
from runner.frames import per_distinct, strip
from runner.hours import Interval, Rules, country_law, first_window, named_zones, north_american, us_state
from runner.phones.facts import NumberFacts, state_zones
from runner.phones.parse import Normalizer, numbers_in
from runner.planning.customers import PLANNED, WHEN, Rows, with_status
from runner.sheets.read import read_cells
from runner.statuses import Status
from runner.text import NO, YES, YES_SHOWN, shown_cell

_NO_CONSENT_COLUMN = "no consent: the file has no consent column (require_consent = true)"
_ABROAD = "international number: a free Vapi number cannot call abroad (from_free_number)"
_FREE_NUMBER = " is a free Vapi number, which calls US numbers only (import a number to call abroad)"


def mark_duplicates(rows: Rows) -> Rows:
    """A destination (E.164 + extension, or SIP URI) is called once: later rows become duplicates."""
    # Keyed by the planned rows' destinations only: the others share a null key and are not looked at.
    marked = rows.frame.with_columns(first=pl.col("row").min().over(pl.when(PLANNED).then("destination")))
    repeat = PLANNED & (pl.col("row") != pl.col("first"))
    again = marked.with_columns(
        **with_status(repeat, Status.DUPLICATE, "same number as row " + pl.col("first").cast(pl.String))
    )
    return Rows(again.drop("first"), rows.facts)


def do_not_call_reason(list_name: str) -> str:
    """Why a row on a do-not-call list is suppressed (the plan's screen and admission at send time)."""
    return f"on the do-not-call list {list_name}"


def load_do_not_call(paths: list[Path], region: str, warnings: list[str] | None = None) -> dict[str, str]:
    """E.164 -> list file name, from lists in any layout and number format (header or not): every
    number of every cell of every line. A list in which no number was found, and each line of it
    from which none was read, is said in `warnings`: an empty export protects no one."""
    numbers: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: do-not-call list not found (from [compliance] do_not_call)")
        found = 0
        for _, _, line_numbers in list_lines(path, region, warnings):
            for number in line_numbers:
                numbers.setdefault(number, path.name)
                found += 1
        if not found and warnings is not None:
            warnings.append(f"{path}: the do-not-call list holds no phone number (empty, or not a list of numbers?)")
    return numbers


def load_opt_outs(campaign: Campaign, warnings: list[str] | None = None) -> dict[str, str]:
    """E.164 -> the reason a row calling it is suppressed with, from the campaign's opt-outs.csv:
    the tool's own lines (number, when, call id, run) and lines a person added by hand, in any
    layout and number format, every number of every cell."""
    path = campaign.opt_outs_path()
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for line, record, numbers in list_lines(path, campaign.default_region, warnings):
        own = len(record) >= 3 and _ISO_DATE.match(record[1].strip())
        if own and numbers[:1] == numbers_in(record[0], campaign.default_region):
            call = f", call {record[2].strip()}" if record[2].strip() else ""
            reason = f"opted out on {record[1].strip()[:10]}{call} ({path.name})"
        else:
            reason = f"opted out ({path.name}, line {line})"
        for number in numbers:
            found.setdefault(number, reason)
    return found


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
SHOWN_LINES = 10  # a list's lines without a number, named in its warning


def list_lines(path: Path, region: str, warnings: list[str] | None) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line, cells, numbers) for each line of a list file: the numbers of all its cells
    (`numbers_in`). Each non-empty line none was read from is named in `warnings`, but a first
    line without a digit (a header)."""
    normalizer = Normalizer()
    unread: list[str] = []
    for index, record in enumerate(read_cells(path)):
        numbers = [number for cell in record for number in numbers_in(cell, region, normalizer)]
        text = ", ".join(cell.strip() for cell in record if cell.strip())
        if not numbers and text and (index or any(ch.isdigit() for ch in text)):
            unread.append(f"line {index + 1} ({shown_cell(text)})")
        yield index + 1, record, list(dict.fromkeys(numbers))
    if unread and warnings is not None:
        more = f" and {len(unread) - SHOWN_LINES} more" if len(unread) > SHOWN_LINES else ""
        warnings.append(
            f"{path}: no phone number read from {len(unread)} line(s): {'; '.join(unread[:SHOWN_LINES])}{more}; "
            "those people are not protected: write their numbers (any format) on those lines"
        )


@dataclass
class Screen:
    """The inputs that decide who may be called now: the campaign, the clock, and what was called before."""

    campaign: Campaign
    roles: dict[str, str]
    start: datetime  # the earliest moment a call may be placed
    do_not_call: dict[str, str]
    recent_calls: pl.DataFrame | None = None  # e164, at (UTC): the call history (History.calls_since)
    opt_outs: dict[str, str] = field(default_factory=dict)  # E.164 -> reason (load_opt_outs)
    free_numbers: frozenset[str] = frozenset()  # phone number ids preflight found to be free Vapi numbers

    def __post_init__(self) -> None:
        self._hours = self.campaign.schedule.hours

    def apply(self, rows: Rows) -> tuple[Rows, Counter[str]]:
        """The rows with those that must not be called suppressed (the first rule a row breaks
        decides its reason) and the rest given their calling window, and the counts by rule. Each
        rule is a column of problems (null: let through), decided per distinct value."""
        frame, compliance = rows.frame, self.campaign.compliance
        rules: list[tuple[str, pl.Expr]] = []
        if "cell_opt_out" in frame.columns:  # honoured whether or not consent is required
            rules.append(("opted out", per_distinct(frame, "cell_opt_out", self._opt_out_problem)))
        if self.opt_outs:  # the campaign's own list: whoever opted out on a call, or by hand
            opted = pl.Series(list(self.opt_outs), dtype=pl.String)
            reasons = pl.Series(list(self.opt_outs.values()), dtype=pl.String)
            rules.append(("opt-out list", pl.col("e164").replace_strict(opted, reasons, default=None)))
        if compliance.require_consent:
            if "cell_consent" in frame.columns:
                rules.append(("consent", per_distinct(frame, "cell_consent", self._consent_problem)))
            else:
                rules.append(("consent", pl.lit(_NO_CONSENT_COLUMN)))
        if self.do_not_call:
            listed = pl.Series(list(self.do_not_call), dtype=pl.String)
            lists = pl.Series([do_not_call_reason(name) for name in self.do_not_call.values()], dtype=pl.String)
            rules.append(("do-not-call", pl.col("e164").replace_strict(listed, lists, default=None)))
        if compliance.from_free_number or self.free_numbers:
            abroad = pl.col("fact").is_in([i for i, facts in enumerate(rows.facts) if facts.region != "US"])
            if compliance.from_free_number:
                rules.append(("free number", pl.when(abroad).then(pl.lit(_ABROAD))))
            else:
                on_free = pl.col("phone_number_id").is_in(sorted(self.free_numbers))
                free = pl.lit("international number: ") + pl.col("phone_number_id") + pl.lit(_FREE_NUMBER)
                rules.append(("free number", pl.when(abroad & on_free).then(free)))
        if self.recent_calls is not None and self.recent_calls.height:
            rules += self._history_rules(frame, self.recent_calls)
        frame = frame.with_columns(problem=_first_of(problem for _, problem in rules))
        if self._hours is not None:  # the windows of the rows no earlier rule stopped
            frame = self._windows(frame.filter(PLANNED & pl.col("problem").is_null()), rows.facts, frame)
            rules.append(("calling hours", pl.col("hours_problem")))
        frame = frame.with_columns(
            rule=pl.when(PLANNED).then(
                _first_of(pl.when(problem.is_not_null()).then(pl.lit(rule)) for rule, problem in rules)
            ),
            problem=_first_of(problem for _, problem in rules),
        )
        counted = frame.filter(pl.col("rule").is_not_null()).group_by("rule").len()
        by_rule = dict(zip(counted["rule"].to_list(), counted["len"].to_list(), strict=True))
        suppressed = Counter({rule: by_rule[rule] for rule, _ in rules if by_rule.get(rule)})
        broken = pl.col("rule").is_not_null()
        frame = frame.with_columns(**with_status(broken, Status.SUPPRESSED, pl.col("problem")))
        if self._hours is not None:
            frame = frame.with_columns(
                window_start=pl.when(PLANNED).then(pl.col("hours_start")).otherwise(pl.col("window_start")),
                window_end=pl.when(PLANNED).then(pl.col("hours_end")).otherwise(pl.col("window_end")),
            )
        return Rows(frame.select(rows.frame.columns), rows.facts), suppressed

    def _history_rules(self, frame: pl.DataFrame, history: pl.DataFrame) -> list[tuple[str, pl.Expr]]:
        """ "recently called" and "calls per day": per number this campaign called, its last call
        and its calls in the 24 hours before the start (a group_by over the history), joined back."""
        compliance = self.campaign.compliance
        since = pl.lit(self.start, WHEN) - pl.col("at")
        numbers = history.group_by("e164").agg(last=pl.col("at").max(), in_a_day=(since < timedelta(days=1)).sum())
        recent = pl.lit(self.start, WHEN) - pl.col("last") < timedelta(days=compliance.min_days_between_calls)
        numbers = numbers.select(
            "e164",
            recent=pl.when(recent & (pl.col("last") > pl.lit(self.start, WHEN)))
            .then(  # an earlier run's call scheduled later than this one could start
                "a call is scheduled for " + pl.col("last").dt.strftime("%Y-%m-%d %H:%M") + " UTC, within "
                f"min_days_between_calls = {compliance.min_days_between_calls:g} day(s)"
            )
            .when(recent)
            .then(
                "called " + pl.col("last").dt.strftime("%Y-%m-%d %H:%M") + " UTC, less than min_days_between_calls = "
                f"{compliance.min_days_between_calls:g} day(s) ago"
            ),
            per_day=pl.when(~recent & (pl.col("in_a_day") >= compliance.max_calls_per_day)).then(
                "already called " + pl.col("in_a_day").cast(pl.String) + " times in 24 hours (max_calls_per_day)"
            ),
        )
        looked_up = frame.select("e164").join(numbers, on="e164", how="left", maintain_order="left")
        planned = PLANNED.fill_null(False)
        return [
            (rule, pl.when(planned).then(pl.lit(looked_up.get_column(column))))
            for rule, column in (("recently called", "recent"), ("calls per day", "per_day"))
        ]

    def _windows(self, pending: pl.DataFrame, facts: tuple[NumberFacts, ...], frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with `hours_start`, `hours_end` and `hours_problem` columns: each pending row's
        first calling window, or why it has none, decided once per (time zone cell, number facts)."""
        assert self._hours is not None
        compliance = self.campaign.compliance
        margin = timedelta(minutes=compliance.closing_margin_minutes)
        rules = Rules(self._hours, compliance.state_rules, margin, compliance.telemarketing)
        zone = strip(pl.col("cell_timezone").fill_null("")) if "cell_timezone" in frame.columns else pl.lit("")
        lives = strip(pl.col("cell_state").fill_null("")) if "cell_state" in frame.columns else pl.lit("")
        places = pending.select(zone.alias("zone"), "fact", lives.alias("lives")).unique()
        by_place: dict[tuple[tuple[str, ...], tuple[str, ...], str | None], Interval | None] = {}
        starts, ends, problems = [], [], []
        for given, fact, address in places.iter_rows():
            number_facts = facts[fact] if fact >= 0 else None
            home = us_state(address)
            zones, problem = self._zones(number_facts, given, home)
            number_state = number_facts.state if number_facts is not None else None
            states = tuple(dict.fromkeys(state for state in (number_state, home) if state))
            region = number_facts.region if number_facts is not None else None
            law = country_law(region)
            if law is None and compliance.other_countries == "suppress" and not problem:
                problem = _no_rules_reason(region)
            window = None
            if not problem:
                place = (zones, states, law)
                if place not in by_place:
                    latest = self.campaign.schedule.latest_at
                    by_place[place] = first_window(rules, zones, states, self.start, latest, law)
                window = by_place[place]
                if window is None:
                    problem = _no_window_reason(zones, states, self.campaign.schedule.latest_at)
            starts.append(window[0] if window else None)
            ends.append(window[1] if window else None)
            problems.append(problem or None)
        decided = places.with_columns(
            hours_start=pl.Series(starts, dtype=WHEN),
            hours_end=pl.Series(ends, dtype=WHEN),
            hours_problem=pl.Series(problems, dtype=pl.String),
        )
        open_rows = PLANNED & pl.col("problem").is_null()
        if "cell_timezone" in frame.columns or "cell_state" in frame.columns:
            keyed = frame.with_columns(zone.alias("zone"), lives.alias("lives"))
            joined = keyed.join(decided, on=["zone", "fact", "lives"], how="left", maintain_order="left")
            return joined.drop("zone", "lives").with_columns(
                hours_problem=pl.when(open_rows).then(pl.col("hours_problem"))
            )
        # No time zone column: the number's facts decide alone, looked up by index (no join).
        by_fact = decided.with_columns(pl.col("fact") + 1).sort("fact")
        lookup = pl.DataFrame({"fact": range(len(facts) + 1)}).join(by_fact, on="fact", how="left")
        index = pl.col("fact") + 1

        def column(name: str) -> pl.Expr:
            return pl.when(open_rows).then(pl.lit(lookup.get_column(name)).gather(index))

        return frame.with_columns(**{name: column(name) for name in ("hours_start", "hours_end", "hours_problem")})

    def _consent_problem(self, cell: str) -> str | None:
        column = self.roles["consent"]
        value = cell.strip()
        if value.casefold() in YES:
            return None
        if not value:
            return f"no consent: column {column!r} is empty"
        if value.casefold() in NO:
            return f"no consent: column {column!r} is {value!r}"
        # Not a no either (a date, "opted in", "✓"): say what would count, as the sheet's owner decides.
        return f"no consent: column {column!r} is {value!r}, not one of {', '.join(YES_SHOWN)}"

    def _opt_out_problem(self, cell: str) -> str | None:
        value = cell.strip()
        return f"opted out: column {self.roles['opt_out']!r} is {value!r}" if value.casefold() in YES else None

    def _zones(self, facts: NumberFacts | None, given: str, home: str | None = None) -> tuple[tuple[str, ...], str]:
        """The recipient's candidate time zones, every one of which must be open: the number's own,
        every zone of the state column's state (a 212 number may live in California) and the time
        zone column's (a CRM's "UTC" default must not move a New York number to 3 am). A cell naming
        a zone outside North America for a North American number is refused: it is wrong, or the
        person is abroad, and either way no window is known to be lawful."""
        number_zones = facts.zones if facts is not None and facts.geographic else ()
        lived = state_zones().get(home, ()) if home is not None else ()
        named: tuple[str, ...] = ()
        if given:
            found = named_zones(given)
            if found is None:
                return (), (
                    f"calling hours: unknown time zone {given!r} in column {self.roles['timezone']!r} "
                    "(write an IANA name such as America/New_York, or Eastern, Central, Mountain, Pacific)"
                )
            region = facts.region if facts is not None else None
            abroad = [zone for zone in found if not north_american(zone) and zone not in number_zones]
            if country_law(region) is not None and region is not None and abroad:
                return (), (
                    f"calling hours: column {self.roles['timezone']!r} says {given!r}, a time zone outside North "
                    f"America, for a {region} number; correct the cell, or clear it to use the number's own zone"
                )
            named = found
        zones = tuple(dict.fromkeys((*number_zones, *lived, *named)))
        if zones:
            return zones, ""
        if facts is None:
            return (), "calling hours: a SIP address has no time zone; add a timezone column"
        if not facts.geographic:
            return (), "calling hours: a toll-free or non-geographic number has no time zone; add a timezone column"
        return (), "calling hours: no time zone is known for this number; add a timezone column"


def _no_rules_reason(region: str | None) -> str:
    return (
        f"calling hours: no calling-hour rules are known here for numbers of {region} (only the US's and "
        "Canada's); to call them within calling_hours in their local time, set [compliance] other_countries = "
        '"calling_hours" once you have checked that country\'s rules'
    )


def _first_of(problems: Iterable[pl.Expr]) -> pl.Expr:
    """Per row, the first of these that is not null (null: none)."""
    return pl.coalesce(pl.lit(None, pl.String), *problems)


def _no_window_reason(zones: tuple[str, ...], states: tuple[str, ...], latest: datetime | None) -> str:
    place = " and ".join(zones) if len(zones) <= 3 else f"all {len(zones)} of its possible time zones"
    if states:
        place = f"{' and '.join(states)} ({place})"
    until = f"before {latest.isoformat()}" if latest else "in the next 8 days"
    hint = " (a toll-free or non-geographic number: add a timezone column)" if len(zones) > 3 else ""
    return f"calling hours: no window open in {place} {until}{hint}"
