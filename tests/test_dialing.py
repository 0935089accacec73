"""Dialling within the account's lines: a run never holds more calls live than the lines it may
use (counted by the sandbox, not by the tool), in both of the sandbox's modes, and rings each
number once; what Vapi's ended reasons mean is one table, checked against Vapi's whole list."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.ended_reasons import ACCOUNT_STOPS, FINAL_FOR_ROW, LIMIT_REASON, NEVER_RANG, Ending, ending
from runner.sandbox import Sandbox
from runner.sending.run import CampaignRun
from runner.sending.submitter import SubmitOptions
from runner.spec import ended_reasons
from runner.vapi.client import VapiClient

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


def _dial(tmp_path: Path, campaign: Path, server: Sandbox, count: int) -> tuple[int, Any]:
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
            outcome = run.send(client, FAST)
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
    most, outcome = _dial(tmp_path, campaign, server, 12)
    assert outcome.exit_code == 0 and 0 < most <= 3
    assert len(_calls(server)) == 12 and server.requests["POST /call"] >= 4


def test_a_campaign_that_keeps_every_line_free_is_refused(make_campaign: Callable[..., Path]) -> None:
    from runner.campaign import load_campaign
    from runner.errors import CampaignError

    with pytest.raises(CampaignError, match="reserve_lines"):
        load_campaign(make_campaign(dialing={"lines": 2, "reserve_lines": 2}))
