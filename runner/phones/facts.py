"""What a valid E.164 number says about where its owner is: region, candidate time zones, US state,
and whether it is geographic at all.

Time zones and places come from phonenumbers' prefix tables, looked up here straight from the E.164
text (the same longest-prefix walk `timezone.time_zones_for_geographical_number` and the geocoder do,
without building and formatting a PhoneNumber each time). The costly pattern matching (number type,
region) runs only where it can change the answer, once per NANP area code (area codes never span
regions). tests/test_phone_columns.py holds these equal to phonenumbers' public functions.
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumber, PhoneNumberType
from phonenumbers.prefix import _find_lang
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from runner.arrays import factorize, first_rows
from runner.hours import state_for
from runner.phones.patterns import country_codes

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
def _nanp_places() -> dict[str, Any]:
    """The geocoder's table for NANP prefixes ('1…'), the only ones a state is read from.

    Importing phonenumbers.geodata loads all its 30 modules (a quarter of a second, holding the
    GIL). They hold consecutive prefixes in text order, so only the first few are read here: up to
    the first one that goes past '1'. tests/test_phone_columns.py holds this equal to the whole
    table's part; if the layout ever changes, the whole table is loaded instead."""
    folder = Path(phonenumbers.__file__).parent / "geodata"
    places: dict[str, Any] = {}
    for index in itertools.count():
        name = f"phonenumbers.geodata.data{index}"
        path = folder / f"data{index}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if not path.is_file() or spec is None or spec.loader is None:
            break
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data: dict[str, Any] = module.data
        places.update((key, names) for key, names in data.items() if key.startswith("1"))
        if data and not max(data).startswith("1"):
            return places
    from phonenumbers.geodata import GEOCODE_DATA

    return {key: names for key, names in GEOCODE_DATA.items() if key.startswith("1")}


@cache
def _nanp_head_length() -> int:
    """NANP numbers alike in this many leading characters ('+1' and the area code and exchange)
    have the same facts: the NANP prefixes of both tables go no deeper, and the rest is decided per
    area code."""
    deepest = max(len(key) for key in TIMEZONE_DATA if key.startswith("1"))
    return 1 + max(deepest, int(pc.max(pc.utf8_length(_prefix_keys("places"))).as_py()))


def _needs_type(zones: tuple[str, ...]) -> bool:
    """Only a number with no known zone, or more than three, can have its facts changed by its type."""
    return not zones or len(zones) > 3


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
    """The English place name of a NANP number."""
    places = _nanp_places()
    for length in range(len(e164) - 1, 0, -1):
        names = places.get(e164[1 : 1 + length])
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
    need_type = _needs_type(zones)
    if e164.startswith("+1"):
        region, geographic = _nanp_area(e164, need_type)
    else:
        number = parse_e164(e164)
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        geographic = phonenumbers.number_type(number) not in NON_GEOGRAPHIC if need_type else True
    state = _state(_description(e164)) if region == "US" else None
    return NumberFacts(region, zones, state, geographic)


@cache
def state_zones() -> dict[str, tuple[str, ...]]:
    """US state (two letters) -> every time zone its area codes are in, from phonenumbers' own
    geocoder and time zone tables: a person known to live in a state may be in any of them."""
    found: dict[str, set[str]] = {}
    for prefix, names in _nanp_places().items():
        state = _state(str(_find_lang(names, "en", None, None) or ""))
        if state is None:
            continue
        for length in range(len(prefix), 0, -1):  # the longest time zone prefix of the place's
            if prefix[:length] in TIMEZONE_DATA:
                found.setdefault(state, set()).update(z for z in TIMEZONE_DATA[prefix[:length]] if z != UNKNOWN_ZONE)
                break
    return {state: tuple(sorted(zones)) for state, zones in found.items()}


def load_tables() -> None:
    """Build the prefix tables `facts_column` matches against (a tenth of a second of Python), so a
    thread can do it while the phone numbers are still being normalized."""
    _nanp_head_length()
    _prefix_keys("zones")


