"""Calling windows in the called party's local time: the campaign's hours narrowed by the country's
rule for telemarketing (COUNTRY_RULES: the US's TCPA, Canada's CRTC) and by US state rules
(STATE_RULES below, from the calling-rules reference the project was given), intersected across
every time zone the number may be in.

A number is dialled only inside a window that is open in *all* its candidate zones, minus a closing
margin; the first such window at or after the campaign's start becomes its schedulePlan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pycountry

from runner.text import comparison_key

Hours = tuple[time, time]
Interval = tuple[datetime, datetime]

END_OF_DAY = time(23, 59, 59, 999999)
# Shortest window worth scheduling a call in.
MIN_WINDOW = timedelta(minutes=5)
# How far ahead to look for a window when the campaign gives no latest_at.
HORIZON = timedelta(days=8)


Pair = tuple[float, float] | None  # hours of the day: 21.5 is 21:30

# How sheets write US time zones, by comparison_key: each means the DST-aware zones
# named. The tz database's EST, MST and HST are fixed offsets; read so, "EST" in July would open
# the window an hour late and close it at 10 pm Eastern. Mountain time without "daylight" may be
# Arizona's (no DST): both zones, so that the window is open in each.
ZONE_NAMES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(["est", "edt", "et", "eastern", "easterntime", "easternstandardtime"], ("America/New_York",)),
    **dict.fromkeys(["cst", "cdt", "ct", "central", "centraltime", "centralstandardtime"], ("America/Chicago",)),
    **dict.fromkeys(["mst", "mt", "mountain", "mountaintime", "mountainstandardtime"],
                    ("America/Denver", "America/Phoenix")),
    "mdt": ("America/Denver",),
    **dict.fromkeys(["pst", "pdt", "pt", "pacific", "pacifictime", "pacificstandardtime"], ("America/Los_Angeles",)),
    **dict.fromkeys(["akst", "akdt", "akt", "alaska", "alaskatime"], ("America/Anchorage",)),
    **dict.fromkeys(["hst", "hast", "hawaii", "hawaiitime"], ("Pacific/Honolulu",)),
}  # fmt: skip


def named_zones(text: str) -> tuple[str, ...] | None:
    """The zones a time zone cell means: ZONE_NAMES's US names and abbreviations, else an IANA
    name as written ("America/New_York"); None when it is neither."""
    known = ZONE_NAMES.get(comparison_key(text))
    if known is not None:
        return known
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return (text,)


def _week(weekdays: Pair, saturday: Pair, sunday: Pair) -> dict[int, Hours | None]:
    """Allowed hours by weekday (Mon=0) from whole-hour pairs; None: no calls that day."""

    def at(hour: float) -> time:
        return time(int(hour), round(hour % 1 * 60))

    def hours(pair: Pair) -> Hours | None:
        return None if pair is None else (at(pair[0]), at(pair[1]))

    return {**dict.fromkeys(range(5), hours(weekdays)), 5: hours(saturday), 6: hours(sunday)}


def _daily(start: int, end: int) -> dict[int, Hours | None]:
    return _week((start, end), (start, end), (start, end))


# Regions whose numbers the TCPA covers: the US and its territories with their own region codes.
US_REGIONS = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})
# Country -> weekday (Mon=0) -> the hours telemarketing calls may reach a person, in their local time.
# US: 47 CFR 64.1200(c)(1), 8 am to 9 pm. Canada: the CRTC's Unsolicited Telecommunications Rules,
# Part III, 9 am to 9:30 pm on weekdays and 10 am to 6 pm on weekends.
COUNTRY_RULES: dict[str, dict[int, Hours | None]] = {
    "US": _daily(8, 21),
    "CA": _week((9, 21.5), (10, 18), (10, 18)),
}
FEDERAL_HOURS: Hours = (time(8), time(21))


def country_law(region: str | None) -> str | None:
    """Whose calling-hour rule a number of this region is under: "US" (its territories, and a SIP
    address or a number with no region, to be safe), "CA", or None (no rule known here)."""
    if region is None or region in US_REGIONS:
        return "US"
    return region if region in COUNTRY_RULES else None


# Weekday (Mon=0) -> allowed local hours, or None for no calls that day. States not listed follow the
# federal rule.
STATE_RULES: dict[str, dict[int, Hours | None]] = {
    "FL": _daily(8, 20),
    "OK": _daily(8, 20),
    "MD": _daily(8, 20),
    "WA": _daily(8, 20),
    "MA": _daily(8, 20),
    "CT": _daily(9, 20),
    "NV": _daily(9, 20),
    "MI": _daily(9, 21),
    "MN": _daily(9, 21),
    "NM": _daily(9, 21),
    "KY": _daily(10, 21),
    "TX": _week((9, 21), (9, 21), (12, 21)),
    "RI": _week((9, 18), (10, 17), None),
    "AL": _week((8, 20), (8, 20), None),
    "LA": _week((8, 20), (8, 20), None),
    "MS": _week((8, 20), (8, 20), None),
}
NO_HOLIDAY_CALLS = {"RI", "AL", "LA", "MS"}
# A state whose law says "local time" and spans zones is read both ways: in the person's zone and in
# the state's main one (an El Paso number, Mountain, is also held to 9 pm Central).
STATE_LAW_ZONES = {"TX": "America/Chicago"}

# phonenumbers' geocoder names the area code's state; these are the spellings it uses.
STATE_NAMES = {
    "Florida": "FL", "Oklahoma": "OK", "Maryland": "MD", "Washington State": "WA", "Washington": "WA",
    "Massachusetts": "MA", "Connecticut": "CT", "Nevada": "NV", "Michigan": "MI", "Minnesota": "MN",
    "New Mexico": "NM", "Kentucky": "KY", "Texas": "TX", "Rhode Island": "RI", "Alabama": "AL",
    "Louisiana": "LA", "Mississippi": "MS",
}  # fmt: skip
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_hours(text: str) -> Hours:
    """'08:00-21:00' -> (08:00, 21:00); '24:00' means the end of the day."""
    match = _HOURS.match(text.replace(" ", ""))
    if not match:
        raise ValueError('must look like 08:00-21:00, or "any" for no limit')
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError("hours go from 00:00 to 24:00")
    start, end = time(h1, m1), END_OF_DAY if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError("the end must be after the start")
    return start, end


def north_american(zone: str) -> bool:
    """A zone in North America (or a US territory): where a NANP number's owner may be."""
    return zone.startswith(("America/", "US/", "Canada/")) or zone in _NORTH_AMERICAN_OTHERS


