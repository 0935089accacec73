"""Dialling within the account's lines: a run never holds more calls live than the lines it may
use (counted by the sandbox, not by the tool), in both of the sandbox's modes, and rings each
number once; what Vapi's ended reasons mean is one table, checked against Vapi's whole list."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.ended_reasons import ACCOUNT_STOPS, FINAL_FOR_ROW, LIMIT_REASON, NEVER_RANG, Ending, ending
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.sending.submitter import Dialled, SubmitOptions
from runner.spec import ended_reasons
from runner.vapi.client import VapiClient
from runner.vapi.connect import state_dir

from .rows import row_results

FAST = SubmitOptions(requests_per_minute=10_000, reconcile_delay=0.05)


def test_every_start_error_vapi_lists_is_classified() -> None:
    listed = set(ended_reasons())
    named = NEVER_RANG | ACCOUNT_STOPS | set(FINAL_FOR_ROW)
    assert named <= listed  # no typo: every reason named is one Vapi has
    unclassified = [r for r in listed if r.startswith("call.start.error") and ending(r) is Ending.CALL]
    assert unclassified == []
    assert ending(LIMIT_REASON) is Ending.NEVER_RANG and ending("customer-did-not-answer") is Ending.CALL


def _leads(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("phone\n" + "".join(f"+1202555{4000 + n:04d}\n" for n in range(count)))
    return path


def _calls(server: Sandbox) -> list[dict[str, Any]]:
    headers = {"Authorization": "Bearer sandbox-key"}
    listed: list[dict[str, Any]] = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers=headers).json()
    return listed


def _dial(
    tmp_path: Path, campaign: Path, server: Sandbox, count: int, progress: Callable[[Dialled], None] | None = None
) -> tuple[int, Any]:
    """Run the campaign over `count` rows; the most calls the sandbox had live at once, sampled
    while the run sends, and the run's outcome."""
    most, done = 0, threading.Event()

    def sample() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, server.store.active_count())
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with (
            VapiClient("sandbox-key", server.url) as client,
            CampaignRun.open(_leads(tmp_path, count), campaign, tmp_path / "run", "csv", server.url) as run,
        ):
            outcome = run.send(client, FAST, progress)
    finally:
        done.set()
        sampler.join()
    return most, outcome


@pytest.mark.slow  # the calls take their time on 10 lines: about 4 s
@pytest.mark.parametrize("over_limit", ["fail", "queue"])
def test_a_run_keeps_within_the_lines_and_rings_each_number_once(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any, over_limit: str
) -> None:
    """40 people, batches of 25, on an account of 10 lines of which 2 are kept free: the sandbox
    never has more than 8 live, no call fails for want of a line, each number rings once."""
    server = sandbox(concurrency_limit=10, over_limit=over_limit, dial_now=True, call_seconds=0.6)
    campaign = make_campaign(batch_size=25, dialing={"reserve_lines": 2})
    most, outcome = _dial(tmp_path, campaign, server, 40)
    assert outcome.exit_code == 0, outcome.report.notes
    assert 0 < most <= 8
    calls = _calls(server)
    assert LIMIT_REASON not in {call.get("endedReason") for call in calls}
    assert Counter(call["customer"]["number"] for call in calls) == Counter(
        f"+1202555{4000 + n:04d}" for n in range(40)
    )


