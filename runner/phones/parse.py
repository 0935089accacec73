"""Turn whatever a spreadsheet holds in its phone column into E.164 (or a SIP URI), or say why not.

Excel's damage is repaired only where it is provably lossless: an integral float, scientific
notation that kept every digit, a leading apostrophe, full-width digits. Everything is finally
decided by `phonenumbers.is_valid_number`; nothing is guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

import phonenumbers
import pycountry
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from runner.text import comparison_key

MAX_EXTENSION = 10  # Vapi's limit on customer.extension

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"), None)
# Shared with the column path (runner.phones.columns), which runs them in polars' regex engine.
EXTENSION = r"(?i)^(?P<main>.*?\d.*?)\s*(?:[,;]?\s*(?:ext(?:ension)?\.?|x|#)\s*:?\s*)(?P<ext>\d+)$"
FLOAT = r"^(?P<plus>\+?)(?P<digits>\d+)\.0+$"
_EXTENSION = re.compile(EXTENSION)
_FLOAT = re.compile(FLOAT)
_SCIENTIFIC = re.compile(r"^\+?(?P<int>\d)(?:[.,](?P<frac>\d+))?[eE]\+?(?P<exp>\d{1,2})$")
_SIP = re.compile(r"^sips?:[^@\s:;]+@[A-Za-z0-9.\-\[\]:]+(?:;[^\s]*)?$", re.I)
# Only a cell with a separator and digits enough for two numbers is searched for several (the
# matcher is slow, and a sheet may hold many distinct junk cells).
_SEPARATED = re.compile(r"[/,;:&|\n]|\s(?:or|and|oder|ou|o|y)\s", re.I)
_DIGIT = re.compile(r"\d")
_DIGITS_ONLY = re.compile(r"[\d\s().\-]+")
# What country cells say besides ISO 3166's codes and names (pycountry), by comparison_key.
_COUNTRY_ALIASES = {
    **dict.fromkeys(["uk", "greatbritain", "britain", "england", "scotland", "wales", "northernireland"], "GB"),
    **dict.fromkeys(["us", "usa", "america", "unitedstatesofamerica"], "US"),
    "el": "GR",  # the EU's code for Greece
    "holland": "NL",
    "ivorycoast": "CI",
    "russia": "RU",
    "southkorea": "KR",
    "northkorea": "KP",
    "czechrepublic": "CZ",
    "turkey": "TR",
}
_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBILITY_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
}


@dataclass(frozen=True, slots=True)
class Phone:
    """One normalized destination: a number (E.164 + optional extension) or a SIP URI, or a reason."""

    e164: str | None = None
    extension: str | None = None
    sip_uri: str | None = None
    reason: str | None = None  # set when the value cannot be called
    note: str | None = None  # set when the value was accepted after a repair worth telling

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def key(self) -> str:
        """What makes two rows the same destination (for duplicates)."""
        return self.sip_uri or f"{self.e164};{self.extension or ''}"


def region_for(country: str, default_region: str) -> str | None:
    """A row's region from its country cell: an ISO 3166 code (two or three letters, or the number)
    or name ("Canada", "United States of America"), or a usual other name ("UK", "Holland"); None
    when the cell names no region phonenumbers knows. Names are looked up exactly, never fuzzily."""
    text = country.strip()
    if not text:
        return default_region
    if text.upper() in phonenumbers.SUPPORTED_REGIONS:  # also the codes ISO lacks (AC, XK, TA)
        return text.upper()
    code = _COUNTRY_ALIASES.get(comparison_key(text))
    if code is None:
        try:
            code = pycountry.countries.lookup(text).alpha_2
        except LookupError:
            return None
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def normalize(raw: str, region: str) -> Phone:
    """Normalize one cell for `region` (the region assumed when the number has no +country)."""
    text = unicodedata.normalize("NFKC", raw).translate(_INVISIBLE).strip().lstrip("'").strip()
    if not text:
        return Phone(reason="empty")
    lowered = text.lower()
    if lowered.startswith(("sip:", "sips:")):
        if _SIP.match(text):
            return Phone(sip_uri=text)
        return Phone(reason="not a number: malformed SIP URI (expected sip:user@host)")
    extension = None
    if lowered.startswith("tel:"):
        text, extension = _split_tel_uri(text[4:])
    if extension is None:
        match = _EXTENSION.match(text)
        if match:
            text, extension = match["main"].strip(), match["ext"]
    if extension is not None and len(extension) > MAX_EXTENSION:
        return Phone(reason=f"too long: extension {extension} has more than {MAX_EXTENSION} digits")
    whole = text
    text, lost = _undo_excel(text)
    if lost:
        return Phone(reason=lost)
    phone = _parse(text, region, extension)
    # phonenumbers reads "2125550104; 2125550105" as a number and its extension (a dialler's pause):
    # an "extension" long enough to be a number of its own is a second number.
    suspicious = phone.reason is not None or len(phone.extension or "") >= 7
    if suspicious and _SEPARATED.search(whole) and len(_DIGIT.findall(whole)) >= 14:
        return _several(whole, region) or phone
    return phone


def _several(text: str, region: str) -> Phone | None:
    """The reason for a cell holding several valid numbers ("202 555 0174 / 202 555 0175"): which
    to call is the sheet owner's choice, so the row is not called, and the reason says why."""
    found = [
        phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    ]
    if len(found) < 2:
        return None
    return Phone(reason=f"{len(found)} numbers in one cell ({', '.join(found)}): put one number per row")


