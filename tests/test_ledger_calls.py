"""What a run keeps of each call it fetched: the fields the sheet shows, one row per spreadsheet
row, and the calls an earlier version kept whole."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runner.sending.call_fields import CALL_COLUMNS, STORED_FIELDS, call_fields
from runner.sending.ledger import Ledger

ENDED = {"id": "c1", "status": "ended", "endedReason": "customer-ended-call", "customer": {"number": "+12025550100"}}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"startedAt": "2030-12-02T15:00:00.000Z", "endedAt": "2030-12-02T15:01:12.400Z", "cost": 0.0512,
             "analysis": {"summary": "Booked.", "successEvaluation": "true"}},
            {"started_at": "2030-12-02T15:00:00.000Z", "ended_at": "2030-12-02T15:01:12.400Z", "duration_s": "72",
             "cost": "0.0512", "summary": "Booked.", "success_evaluation": "true"},
        ),
        (  # verdicts that are not text: shown as str() of the value, false and 0 as nothing
            {"cost": 3, "analysis": {"summary": 0, "successEvaluation": True}},
            {"cost": "3", "summary": "", "success_evaluation": "True"},
        ),
        ({"analysis": {"summary": ["a"], "successEvaluation": 8.5}}, {"summary": "", "success_evaluation": "8.5"}),
        (  # ends that cannot be measured, a cost that is not a number, an analysis that is not an object
            {"startedAt": "soon", "endedAt": "2030-12-02T15:01:12Z", "cost": "free", "analysis": "n/a"},
            {"started_at": "soon", "ended_at": "2030-12-02T15:01:12Z", "duration_s": "", "cost": ""},
        ),
        ({"startedAt": "2030-12-02T15:00:00Z", "endedAt": None, "cost": False}, {"started_at": "2030-12-02T15:00:00Z"}),
    ],
)  # fmt: skip
def test_the_fields_kept_of_odd_calls(extra: dict[str, Any], expected: dict[str, str]) -> None:
    fields = dict(zip(STORED_FIELDS, call_fields({**ENDED, **extra}), strict=True))
    blank = dict.fromkeys(CALL_COLUMNS, "")
    assert fields == {**blank, "status": "ended", "ended_reason": "customer-ended-call", **expected,
                      "call_id": "c1", "number": "+12025550100", "structured_data": None}  # fmt: skip


def test_a_row_keeps_its_latest_call_and_the_opt_out_flag(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    opted = {**ENDED, "id": "c2", "analysis": {"structuredData": {"optOut": True}}}
    ledger.store_calls([(2, call_fields(ENDED)), (3, call_fields({**ENDED, "id": "c3", "status": "queued"}))])
    ledger.store_calls([(2, call_fields(opted))])  # the row's follow-up call replaces the first
    assert sorted(ledger.calls_frame().select("call_id", "status").iter_rows()) == [("c2", "ended"), ("c3", "queued")]
    assert ledger.calls_with_flag('$."optOut"', "ended") == [("c2", "+12025550100", "")]
    ledger.close()


def test_a_ledger_of_an_earlier_version_keeps_its_calls(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:  # as versions before the kept fields wrote it: each call's JSON, by id
        db.execute("CREATE TABLE calls (call_id TEXT PRIMARY KEY, row INTEGER NOT NULL, data TEXT NOT NULL, "
                   "fetched_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT '')")  # fmt: skip
        first = {**ENDED, "id": "a1", "endedReason": "voicemail"}
        again = {**ENDED, "id": "a2", "analysis": {"summary": "Booked.", "structuredData": {"optOut": True}}}
        db.executemany(
            "INSERT INTO calls (call_id, row, data, fetched_at) VALUES (?, ?, ?, ?)",
            [("a2", 2, json.dumps(again), "2030-12-03T09:00:00+00:00"),
             ("a1", 2, json.dumps(first), "2030-12-02T09:00:00+00:00"),
             ("b1", 3, json.dumps({**ENDED, "id": "b1"}), "2030-12-02T09:00:00+00:00")],
        )  # fmt: skip
    ledger = Ledger(path)
    calls = {row[0]: row for row in ledger.calls_frame().select("call_id", "ended_reason", "summary").iter_rows()}
    assert calls == {"a2": ("a2", "customer-ended-call", "Booked."), "b1": ("b1", "customer-ended-call", "")}
    assert [call_id for call_id, *_ in ledger.calls_with_flag('$."optOut"', "ended")] == ["a2"]
    ledger.close()
    assert Ledger(path).calls_frame().height == 2  # migrated once
