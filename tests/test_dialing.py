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
from runner.errors import NetworkError
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
        results = {r.e164: r for r in row_results(run)}
        attempts = {r.attempts for r in results.values()}
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
    for number, rang in by_number.items():  # a row that never rang in four tries has failed, saying so
        if not any(rang):
            assert results[number].status == "failed" and results[number].reason.startswith("never rang")
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


def test_scheduled_calls_spread_over_their_window_across_time_zones(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    """Planned at midnight in New York: 12 New York rows and 3 Los Angeles rows, calling hours
    09:00-10:00 (less the 15-minute closing margin), 2 lines, 10-minute calls. New York's window
    takes 5 slots of 2 calls (14:00 to 14:40 UTC) and its 2 rows left go to the next day's window;
    Los Angeles' window opens at 17:00 UTC and takes 2 slots. No slot holds more calls than the
    lines. With the schedule ending that evening, the 2 rows left are not due, saying why."""
    from datetime import UTC, datetime

    from runner.planning.plan import plan_file

    path = tmp_path / "leads.csv"
    new_york = [f"+1212555{n:04d}" for n in range(100, 112)]
    los_angeles = [f"+1213555{n:04d}" for n in range(100, 103)]
    path.write_text("phone\n" + "".join(f"{n}\n" for n in new_york + los_angeles))
    dialing = {"lines": 2, "expected_call_seconds": 600}
    midnight = datetime(2030, 12, 2, 5, tzinfo=UTC)
    first_day = {f"2030-12-02T14:{minute:02d}:00Z": 2 for minute in range(0, 50, 10)}
    los_angeles_slots = {"2030-12-02T17:00:00Z": 2, "2030-12-02T17:10:00Z": 1}

    plan = plan_file(path, make_campaign(schedule={"calling_hours": "09:00-10:00"}, dialing=dialing), now=midnight)
    assert _due(plan) == {**first_day, **los_angeles_slots, "2030-12-03T14:00:00Z": 2}
    assert plan.counts() == {"planned": 15}
    assert plan.summary_lines()[-1] == (
        "scheduled: 15 call(s) at 2 line(s), about 600 s a call: 13 on Mon 02 Dec, 2 on Tue 03 Dec (UTC)"
    )

    ends = {"calling_hours": "09:00-10:00", "earliest_at": "2030-12-02T05:00:00Z", "latest_at": "2030-12-02T23:00:00Z"}
    short = plan_file(path, make_campaign(schedule=ends, dialing=dialing), now=midnight)
    assert _due(short) == {**first_day, **los_angeles_slots}
    assert short.counts() == {"planned": 13, "not due": 2}
    assert any("do not fit before the schedule ends" in warning for warning in short.warnings)


def _due(plan: Any) -> Counter[str]:
    """How many customers each earliestAt of a plan's requests carries."""
    return Counter(request.body["schedulePlan"]["earliestAt"] for request in plan.requests for _ in request.rows)


def test_a_call_that_can_never_start_fails_its_row_in_plain_words(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """A free Vapi number cannot call abroad: Vapi ends such calls at start. The row is not placed
    again (it would fail the same way): it is `failed`, its reason in words a person reads."""
    international = "call.start.error-vapi-number-international"
    server = sandbox(dial_now=True, call_seconds=0.2, start_error_rate=1.0, start_errors=(international,))
    _dial(tmp_path, make_campaign(batch_size=5), server, 3)
    with VapiClient("sandbox-key", server.url) as client, CampaignRun.reopen(tmp_path / "run") as run:
        _wait_until_ended(server)
        outcome = run.status(client, retry=True)
        rows = row_results(run)
    assert {(r.status, r.reason) for r in rows} == {("failed", "a free Vapi number cannot call outside the US")}
    assert len(_calls(server)) == 3 and outcome.exit_code == 1


class _UnreadableList:
    """A client whose call list never answers (each GET already retried by the real transport)."""

    base_url = "http://vapi.test"

    def api_time(self, moment: Any) -> Any:
        return moment

    def list_calls(self, **filters: Any) -> bytes:
        raise NetworkError("could not connect: refused (tried 3 times)", maybe_sent=False)


def test_a_run_that_cannot_read_the_call_list_pauses_instead_of_waiting_for_ever() -> None:
    from runner.campaign import Dialing
    from runner.sending.lines import Lines

    lines = Lines(_UnreadableList(), Dialing(lines=1), sleep=lambda seconds: None)  # type: ignore[arg-type]
    lines.placed({"phoneNumberId": "pn"}, [{"id": "c1", "status": "queued"}], {})  # the only line is held
    assert lines.take(1, threading.Event()) == 0
    assert "could not be read 10 times in a row" in lines.outage


@pytest.mark.slow  # four rounds of calls that never ring: about 3 s
def test_a_row_that_never_rings_is_given_up_and_leaves_no_claim(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Every call fails at start: each row is placed again three times, then fails with the
    reason, and the call history holds no claim for it (no call ever happened)."""
    server = sandbox(dial_now=True, call_seconds=0.2, start_error_rate=1.0)
    _dial(tmp_path, make_campaign(batch_size=3, dialing={"lines": 3}), server, 3)
    with VapiClient("sandbox-key", server.url) as client, CampaignRun.reopen(tmp_path / "run") as run:
        for _ in range(5):
            _wait_until_ended(server)
            run.status(client, retry=True)
        rows = row_results(run)
    assert Counter(call["customer"]["number"] for call in _calls(server)) == Counter(
        {f"+1202555{4000 + n:04d}": 4 for n in range(3)}
    )
    assert {r.status for r in rows} == {"failed"} and all(r.reason.startswith("never rang") for r in rows)
    with sqlite3.connect(state_dir() / "history.sqlite") as history:
        assert history.execute("SELECT count(*) FROM claims").fetchone() == (0,)
