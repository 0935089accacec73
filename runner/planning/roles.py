"""Which column plays which role (the number, the name, consent, the opt-out, …): the campaign's
[columns] first, then the usual spellings. Consent and opt-out are campaign knowledge, not reading:
a negated header ("Do not call") is an opt-out and never consent, consent for another channel is
not consent to a call, and between several candidates the tool refuses rather than guess."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from runner.campaign import ROLES, Columns
from runner.errors import InputError
from runner.sheets.read import NUMBER_SPELLINGS, Sheet
from runner.text import NO, YES, closest_header, comparison_key, shown_headers

# Header spellings per role, compared by comparison_key (letters and digits). Order matters:
# earlier spellings win when a sheet has several candidates.
ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "number": NUMBER_SPELLINGS,
    "name": ("name", "fullname", "customername", "contactname", "firstname"),
    "email": ("email", "emailaddress", "mail"),
    "extension": ("extension", "ext"),
    "country": ("country", "countrycode", "region"),
    "assistant_id": ("assistantid", "assistant"),
    "phone_number_id": ("phonenumberid", "fromnumberid", "callerid"),
    "timezone": ("timezone", "tz", "iana timezone"),
    "state": ("state", "addressstate", "usstate", "statecode", "stateprovince"),
    # Consent is matched as a part of a header ("TCPA consent", "Opted-in"), and never guessed.
    "consent": ("consent", "optin", "optedin"),
}
# A header with one of these (after comparison_key) holds when, not whether.
DATE_WORDS = ("date", "time", "when", "timestamp", "day")
# A header with one of these (after comparison_key) says the opposite of consent: never consent,
# but the opt-out column.
NEGATIONS = ("withdraw", "revoke", "optout", "optedout", "donotcall", "dontcall", "dnc", "unsub",
             "noconsent", "declin", "refus", "nocall", "denied", "donotcontact", "dontcontact", "nocontact",
             "stop", "remove", "suppress", "block", "exclude", "blacklist", "denylist")  # fmt: skip
# Consent for another channel says nothing about phone calls.
OTHER_CHANNELS = ("email", "mail", "sms", "text", "whatsapp", "newsletter", "post")
PHONE_WORDS = ("phone", "call", "voice", "tcpa", "tel", "mobile", "cell")


def with_roles(sheet: Sheet, columns: Columns) -> Sheet:
    """The sheet with its roles found (detect_roles; what was guessed goes to its warnings), once a
    yes/no column that reads as an opt-out but is none has been refused."""
    roles = detect_roles(sheet.table.column_names, columns, sheet.path, sheet.warnings)
    _refuse_unread_opt_outs(sheet.table, roles, sheet.path)
    return replace(sheet, roles=roles)


def find_header(headers: Sequence[str], wanted: str) -> str | None:
    """The header a campaign file means: exact, else equal by comparison_key."""
    if wanted in headers:
        return wanted
    key = comparison_key(wanted)
    return next((h for h in headers if comparison_key(h) == key), None)


def detect_roles(
    headers: Sequence[str], columns: Columns, path: Path, warnings: list[str] | None = None
) -> dict[str, str]:
    """Map each role to a header: the campaign's [columns] first, then the usual spellings. Consent
    and opt-out are never guessed between several columns: that is an error naming them."""
    warnings = warnings if warnings is not None else []
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(comparison_key(header), header)
    roles: dict[str, str] = {}
    for role in ROLES:
        configured = getattr(columns, role)
        if configured is not None:
            found = find_header(headers, configured)
            if found is None:
                raise InputError(
                    f"{path}: column {configured!r} (from [columns] {role}) is not in the file"
                    f"{closest_header(configured, headers)}; its headers are: {shown_headers(headers)}"
                )
            taken = next((other for other, header in roles.items() if header == found), None)
            if taken is not None:
                raise InputError(
                    f"{path}: column {found!r} cannot be both the {taken} and the {role} column; set [columns] "
                    f"{role} to the column that holds it"
                )
            roles[role] = found
            continue
        if role in ("consent", "opt_out"):
            found = _permission_column(role, [h for h in headers if h not in roles.values()], path, warnings)
            if found is not None:
                roles[role] = found
            continue
        for spelling in ROLE_SYNONYMS[role]:
            candidate = by_key.get(comparison_key(spelling))
            if candidate is not None and candidate not in roles.values():
                roles[role] = candidate
                break
    if "number" not in roles:
        raise InputError(
            f"{path}: no phone number column; its headers are: {shown_headers(headers)}. "
            "Name the column 'number' or 'phone', or set [columns] number = \"<header>\""
        )
    return roles


def _refuse_unread_opt_outs(table: pa.Table, roles: dict[str, str], path: Path) -> None:
    """A yes/no column whose header says not to contact ("Remove", "Do not contact") that is not
    the opt-out column would become a template variable, and its yes be called: refused, naming
    the fix."""
    for header in table.column_names:
        if header in roles.values() or not any(word in comparison_key(header) for word in NEGATIONS):
            continue
        values = {str(v).strip().casefold() for v in pc.unique(table.column(header)).to_pylist() if v}
        values.discard("")
        if values and values <= YES | NO and values & YES:
            chosen = f"the opt-out column is {roles['opt_out']!r}" if "opt_out" in roles else "no column is"
            raise InputError(
                f"{path}: column {header!r} reads as an opt-out (its header says not to contact, its cells are "
                f"yes/no) but {chosen}: its yes rows would be called. Say which column holds the opt-outs: "
                f'[columns] opt_out = "{header}" (merge the two first if both do), or rename {header!r} if it '
                "means something else"
            )


def _permission_column(role: str, headers: list[str], path: Path, warnings: list[str]) -> str | None:
    """The one consent (or opt-out) column. A negated header ("Consent withdrawn", "Do not call") is
    an opt-out, never consent; consent for another channel ("Email consent") is ignored with a
    warning; several candidates are an error, since picking one could call the wrong people."""
    negated = [h for h in headers if any(word in comparison_key(h) for word in NEGATIONS)]
    if role == "opt_out":
        candidates = negated
    else:
        candidates = [
            h
            for h in headers
            if h not in negated and any(word in comparison_key(h) for word in ROLE_SYNONYMS["consent"])
        ]
        other = [
            h
            for h in candidates
            if any(w in comparison_key(h) for w in OTHER_CHANNELS)
            and not any(w in comparison_key(h) for w in PHONE_WORDS)
        ]
        if other:
            warnings.append(
                f"{path}: {', '.join(map(repr, other))} is consent for another channel, not for phone calls: "
                'not used as consent (set [columns] consent = "…" if it is)'
            )
        candidates = [h for h in candidates if h not in other]
    if len(candidates) > 1:
        kind = "consent" if role == "consent" else "opt-out"
        raise InputError(
            f"{path}: several columns could be the {kind} column: {', '.join(map(repr, candidates))}; "
            f'say which in the campaign file: [columns] {role} = "{_likeliest(candidates, role)}" '
            "(the column of yes/no answers, not a date)"
        )
    return candidates[0] if candidates else None


def _likeliest(candidates: list[str], role: str) -> str:
    """The header a person most likely means: one that names the role and the phone, not a date
    ("Consent to Call" over "Opt-in Date": pasting a date column as consent suppresses every row)."""

    def score(header: str) -> int:
        key = comparison_key(header)
        says = int(role in key) + int(any(word in key for word in PHONE_WORDS))
        return says - 2 * int(any(word in key for word in DATE_WORDS))

    return max(candidates, key=score)  # the first of the best: the sheet's order breaks ties
