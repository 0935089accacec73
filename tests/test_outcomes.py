"""Outcomes after a run: `status` fills the sheet from GET /call/{id}, follow-up attempts go only to
the configured reasons and stop at max_attempts, and the workbook carries a summary and a chart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from runner.cli import main
from runner.results.people import PERSON_COLUMNS
from runner.results.write import RUN_TECHNICAL
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient

from .rows import row_results

FAST = SubmitOptions(requests_per_minute=10_000, reconcile_delay=0.05)
RETRY_ON = ["customer-did-not-answer", "customer-busy", "voicemail"]
RETRY: dict[str, Any] = {"on": RETRY_ON, "max_attempts": 2, "after": "0s"}


def write_input(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("phone\n" + "".join(f"+1202555{3000 + n:04d}\n" for n in range(count)))
    return path


def first_run(tmp_path: Path, campaign: Path, server: Sandbox, count: int, fmt: str | None = None) -> Path:
    outdir = tmp_path / "run"
    source = write_input(tmp_path, count)
    with (
        VapiClient("sandbox-key", server.url) as client,
        CampaignRun.open(source, campaign, outdir, fmt, server.url) as run,
    ):
        run.send(client, FAST)
    wait_until_ended(server)
    return outdir


def wait_until_ended(server: Sandbox, timeout: float = 10) -> None:
    """Until every call the sandbox holds has ended (a sleep of call_seconds is not enough on a
    loaded machine: the calls start when the sandbox gets to them)."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": "Bearer sandbox-key"}
    while time.monotonic() < deadline:
        calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers=headers).json()
        if all(call["status"] == "ended" for call in calls):
            return
        time.sleep(0.05)
    raise AssertionError("the sandbox's calls did not end")


def update(outdir: Path, server: Sandbox, retry: bool = False) -> Any:
    with VapiClient("sandbox-key", server.url) as client, CampaignRun.reopen(outdir) as run:
        outcome = run.status(client, retry)
        return outcome, row_results(run)


def calls_per_number(server: Sandbox) -> Counter[str]:
    answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    return Counter(call["customer"]["number"] for call in answer.json())


