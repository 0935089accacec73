"""What a valid E.164 number says about where its owner is: region, candidate time zones, US state,
and whether it is geographic at all.

Time zones and places come from phonenumbers' prefix tables, looked up here straight from the E.164
text (the same longest-prefix walk `timezone.time_zones_for_geographical_number` and the geocoder do,
without building and formatting a PhoneNumber each time). The costly pattern matching (number type,
region) runs only where it can change the answer, once per NANP area code (area codes never span
regions). tests/test_phones_fast.py holds these equal to phonenumbers' public functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType
from phonenumbers.prefix import _find_lang
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from runner.hours import state_for

UNKNOWN_ZONE = "Etc/Unknown"
# Numbers that say nothing about where the person is (calling-rules.md: skip unless a zone is given).
NON_GEOGRAPHIC = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOIP,
}


@dataclass(frozen=True, slots=True)
class NumberFacts:
    region: str | None
    zones: tuple[str, ...]  # empty when unknown
    state: str | None  # two-letter US state of the area code
    geographic: bool


def parse_e164(e164: str) -> PhoneNumber:
    if e164.startswith("+1") and len(e164) == 12:
        return PhoneNumber(country_code=1, national_number=int(e164[2:]))
    return phonenumbers.parse(e164, None)


@cache
def _geodata() -> tuple[dict[str, Any], int]:
    """The geocoding table, loaded on first use: importing it costs a quarter of a second."""
    from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

    return GEOCODE_DATA, GEOCODE_LONGEST_PREFIX


def fact_key(e164: str) -> str:
    """Numbers with the same key have the same facts: the prefix tables go at most 9 digits deep and
    the rest is decided per area code, so a NANP number's first 9 digits decide them."""
    return e164[: 1 + max(_geodata()[1], TIMEZONE_LONGEST_PREFIX)] if e164.startswith("+1") else e164


_BY_AREA_CODE: dict[str, tuple[str | None, bool | None]] = {}


def _nanp_area(e164: str, need_type: bool) -> tuple[str | None, bool]:
    """(region, geographic) of a NANP area code, looked up once per area code."""
    area = e164[:5]
    region, geographic = _BY_AREA_CODE.get(area, (None, None))
    if area not in _BY_AREA_CODE:
        region = phonenumbers.region_code_for_number(parse_e164(e164))
    if geographic is None and need_type:
        geographic = phonenumbers.number_type(parse_e164(e164)) not in NON_GEOGRAPHIC
    _BY_AREA_CODE[area] = (region, geographic)
    return region, True if geographic is None else geographic


def _zones(e164: str) -> tuple[str, ...]:
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = TIMEZONE_DATA.get(e164[1 : 1 + length])
        if zones is not None:
            return tuple(zone for zone in zones if zone != UNKNOWN_ZONE)
    return ()


def _description(e164: str) -> str:
    data, longest = _geodata()
    for length in range(longest, 0, -1):
        names = data.get(e164[1 : 1 + length])
        if names is not None:
            name = _find_lang(names, "en", None, None)
            if name is not None:
                return str(name)
    return ""


@lru_cache(maxsize=65536)
def _state(description: str) -> str | None:
    return state_for(description)


def number_facts(e164: str) -> NumberFacts:
    """Facts for a number `phones.normalize` accepted as valid."""
    zones = _zones(e164)
    need_type = not zones or len(zones) > 3  # only then can the number type change the answer
    if e164.startswith("+1"):
        region, geographic = _nanp_area(e164, need_type)
    else:
        number = parse_e164(e164)
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        geographic = phonenumbers.number_type(number) not in NON_GEOGRAPHIC if need_type else True
    state = _state(_description(e164)) if region == "US" else None
    return NumberFacts(region, zones, state, geographic)
