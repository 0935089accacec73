"""How what a person typed is compared: headers, country and time zone cells."""

from __future__ import annotations

import unicodedata


def comparison_key(text: str) -> str:
    """Only letters and digits count, without case or accents: "Mobile #", "Téléfono", "U.S.A." and
    "E.S.T." compare as "mobile", "telefono", "usa" and "est"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if ch.isalnum())
