"""Bulk normalization: the same answers as `phones.normalize`, at a fraction of the cost.

The whole column goes through the vectorized path: '+' and digits with plain separators (any
country), North American numbers with optional +1/1 and parentheses, a tel: URI of either, an Excel
float or lossless scientific notation, an extension. They are recognized with RE2 regexes (pyarrow)
and validated with phonenumbers' own metadata patterns (`patterns`), so a number called
valid here is exactly one `phonenumbers.is_valid_number` calls valid; one of those shapes that is
not valid gets the reason `phones.normalize` gives it. Everything else (national prefixes such as a
UK '0', SIP, full-width digits, words) goes through `phones.normalize` once per distinct cell, in
two processes when there is a lot of it. Property tests hold the two paths equal."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from runner.arrays import Objects, byte_lengths, objects, on_every_core, string_buffers, text_array
from runner.phones.parse import EXTENSION, FLOAT, MAX_EXTENSION, Phone, home_region, length_fault, normalize
from runner.phones.patterns import (
    GEOGRAPHIC_CODES,
    country_codes,
    keeps_national_number,
    leading_digits_regions,
    starts_with_idd,
    valid_for_country_code,
)

NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# phonenumbers refuses longer text as too long before looking at it.
MAX_PARSED = 250
# Below this many leftover cells, a process pool costs more than it saves.
POOL_THRESHOLD = 20_000

_SCIENTIFIC = r"^(?P<plus>\+?)(?P<int>\d)[.,](?P<frac>\d+)[eE]\+?(?P<exp>\d{1,2})$"
_PLUS = r"^\+\d[\d .\-]*$"
_NANP = (
    r"^(?P<plus>\+?)(?:1[ .-]?)?(?:\((?P<paren>\d{3})\)|(?P<area>\d{3}))[ .-]?(?P<exchange>\d{3})[ .-]?"
    r"(?P<line>\d{4})$"
)


@dataclass(frozen=True)
class PhoneColumn:
    """Normalized destinations for a whole column: one entry per cell, null where absent."""

    e164: pa.Array
    extension: pa.Array
    sip_uri: pa.Array
    reason: pa.Array  # set where the cell cannot be called
    note: pa.Array  # set where the cell was accepted after a repair worth telling

    def columns(self) -> tuple[pa.Array, ...]:
        """The fields in order, as Phone has them."""
        return self.e164, self.extension, self.sip_uri, self.reason, self.note

    def phones(self) -> list[Phone]:
        return [Phone(*values) for values in zip(*(column.to_pylist() for column in self.columns()), strict=True)]


def normalize_many(cells: Sequence[str], region: str) -> list[Phone]:
    """Normalize every cell for `region`; equal, cell by cell, to `normalize(cell, region)`."""
    return normalize_column(text_array(list(cells)), region).phones()


def normalize_column(cells: pa.Array, region: str) -> PhoneColumn:
    """Normalize every cell for `region`; equal to `normalize` cell by cell. The vectorized path
    takes what it can prove; each distinct cell left over goes through `normalize` once."""
    cells = pc.fill_null(cells, "")
    e164, extension, reason, decided = on_every_core(lambda part: _fast(part, region), cells)
    slow = pc.invert(decided)
    leftovers = cells.filter(slow).to_pylist()
    distinct = list(dict.fromkeys(leftovers))
    by_cell = dict(zip(distinct, _slow(distinct, region), strict=True))
    phones = [by_cell[cell] for cell in leftovers]
    empty = pa.nulls(len(cells), pa.string())

    def merged(base: pa.Array, values: list[str | None]) -> pa.Array:
        """The base with the leftovers' values put in (every leftover is null in the base)."""
        if all(value is None for value in values):
            return base
        return pc.replace_with_mask(base, slow, pa.array(values, pa.string()))

    return PhoneColumn(
        merged(e164, [phone.e164 for phone in phones]),
        merged(extension, [phone.extension for phone in phones]),
        merged(empty, [phone.sip_uri for phone in phones]),
        merged(reason, [phone.reason for phone in phones]),
        merged(empty, [phone.note for phone in phones]),
    )


def _fast(cells: pa.Array, region: str) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """E.164 and extension for each cell the vectorized path can prove valid, the reason for each
    it can prove invalid, and where it decided.

    Two shapes are taken: '+' and digits with plain separators (any country), and North American
    numbers with optional 1 and parentheses. Costly regexes with groups run only on the cells a cheap
    match picked out."""
    text = _drop_tel_scheme(pc.utf8_trim_whitespace(cells))
    main, extension = _split_extension(text)
    main = _undo_excel(main)
    digits = _digits_only(main)
    nanp = pc.match_substring_regex(main, _NANP)
    plus = pc.and_(pc.starts_with(main, "+"), pc.or_(nanp, pc.match_substring_regex(main, _PLUS)))
    plus_rows = plus.to_numpy(zero_copy_only=False)
    codes = np.zeros(len(cells), dtype=np.int32)
    codes[plus_rows] = country_codes(digits.filter(plus))
    codes[~np.isin(codes, list(GEOGRAPHIC_CODES))] = 0
    local = np.zeros(len(cells), dtype=bool)
    if region in NANP_REGIONS:  # without a '+', a North American number: the last ten digits
        local = nanp.to_numpy(zero_copy_only=False) & ~plus_rows & ~starts_with_idd(region, digits)
        codes[local] = 1
    codes[byte_lengths(main) > MAX_PARSED] = 0
    codes[byte_lengths(digits) < 3] = 0  # phonenumbers calls fewer than 3 digits no number at all: normalize says so
    too_long = pc.fill_null(pc.greater(pc.utf8_length(extension), MAX_EXTENSION), False)
    codes[too_long.to_numpy(zero_copy_only=False)] = 0
    valid = np.zeros(len(cells), dtype=bool)
    reasons = np.full(len(cells), None, dtype=object)
    for code in np.unique(codes[codes != 0]).tolist():
        for local_rows in (False, True):
            where = np.flatnonzero((codes == code) & (local == local_rows))
            if not len(where):
                continue
            part = digits.take(pa.array(where))
            national = pc.utf8_slice_codeunits(part, -10 if local_rows else len(str(code)))
            good = valid_for_country_code(code, national)
            kept = keeps_national_number(code, national)  # else parsing cuts a prefix off: left to `normalize`
            valid[where[good & kept]] = True
            invalid = ~good & kept
            if invalid.any():
                reasons[where[invalid]] = _invalid_reasons(code, national.filter(pa.array(invalid)), region)
    # '+' and its digits are the E.164 number; a local one of ten digits needs the 1 before them.
    e164 = pc.binary_join_element_wise("+", _ones(local & (byte_lengths(digits) == 10)), digits, "")
    proven = pa.array(valid)
    reason = pa.array(reasons, pa.string())
    return (
        pc.if_else(proven, e164, None),
        pc.if_else(proven, extension, None),
        reason,
        pc.or_(proven, pc.is_valid(reason)),
    )


