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

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
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


def facts_column(e164: pa.Array) -> tuple[npt.NDArray[np.intp], list[NumberFacts]]:
    """Facts for a column of valid E.164 numbers (null where there is none): per row, an index into
    the list of distinct facts (-1 for none). The prefix tables are matched column-wide, so
    `number_facts` runs once per distinct (time-zone prefix, place prefix, area code)."""
    nanp = pc.fill_null(pc.starts_with(e164, "+1"), False)
    digits = pc.utf8_slice_codeunits(e164, 1)
    zone_prefix = _longest_prefix(digits, _prefix_keys("zones"))
    place_prefix = _longest_prefix(digits, _prefix_keys("places"))
    key = pc.if_else(
        nanp,
        pc.binary_join_element_wise(
            *(pc.cast(pc.fill_null(prefix, -1), pa.string()) for prefix in (zone_prefix, place_prefix)),
            pc.utf8_slice_codeunits(e164, 0, 5),
            ":",
        ),
        e164,
    )
    encoded = pc.dictionary_encode(key)
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    distinct, first = np.unique(indices, return_index=True)
    numbers = e164.take(pa.array(first[distinct >= 0])).to_pylist()
    facts = [NumberFacts(None, (), None, True)] * len(encoded.dictionary)
    for index, number in zip(distinct[distinct >= 0], numbers, strict=True):
        facts[index] = number_facts(number)
    return indices, facts


@cache
def _prefix_keys(table: str) -> pa.Array:
    """The NANP prefixes (without the +) of the time-zone table, or of the geocoder's English names."""
    if table == "zones":
        return pa.array([key for key in TIMEZONE_DATA if key.startswith("1")], pa.string())
    data, _ = _geodata()
    return pa.array(
        [key for key, names in data.items() if key.startswith("1") and _find_lang(names, "en", None, None)],
        pa.string(),
    )


def _longest_prefix(digits: pa.Array, keys: pa.Array) -> pa.Array:
    """Per row, the position in `keys` of the longest key that starts its digits (null: none)."""
    found = pa.nulls(len(digits), pa.int32())
    for length in range(max(pc.max(pc.utf8_length(keys)).as_py() or 0, 0), 0, -1):
        match = pc.index_in(pc.utf8_slice_codeunits(digits, 0, length), value_set=keys)
        found = pc.coalesce(found, match)
    return found