def test_outcomes_land_in_the_sheet(tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any) -> None:
    server = sandbox(dial_now=True, call_seconds=0.3, seed=3)
    outdir = first_run(tmp_path, make_campaign(batch_size=5), server, 12)
    outcome, rows = update(outdir, server)
    assert outcome.summary.by_status == {"ended": 12}
    assert all(r.ended_reason and r.ended_at and r.cost and r.attempts == "1" for r in rows)
    answered = [r for r in rows if r.ended_reason in ("customer-ended-call", "assistant-ended-call")]
    assert answered and all(r.started_at and r.duration_s and r.summary and r.success_evaluation for r in answered)
    assert outcome.summary.reached == len(answered) and outcome.summary.ended == 12
    book = openpyxl.load_workbook(outdir / "results.xlsx")
    sheet = book["Results"]
    header = [str(c.value) for c in sheet[1]]
    first = header.index("outcome")
    assert header[first:] == ["outcome", "outcome_detail", *PERSON_COLUMNS[:-1], *RUN_TECHNICAL]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:{get_column_letter(len(header))}13"
    assert sheet["A1"].font.bold
    assert sheet.page_setup.orientation == "landscape" and sheet.print_title_rows == "$1:$1"
    records: list[dict[str, Any]] = [
        dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    assert {record["outcome"] for record in records} <= {"Reached", "Left voicemail", "No answer", "Busy"}
    assert all(isinstance(record["total_cost"], float) and record["attempts"] == 1 for record in records)
    assert all(isinstance(record["row"], int) and isinstance(record["called_at"], datetime) for record in records)
    reached = [record for record in records if record["outcome"] == "Reached"]
    assert len(reached) == len(answered) and all(isinstance(r["duration_s"], int) for r in reached)
    assert all(isinstance(r["success_evaluation"], bool) and r["recording_url"] for r in reached)
    summary_sheet = book["Summary"]
    assert isinstance(summary_sheet, Worksheet)
    assert len(summary_sheet._charts) == 1  # type: ignore[attr-defined]  # the stubs miss charts
    summary = [row[:2] for row in summary_sheet.iter_rows(values_only=True)]
    assert ("reach rate", round(len(answered) / 12, 4)) in summary
    assert ("Reached", len(answered)) in summary and ("people called", 12) in summary
    total = next(value for name, value in summary if name == "total cost")
    assert total == pytest.approx(sum(record["total_cost"] for record in records))
    calls = list(book["Attempts"].iter_rows(values_only=True))
    assert calls[0][:4] == ("row", "e164", "attempt", "outcome") and len(calls) == 13
    assert ("ended", 12) in summary


@pytest.mark.slow
def test_follow_ups_only_for_configured_reasons_and_never_past_max_attempts(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.3, seed=5)
    outdir = first_run(tmp_path, make_campaign(batch_size=4, retry=RETRY), server, 16)
    _, first = update(outdir, server)
    again = {r.row for r in first if r.ended_reason in RETRY["on"]}
    assert again and len(again) < 16
    outcome, second = update(outdir, server, retry=True)
    assert outcome.report.attempted >= 1
    assert {r.row for r in second if r.attempts == "2"} == again
    assert {r.row for r in second if r.attempts == "1"} == {r.row for r in first} - again
    wait_until_ended(server)
    _, third = update(outdir, server, retry=True)  # the second attempts have ended: no third
    assert max(int(r.attempts) for r in third) == 2
    counts = calls_per_number(server)
    assert sorted(counts.values()) == sorted([2] * len(again) + [1] * (16 - len(again)))


def test_run_again_places_due_follow_ups(tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any) -> None:
    server = sandbox(dial_now=True, call_seconds=0.3, seed=5)
    campaign = make_campaign(batch_size=4, retry={**RETRY, "max_attempts": 3})
    # A call's ending is drawn from its (random) id: 20 calls all answered is a 1-in-27,000 chance
    # (8, as before, 1 in 60: the test failed now and then).
    outdir = first_run(tmp_path, campaign, server, 20)
    with (
        VapiClient("sandbox-key", server.url) as client,
        CampaignRun.open(tmp_path / "leads.csv", campaign, outdir, api=server.url) as run,
    ):
        run.send(client, FAST)
        attempts = Counter(r.attempts for r in row_results(run))
    assert attempts["2"] >= 1
    assert sum(calls_per_number(server).values()) == 20 + attempts["2"]


def test_csv_results_get_summary_json(tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any) -> None:
    server = sandbox(dial_now=True, call_seconds=0.2)
    outdir = first_run(tmp_path, make_campaign(), server, 3, fmt="csv")
    update(outdir, server)
    summary = json.loads((outdir / "summary.json").read_text())
    assert summary["by_status"] == {"ended": 3} and summary["ended"] == 3
    assert pd.read_csv(outdir / "results.csv", dtype=str)["status"].tolist() == ["ended"] * 3


def test_status_cli_prints_an_aligned_table(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.2, seed=1)
    outdir = first_run(tmp_path, make_campaign(), server, 4)
    monkeypatch.setenv("VAPI_API_KEY", "sandbox-key")
    result = CliRunner().invoke(main, ["status", str(outdir), "--base-url", server.url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["status", "rows"] and lines[1].split() == ["ended", "4"]
    assert len({line.index("rows") for line in lines if "rows" in line}) == 1  # columns line up
    assert "ended calls" in result.output


@pytest.mark.slow
def test_a_status_refresh_killed_midway_gives_the_same_sheet(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.2, seed=8)
    outdir = first_run(tmp_path, make_campaign(batch_size=10), server, 40)
    clean = tmp_path / "clean"
    shutil.copytree(outdir, clean)
    server.config.__dict__["latency_ms"] = 60.0  # slow the GETs down so the kill lands midway
    env = {**os.environ, "VAPI_API_KEY": "sandbox-key"}
    command = [sys.executable, "-m", "runner.cli", "status", str(outdir), "--base-url", server.url, "-q"]
    killed = subprocess.Popen(command, env=env)
    time.sleep(1.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    server.config.__dict__["latency_ms"] = 0.0
    for folder in (outdir, clean):
        assert subprocess.run([*command[:4], str(folder), *command[5:]], env=env).returncode == 0
    resumed = pd.read_excel(outdir / "results.xlsx", dtype=str, engine="calamine")
    fresh = pd.read_excel(clean / "results.xlsx", dtype=str, engine="calamine")
    pd.testing.assert_frame_equal(resumed, fresh)
    assert set(resumed["status"]) == {"ended"}


@pytest.mark.slow
def test_status_watch_repeats_until_every_call_has_ended(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.6, seed=2)
    source = write_input(tmp_path, 3)
    campaign, outdir = make_campaign(), tmp_path / "run"
    with (
        VapiClient("sandbox-key", server.url) as client,
        CampaignRun.open(source, campaign, outdir, api=server.url) as run,
    ):
        run.send(client, FAST)
        rounds = [outcome.summary.by_status for outcome in run.watch(client, interval=0.1)]
    assert len(rounds) > 1
    assert "ended" not in rounds[0] or rounds[0]["ended"] < 3
    assert rounds[-1] == {"ended": 3}