def _invalid_reasons(code: int, national: pa.Array, region: str) -> Objects:
    """What `normalize` says of numbers with this country code, parsed as these national numbers,
    that are not valid: their length's fault, or the region their leading digits point to."""
    lengths = byte_lengths(national)
    fallback = home_region(code, region)
    reasons = objects([f"invalid for region {found or fallback}" for found in leading_digits_regions(code, national)])
    for length in np.unique(lengths).tolist():
        fault = length_fault(code, length)
        if fault is not None:
            reasons[lengths == length] = fault
    return reasons


def _ones(where: npt.NDArray[np.bool_]) -> pa.Array:
    """'1' where true, '' elsewhere: a string column made from its buffers, without a choice per row."""
    offsets = np.zeros(len(where) + 1, dtype=np.int32)
    np.cumsum(where, dtype=np.int32, out=offsets[1:])
    return pa.StringArray.from_buffers(len(where), pa.py_buffer(offsets), pa.py_buffer(b"1" * int(offsets[-1])))


def _drop_tel_scheme(text: pa.Array) -> pa.Array:
    """'tel:+1-202-555-0123' -> '+1-202-555-0123', as `phones.normalize` reads a tel: URI without
    parameters (a URI with ';ext=' and the like is left for it)."""
    tel = pc.match_substring_regex(text, r"^[tT][eE][lL]:[^;]*$")
    if not pc.any(tel).as_py():
        return text
    return pc.if_else(tel, pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(text, 4)), text)


def _split_extension(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(number part, extension or null); only cells with an x or a # can have an extension."""
    marked = pc.match_substring_regex(text, "[xX#]")
    extension = pa.nulls(len(text), pa.string())
    if not pc.any(marked).as_py():
        return text, extension
    candidates = text.filter(marked)
    split = pc.extract_regex(candidates, EXTENSION)
    main = pc.if_else(pc.is_valid(split), pc.struct_field(split, "main"), candidates)
    return (
        pc.replace_with_mask(text, marked, pc.utf8_trim_whitespace(main)),
        pc.replace_with_mask(extension, marked, pc.struct_field(split, "ext")),
    )


def _digits_only(text: pa.Array) -> pa.Array:
    """Each string with every byte that is not an ASCII digit removed, done on Arrow's buffers."""
    text = text.cast(pa.string())
    offsets, data = string_buffers(text)
    data = data[offsets[0] : offsets[-1]]
    keep = (data - ord("0")) < 10  # unsigned: bytes below '0' wrap around to large values
    kept = np.zeros(len(keep) + 1, dtype=np.int32)
    np.cumsum(keep, dtype=np.int32, out=kept[1:])
    new_offsets = kept[offsets - offsets[0]]
    return pa.StringArray.from_buffers(len(text), pa.py_buffer(new_offsets), pa.py_buffer(data[keep]))


def _undo_excel(main: pa.Array) -> pa.Array:
    """12025550123.0 -> 12025550123; 1.2025550123E+10 -> 12025550123 when no digit was lost."""
    is_float = pc.match_substring_regex(main, FLOAT)
    if pc.any(is_float).as_py():
        floats = pc.extract_regex(main.filter(is_float), FLOAT)
        plain = pc.binary_join_element_wise(pc.struct_field(floats, "plus"), pc.struct_field(floats, "digits"), "")
        main = pc.replace_with_mask(main, is_float, plain)
    is_scientific = pc.match_substring_regex(main, _SCIENTIFIC)
    if pc.any(is_scientific).as_py():
        written = main.filter(is_scientific)
        scientific = pc.extract_regex(written, _SCIENTIFIC)
        fraction = pc.struct_field(scientific, "frac")
        exact = pc.equal(pc.utf8_length(fraction), pc.cast(pc.struct_field(scientific, "exp"), pa.int64()))
        digits = pc.binary_join_element_wise(
            pc.struct_field(scientific, "plus"), pc.struct_field(scientific, "int"), fraction, ""
        )
        main = pc.replace_with_mask(main, is_scientific, pc.if_else(exact, digits, written))
    return main


def _slow(cells: list[str], region: str) -> list[Phone]:
    if len(cells) < POOL_THRESHOLD or (os.cpu_count() or 1) < 2:
        return [normalize(cell, region) for cell in cells]
    # forkserver: forking a process that has other threads running can deadlock the child.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), mp_context=context) as pool:
        return list(pool.map(normalize, cells, [region] * len(cells), chunksize=2000))
