"""Bulk normalization: the same answers as `phones.normalize`, at a fraction of the cost.

Each distinct cell is normalized once. The common shapes of North American numbers (digits with
optional +1/1, separators, parentheses, an Excel float or lossless scientific notation, an
extension) are recognized with vectorized RE2 regexes (pyarrow) and validated with phonenumbers'
own US metadata patterns, compiled once: a number those patterns call valid is exactly one that
`phonenumbers.is_valid_number` calls valid with region US. Everything else (other countries, SIP,
tel: URIs, full-width digits, invalid numbers and their reasons) goes through `phones.normalize`,
in two processes when there is a lot of it. Property tests hold the two paths equal.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.phonemetadata import PhoneMetadata

from runner.columns import Objects, objects, text_array
from runner.phones import MAX_EXTENSION, Phone, normalize

NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# Below this many leftover cells, a process pool costs more than it saves.
POOL_THRESHOLD = 20_000

_EXTENSION = r"(?i)^(?P<main>.*?\d.*?)\s*(?:[,;]?\s*(?:ext(?:ension)?\.?|x|#)\s*:?\s*)(?P<ext>\d+)$"
_FLOAT = r"^(?P<plus>\+?)(?P<digits>\d+)\.0+$"
_SCIENTIFIC = r"^(?P<plus>\+?)(?P<int>\d)[.,](?P<frac>\d+)[eE]\+?(?P<exp>\d{1,2})$"
_NANP = (
    r"^(?P<plus>\+?)(?:1[ .-]?)?(?:\((?P<paren>\d{3})\)|(?P<area>\d{3}))[ .-]?(?P<exchange>\d{3})[ .-]?"
    r"(?P<line>\d{4})$"
)


@cache
def _us_patterns() -> tuple[str, str]:
    """US validity as phonenumbers decides it: the general pattern and any number type's pattern."""
    metadata = PhoneMetadata.metadata_for_region("US")
    assert metadata is not None
    types = (
        "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
        "fixed_line", "mobile",
    )  # fmt: skip
    patterns = []
    for name in types:
        desc = getattr(metadata, name)
        if (
            desc is not None
            and desc.national_number_pattern
            and (not desc.possible_length or 10 in desc.possible_length)
        ):
            patterns.append(f"(?:{desc.national_number_pattern})")
    assert metadata.general_desc is not None
    general = f"^(?:{metadata.general_desc.national_number_pattern})$"
    return general, "^(?:" + "|".join(patterns) + ")$"


@dataclass(frozen=True)
class PhoneColumn:
    """Normalized destinations for a whole column: one entry per cell, None where absent."""

    e164: Objects
    extension: Objects
    sip_uri: Objects
    reason: Objects  # set where the cell cannot be called
    note: Objects  # set where the cell was accepted after a repair worth telling

    def __len__(self) -> int:
        return len(self.e164)

    def phones(self) -> list[Phone]:
        return [
            Phone(*fields)
            for fields in zip(self.e164, self.extension, self.sip_uri, self.reason, self.note, strict=True)
        ]


def normalize_many(cells: Sequence[str], region: str) -> list[Phone]:
    """Normalize every cell for `region`; equal, cell by cell, to `normalize(cell, region)`."""
    return normalize_column(text_array(list(cells)), region).phones()


def normalize_column(cells: pa.Array, region: str) -> PhoneColumn:
    """Normalize every cell for `region`, each distinct cell once; equal to `normalize` cell by cell."""
    encoded = pc.dictionary_encode(pc.fill_null(cells, ""))
    distinct = encoded.dictionary
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    e164, extension, fast = _fast(distinct, region)
    columns = [e164, extension, *(np.full(len(distinct), None, dtype=object) for _ in range(3))]
    rest = np.flatnonzero(~fast)
    for position, phone in zip(rest, _slow(objects(distinct)[rest].tolist(), region), strict=True):
        for column, value in zip(
            columns, (phone.e164, phone.extension, phone.sip_uri, phone.reason, phone.note), strict=True
        ):
            column[position] = value
    return PhoneColumn(*(column[indices] for column in columns))


def _fast(cells: pa.Array, region: str) -> tuple[Objects, Objects, npt.NDArray[np.bool_]]:
    """E.164 and extension for each cell the vectorized path can prove valid, and where it could."""
    if not len(cells):
        return objects([]), objects([]), np.zeros(0, dtype=bool)
    text = pc.utf8_trim_whitespace(cells)
    split = pc.extract_regex(text, _EXTENSION)
    has_extension = pc.is_valid(split)
    main = pc.if_else(has_extension, pc.struct_field(split, "main"), text)
    main = pc.utf8_trim_whitespace(main)
    extension = pc.struct_field(split, "ext")
    main = _undo_excel(main)
    parts = pc.extract_regex(main, _NANP)
    # A group that did not take part comes back empty, so joining the two gives the one that did.
    area = pc.binary_join_element_wise(pc.struct_field(parts, "paren"), pc.struct_field(parts, "area"), "")
    nsn = pc.binary_join_element_wise(area, pc.struct_field(parts, "exchange"), pc.struct_field(parts, "line"), "")
    general, types = _us_patterns()
    valid = pc.and_kleene(pc.match_substring_regex(nsn, general), pc.match_substring_regex(nsn, types))
    if region not in NANP_REGIONS:  # without a +, the number belongs to the default region: not ours
        has_plus = pc.equal(pc.struct_field(parts, "plus"), "+")
        valid = pc.and_kleene(valid, has_plus)
    plus_without_one = pc.match_substring_regex(main, r"^\+[^1]")
    valid = pc.and_kleene(valid, pc.invert(plus_without_one))
    too_long = pc.greater(pc.utf8_length(extension), MAX_EXTENSION)
    valid = pc.fill_null(pc.and_kleene(valid, pc.invert(pc.fill_null(too_long, False))), False)
    e164 = pc.if_else(valid, pc.binary_join_element_wise("+1", nsn, ""), None)
    extension = pc.if_else(valid, extension, None)
    return objects(e164), objects(extension), valid.to_numpy(zero_copy_only=False)


def _undo_excel(main: pa.Array) -> pa.Array:
    """12025550123.0 -> 12025550123; 1.2025550123E+10 -> 12025550123 when no digit was lost."""
    floats = pc.extract_regex(main, _FLOAT)
    main = pc.if_else(
        pc.is_valid(floats),
        pc.binary_join_element_wise(pc.struct_field(floats, "plus"), pc.struct_field(floats, "digits"), ""),
        main,
    )
    scientific = pc.extract_regex(main, _SCIENTIFIC)
    fraction = pc.struct_field(scientific, "frac")
    exponent = pc.cast(pc.struct_field(scientific, "exp"), pa.int64())
    exact = pc.fill_null(pc.equal(pc.utf8_length(fraction), exponent), False)
    digits = pc.binary_join_element_wise(
        pc.struct_field(scientific, "plus"), pc.struct_field(scientific, "int"), fraction, ""
    )
    return pc.if_else(exact, digits, main)


def _slow(cells: list[str], region: str) -> list[Phone]:
    if len(cells) < POOL_THRESHOLD or (os.cpu_count() or 1) < 2:
        return [normalize(cell, region) for cell in cells]
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(normalize, cells, [region] * len(cells), chunksize=2000))
