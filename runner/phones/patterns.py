"""phonenumbers' own validity rules, applied to whole columns of digits with RE2 (pyarrow).

`phonenumbers.is_valid_number` decides with regular expressions from its metadata: the country
code's region (the first region of a shared code whose leading digits match, or whose patterns
accept the number), then the region's general pattern and possible lengths, then any number
type's pattern and lengths. libphonenumber's C++ edition runs the same patterns with RE2, so here
they are compiled once and run over a column instead of once per number.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

# Numbers with codes of non-geographic services (+800, +882, …) are left to phonenumbers itself.
GEOGRAPHIC_CODES = frozenset(
    code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if "001" not in regions
)
# The order phonenumbers' _number_type_helper tries the types in; any match makes a number valid.
_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
    "fixed_line", "mobile",
)  # fmt: skip


def country_codes(digits: pa.Array) -> npt.NDArray[np.int32]:
    """The country code of each string of digits that followed a '+' (0 where none starts it), as
    phonenumbers splits them off. Non-geographic codes (+800, …) are found too; `GEOGRAPHIC_CODES`
    tells them apart."""
    codes = np.zeros(len(digits), dtype=np.int32)
    known_codes = pa.array([str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE])
    lengths = pc.utf8_length(digits)
    for size in (3, 2, 1):  # country codes are prefix-free: at most one size matches
        head = pc.utf8_slice_codeunits(digits, 0, size)
        known = pc.and_(pc.fill_null(pc.is_in(head, known_codes), False), pc.greater(lengths, size))
        where = known.to_numpy(zero_copy_only=False)
        if where.any():
            codes[where] = pc.cast(head.filter(known), pa.int32()).to_numpy()
    return codes


def valid_for_country_code(code: int, national: pa.Array) -> npt.NDArray[np.bool_]:
    """`phonenumbers.is_valid_number` for numbers with this country code and these national
    significant numbers (digits only, as parsed)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
    valid = np.zeros(len(national), dtype=bool)
    undecided = np.arange(len(national))
    for region in regions:
        if not len(undecided):
            break
        part = national if len(undecided) == len(national) else national.take(pa.array(undecided))
        typed = _matches_a_type(region, part)
        leading = _metadata(region).leading_digits
        chosen = _starts(part, leading) if len(regions) > 1 and leading is not None else typed
        valid[undecided[chosen & typed]] = True
        undecided = undecided[~chosen]
    return valid


def leading_digits_regions(code: int, national: pa.Array) -> npt.NDArray[np.object_]:
    """`phonenumbers.region_code_for_number` of numbers with this country code that are not valid:
    the code's region when it has one, else the first of its regions whose leading digits start the
    national number (None where none does). A region without leading digits could only be chosen by
    a number valid for it."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
    found = np.full(len(national), regions[0] if len(regions) == 1 else None, dtype=object)
    if len(regions) == 1:
        return found
    for region in regions:
        leading = _metadata(region).leading_digits
        if leading is not None:
            found[_starts(national, leading) & (found == None)] = region  # noqa: E711
    return found


def keeps_national_number(code: int, national: pa.Array) -> npt.NDArray[np.bool_]:
    """Where parsing cuts nothing off the national number: its region's national prefix (a trunk
    '0', NANP's '1', a carrier code) does not start it."""
    prefix = _metadata(phonenumbers.region_code_for_country_code(code)).national_prefix_for_parsing
    if not prefix:
        return np.ones(len(national), dtype=bool)
    return ~_starts(national, prefix)


def starts_with_idd(region: str, digits: pa.Array) -> npt.NDArray[np.bool_]:
    """Where the digits begin with the region's international dialling prefix (011, 00, …)."""
    prefix = _metadata(region).international_prefix
    if not prefix:
        return np.zeros(len(digits), dtype=bool)
    return _starts(digits, prefix)


def _starts(values: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    """Where a metadata pattern (leading digits, a prefix) matches at the start of the value."""
    return np.asarray(pc.match_substring_regex(values, f"^(?:{pattern})").to_numpy(zero_copy_only=False), dtype=bool)


def _matches_a_type(region: str, national: pa.Array) -> npt.NDArray[np.bool_]:
    """phonenumbers' number type is not UNKNOWN: the general description and some type's match."""
    lengths = pc.utf8_length(national).to_numpy(zero_copy_only=False)
    result = np.zeros(len(national), dtype=bool)
    for length in np.unique(lengths).tolist():
        patterns = _patterns_for_length(region, int(length))
        if patterns is None:
            continue
        where = lengths == length
        part = national if where.all() else national.filter(pa.array(where))
        general, types = (pc.match_substring_regex(part, pattern) for pattern in patterns)
        result[where] = pc.and_(general, types).to_numpy(zero_copy_only=False)
    return result


@cache
def _patterns_for_length(region: str, length: int) -> tuple[str, str] | None:
    """RE2 patterns for national numbers of this length: the general description's, and any type's
    (an alternation of those whose possible lengths admit it); None when no number can be valid.
    Two patterns, since RE2 has no lookahead to make one conjunction."""
    metadata = _metadata(region)
    if metadata.general_desc is None or not _admits(metadata.general_desc, length):
        return None
    types = [getattr(metadata, name) for name in _TYPES]
    if metadata.same_mobile_and_fixed_line_pattern:
        types = types[:-1]  # phonenumbers does not look at mobile then
    alternatives = [f"(?:{desc.national_number_pattern})" for desc in types if _admits(desc, length)]
    if not alternatives:
        return None
    return f"^(?:{metadata.general_desc.national_number_pattern})$", f"^(?:{'|'.join(alternatives)})$"


def _admits(desc: PhoneNumberDesc | None, length: int) -> bool:
    """Whether phonenumbers' _is_number_matching_desc can accept a number of this length."""
    if desc is None or not desc.national_number_pattern:
        return False
    return not desc.possible_length or length in desc.possible_length


@cache
def _metadata(region: str) -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region(region)
    assert metadata is not None, region
    return metadata