def facts_column(e164: pa.Array) -> tuple[npt.NDArray[np.intp], list[NumberFacts]]:
    """Facts for a column of valid E.164 numbers (null where there is none): per row, an index into
    the list of distinct facts (-1 for none). A NANP number's head decides its facts, so the prefix
    tables are matched once per distinct head, column-wide, and facts are made once per distinct
    (time-zone prefix, place prefix, area code or country code)."""
    heads = _heads(e164)
    row_head, first_row_of_head = factorize(pa.array(heads, mask=heads < 0))
    distinct = e164.take(pa.array(first_row_of_head, pa.int64()))
    nanp = pc.starts_with(distinct, "+1")
    distinct = pc.if_else(nanp, pc.utf8_slice_codeunits(distinct, 0, _nanp_head_length()), distinct)
    digits = pc.utf8_slice_codeunits(distinct, 1)
    zone_prefix = _longest_prefix(digits, _prefix_keys("zones"))
    place_prefix = _longest_prefix(digits, _prefix_keys("places"))
    zone_prefix, place_prefix = pc.fill_null(zone_prefix, -1), pc.fill_null(place_prefix, -1)
    # NANP: (zone prefix, place prefix, area code); elsewhere: (zone prefix, country code).
    area_or_country = pc.if_else(
        nanp, pc.utf8_slice_codeunits(distinct, 0, 5), pc.cast(pa.array(country_codes(digits)), pa.string())
    )
    key = pc.binary_join_element_wise(
        pc.cast(zone_prefix, pa.string()), pc.cast(place_prefix, pa.string()), area_or_country, ":"
    )
    head_fact = pc.dictionary_encode(key).indices.to_numpy(zero_copy_only=False).astype(np.intp)
    head_of_fact = first_rows(head_fact)
    numbers = e164.take(pa.array(first_row_of_head[head_of_fact], pa.int64())).to_pylist()
    zones_at, places_at = zone_prefix.to_numpy()[head_of_fact], place_prefix.to_numpy()[head_of_fact]
    facts: list[NumberFacts] = []
    for number, zone, place in zip(numbers, zones_at, places_at, strict=True):
        facts.append(_facts_from_prefixes(number, int(zone), int(place)) or number_facts(number))
    # Outside NANP, a number whose type decides the answer is looked at one by one.
    typed = [not number.startswith("+1") and _needs_type(f.zones) for number, f in zip(numbers, facts, strict=True)]
    for head in np.flatnonzero(np.isin(head_fact, np.flatnonzero(typed))).tolist():
        head_fact[head] = len(facts)
        facts.append(number_facts(distinct[head].as_py()))
    return np.append(head_fact, -1)[row_head], facts


def _heads(e164: pa.Array) -> npt.NDArray[np.int64]:
    """A code per row for what decides its facts (-1 for none): a NANP number's head, any other
    number whole (few in a North American campaign). Codes of the two kinds do not overlap."""
    nanp = pc.fill_null(pc.starts_with(e164, "+1"), False)
    heads = pc.dictionary_encode(pc.if_else(nanp, pc.utf8_slice_codeunits(e164, 0, _nanp_head_length()), None))
    codes: npt.NDArray[np.int64] = pc.fill_null(heads.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    others = np.flatnonzero(pc.and_not(pc.is_valid(e164), nanp).to_numpy(zero_copy_only=False))
    if len(others):
        whole = pc.dictionary_encode(e164.take(pa.array(others, pa.int64()))).indices.to_numpy(zero_copy_only=False)
        codes[others] = len(heads.dictionary) + whole
    return codes


def _facts_from_prefixes(e164: str, zone: int, place: int) -> NumberFacts | None:
    """number_facts from the longest table prefixes (-1: none), where they decide it; else None."""
    zone_keys, place_keys = _prefix_keys("zones"), _prefix_keys("places")
    names = TIMEZONE_DATA[zone_keys[zone].as_py()] if zone >= 0 else ()
    zones = tuple(name for name in names if name != UNKNOWN_ZONE)
    need_type = _needs_type(zones)
    if not e164.startswith("+1"):
        if need_type:
            return None
        country = phonenumbers.region_code_for_country_code(parse_e164(e164).country_code or 0)
        return NumberFacts(country, zones, None, True)
    region, geographic = _nanp_area(e164, need_type)
    name = _find_lang(_nanp_places()[place_keys[place].as_py()], "en", None, None) if place >= 0 else None
    return NumberFacts(region, zones, _state(str(name or "")) if region == "US" else None, geographic)


@cache
def _prefix_keys(table: str) -> pa.Array:
    """The time-zone table's prefixes, or the NANP prefixes with an English name in the geocoder."""
    if table == "zones":
        return pa.array(list(TIMEZONE_DATA), pa.string())
    return pa.array(
        [key for key, names in _nanp_places().items() if _find_lang(names, "en", None, None)],
        pa.string(),
    )


def _longest_prefix(digits: pa.Array, keys: pa.Array) -> pa.Array:
    """Per row, the position in `keys` of the longest key that starts its digits (null: none)."""
    found = pa.nulls(len(digits), pa.int32())
    for length in range(max(pc.max(pc.utf8_length(keys)).as_py() or 0, 0), 0, -1):
        match = pc.index_in(pc.utf8_slice_codeunits(digits, 0, length), value_set=keys)
        found = pc.coalesce(found, match)
    return found
