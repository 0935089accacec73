"""What a valid E.164 number says about where its owner is: region, candidate time zones, US state,
and whether it is geographic at all. Computed with phonenumbers' prefix tables (about a microsecond
each); the expensive pattern matching (number type, region) runs only where it can change the answer,
and a region is looked up once per NANP area code (area codes never span regions)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType, timezone
from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

# The prefix lookup behind geocoder.description_for_number, without its costly validity checks
# (a private name: tests/test_number_facts.py holds it equal to the public function).
from phonenumbers.prefix import _prefix_description_for_number
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

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


_BY_AREA_CODE: dict[str, tuple[str | None, bool | None]] = {}


def _nanp_area(e164: str, number: PhoneNumber, need_type: bool) -> tuple[str | None, bool]:
    """(region, geographic) of a NANP area code, looked up once per area code."""
    region, geographic = _BY_AREA_CODE.get(e164[:5], (None, None))
    if e164[:5] not in _BY_AREA_CODE:
        region = phonenumbers.region_code_for_number(number)
    if geographic is None and need_type:
        geographic = phonenumbers.number_type(number) not in NON_GEOGRAPHIC
    _BY_AREA_CODE[e164[:5]] = (region, geographic)
    return region, True if geographic is None else geographic


def _description(number: PhoneNumber) -> str:
    return str(_prefix_description_for_number(GEOCODE_DATA, GEOCODE_LONGEST_PREFIX, number, "en"))


def fact_key(e164: str) -> str:
    """Numbers with the same key have the same facts: a NANP number's facts come from prefix tables
    at most 9 digits deep and from its area code, so its first 9 digits decide them."""
    return e164[: 1 + max(GEOCODE_LONGEST_PREFIX, TIMEZONE_LONGEST_PREFIX)] if e164.startswith("+1") else e164


def number_facts(e164: str) -> NumberFacts:
    """Facts for a number `phones.normalize` accepted as valid."""
    number = parse_e164(e164)
    zones = tuple(z for z in timezone.time_zones_for_geographical_number(number) if z != UNKNOWN_ZONE)
    need_type = not zones or len(zones) > 3  # only then can the number type change the answer
    if number.country_code == 1:
        region, geographic = _nanp_area(e164, number, need_type)
    else:
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        geographic = phonenumbers.number_type(number) not in NON_GEOGRAPHIC if need_type else True
    state = state_for(_description(number)) if region == "US" else None
    return NumberFacts(region, zones, state, geographic)