def numbers_in(cell: str, region: str, normalizer: Normalizer | None = None) -> list[str]:
    """Every E.164 number a hand-written cell holds: the cell whole if it is one number
    ("212-555-0100"), else each valid number in its text ("+1 212 555 0101 (asked twice)",
    "212 555 0102 / 212 555 0103"). For lists of people not to call, where missing one is worse
    than reading one too many."""
    if not cell.strip():
        return []
    phone = (normalizer or normalize)(cell, region)
    if phone.e164:
        return [phone.e164]
    if len(_DIGIT.findall(cell)) < 7:
        return []
    matches = phonenumbers.PhoneNumberMatcher(cell, region, leniency=phonenumbers.Leniency.VALID)
    return list(dict.fromkeys(phonenumbers.format_number(m.number, PhoneNumberFormat.E164) for m in matches))


_EXTENSION_PREFIX = re.compile(r"^(?:ext(?:ension)?\.?|x|#)\s*:?\s*", re.I)


def extension_cell(cell: str | None, header: str) -> tuple[str | None, str | None]:
    """An extension column's cell: (its digits, None); (None, the reason) when it is not one, or
    more digits than Vapi takes; (None, None) when empty. "x12", "ext. 12" and Excel's 12.0 are 12."""
    text = unicodedata.normalize("NFKC", cell or "").translate(_INVISIBLE).strip()
    if not text:
        return None, None
    digits = _EXTENSION_PREFIX.sub("", text)
    whole = _FLOAT.match(digits)
    digits = whole["digits"] if whole and not digits.startswith("+") else digits
    if not (digits.isascii() and digits.isdigit()):
        return None, f"not a number: extension {text!r} in column {header!r} is not digits"
    if len(digits) > MAX_EXTENSION:
        return None, f"too long: extension {digits} in column {header!r} has more than {MAX_EXTENSION} digits"
    return digits, None


