"""Set aside rows that must not be called: repeats of an earlier row's destination."""

from __future__ import annotations

from runner.customers import DUPLICATE, PLANNED, Row


def mark_duplicates(rows: list[Row]) -> None:
    """A destination (E.164 + extension, or SIP URI) is called once: later rows become duplicates."""
    first: dict[str, int] = {}
    for row in rows:
        if row.status != PLANNED:
            continue
        seen = first.setdefault(row.phone.key, row.number)
        if seen != row.number:
            row.status, row.reason = DUPLICATE, f"same number as row {seen}"
