"""A run killed with SIGKILL at random moments and resumed ends with every row called exactly once,
and the API key appears in no output and no file of the run folder."""

from __future__ import annotations

import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

KEY = "sk-live-DO-NOT-LEAK-0123456789"


def cli(*args: str | Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli", *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def age_intents(ledger: Path, by: timedelta) -> None:
    """Move every request's intent back in time, as if the run had stopped that long ago."""
    with sqlite3.connect(ledger) as db:
        for request_id, intent in db.execute(
            "SELECT id, intent_at FROM requests WHERE intent_at IS NOT NULL"
        ).fetchall():
            earlier = (datetime.fromisoformat(intent) - by).isoformat()
            db.execute("UPDATE requests SET intent_at = ? WHERE id = ?", (earlier, request_id))


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_calls_each_row_once(tmp_path: Path, sandbox: Any) -> None:
    server = sandbox(api_key=KEY, latency_ms=150, seed=9)
    rows = [f"+1202555{2000 + n:04d}" for n in range(120)]
    source = tmp_path / "leads.csv"
    source.write_text("phone,slot\n" + "".join(f"{n},{i % 3}\n" for i, n in enumerate(rows)))
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        'name = "Crash drill"\nassistant_id = "asst_1"\nphone_number_id = "pn_1"\n'
        "batch_size = 2\nconcurrency = 2\nrequests_per_minute = 6000\n"
        '[schedule]\ncalling_hours = "any"\n[compliance]\nrequire_consent = false\n'
    )
    env = {**os.environ, "VAPI_API_KEY": KEY}
    args = ("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", server.url, "--yes")
    rng = random.Random(20261124)
    output = b""
    kills = 0
    for _ in range(8):
        before = len(server.store)
        process = cli(*args, env=env)
        # The kill lands at a random moment once this process sends (its start-up time is no part of the drill).
        deadline = time.monotonic() + 20
        while len(server.store) == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        out, err = process.communicate()
        output += out + err
        if process.returncode in (0, 1):
            break
    assert kills >= 2
    age_intents(tmp_path / "run" / "ledger.sqlite", timedelta(minutes=11))  # the operator waited RESEND_AFTER
    final = cli(*args, "--resend-unknown", env=env)
    out, err = final.communicate(timeout=120)
    output += out + err
    assert final.returncode == 0, (out + err).decode()
    calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {KEY}"}).json()
    assert Counter(call["customer"]["number"] for call in calls) == Counter(rows)
    assert KEY.encode() not in output
    with sqlite3.connect(tmp_path / "run" / "ledger.sqlite") as db:
        in_doubt = db.execute("SELECT COUNT(*) FROM requests WHERE error LIKE 'the previous run stopped%'").fetchone()[
            0
        ]
    assert in_doubt >= 1, "no kill landed between a request's intent and its recorded answer"
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_ctrl_c_records_in_flight_requests_and_the_run_resumes(tmp_path: Path, sandbox: Any) -> None:
    server = sandbox(api_key=KEY, latency_ms=200)
    rows = [f"+1202555{4000 + n:04d}" for n in range(40)]
    source = tmp_path / "leads.csv"
    source.write_text("phone\n" + "".join(f"{n}\n" for n in rows))
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        'name = "Interrupt"\nassistant_id = "asst_1"\nphone_number_id = "pn_1"\nbatch_size = 1\nconcurrency = 2\n'
        'requests_per_minute = 6000\n[schedule]\ncalling_hours = "any"\n[compliance]\nrequire_consent = false\n'
    )
    env = {**os.environ, "VAPI_API_KEY": KEY}
    args = ("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", server.url, "--yes")
    process = cli(*args, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {KEY}"})
        if answer.json():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    with sqlite3.connect(tmp_path / "run" / "ledger.sqlite") as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall())
    assert "sending" not in states  # in-flight requests finished and were recorded
    assert 0 < states.get("sent", 0) < 40
    resumed = cli(*args, env=env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, (out + err).decode()
    calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {KEY}"}).json()
    assert Counter(call["customer"]["number"] for call in calls) == Counter(rows)


@pytest.mark.slow
def test_a_run_killed_mid_send_gets_its_whole_sheet_from_status(tmp_path: Path, sandbox: Any) -> None:
    """`run` writes the results sheet when sending ends (finished, interrupted or failed); a process
    killed before that leaves no sheet that calls a called person `planned` (the sheet written before
    the first POST did), and `status` writes every row from the ledger: the rows the killed run sent
    with their call ids, the others still planned, none twice and none missing."""
    server = sandbox(api_key=KEY, latency_ms=150)
    rows = [f"+1202555{6000 + n:04d}" for n in range(60)]
    source = tmp_path / "leads.csv"
    source.write_text("phone\n" + "".join(f"{n}\n" for n in rows))
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        'name = "Killed"\nassistant_id = "asst_1"\nphone_number_id = "pn_1"\nbatch_size = 2\nconcurrency = 1\n'
        'requests_per_minute = 6000\n[schedule]\ncalling_hours = "any"\n[compliance]\nrequire_consent = false\n'
    )
    env = {**os.environ, "VAPI_API_KEY": KEY}
    folder = tmp_path / "run"
    process = cli("run", source, "-c", campaign, "-o", folder, "--base-url", server.url, "--yes", "--format", "csv",
                  env=env)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(server.store) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert not (folder / "results.csv").exists()
    status = subprocess.run(
        [sys.executable, "-m", "runner.cli", "status", str(folder), "--base-url", server.url, "-q"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.returncode in (0, 1), status.stderr
    with (folder / "results.csv").open(newline="", encoding="utf-8") as handle:
        results = list(csv.DictReader(handle))
    assert [row["e164"] for row in results] == rows, results[0]
    calls = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {KEY}"}).json()
    called = {call["customer"]["number"]: call["id"] for call in calls}
    assert 4 <= len(called) < len(rows)
    for row in results:
        if row["e164"] in called:
            assert row["call_id"] == called[row["e164"]], row
        else:
            assert (row["status"], row["call_id"]) in (("planned", ""), ("unknown", "")), row
