"""Admission at send time (issue 39): each request's rows are admitted as it leaves, against the
call history every process shares and the lists as they are then. Counted from the sandbox's calls."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.vapi.client import VapiClient
from runner.vapi.connect import state_dir

from .rows import row_results

FAST = SubmitOptions(requests_per_minute=60_000, backoff_base=0.01, backoff_cap=0.05, reconcile_delay=0.05)


def numbers(count: int, first: int = 4000) -> list[str]:
    return [f"+1202555{first + n:04d}" for n in range(count)]


def leads(path: Path, phones: list[str]) -> Path:
    path.write_text("phone,name\n" + "".join(f"{n},Person {i}\n" for i, n in enumerate(phones)))
    return path


def calls_per_number(server: Sandbox) -> Counter[str]:
    answer = httpx.get(
        f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {server.config.api_key}"}
    )
    return Counter(call["customer"]["number"] for call in answer.json())


def command(*args: str | Path, key: str, cwd: Path) -> subprocess.Popen[str]:
    """The CLI as a process of its own, in `cwd` (where `runs/` goes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The test's own state folder ($XDG_STATE_HOME, set by conftest): its call history.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("VAPI_")}, "VAPI_API_KEY": key},
    )


@pytest.mark.slow
def test_two_runs_of_one_file_started_together_call_each_person_once(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(latency_ms=20)
    campaign = make_campaign(batch_size=2, concurrency=2, requests_per_minute=10_000)
    source = leads(tmp_path / "leads.csv", numbers(40))
    runs = [
        command("run", source, "-c", campaign, "-o", tmp_path / name, "--base-url", server.url, "--yes",
                key=server.config.api_key, cwd=tmp_path)
        for name in ("A", "B")
    ]  # fmt: skip
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert calls_per_number(server) == Counter(numbers(40))
    # The final counts: every row is called by one run and set aside by the other.
    final: Counter[str] = Counter()
    for output in outputs:
        for status, count in re.findall(r"^(queued|suppressed) +(\d+)$", output, flags=re.M):
            final[status] += int(count)
    assert final == {"queued": 40, "suppressed": 40}, outputs


@pytest.mark.slow
def test_a_resumed_folder_suppresses_the_people_another_folder_called_meanwhile(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(throttle_rate=1.0, retry_after=0.01)
    campaign = make_campaign(batch_size=5)
    source = leads(tmp_path / "leads.csv", numbers(10))
    once = replace(FAST, max_attempts=1)
    with VapiClient(server.config.api_key, server.url) as client:
        with CampaignRun.open(source, campaign, tmp_path / "A", api=server.url) as run:
            assert run.send(client, once).counts == {"planned": 10}  # every POST answered 429
        server.config.__dict__["throttle_rate"] = 0.0
        with CampaignRun.open(source, campaign, tmp_path / "B", api=server.url) as run:
            assert run.send(client, FAST).counts == {"queued": 10}
        with CampaignRun.open(source, campaign, tmp_path / "A", api=server.url) as run:  # "the same command"
            outcome = run.send(client, FAST)
            reasons = {r.reason for r in row_results(run)}
    assert outcome.counts == {"suppressed": 10} and outcome.report.attempted == 0
    assert len(reasons) == 1 and f"by run folder {(tmp_path / 'B').resolve()}" in reasons.pop()
    assert calls_per_number(server) == Counter(numbers(10))


@pytest.mark.slow
def test_numbers_added_to_the_lists_after_the_plan_are_not_called(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox()
    campaign = make_campaign(batch_size=2, compliance={"require_consent": False, "do_not_call": ["dnc.csv"]})
    (tmp_path / "dnc.csv").write_text("phone\n")
    phones = numbers(6)
    source = leads(tmp_path / "leads.csv", phones)
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(source, campaign, tmp_path / "run", api=server.url) as run,
    ):
        assert run.plan.counts() == {"planned": 6}
        time.sleep(0.01)  # a new modification time, even on a coarse clock
        with (tmp_path / "dnc.csv").open("a") as dnc:
            dnc.write(f"{phones[1]}\n")
        (tmp_path / "opt-outs.csv").write_text(f"{phones[4]}\n")
        outcome = run.send(client, FAST)
        results = {r.e164: (r.status, r.reason) for r in row_results(run)}
    assert calls_per_number(server) == Counter(phones[:1] + phones[2:4] + phones[5:])
    assert results[phones[1]] == ("suppressed", "on the do-not-call list dnc.csv")
    assert results[phones[4]] == ("suppressed", "opted out (opt-outs.csv, line 1)")
    assert outcome.counts == {"queued": 4, "suppressed": 2}
    assert outcome.summary.by_rule == {"do-not-call": 1, "opt-out list": 1}


@pytest.mark.slow
def test_follow_ups_respect_max_calls_per_day(tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any) -> None:
    """Four people got 4 calls in 20 seconds with max_attempts = 6 and max_calls_per_day = 3."""
    server = sandbox(dial_now=True, call_seconds=0.1, seed=2)
    every_reason = ["customer-did-not-answer", "customer-busy", "voicemail", "customer-ended-call",
                    "assistant-ended-call", "silence-timed-out"]  # fmt: skip
    campaign = make_campaign(batch_size=4, retry={"on": every_reason, "max_attempts": 6, "after": "0s"})
    source = leads(tmp_path / "leads.csv", numbers(8))
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(source, campaign, tmp_path / "run", api=server.url) as run,
    ):
        run.send(client, FAST)
        for _ in range(6):
            time.sleep(0.3)
            run.refresh(client)
            run.schedule_followups()
            run.send(client, FAST)
    placed = calls_per_number(server)
    assert max(placed.values()) == 3, placed


def run_cli(*args: str | Path, key: str, cwd: Path) -> str:
    done = command(*args, key=key, cwd=cwd)
    output = done.communicate(timeout=120)[0]
    assert done.returncode == 0, output
    return output


@pytest.mark.slow
def test_two_campaign_folders_and_two_spellings_of_the_api_share_one_history(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """One history per account: a copied campaign folder, and the same API reached as localhost
    (with or without preflight telling the org id), do not call the same people again."""
    server = sandbox()
    key = server.config.api_key
    december = make_campaign(batch_size=5)
    copy = tmp_path / "december-v2" / "campaign.toml"
    copy.parent.mkdir()
    copy.write_text(december.read_text())
    source = leads(tmp_path / "leads.csv", numbers(5))
    run_cli(
        "run", source, "-c", december, "-o", tmp_path / "A", "--base-url", server.url, "--yes", key=key, cwd=tmp_path
    )
    copied = run_cli(
        "run", source, "-c", copy, "-o", tmp_path / "B", "--base-url", server.url, "--yes", key=key, cwd=tmp_path
    )
    assert re.search(r"^suppressed +5$", copied, flags=re.M), copied
    local = server.url.replace("127.0.0.1", "localhost") + "/"
    for outdir, extra in (("C", ()), ("D", ("--no-preflight",))):
        other = run_cli("run", source, "-c", december, "-o", tmp_path / outdir, "--base-url", local, "--yes", *extra,
                        key=key, cwd=tmp_path)  # fmt: skip
        assert re.search(r"^suppressed +5$", other, flags=re.M), other
    assert calls_per_number(server) == Counter(numbers(5))


@pytest.mark.slow
def test_a_campaign_folders_own_history_is_moved_in_once_and_a_named_one_is_used(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox()
    campaign = make_campaign(batch_size=5)
    phones = numbers(3)
    with sqlite3.connect(tmp_path / "history.sqlite") as db:  # as the version before this one wrote it
        db.execute(
            "CREATE TABLE sends (run_dir TEXT NOT NULL, request_id TEXT NOT NULL, api TEXT NOT NULL, "
            "called_at TEXT NOT NULL, numbers TEXT NOT NULL, PRIMARY KEY (run_dir, request_id))"
        )
        db.execute(
            "INSERT INTO sends VALUES ('/old/run', 'req-1', ?, ?, ?)",
            (server.url + "/", datetime.now(UTC).isoformat(), f'{{"2": "{phones[0]}"}}'),
        )
    source = leads(tmp_path / "leads.csv", phones)
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(source, campaign, tmp_path / "run", api=server.url, preflight=client) as run,
    ):
        outcome = run.send(client, FAST)
    assert outcome.counts == {"queued": 2, "suppressed": 1}
    assert not (tmp_path / "history.sqlite").exists() and (tmp_path / "history.sqlite.moved").exists()
    assert (state_dir() / "history.sqlite").exists()

    shared = tmp_path / "team"
    shared.mkdir()
    named = make_campaign(batch_size=5, compliance={"require_consent": False, "history": "team/history.sqlite"})
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(
            leads(tmp_path / "more.csv", numbers(2, 5000)), named, tmp_path / "run2", api=server.url
        ) as run,
    ):
        assert run.send(client, FAST).counts == {"queued": 2}
    with sqlite3.connect(shared / "history.sqlite") as db:
        assert db.execute("SELECT count(*) FROM claims").fetchone() == (2,)


@pytest.mark.slow
def test_stranded_follow_ups_are_sent_by_status_retry_and_say_why_they_wait(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(dial_now=True, call_seconds=0.1, seed=5)
    retry = {"on": ["customer-did-not-answer", "customer-busy", "voicemail"], "max_attempts": 2, "after": "0s"}
    campaign = make_campaign(batch_size=4, retry=retry)
    outdir = tmp_path / "run"
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(leads(tmp_path / "leads.csv", numbers(16)), campaign, outdir, api=server.url) as run,
    ):
        run.send(client, FAST)
        time.sleep(0.5)
        run.refresh(client)
        due = run.schedule_followups()
        waiting = [r for r in row_results(run) if r.attempts == "2"]
        # The process stops here (a 429 storm, Ctrl-C): the follow-ups stay planned.
    assert due >= 1 and len(waiting) == due
    assert {(r.status, r.reason) for r in waiting} == {
        ("planned", "follow-up attempt 2, not sent yet; run the same command again to send it")
    }
    before = sum(calls_per_number(server).values())
    run_cli("status", outdir, "--base-url", server.url, "--retry", key=server.config.api_key, cwd=tmp_path)
    assert sum(calls_per_number(server).values()) == before + due


@pytest.mark.slow
def test_two_calls_of_one_number_spelled_two_ways_place_one_call(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(latency_ms=50)
    campaign = make_campaign()
    spellings = ["(202) 555-0100", "+1 202-555-0100", "202.555.0100", "tel:+12025550100"]
    calls = [
        command(
            "call", spelling, "-c", campaign, "--base-url", server.url, "--yes", key=server.config.api_key, cwd=tmp_path
        )
        for spelling in spellings
    ]
    outputs = [call.communicate(timeout=120)[0] for call in calls]
    assert calls_per_number(server) == Counter(["+12025550100"]), outputs
    # Set aside by the plan's preview or at send time, depending on who got there first.
    assert sum("not called: " in output for output in outputs) == len(spellings) - 1, outputs


@pytest.mark.slow
def test_run_and_inbox_together_call_each_person_once(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(latency_ms=20)
    folder = tmp_path / "campaigns" / "nightly"
    (folder / "inbox").mkdir(parents=True)
    campaign = make_campaign(batch_size=2, concurrency=2, requests_per_minute=10_000)
    (folder / "campaign.toml").write_text(campaign.read_text())
    dropped = leads(folder / "inbox" / "leads.csv", numbers(30))
    past = time.time() - 60
    os.utime(dropped, (past, past))
    source = leads(tmp_path / "leads.csv", numbers(30))
    key = server.config.api_key
    both = [
        command("run", source, "-c", folder / "campaign.toml", "-o", tmp_path / "A", "--base-url", server.url, "--yes",
                key=key, cwd=tmp_path),
        command("inbox", tmp_path / "campaigns", "--once", "--settle", "1", "--base-url", server.url,
                key=key, cwd=tmp_path),
    ]  # fmt: skip
    outputs = [process.communicate(timeout=120)[0] for process in both]
    assert calls_per_number(server) == Counter(numbers(30)), outputs


@pytest.mark.slow
def test_two_runs_sharing_a_postgresql_history_call_each_person_once(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, postgres_url: str
) -> None:
    """For an account sending from several machines: the history on a PostgreSQL server (here one
    of the test run's own), claims one account at a time across every connection."""
    server = sandbox(latency_ms=20)
    campaign = make_campaign(
        batch_size=2, concurrency=2, compliance={"require_consent": False, "history": postgres_url}
    )
    with sqlite3.connect(tmp_path / "history.sqlite") as db:  # the campaign folder's own, moved in
        db.execute(
            "CREATE TABLE claims (api TEXT NOT NULL, number TEXT NOT NULL, called_at TEXT NOT NULL, "
            "run_dir TEXT NOT NULL, request_id TEXT NOT NULL, row INTEGER NOT NULL, "
            "PRIMARY KEY (run_dir, request_id, row))"
        )
        db.execute(
            "INSERT INTO claims VALUES (?, ?, ?, '/old/run', 'req-1', 2)",
            (server.url, numbers(1, 3000)[0], datetime.now(UTC).isoformat()),
        )
    source = leads(tmp_path / "leads.csv", numbers(1, 3000) + numbers(20))
    runs = [
        command("run", source, "-c", campaign, "-o", tmp_path / name, "--base-url", server.url, "--yes",
                "--no-preflight", key=server.config.api_key, cwd=tmp_path)
        for name in ("A", "B")
    ]  # fmt: skip
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert calls_per_number(server) == Counter(numbers(20)), outputs
    assert (tmp_path / "history.sqlite.moved").exists()


def test_a_postgresql_history_never_holds_its_password_in_the_campaign(make_campaign: Callable[..., Path]) -> None:
    from runner.campaign import load_campaign
    from runner.errors import CampaignError

    campaign = make_campaign(compliance={"history": "postgresql://ops:s3cret@db.example.com/calls"})
    with pytest.raises(CampaignError, match=r"keep the database password out of the campaign file") as caught:
        load_campaign(campaign)
    assert "s3cret" not in str(caught.value)
