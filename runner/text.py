"""How what a person typed is compared: headers, country and time zone cells."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

# How a yes/no cell says yes (consent given; opted out) and no, casefolded.
YES_SHOWN = ("yes", "y", "true", "1", "x")
YES = frozenset(YES_SHOWN)
NO = frozenset({"no", "n", "false", "0"})

# A cell shaped like an environment file's line (`VAPI_API_KEY=sk-…`): its value is never quoted.
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]")


def comparison_key(text: str) -> str:
    """Only letters and digits count, without case or accents: "Mobile #", "Téléfono", "U.S.A." and
    "E.S.T." compare as "mobile", "telefono", "usa" and "est"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if ch.isalnum())


def closest(wanted: str, known: Iterable[str], key: Callable[[str], str] = str) -> str | None:
    """The one of `known` closest to `wanted` as people misspell it, compared by `key` (None:
    none is close): for a "did you mean"."""
    keys = {key(name): name for name in reversed(list(known))}
    close = difflib.get_close_matches(key(wanted), list(keys), n=1, cutoff=0.6)
    return keys[close[0]] if close else None


def closest_header(wanted: str, headers: Sequence[str]) -> str:
    """ " (did you mean 'X'?)" for the header closest to `wanted` (case, spaces and punctuation
    aside); "" when none is close."""
    found = closest(wanted, headers, comparison_key)
    return f" (did you mean {shown_cell(found)!r}?)" if found is not None else ""


def shown_headers(headers: Sequence[str], limit: int = 12, width: int = 40) -> str:
    """A file's headers as an error message may quote them: the first `limit`, each cut to `width`
    characters, control characters dropped, and a header shaped like `NAME=value` shown as
    `NAME=…` (a dropped .env or config file must not have its secrets copied into logs)."""
    shown = [shown_cell(header, width) for header in headers[:limit]]
    more = f" and {len(headers) - limit} more" if len(headers) > limit else ""
    return ", ".join(shown) + more


def shown_cell(text: str, width: int = 40) -> str:
    """A cell as a message may quote it: control characters dropped, cut to `width`, and one
    shaped like `NAME=value` as `NAME=…`."""
    assignment = _ASSIGNMENT.match(text)
    shown = f"{assignment.group(1)}=…" if assignment else "".join(ch for ch in text if ch.isprintable())
    return shown if len(shown) <= width else shown[: width - 1] + "…"