@pytest.mark.slow  # 12 calls on 3 lines: about 1.5 s
def test_the_lines_come_from_the_campaign_before_vapi_says(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """[dialing] lines = 3: three calls live at most, though the account has more (its answers
    say 1000); a batch of 12 goes out in pieces as lines free."""
    server = sandbox(dial_now=True, call_seconds=0.4)
    campaign = make_campaign(batch_size=12, dialing={"lines": 3})
    shown: list[Dialled] = []
    most, outcome = _dial(tmp_path, campaign, server, 12, shown.append)
    assert outcome.exit_code == 0 and 0 < most <= 3
    assert len(_calls(server)) == 12 and server.requests["POST /call"] >= 4
    # The progress a person sees: people placed, waiting, calls live (never more than the lines).
    assert [now.placed for now in shown] == sorted(now.placed for now in shown) and shown[-1].placed == 12
    assert shown[-1].waiting == 0 and max(now.live for now in shown) <= 3


def test_a_campaign_that_keeps_every_line_free_is_refused(make_campaign: Callable[..., Path]) -> None:
    from runner.campaign import load_campaign
    from runner.errors import CampaignError

    with pytest.raises(CampaignError, match="reserve_lines"):
        load_campaign(make_campaign(dialing={"lines": 2, "reserve_lines": 2}))


@pytest.mark.slow  # calls on 3 lines, then a status: about 3 s
def test_calls_that_never_rang_are_placed_again_and_counted_nowhere_as_calls(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """A quarter of the calls end at start with a Vapi fault: the run places those rows again as
    its looks find them (and status --retry the rest), each number rings at most once, a row gives
    up only after three placements more, no placement is an attempt, and the call history holds a
    claim only for the calls that rang."""
    server = sandbox(dial_now=True, call_seconds=0.3, start_error_rate=0.25)
    campaign = make_campaign(batch_size=20, dialing={"lines": 3})
    _dial(tmp_path, campaign, server, 20)
    with VapiClient("sandbox-key", server.url) as client, CampaignRun.reopen(tmp_path / "run") as run:
        for _ in range(4):
            _wait_until_ended(server)
            run.status(client, retry=True)
        attempts = {r.attempts for r in row_results(run)}
    calls = _calls(server)
    never = [call for call in calls if ending(call.get("endedReason")) is Ending.NEVER_RANG]
    assert never, "no call failed at start: the sandbox's rate did not apply"
    by_number: dict[str, list[bool]] = {}
    for call in calls:
        by_number.setdefault(call["customer"]["number"], []).append(call not in never)
    assert len(by_number) == 20
    for number, rang in by_number.items():
        assert sum(rang) <= 1, number
        assert sum(rang) == 1 or len(rang) == 4, (number, rang)  # placed again three times, then left
    assert attempts == {"1"}
    with sqlite3.connect(state_dir() / "history.sqlite") as history:
        claimed = Counter(number for (number,) in history.execute("SELECT number FROM claims"))
    assert claimed == Counter({number for number, rang in by_number.items() if any(rang)})


def _wait_until_ended(server: Sandbox, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(call["status"] != "ended" for call in _calls(server)):
        time.sleep(0.05)


@pytest.mark.slow  # a second or two of calls on 2 lines
def test_a_call_that_ends_for_the_account_stops_the_run(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Every call ends with 'insufficient credits': the run stops at the first look that sees it,
    says why, exits 1, and the rows not sent stay planned for the same command to send later."""
    credits = "call.start.error-subscription-insufficient-credits"
    server = sandbox(dial_now=True, call_seconds=0.3, start_error_rate=1.0, start_errors=(credits,))
    _, outcome = _dial(tmp_path, make_campaign(batch_size=10, dialing={"lines": 2}), server, 10)
    assert outcome.report.stopped_by == credits and outcome.exit_code == 1
    assert any(credits in note for note in outcome.report.notes)
    assert len(_calls(server)) < 10 and outcome.counts.get("planned", 0) == 10 - len(_calls(server))


@pytest.mark.slow  # forty calls that never ring, on 3 lines
def test_a_run_pauses_when_most_calls_fail_at_start(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Vapi failing every call at start (an outage): the run places rows again for a while, then
    pauses with the reason and exit 1 instead of burning through the sheet; rows stay to send."""
    server = sandbox(dial_now=True, call_seconds=0.2, start_error_rate=1.0)
    _, outcome = _dial(tmp_path, make_campaign(batch_size=30, dialing={"lines": 3}), server, 30)
    assert outcome.report.paused and outcome.exit_code == 1
    assert any("failed at start" in note for note in outcome.report.notes)
    assert outcome.counts.get("planned", 0) > 0


def test_the_plan_says_what_dialling_takes() -> None:
    from runner.campaign import Dialing

    said = Dialing(lines=10, reserve_lines=2, expected_call_seconds=90).budget(1200)
    assert (
        said
        == "dialling: lines 10 (8 after reserve) · about 90 s a call · 1,200 call(s) need about 3 h 45 min of dialling"
    )
    assert "Vapi's default" in Dialing().budget(30) and "about 6 min" in Dialing().budget(30)
