"""The holes a new user found in "each call placed at most once, every row accounted for" (issue
14), each against the real sandbox on loopback: other run folders, late-visible calls, follow-ups
taken for an earlier attempt, and URLs that are not URLs."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun, RunOutcome
from runner.sending.submitter import SubmitOptions
from runner.store.ledger import LEDGER_FILE, Ledger
from runner.vapi.client import VapiClient

from .faults import SlowPostProxy
from .rows import row_results

FAST = SubmitOptions(requests_per_minute=60_000, backoff_base=0.01, backoff_cap=0.05, reconcile_delay=0.05)


def numbers(count: int) -> list[str]:
    return [f"+1202555{4000 + n:04d}" for n in range(count)]


def leads(path: Path, count: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("phone,name\n" + "".join(f"{n},Person {i}\n" for i, n in enumerate(numbers(count))))
    return path


def calls_per_number(server: Sandbox) -> Counter[str]:
    answer = httpx.get(
        f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {server.config.api_key}"}
    )
    return Counter(call["customer"]["number"] for call in answer.json())


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def campaign(make_campaign: Callable[..., Path]) -> Path:
    """The defaults that matter here: min_days_between_calls = 1, max_calls_per_day = 3."""
    return make_campaign(batch_size=5)


@pytest.mark.slow
def test_another_run_folder_file_name_or_working_directory_calls_no_one_again(
    tmp_path: Path, campaign: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    source = leads(tmp_path / "leads.csv", 12)
    first = cli("run", source, "-c", campaign, "-o", tmp_path / "A", "--base-url", server.url, "--yes")
    assert first.exit_code == 0, first.output
    assert calls_per_number(server) == Counter(numbers(12))

    renamed = tmp_path / "copy of leads.csv"
    shutil.copyfile(source, renamed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the default run folder is now elsewhere/runs/…
    folders: list[list[str | Path]] = [["-o", tmp_path / "B"], ["-o", tmp_path / "C", "--format", "csv"], []]
    for args in folders:
        for path in (source, renamed):
            again = cli("run", path, "-c", campaign, *args, "--base-url", server.url, "--yes")
            assert "suppressed: 12 (recently called 12)" in again.output, again.output
    assert calls_per_number(server) == Counter(numbers(12))

    resumed = cli("run", source, "-c", campaign, "-o", tmp_path / "A", "--base-url", server.url, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "suppressed: 0" in resumed.output and "queued" in resumed.output  # its own calls are not held against it
    assert calls_per_number(server) == Counter(numbers(12))


def test_the_in_process_sandbox_keeps_one_history_across_ports_and_folders(tmp_path: Path, campaign: Path) -> None:
    source = leads(tmp_path / "leads.csv", 3)
    first = cli("run", source, "-c", campaign, "-o", tmp_path / "A", "--sandbox", "--yes")
    assert first.exit_code == 0, first.output
    second = cli("run", source, "-c", campaign, "-o", tmp_path / "B", "--sandbox", "--yes")
    assert "suppressed: 3 (recently called 3)" in second.output, second.output


def send_with_late_calls(
    server: Sandbox, source: Path, campaign: Path, outdir: Path, options: SubmitOptions = FAST
) -> RunOutcome:
    """A run whose POSTs reach Vapi only after the client gave up waiting (1 s against 0.2 s), and
    after its look into the call list: what a slow network, or a kill -9 mid-request, leaves. Returns
    once every POST has created its calls."""
    proxy = SlowPostProxy(server.url, delay=1.0)
    try:
        client = VapiClient(server.config.api_key, proxy.url, timeout=httpx.Timeout(5.0, read=0.2), api_name=server.url)
        with client, CampaignRun.open(source, campaign, outdir, api=server.url) as run:
            outcome = run.send(client, options)
        assert proxy.forwarded.wait(5)
        time.sleep(1.3)  # POSTs that left after the first one
    finally:
        proxy.close()
    return outcome


@pytest.mark.slow
def test_a_run_killed_before_vapi_answered_still_holds_other_folders_back(
    tmp_path: Path, campaign: Path, sandbox: Any
) -> None:
    """The history is written before the request leaves, not when the run ends."""
    server = sandbox()
    source = leads(tmp_path / "leads.csv", 5)
    send_with_late_calls(server, source, campaign, tmp_path / "A", replace(FAST, reconcile_delay=0.0))
    with (
        VapiClient(server.config.api_key, server.url) as direct,
        CampaignRun.open(source, campaign, tmp_path / "B", api=server.url) as other,
    ):
        assert other.plan.counts() == {"suppressed": 5}
        assert other.send(direct, FAST).report.attempted == 0
    assert calls_per_number(server) == Counter(numbers(5))


@pytest.mark.slow
def test_unknown_rows_are_looked_for_again_by_status_and_by_resend_unknown(
    tmp_path: Path, campaign: Path, sandbox: Any
) -> None:
    server = sandbox()
    source = leads(tmp_path / "leads.csv", 8)
    outdir = tmp_path / "run"
    outcome = send_with_late_calls(server, source, campaign, outdir)
    assert outcome.summary.by_status == {"unknown": 8}  # looked before the calls existed
    assert calls_per_number(server) == Counter(numbers(8))
    with VapiClient(server.config.api_key, server.url) as client:
        resend = replace(FAST, resend_unknown=True, resend_after=timedelta(0))
        with CampaignRun.open(source, campaign, outdir, api=server.url) as run:
            outcome = run.send(client, resend)  # --resend-unknown looks again first
        assert outcome.report.requeued_rows == 0 and outcome.report.attempted == 0
        assert outcome.summary.by_status == {"queued": 8}
    assert calls_per_number(server) == Counter(numbers(8))


@pytest.mark.slow
def test_status_finds_calls_that_showed_up_late(
    tmp_path: Path, campaign: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    outdir = tmp_path / "run"
    outcome = send_with_late_calls(server, leads(tmp_path / "leads.csv", 3), campaign, outdir)
    assert outcome.summary.by_status == {"unknown": 3}
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    result = cli("status", outdir, "--base-url", server.url)
    assert result.exit_code == 0, result.output
    assert "queued" in result.output and "unknown" not in result.output


@pytest.mark.slow
def test_a_follow_up_is_never_taken_for_the_previous_attempts_call(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.2, seed=5)
    retry = {"on": ["customer-did-not-answer", "customer-busy", "voicemail"], "max_attempts": 3, "after": "0s"}
    campaign = make_campaign(batch_size=4, retry=retry)
    source = leads(tmp_path / "leads.csv", 16)
    outdir = tmp_path / "run"
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(source, campaign, outdir, api=server.url) as run,
    ):
        run.send(client, FAST)
        time.sleep(0.5)
        run.refresh(client)
        due = run.schedule_followups()
        assert due >= 1
        server.config.__dict__["error_rate"] = 1.0  # every follow-up POST answered 500, nothing created
        run.send(client, FAST)
        results = row_results(run)
    second = [r for r in results if r.attempts == "2"]
    assert len(second) == due
    assert {r.status for r in second} == {"unknown"}
    assert all(r.call_id == "" for r in second)
    assert calls_per_number(server) == Counter(numbers(16))  # each number called once, attempt 1 only


@pytest.mark.parametrize("url", ["127.0.0.1:18750", "localhost:8787/", "ftp://example.com"])
def test_a_base_url_without_scheme_is_a_usage_error_before_planning(
    tmp_path: Path, campaign: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", "sandbox-key")
    result = cli("run", leads(tmp_path / "leads.csv", 2), "-c", campaign, "-o", tmp_path / "run", "--base-url", url,
                 "--yes")  # fmt: skip
    assert result.exit_code == 2
    assert "is not an http(s) URL" in result.output and "http://" in result.output
    assert not (tmp_path / "run").exists()


def test_status_sandbox_is_the_same_from_any_working_directory(
    tmp_path: Path, campaign: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = leads(tmp_path / "leads.csv", 2)
    monkeypatch.chdir(tmp_path)
    assert cli("run", source, "-c", campaign, "-o", tmp_path / "run", "--sandbox", "--yes").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    result = cli("status", tmp_path / "run", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "not known" not in result.output
    ledger = Ledger(tmp_path / "run" / LEDGER_FILE)
    assert ledger.calls_frame().height == 2  # both calls fetched: the sandbox that placed them answered
    ledger.close()


def test_status_says_when_vapi_does_not_know_a_call(
    tmp_path: Path, campaign: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, other = sandbox(), sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    source = leads(tmp_path / "leads.csv", 2)
    assert cli("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", server.url, "--yes").exit_code == 0
    result = cli("status", tmp_path / "run", "--base-url", other.url)
    assert "2 call(s) not known to " + other.url in result.output
    assert result.exit_code == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.slow
@pytest.mark.parametrize("preflight", [True, False])
def test_an_unreachable_api_stops_the_run_and_the_same_command_resumes(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch, preflight: bool
) -> None:
    """Preflight is the first to find the API down; without it, the submitter is."""
    monkeypatch.setenv("VAPI_API_KEY", "sandbox-key")
    campaign = make_campaign(batch_size=5, requests_per_minute=6000)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    source = leads(tmp_path / "leads.csv", 400)
    command: tuple[str | Path, ...] = ("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", url)
    command += ("--yes", "--format", "csv") + (() if preflight else ("--no-preflight",))
    down = cli(*command)
    assert down.exit_code == 1
    [line] = [line for line in down.output.splitlines() if line.startswith("stopped:")]
    assert f"cannot reach {url}: " in line and "could not connect" in line and "run the same command again" in line
    assert "status" not in line  # what to do next is this command again, not another one
    results = pd.read_csv(tmp_path / "run" / "results.csv", dtype=str, keep_default_na=False)
    assert len(results) == 400 and set(results["status"]) == {"planned"}
    if preflight:
        assert results["reason"].str.startswith("not sent: cannot reach").all()
    else:
        assert results["reason"].str.contains("not sent after").any()
    server = sandbox(port=port)
    up = cli(*command)
    assert up.exit_code == 0, up.output
    assert calls_per_number(server) == Counter(numbers(400))


@pytest.mark.slow
def test_an_inbox_file_whose_rows_were_never_sent_stays_to_be_retried(
    tmp_path: Path, campaign: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", "sandbox-key")
    folder = tmp_path / "campaigns" / "alpha"
    folder.mkdir(parents=True)
    shutil.copyfile(campaign, folder / "campaign.toml")
    leads(folder / "inbox" / "big.csv", 20)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    down = cli("inbox", tmp_path / "campaigns", "--once", "--settle", "0", "--base-url", url)
    assert down.exit_code == 1
    assert "alpha/big.csv: stopped (cannot reach" in down.output
    assert (folder / "processing" / "big.csv").exists() and not list((folder / "done").iterdir())
    server = sandbox(port=port)
    up = cli("inbox", tmp_path / "campaigns", "--once", "--settle", "0", "--base-url", url)
    assert up.exit_code == 0, up.output
    assert "alpha/big.csv: done (queued 20)" in up.output
    assert (folder / "done" / "big.csv").exists()
    assert calls_per_number(server) == Counter(numbers(20))


@pytest.mark.slow
def test_status_with_the_api_down_names_the_cause(
    tmp_path: Path, campaign: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox()
    monkeypatch.setenv("VAPI_API_KEY", server.config.api_key)
    source = leads(tmp_path / "leads.csv", 2)
    assert cli("run", source, "-c", campaign, "-o", tmp_path / "run", "--base-url", server.url, "--yes").exit_code == 0
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("status", tmp_path / "run", "--base-url", url)
    assert result.exit_code == 2
    assert f"cannot fetch the calls at {url}" in result.output and "could not connect" in result.output


@pytest.mark.slow
def test_a_full_disk_is_a_clear_message_and_the_same_command_resumes(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """The disk fills in the middle of sending (a file-size limit on the process stands in for it)."""
    server = sandbox()
    campaign = make_campaign(batch_size=5, requests_per_minute=6000)
    source = leads(tmp_path / "leads.csv", 400)
    command = [sys.executable, "-m", "runner.cli", "run", str(source), "-c", str(campaign), "-o", str(tmp_path / "run"),
               "--base-url", server.url, "--yes", "--format", "csv"]  # fmt: skip
    env = {**os.environ, "VAPI_API_KEY": server.config.api_key}

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    full = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=small_disk, timeout=120)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "cannot write" in full.stderr and "run the same command again" in full.stderr
    assert 0 < sum(calls_per_number(server).values()) < 400  # it stopped in the middle
    freed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert freed.returncode == 0, freed.stderr
    assert calls_per_number(server) == Counter(numbers(400))


@pytest.mark.slow
@pytest.mark.parametrize("offset", [-180.0, 180.0])
def test_a_clock_off_by_minutes_still_finds_the_calls_and_resends_no_one(
    tmp_path: Path, campaign: Path, sandbox: Any, offset: float
) -> None:
    """Issue 38, case 9: with this machine 3 minutes ahead of Vapi (the sandbox's clock moved, as
    `faketime -f +3m` moved ours), a request whose answer was lost was looked for from intent - 120 s
    by our clock: its calls stayed `unknown`, and --resend-unknown called all of them again."""
    server = sandbox(clock_offset=offset)
    source = leads(tmp_path / "leads.csv", 8)
    outdir = tmp_path / "run"
    outcome = send_with_late_calls(server, source, campaign, outdir)
    with VapiClient(server.config.api_key, server.url) as client:
        resend = replace(FAST, resend_unknown=True, resend_after=timedelta(0))
        with CampaignRun.open(source, campaign, outdir, api=server.url) as run:
            outcome = run.send(client, resend)
        assert client.clock_offset is not None and abs(client.clock_offset.total_seconds() - offset) < 2
    assert outcome.report.attempted == 0 and outcome.summary.by_status == {"queued": 8}
    assert calls_per_number(server) == Counter(numbers(8))


@pytest.mark.slow
def test_resend_unknown_is_refused_when_the_apis_clock_is_too_far_off(
    tmp_path: Path, campaign: Path, sandbox: Any
) -> None:
    source = leads(tmp_path / "leads.csv", 4)
    outdir = tmp_path / "run"
    outcome = send_with_late_calls(sandbox(), source, campaign, outdir)
    assert outcome.summary.by_status == {"unknown": 4}
    resend = replace(FAST, resend_unknown=True, resend_after=timedelta(0))
    # Another API, whose list holds none of the calls and whose clock is 10 minutes behind ours.
    elsewhere = sandbox(clock_offset=-600.0)
    with (
        VapiClient(elsewhere.config.api_key, elsewhere.url) as client,
        CampaignRun.open(source, campaign, outdir, api=elsewhere.url) as run,
    ):
        refused = run.send(client, resend)
    assert refused.report.attempted == 0 and refused.report.requeued_rows == 0
    assert any("this machine's clock is 600 s ahead of the API's" in note for note in refused.report.notes)
    assert refused.summary.by_status == {"unknown": 4}
    # The same with a clock that agrees: the operator's --resend-unknown sends them.
    agreeing = sandbox()
    with (
        VapiClient(agreeing.config.api_key, agreeing.url) as client,
        CampaignRun.open(source, campaign, outdir, api=agreeing.url) as run,
    ):
        sent = run.send(client, resend)
    assert sent.report.requeued_rows == 4 and calls_per_number(agreeing) == Counter(numbers(4))