def prefix_hint(cell: str | None) -> str | None:
    """The reason for a "too long" cell that starts with 00, an international dialling prefix
    ("001 212 555 0101"): which number it may mean, written as it should be. Never called as
    guessed: the sheet's owner writes the +."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", cell or ""))
    if not digits.startswith("00"):
        return None
    try:
        number = phonenumbers.parse("+" + digits[2:], None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    meant = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return f"too long: it starts with 00, an international dialling prefix; if it means {meant}, write it so"


def _split_tel_uri(text: str) -> tuple[str, str | None]:
    """RFC 3966: tel:+1-202-555-0123;ext=45;phone-context=… → ('+1-202-555-0123', '45')."""
    main, *params = text.split(";")
    extension = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "ext" and value.strip():
            extension = re.sub(r"\D", "", value)
    return main.strip(), extension


def _undo_excel(text: str) -> tuple[str, str | None]:
    """Undo Excel's number formatting when no digit was lost; else return the reason."""
    match = _FLOAT.match(text)
    if match:
        return ("+" if text.startswith("+") else "") + match["digits"], None
    match = _SCIENTIFIC.match(text)
    if not match:
        return text, None
    digits = match["int"] + (match["frac"] or "")
    exponent = int(match["exp"])
    try:
        value = Decimal(f"{match['int']}.{match['frac'] or '0'}E{exponent}")
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return text, "not a number"
    if len(digits) - 1 > exponent:
        return text, f"not a number: {text} has a fractional part"
    if len(digits) - 1 < exponent:
        return text, (
            f"lost digits: Excel stored {text} in scientific notation, which kept only "
            f"{len(digits)} digits; re-export the column formatted as text"
        )
    return ("+" if text.startswith("+") else "") + str(int(value)), None


def _parse(text: str, region: str, extension: str | None) -> Phone:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _international_without_plus(text, region, extension) or Phone(
            reason=_PARSE_REASONS.get(exc.error_type, "not a number")
        )
    extension = extension or number.extension or None
    if extension is not None and len(extension) > MAX_EXTENSION:
        return Phone(reason=f"too long: extension {extension} has more than {MAX_EXTENSION} digits")
    if phonenumbers.is_valid_number(number):
        return Phone(e164=phonenumbers.format_number(number, PhoneNumberFormat.E164), extension=extension)
    retry = _international_without_plus(text, region, extension)
    if retry:
        return retry
    possibility = phonenumbers.is_possible_number_with_reason(number)
    number_region = phonenumbers.region_code_for_number(number) or home_region(number.country_code, region)
    return Phone(reason=_POSSIBILITY_REASONS.get(possibility, f"invalid for region {number_region}"))


def home_region(country_code: int | None, region: str) -> str:
    """The region an invalid number is reported against when its digits point to no region: the
    sheet's own for its country code, else the code's main one (+44 7… is invalid for GB, not US)."""
    if country_code is None or phonenumbers.country_code_for_region(region) == country_code:
        return region
    return phonenumbers.region_code_for_country_code(country_code)


@cache
def length_fault(country_code: int, length: int) -> str | None:
    """'too short' or 'too long' when that is why a parsed national number of this length is not
    valid (parsing refuses fewer than 2 digits or more than 17; the rest is the region's lengths)."""
    if length < 2:
        return "too short"
    if length > 17:
        return "too long"
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int("1" * length))
    return _POSSIBILITY_REASONS.get(phonenumbers.is_possible_number_with_reason(number))


def _international_without_plus(text: str, region: str, extension: str | None) -> Phone | None:
    """'447400123456' with region US: accept as +44… only if that is valid, and say so. Only a cell
    of digits and separators is read so: in "call 202 555 0174 after 5" the digits are no number."""
    if text.lstrip().startswith("+") or not _DIGITS_ONLY.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if not 11 <= len(digits) <= 15:
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) == region:
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    note = f"read as international {e164}: not valid for region {region} and had no '+'"
    return Phone(e164=e164, extension=extension, note=note)


class Normalizer:
    """Normalizes many cells, each distinct (value, region) once: real sheets repeat themselves."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Phone] = {}

    def __call__(self, raw: str, region: str) -> Phone:
        key = (raw, region)
        phone = self._cache.get(key)
        if phone is None:
            phone = self._cache[key] = normalize(raw, region)
        return phone
