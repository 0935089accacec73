"""The drop-folder inbox: settled files only, quarantine with reasons, idempotent by content, safe
when two runs overlap or one is killed (calls counted from the sandbox)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openpyxl
import pytest
from openpyxl import Workbook

from runner.inbox import Inbox
from runner.sandbox import Sandbox
from runner.vapi.client import VapiClient

CAMPAIGN = """name = "Inbox test"
assistant_id = "asst_1"
phone_number_id = "pn_1"
batch_size = 2
concurrency = 2
requests_per_minute = 10000
[schedule]
calling_hours = "any"
[compliance]
require_consent = false
"""


def numbers(first: int, count: int) -> list[str]:
    return [f"+1202555{first + n:04d}" for n in range(count)]


def sheet(first: int, count: int) -> str:
    return "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(numbers(first, count)))


@pytest.fixture
def campaigns(tmp_path: Path) -> Path:
    folder = tmp_path / "campaigns" / "nightly"
    (folder / "inbox").mkdir(parents=True)
    (folder / "campaign.toml").write_text(CAMPAIGN)
    return tmp_path / "campaigns"


def drop(campaigns: Path, name: str, text: str, age: float = 60.0) -> Path:
    path = campaigns / "nightly" / "inbox" / name
    path.write_text(text)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def calls(server: Sandbox) -> Counter[str]:
    answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    return Counter(call["customer"]["number"] for call in answer.json())


def process(campaigns: Path, server: Sandbox, settle: float = 5.0) -> list[Any]:
    with VapiClient("sandbox-key", server.url) as client:
        return Inbox(campaigns, client, settle_seconds=settle).run_once()


def test_settled_spreadsheets_only(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    drop(campaigns, "leads.csv", sheet(100, 3))
    drop(campaigns, "fresh.csv", sheet(200, 2), age=0)  # still being copied
    for name in ("~$leads.xlsx", ".hidden.csv", "big.csv.part", "export.xlsx.crdownload", "notes.pdf", "x.tmp"):
        drop(campaigns, name, sheet(300, 1))
    [outcome] = process(campaigns, server)
    assert (outcome.file, outcome.state, outcome.counts) == ("leads.csv", "done", {"queued": 3})
    folder = campaigns / "nightly"
    assert sorted(p.name for p in (folder / "inbox").iterdir()) == sorted(
        ["fresh.csv", "~$leads.xlsx", ".hidden.csv", "big.csv.part", "export.xlsx.crdownload", "notes.pdf", "x.tmp",
         "notes.pdf.note.txt"]  # the one file the inbox will never take is said so, beside it
    )  # fmt: skip
    assert "not a spreadsheet (.pdf)" in (folder / "inbox" / "notes.pdf.note.txt").read_text()
    assert [p.name for p in (folder / "done").iterdir()] == ["leads.csv"]
    assert [p.name for p in (folder / "results").iterdir()] == ["leads.xlsx"]
    assert calls(server) == Counter(numbers(100, 3))
    log = [json.loads(line) for line in (folder / "inbox.log").read_text().splitlines()]
    assert [(e["file"], e["state"], e["counts"]) for e in log] == [("leads.csv", "done", {"queued": 3})]


def test_bad_file_is_quarantined_and_the_others_still_run(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    drop(campaigns, "a-bad.csv", "name,email\nAnn,ann@example.com\n")
    drop(campaigns, "b-good.csv", sheet(400, 2))
    outcomes = process(campaigns, server)
    assert [(o.file, o.state) for o in outcomes] == [("a-bad.csv", "failed"), ("b-good.csv", "done")]
    failed = campaigns / "nightly" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["a-bad.csv", "a-bad.csv.error.txt"]
    assert "no phone number column; its headers are: name, email" in (failed / "a-bad.csv.error.txt").read_text()
    assert calls(server) == Counter(numbers(400, 2))


def test_what_the_plan_chose_is_said_and_logged(campaigns: Path, sandbox: Any) -> None:
    """A drop folder's user sees only the inbox's output and log: the sheet it read, the rows
    it skipped and the column it took for each role are in both."""
    server = sandbox()
    book = Workbook(write_only=True)
    book.create_sheet("Notes").append(["Exported from the CRM"])
    leads = book.create_sheet("Leads")
    for record in (["Report of December"], ["Mobile #", "Full Name"], ["+12025550701", "Ann"]):
        leads.append(record)
    path = campaigns / "nightly" / "inbox" / "crm.xlsx"
    book.save(path)
    os.utime(path, (time.time() - 60, time.time() - 60))
    printed: list[str] = []
    with VapiClient("sandbox-key", server.url) as client:
        [outcome] = Inbox(campaigns, client, settle_seconds=5, report=printed.append).run_once()
    assert outcome.state == "done" and outcome.columns == {"number": "Mobile #", "name": "Full Name"}
    assert printed[1] == "  columns: number = 'Mobile #', name = 'Full Name'"
    said = " | ".join(printed)
    assert "warning: nightly/crm.xlsx: read sheet 'Leads' (passed over: 'Notes')" in said
    assert "warning: nightly/crm.xlsx: row 1 above the header was skipped" in said
    [entry] = [json.loads(line) for line in (campaigns / "nightly" / "inbox.log").read_text().splitlines()]
    assert entry["columns"] == {"number": "Mobile #", "name": "Full Name"}
    assert entry["warnings"] == outcome.warnings and len(entry["warnings"]) == 4  # and the campaign's two
    assert calls(server) == Counter(["+12025550701"])


def test_bad_campaign_file_fails_each_file_with_the_reason(campaigns: Path, sandbox: Any) -> None:
    (campaigns / "nightly" / "campaign.toml").write_text("colour = 1\n" + CAMPAIGN)
    drop(campaigns, "leads.csv", sheet(500, 1))
    [outcome] = process(campaigns, sandbox())
    assert outcome.state == "failed"
    assert "the campaign file is invalid" in outcome.error and "unknown key `colour`" in outcome.error


def test_same_content_under_another_name_places_no_new_calls(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    drop(campaigns, "monday.csv", sheet(600, 4))
    process(campaigns, server)
    drop(campaigns, "monday (copy).csv", sheet(600, 4))
    outcome, refreshed = process(campaigns, server)  # monday's calls are still queued: its results refreshed
    assert outcome.state == "duplicate" and "same content as monday.csv" in outcome.error
    assert refreshed.state == "updated" and refreshed.results == "nightly/results/monday.xlsx"
    done = campaigns / "nightly" / "done"
    assert (done / "monday (copy).csv.note.txt").exists()
    assert calls(server) == Counter(numbers(600, 4))


def inbox_process(campaigns: Path, server: Sandbox) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VAPI_API_KEY": "sandbox-key"}
    command = [sys.executable, "-m", "runner.cli", "inbox", str(campaigns), "--once", "--base-url", server.url]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_two_overlapping_runs_call_everyone_exactly_once(campaigns: Path, sandbox: Any) -> None:
    server = sandbox(latency_ms=20)
    drop(campaigns, "a.csv", sheet(700, 20))
    drop(campaigns, "b.csv", sheet(800, 20))
    first, second = inbox_process(campaigns, server), inbox_process(campaigns, server)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    assert calls(server) == Counter(numbers(700, 20) + numbers(800, 20))
    assert sorted(p.name for p in (campaigns / "nightly" / "done").iterdir()) == ["a.csv", "b.csv"]


@pytest.mark.slow
def test_a_killed_run_is_finished_by_the_next(campaigns: Path, sandbox: Any) -> None:
    server = sandbox(latency_ms=100)
    drop(campaigns, "big.csv", sheet(900, 40))
    killed = inbox_process(campaigns, server)
    deadline = time.time() + 30
    while not calls(server) and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert [p.name for p in (campaigns / "nightly" / "processing").iterdir()] == ["big.csv"]
    assert 0 < sum(calls(server).values()) < 40
    with VapiClient("sandbox-key", server.url) as client:
        outcomes = Inbox(campaigns, client, settle_seconds=5).run_once()
    assert [(o.file, o.state) for o in outcomes] == [("big.csv", "done")]
    if outcomes[0].counts.get("unknown"):  # killed between an intent and its send: the operator's call
        from runner.sending.run import CampaignRun

        folder = campaigns / "nightly"
        with (
            VapiClient("sandbox-key", server.url) as client,
            CampaignRun.open(
                folder / "done" / "big.csv", folder / "campaign.toml", next((folder / "runs").iterdir()), api=server.url
            ) as run,
        ):
            from runner.sending.submitter import SubmitOptions

            # Sent seconds ago: by default such rows are held back (Vapi may not list a call at once).
            run.send(client, SubmitOptions(resend_unknown=True, requests_per_minute=10000, resend_after=timedelta(0)))
    assert calls(server) == Counter(numbers(900, 40))


@pytest.mark.slow
def test_cli_exit_codes(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    quiet = inbox_process(campaigns, server)
    out, _ = quiet.communicate(timeout=60)
    assert quiet.returncode == 0 and b"nothing to process" in out
    drop(campaigns, "bad.csv", "a,b\n1,2\n")
    failing = inbox_process(campaigns, server)
    _, err = failing.communicate(timeout=60)
    assert failing.returncode == 1
    assert b"nightly/bad.csv: failed" in err


def test_watch_picks_up_files_dropped_later(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    with VapiClient("sandbox-key", server.url) as client:
        (campaigns / "webinar").mkdir()
        (campaigns / "webinar" / "Campaign.toml").write_text(CAMPAIGN)
        alerts: list[str] = []
        rounds = Inbox(campaigns, client, settle_seconds=5, alert=alerts.append).watch(interval=0.01)
        assert next(rounds) == [] and next(rounds) == []
        drop(campaigns, "late.csv", sheet(950, 2))
        [outcome] = next(rounds)
    assert (outcome.file, outcome.state) == ("late.csv", "done")
    assert calls(server) == Counter(numbers(950, 2))
    # A watch polls every 30 s: a broken folder is said once, and only rounds that did something are logged.
    assert alerts == ["webinar: no campaign.toml, but 'Campaign.toml': rename it to campaign.toml"]
    runs = [json.loads(line) for line in (campaigns / "inbox-runs.jsonl").read_text().splitlines()]
    assert [(run["problems"] != [], run["taken"]) for run in runs] == [(True, []), (False, ["nightly/late.csv"])]


@pytest.mark.slow
def test_nightly_runs_place_due_follow_ups_of_earlier_files(campaigns: Path, sandbox: Any) -> None:
    retry = (
        '\n[retry]\non = ["customer-did-not-answer", "customer-busy", "voicemail"]\nmax_attempts = 2\nafter = "0s"\n'
    )
    (campaigns / "nightly" / "campaign.toml").write_text(CAMPAIGN + retry)
    server = sandbox(dial_now=True, call_seconds=0.3, seed=5)
    drop(campaigns, "monday.csv", sheet(960, 12))
    [first] = process(campaigns, server)
    assert first.state == "done"
    time.sleep(0.5)  # every call has ended
    [follow_ups] = process(campaigns, server)
    assert follow_ups.state == "follow-ups" and follow_ups.file.startswith("monday-")
    retried = sum(n for n in calls(server).values()) - 12
    assert retried > 0
    assert follow_ups.counts.get("queued", 0) == retried
    time.sleep(0.5)
    process(campaigns, server)  # the second attempts end: max_attempts reached, nothing more to place
    assert process(campaigns, server) == []
    assert max(calls(server).values()) == 2
    assert sum(calls(server).values()) == 12 + retried


def test_a_symlink_is_never_followed_and_no_secret_is_quoted(campaigns: Path, sandbox: Any, tmp_path: Path) -> None:
    """Issue 38, case 11: a link to the project's .env dropped as leads.csv is not read; a dropped
    file shaped like one is refused without its value in failed/, inbox.log or the report."""
    server = sandbox()
    secret = "sk-live-0123456789abcdef"
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"VAPI_API_KEY={secret}\n")
    inbox = campaigns / "nightly" / "inbox"
    (inbox / "leads.csv").symlink_to(dotenv)
    drop(campaigns, "config.csv", f"VAPI_API_KEY={secret},export TOKEN: {secret}\nx,y\n")
    reported: list[str] = []
    with VapiClient("sandbox-key", server.url) as client:
        outcomes = Inbox(campaigns, client, settle_seconds=5, report=reported.append).run_once()
    assert {o.file: o.state for o in outcomes} == {"leads.csv": "failed", "config.csv": "failed"}
    folder = campaigns / "nightly"
    assert "symbolic link" in (folder / "failed" / "leads.csv.error.txt").read_text()
    assert (folder / "failed" / "leads.csv").is_symlink() and dotenv.read_text().startswith("VAPI_API_KEY")
    error = (folder / "failed" / "config.csv.error.txt").read_text()
    assert "no phone number column; its headers are: VAPI_API_KEY=…, TOKEN=…" in error
    written = "".join(
        p.read_text() for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.suffix in (".txt", ".log")
    )
    assert secret not in written and secret not in "\n".join(reported)
    assert not calls(server)


# --- closing the loop, never silently (issue 43) ------------------------------------------------


def _outcomes_in(path: Path) -> list[str]:
    rows = list(openpyxl.load_workbook(path)["Results"].iter_rows(values_only=True))
    return [str(row[rows[0].index("outcome")]) for row in rows[1:]]


def test_a_later_inbox_run_fills_in_the_files_results_until_its_calls_are_settled(
    campaigns: Path, sandbox: Any
) -> None:
    """Without [retry]: the one results file of a dropped file is refreshed by the next runs,
    then left alone once every call has ended."""
    server = sandbox(dial_now=True, call_seconds=0.3, seed=3)
    drop(campaigns, "leads.csv", sheet(1000, 4))
    [first] = process(campaigns, server)
    results = campaigns / "nightly" / "results" / "leads.xlsx"
    assert first.results == "nightly/results/leads.xlsx" and set(_outcomes_in(results)) == {"In progress"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(call["status"] != "ended" for call in _calls(server)):
        time.sleep(0.05)
    [refreshed] = process(campaigns, server)
    assert (refreshed.file, refreshed.state) == ("leads-" + refreshed.file.split("-")[-1], "updated")
    assert set(_outcomes_in(results)) <= {"Reached", "Left voicemail", "No answer", "Busy"}
    assert sorted(p.name for p in results.parent.iterdir()) == ["leads.xlsx"]  # one file, replaced
    settled_at = results.stat().st_mtime_ns
    assert process(campaigns, server) == []  # settled: left alone
    assert results.stat().st_mtime_ns == settled_at


def _calls(server: Sandbox) -> list[dict[str, Any]]:
    headers = {"Authorization": "Bearer sandbox-key"}
    return list(httpx.get(f"{server.url}/call", params={"limit": 1000}, headers=headers).json())


def test_every_run_is_logged_even_an_empty_night_and_a_settling_file_is_said(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    with VapiClient("sandbox-key", server.url) as client:
        processor = Inbox(campaigns, client, settle_seconds=5)
        assert processor.run_once() == []
        assert processor.last.lines() == ["nothing to process"]
        drop(campaigns, "fresh.csv", sheet(1100, 1), age=0)
        processor.run_once()
        assert processor.last.lines() == ["1 file(s) waiting to settle, taken after 5 s unchanged: nightly/fresh.csv"]
    runs = [json.loads(line) for line in (campaigns / "inbox-runs.jsonl").read_text().splitlines()]
    assert [(run["exit_code"], run["files"], run["waiting"]) for run in runs] == [
        (0, {}, []), (0, {}, ["nightly/fresh.csv"])]  # fmt: skip
    assert all(run["started"] <= run["ended"] for run in runs)


def test_a_folder_with_a_misnamed_campaign_file_is_said_and_fails_the_run(campaigns: Path, sandbox: Any) -> None:
    server = sandbox()
    other = campaigns / "webinar"
    (other / "inbox").mkdir(parents=True)
    (other / "Campaign.TOML.txt").write_text(CAMPAIGN)
    alerts: list[str] = []
    with VapiClient("sandbox-key", server.url) as client:
        processor = Inbox(campaigns, client, settle_seconds=5, alert=alerts.append)
        processor.run_once()
    assert alerts == ["webinar: no campaign.toml, but 'Campaign.TOML.txt': rename it to campaign.toml"]
    assert processor.last.exit_code == 1


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.slow  # the command line in a subprocess, twice
def test_a_failed_file_is_said_under_quiet_and_someone_is_notified(
    campaigns: Path, sandbox: Any, tmp_path: Path
) -> None:
    server = sandbox()
    receiver = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    drop(campaigns, "bad.csv", "a,b\n1,2\n")
    heard = tmp_path / "heard.json"
    command = [
        sys.executable, "-m", "runner.cli", "inbox", str(campaigns), "--once", "-q", "--base-url", server.url,
        "--notify", f"cat > {heard}", "--notify-url", f"http://127.0.0.1:{receiver.server_port}/hook",
    ]  # fmt: skip
    _Receiver.received.clear()
    done = subprocess.run(command, env={**os.environ, "VAPI_API_KEY": "sandbox-key"}, capture_output=True, timeout=60)
    assert done.returncode == 1 and done.stdout == b""
    assert b"nightly/bad.csv: failed (" in done.stderr and b"no phone number column" in done.stderr
    record = json.loads(heard.read_text())
    assert record["exit_code"] == 1 and record["files"] == {"failed": 1}
    assert record["failed"][0].startswith("nightly/bad.csv: failed")
    [posted] = _Receiver.received
    assert posted["text"].startswith("vapi-campaign inbox: exit 1\n• nightly/bad.csv: failed")
    assert posted["failed"] == record["failed"]
    quiet_night = subprocess.run(command, env={**os.environ, "VAPI_API_KEY": "sandbox-key"}, capture_output=True)
    receiver.shutdown()
    receiver.server_close()
    assert quiet_night.returncode == 0 and quiet_night.stderr == b"" and len(_Receiver.received) == 1


@pytest.mark.slow  # the command line in subprocesses
def test_status_of_a_campaign_folder_shows_every_run_and_needs_no_flag_the_run_had(
    campaigns: Path, tmp_path: Path
) -> None:
    """`status CAMPAIGN_DIR` answered "not a run folder"; `status` of a --sandbox run without
    --sandbox answered "no Vapi API key", though the folder knows where its calls went."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAPI_")} | {"XDG_STATE_HOME": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "runner.cli", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    drop(campaigns, "leads.csv", sheet(1200, 3))
    drop(campaigns, "more.csv", sheet(1300, 2))
    assert cli("inbox", str(campaigns), "--once", "--sandbox", "-q").returncode == 0
    shown = cli("status", str(campaigns / "nightly"))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 2 and {line.split(" (")[0] for line in lines} == {"leads.csv", "more.csv"}
    assert any("3 people" in line and line.endswith("-> nightly/results/leads.xlsx") for line in lines)
    run_folder = next((campaigns / "nightly" / "runs").glob("leads-*"))
    again = cli("status", str(run_folder))
    assert again.returncode == 0 and "wrote" in again.stdout, again.stderr
