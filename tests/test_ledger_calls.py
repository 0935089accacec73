"""What a run keeps of each call it fetched: every call of every spreadsheet row (each attempt), in
calls.parquet beside the ledger, and the calls that earlier versions kept in the ledger itself."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from runner.store.call_store import CALLS_FILE
from runner.store.ledger import Ledger, RowOutcome
from runner.vapi.call_fields import page_calls

ENDED = {"id": "c1", "status": "ended", "endedReason": "customer-ended-call", "customer": {"number": "+12025550100"}}


def _stored(rows_and_calls: list[tuple[int, dict[str, Any]]]) -> pl.DataFrame:
    calls = page_calls(orjson.dumps([call for _, call in rows_and_calls]), "optOut")
    return calls.with_columns(row=pl.Series([row for row, _ in rows_and_calls], dtype=pl.Int64))


def test_a_row_keeps_every_attempts_call_and_the_opt_out_flag(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    opted = {**ENDED, "id": "c2", "analysis": {"structuredData": {"optOut": True}}}
    ledger.store_calls(_stored([(2, ENDED), (3, {**ENDED, "id": "c3", "status": "queued"})]))
    ledger.store_calls(_stored([(2, opted), (3, {**ENDED, "id": "c3"})]))  # a follow-up's call; c3 fetched again
    assert sorted(ledger.calls_frame().select("call_id", "status").iter_rows()) == [
        ("c1", "ended"), ("c2", "ended"), ("c3", "ended")]  # fmt: skip
    assert ledger.opted_out_calls() == [("c2", "+12025550100", "")]
    ledger.close()
    again = Ledger(tmp_path / "ledger.sqlite")  # kept on disk
    assert sorted(again.calls_frame().get_column("call_id")) == ["c1", "c2", "c3"]
    again.close()


def _old_ledger(path: Path, create: str, rows: list[tuple[Any, ...]], field: str = "optOut") -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('campaign', ?)", (json.dumps({"compliance": {"opt_out_field": field}}),))
        db.execute(create)
        marks = ", ".join("?" * len(rows[0]))
        db.executemany(f"INSERT INTO calls VALUES ({marks})", rows)


def test_a_ledger_that_kept_each_calls_json_keeps_its_calls(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first = {**ENDED, "id": "a1", "endedReason": "voicemail"}
    again = {**ENDED, "id": "a2", "analysis": {"summary": "Booked.", "structuredData": {"optOut": True}}}
    _old_ledger(path, "CREATE TABLE calls (call_id TEXT PRIMARY KEY, row INTEGER NOT NULL, data TEXT NOT NULL, "
                      "fetched_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT '')",
                [("a2", 2, json.dumps(again), "2030-12-03T09:00:00+00:00", ""),
                 ("a1", 2, json.dumps(first), "2030-12-02T09:00:00+00:00", ""),
                 ("b1", 3, json.dumps({**ENDED, "id": "b1"}), "2030-12-02T09:00:00+00:00", "")])  # fmt: skip
    ledger = Ledger(path)
    calls = {row[0]: row for row in ledger.calls_frame().select("call_id", "ended_reason", "summary").iter_rows()}
    assert calls == {"a1": ("a1", "voicemail", ""), "a2": ("a2", "customer-ended-call", "Booked."),
                     "b1": ("b1", "customer-ended-call", "")}  # fmt: skip
    assert [call_id for call_id, *_ in ledger.opted_out_calls()] == ["a2"]
    ledger.close()
    assert Ledger(path).calls_frame().height == 3  # migrated once
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'calls'").fetchall() == []


def test_a_ledger_that_kept_each_calls_fields_keeps_its_calls(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    columns = ("row INTEGER PRIMARY KEY, fetched_at TEXT, call_id TEXT, status TEXT, ended_reason TEXT, "
               "started_at TEXT, ended_at TEXT, duration_s TEXT, cost TEXT, summary TEXT, success_evaluation TEXT, "
               "number TEXT, structured_data TEXT")  # fmt: skip
    _old_ledger(path, f"CREATE TABLE calls ({columns})",
                [(2, "", "a2", "ended", "customer-ended-call", "", "", "", "0.05", "Booked.", "true", "+12025550100",
                  '{"doNotCall": true}'),
                 (3, "", "b1", "ended", "voicemail", "", "", "", "", "", "", "+12025550101", None)],
                field="doNotCall")  # fmt: skip
    ledger = Ledger(path)
    assert (tmp_path / CALLS_FILE).exists()
    assert sorted(ledger.calls_frame().select("call_id", "cost", "summary").iter_rows()) == [
        ("a2", "0.05", "Booked."), ("b1", "", "")]  # fmt: skip
    assert ledger.opted_out_calls() == [("a2", "+12025550100", "")]
    ledger.close()


def test_an_outcome_shows_only_its_own_call(tmp_path: Path) -> None:
    """A row's stored call is shown with its outcome only when it is the call the outcome names: a
    follow-up's new call is blank until fetched, never shown with the first attempt's."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.record_sent("req", [RowOutcome(2, "queued", "", "c2-new"), RowOutcome(3, "queued", "", "c3"),
                               RowOutcome(4, "failed", "refused by Vapi: bad number")])  # fmt: skip
    ledger.store_calls(
        _stored([(2, {**ENDED, "id": "c2-old"}), (3, {**ENDED, "id": "c3"}), (4, {**ENDED, "id": "c4"})])
    )
    frame = ledger.outcome_calls_frame().sort("row")
    assert frame.select("row", "status", "call_id", "c_status", "ended_reason").rows() == [
        (2, "queued", "c2-new", None, None),
        (3, "queued", "c3", "ended", "customer-ended-call"),
        (4, "failed", "", None, None),
    ]
    ledger.close()
