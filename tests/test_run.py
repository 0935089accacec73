"""Sending at most once, against the real sandbox on loopback: every fault ends with each row called
exactly once (counted from the sandbox's GET /call) or clearly marked, never called twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.campaign import load_campaign
from runner.errors import OutdirError
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun, RunOutcome
from runner.sending.submitter import SubmitOptions
from runner.store.history import Caps, open_history
from runner.store.ledger import now_utc
from runner.vapi.client import VapiClient
from runner.vapi.credentials import base_url

from .rows import RowResult, row_results

FAST = SubmitOptions(
    concurrency=4,
    requests_per_minute=60_000,
    backoff_base=0.01,
    backoff_cap=0.05,
    reconcile_delay=0.05,
    max_attempts=30,
)


def numbers(count: int) -> list[str]:
    return [f"+1202555{1000 + n:04d}" for n in range(count)]


def write_input(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("phone,name\n" + "".join(f"{n},Person {i}\n" for i, n in enumerate(numbers(count))))
    return path


def calls_per_number(server: Sandbox) -> Counter[str]:
    calls = httpx.get(
        f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {server.config.api_key}"}
    ).json()
    return Counter(call["customer"]["number"] for call in calls)


def send(
    tmp_path: Path,
    campaign: Path,
    server: Sandbox,
    count: int,
    options: SubmitOptions = FAST,
    key: str | None = None,
    read_timeout: float = 5.0,
) -> tuple[RunOutcome, list[RowResult]]:
    client = VapiClient(key or server.config.api_key, server.url, timeout=httpx.Timeout(5.0, read=read_timeout))
    with client, CampaignRun.open(write_input(tmp_path, count), campaign, tmp_path / "run") as run:
        return run.send(client, options), row_results(run)


def statuses(results: list[RowResult]) -> Counter[str]:
    return Counter(result.status for result in results)


def test_batches_sent_once_and_rerun_sends_nothing(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox()
    campaign = make_campaign(batch_size=2)
    outcome, rows = send(tmp_path, campaign, server, 5)
    assert outcome.exit_code == 0
    assert statuses(rows) == {"queued": 5}
    assert all(r.call_id for r in rows)
    assert calls_per_number(server) == Counter(numbers(5))
    again, _ = send(tmp_path, campaign, server, 5)
    assert again.report.attempted == 0
    assert calls_per_number(server) == Counter(numbers(5))


def test_partial_batch_errors_fail_only_those_rows(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(partial_rate=0.4, seed=5)
    outcome, rows = send(tmp_path, make_campaign(batch_size=10), server, 20)
    counts = statuses(rows)
    assert counts["failed"] and counts["queued"] and counts["failed"] + counts["queued"] == 20
    assert outcome.exit_code == 1
    failed = [r for r in rows if r.status == "failed"]
    assert all(r.reason.startswith("refused by Vapi:") for r in failed)
    assert sum(calls_per_number(server).values()) == counts["queued"]


def test_400_rejects_rows_with_the_message(tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any) -> None:
    server = sandbox()
    outcome, rows = send(tmp_path, make_campaign(assistant_id="missing_assistant"), server, 3)
    assert statuses(rows) == {"failed": 3}
    assert "Couldn't Get Assistant" in rows[0].reason
    assert outcome.report.attempted == 1


def test_401_stops_everything_and_a_rerun_with_the_key_sends(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox()
    campaign = make_campaign(batch_size=1)
    one_at_a_time = SubmitOptions(concurrency=1, requests_per_minute=60_000)
    outcome, _ = send(tmp_path, campaign, server, 6, options=one_at_a_time, key="wrong")
    assert outcome.report.fatal is not None and outcome.report.attempted == 1
    assert outcome.exit_code == 1
    assert calls_per_number(server) == Counter()
    send(tmp_path, campaign, server, 6)
    assert calls_per_number(server) == Counter(numbers(6))


@pytest.mark.slow
def test_429_storm_backs_off_and_sends_each_once(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(throttle_rate=0.7, retry_after=0.0, seed=11)
    outcome, rows = send(tmp_path, make_campaign(batch_size=1), server, 12)
    assert outcome.report.attempted > 12  # it was throttled and retried
    assert statuses(rows) == {"queued": 12}
    assert calls_per_number(server) == Counter(numbers(12))


def test_dropped_and_slow_answers_are_reconciled_never_resent(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(drop_rate=0.3, slow_rate=0.3, slow_seconds=1.0, seed=4)
    outcome, rows = send(tmp_path, make_campaign(batch_size=2), server, 16, read_timeout=0.3)
    assert outcome.report.attempted == 8  # one attempt per request: nothing was retried
    assert statuses(rows) == {"queued": 16}
    assert any("found in Vapi's call list" in r.reason for r in rows)
    assert calls_per_number(server) == Counter(numbers(16))


@pytest.mark.slow
def test_500_left_unknown_until_the_operator_resends(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    server = sandbox(error_rate=1.0)
    campaign = make_campaign(batch_size=2)
    outcome, rows = send(tmp_path, campaign, server, 4)
    assert statuses(rows) == {"unknown": 4}
    assert outcome.exit_code == 1
    assert "--resend-unknown" in rows[0].reason
    again, rows = send(tmp_path, campaign, server, 4)
    assert again.report.attempted == 0  # unknown is never re-sent by itself
    server.config.__dict__["error_rate"] = 0.0  # the outage is over (the config is frozen for users)
    too_soon, rows = send(tmp_path, campaign, server, 4, options=replace(FAST, resend_unknown=True))
    assert (too_soon.report.requeued_rows, too_soon.report.held_rows) == (0, 4)  # sent under RESEND_AFTER ago
    assert statuses(rows) == {"unknown": 4}
    resent, rows = send(
        tmp_path,
        campaign,
        server,
        4,
        options=replace(FAST, resend_unknown=True, resend_after=timedelta(0)),
    )
    assert resent.report.requeued_rows == 4
    assert statuses(rows) == {"queued": 4}
    assert calls_per_number(server) == Counter(numbers(4))


def test_one_run_per_folder_and_one_plan_per_folder(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    campaign = make_campaign()
    source = write_input(tmp_path, 2)
    with (
        CampaignRun.open(source, campaign, tmp_path / "run"),
        pytest.raises(OutdirError, match=r"another vapi-campaign run \(process \d+\) is using this folder"),
    ):
        CampaignRun.open(source, campaign, tmp_path / "run")
    with pytest.raises(OutdirError, match="holds a run of a different spreadsheet or campaign"):
        CampaignRun.open(source, make_campaign(batch_size=7), tmp_path / "run")


def test_a_schedule_is_brought_up_to_date_when_sent() -> None:
    from datetime import UTC, datetime

    from runner.sending.submitter import current_schedule

    now = datetime(2030, 12, 2, 15, 0, tzinfo=UTC)
    body = {"customer": {"number": "+12025550100"}}
    future = {**body, "schedulePlan": {"earliestAt": "2030-12-02T16:00:00Z", "latestAt": "2030-12-02T20:00:00Z"}}
    opened = {**body, "schedulePlan": {"earliestAt": "2030-12-02T13:00:00Z", "latestAt": "2030-12-02T20:00:00Z"}}
    closed = {**body, "schedulePlan": {"earliestAt": "2030-12-02T09:00:00Z", "latestAt": "2030-12-02T15:00:30Z"}}
    assert current_schedule(body, now) == body
    assert current_schedule(future, now) == future
    assert current_schedule(opened, now) == {
        **body,
        "schedulePlan": {"earliestAt": "2030-12-02T15:00:05Z", "latestAt": "2030-12-02T20:00:00Z"},
    }
    assert current_schedule(closed, now) is None


def test_a_request_whose_window_closed_is_never_sent(tmp_path: Path, sandbox: Any) -> None:
    from runner.planning.requests import CallRequest
    from runner.sending.submitter import Submitter
    from runner.store.ledger import Ledger

    server = sandbox()
    stale = CallRequest.of(
        "req_stale",
        (2,),
        {
            "assistantId": "a",
            "phoneNumberId": "p",
            "customer": {"number": "+12025550100"},
            "schedulePlan": {"earliestAt": "2020-01-01T14:00:00Z", "latestAt": "2020-01-01T22:00:00Z"},
        },
    )
    ledger = Ledger.open(tmp_path, "run", [stale])
    with VapiClient("sandbox-key", server.url) as client:
        report = Submitter(ledger, client, FAST).run()
    [request] = ledger.requests()
    assert report.attempted == 0 and request.state == "rejected"
    assert ledger.outcomes()[2].reason.startswith("not sent: its calling window closed")
    assert calls_per_number(server) == Counter()
    ledger.close()


def test_a_resumed_run_keeps_the_requests_of_its_first_planning(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """requests.jsonl is the run's plan as its ledger holds it: a later look re-plans the sheet
    (the call history may have moved: here another folder called one of the numbers since) and
    must not rewrite the file with requests that were never sent."""
    server = sandbox()
    campaign = make_campaign(batch_size=2)
    send(tmp_path, campaign, server, 5)
    planned = (tmp_path / "run" / "requests.jsonl").read_bytes()
    history = open_history(load_campaign(campaign))
    history.claim(base_url(None), str(tmp_path / "elsewhere"), "req-x", now_utc(), {2: numbers(5)[0]}, Caps(0, 1000))
    history.close()
    with VapiClient(server.config.api_key, server.url) as client, CampaignRun.reopen(tmp_path / "run") as run:
        assert run.plan.counts()["suppressed"] == 1  # what a plan today would say
        outcome = run.status(client)
    assert (tmp_path / "run" / "requests.jsonl").read_bytes() == planned
    assert outcome.counts == {"queued": 5}  # the ledger's truth: all five were sent


def test_the_results_are_the_same_joined_a_few_rows_at_a_time(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large sheet's results are joined onto the plan's rows a chunk at a time (memory): the same
    table as all at once, wherever the chunks cut (inside a request, beside a row never sent)."""
    from runner.results import run_results

    server = sandbox()
    source = write_input(tmp_path, 6)
    source.write_text(source.read_text() + "12,Not a number\n")
    client = VapiClient(server.config.api_key, server.url)
    with client, CampaignRun.open(source, make_campaign(batch_size=2), tmp_path / "run") as run:
        run.send(client, FAST)
        whole = run.results()
        for size in (1, 3, 4):
            monkeypatch.setattr(run_results, "CHUNK_ROWS", size)
            assert run.results().equals(whole)
    assert Counter(whole.get_column("status")) == {"queued": 6, "invalid": 1}