_NORTH_AMERICAN_OTHERS = frozenset(
    {"Pacific/Honolulu", "Pacific/Guam", "Pacific/Saipan", "Pacific/Pago_Pago", "EST5EDT", "CST6CDT", "MST7MDT",
     "PST8PDT", "EST", "MST", "HST"}
)  # fmt: skip


def state_for(description: str) -> str | None:
    """'Florida' -> 'FL'; 'Orem, UT' -> 'UT'; anything else -> None."""
    if description in STATE_NAMES:
        return STATE_NAMES[description]
    match = re.search(r", ([A-Z]{2})$", description)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Rules:
    """What narrows a window: the campaign's hours, the state table (on/off), the closing margin,
    and whether the calls are telemarketing (then COUNTRY_RULES apply)."""

    hours: Hours
    state_rules: bool
    margin: timedelta
    telemarketing: bool = True


@cache
def _holidays(state: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("US", subdiv=state, years=year)


def day_hours(rules: Rules, law: str | None, states: tuple[str, ...], day: date) -> Hours | None:
    """The hours allowed on one local date, or None: the campaign's, narrowed by the country's rule
    (`law`, a COUNTRY_RULES key) and by the rules of each state that applies (the area code's, the
    address's): the strictest wins."""
    start, end = rules.hours
    if rules.telemarketing and law is not None:
        allowed = COUNTRY_RULES[law][day.weekday()]
        if allowed is None:
            return None
        start, end = max(start, allowed[0]), min(end, allowed[1])
    for state in states if rules.state_rules else ():
        if state not in STATE_RULES:
            continue
        if state in NO_HOLIDAY_CALLS and day in _holidays(state, day.year):
            return None
        allowed = STATE_RULES[state][day.weekday()]
        if allowed is None:
            return None
        start, end = max(start, allowed[0]), min(end, allowed[1])
    return (start, end) if start < end else None


def us_state(cell: str) -> str | None:
    """A state cell's two-letter code: "FL", "fl", "US-FL" or "Florida" (ISO 3166-2, through
    pycountry, with DC and the territories); None for anything else."""
    text = cell.strip()
    if not text:
        return None
    return _us_states().get(text.upper().removeprefix("US-")) or _us_states().get(text.casefold())


@cache
def _us_states() -> dict[str, str]:
    """Each state's code and name (casefolded) -> its code."""
    subdivisions = pycountry.subdivisions.get(country_code="US") or []  # type: ignore[no-untyped-call]
    codes = {sub.name.casefold(): sub.code.removeprefix("US-") for sub in subdivisions}
    return {code: code for code in codes.values()} | codes


def _zone_intervals(
    rules: Rules, law: str | None, states: tuple[str, ...], zone: ZoneInfo, start: datetime, end: datetime
) -> list[Interval]:
    intervals = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        hours = day_hours(rules, law, states, day)
        if hours is not None:
            opens = datetime.combine(day, hours[0], zone)
            closes = datetime.combine(day, hours[1], zone) - rules.margin
            if closes > opens:
                intervals.append((opens, closes))
        day += timedelta(days=1)
    return intervals


def _intersect(first: list[Interval], second: list[Interval]) -> list[Interval]:
    result, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if start < end:
            result.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return result


def first_window(
    rules: Rules,
    zones: tuple[str, ...],
    states: tuple[str, ...],
    start: datetime,
    end: datetime | None,
    law: str | None = "US",
) -> Interval | None:
    """The first stretch at or after `start` (and before `end`) open in every zone under the
    country's rule (`law`) and every state's rules (read in the state's own zone too, where
    STATE_LAW_ZONES names one), or None."""
    end = end or start + HORIZON
    if rules.state_rules:
        zones = tuple(dict.fromkeys((*zones, *(STATE_LAW_ZONES[s] for s in states if s in STATE_LAW_ZONES))))
    common: list[Interval] | None = None
    for name in zones:
        intervals = _zone_intervals(rules, law, states, ZoneInfo(name), start, end)
        common = intervals if common is None else _intersect(common, intervals)
    for opens, closes in common or []:
        opens, closes = max(opens, start), min(closes, end)
        if closes - opens >= MIN_WINDOW:
            return opens.astimezone(UTC), closes.astimezone(UTC)
    return None
