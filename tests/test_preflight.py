"""Preflight, end to end against a sandbox seeded with tests/data/resources.json: nothing is sent
when an id is unknown, a number is not active or a template variable has no value; free Vapi
numbers keep to US rows. The assistant `asst_reminder` says {{name}}, {{ appointment }},
{{ clinic | upcase }}, {{date}}, {{customer.name}} and {{ name | default: 'friend' }}."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from runner.cli.commands import main
from runner.errors import PreflightError
from runner.inbox import Inbox
from runner.planning.plan import plan_file
from runner.planning.templates import needed_variables
from runner.sandbox.resources import Resources
from runner.sending.preflight import fetch
from runner.vapi.client import VapiClient

from .conftest import BASE_CAMPAIGN, DATA, to_toml
from .test_outcomes import wait_until_ended

ENV = {"VAPI_API_KEY": "sandbox-key"}
SHEET = (
    "phone,name,appointment\n"
    "+12025550100,Ava,Mon 10:00\n"
    "+12025550101,Ben,\n"
    "+447911123456,Cy,Tue 09:30\n"
    "+12025550103,Di,Wed 14:00\n"
)
# {{name}} is the sheet's name column (a role): [variables] sends it as a variable too.
VARIABLES = {"name": "name", "appointment": "appointment"}


@pytest.fixture
def seeded(sandbox: Any) -> Any:
    return sandbox(resources=Resources.load(DATA / "resources.json"))


def run(server: Any, folder: Path, *extra: str, sheet: str = SHEET, **changes: Any) -> Result:
    """`vapi-campaign run` of `sheet` with the base campaign changed by `changes`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {**BASE_CAMPAIGN, "assistant_id": "asst_reminder", "requests_per_minute": 6000, **changes}
    (folder / "campaign.toml").write_text(to_toml({k: v for k, v in data.items() if v is not None}), encoding="utf-8")
    (folder / "leads.csv").write_text(sheet, encoding="utf-8")
    arguments = ["run", str(folder / "leads.csv"), "-c", str(folder / "campaign.toml"), "-o", str(folder / "run")]
    return CliRunner().invoke(main, [*arguments, "--base-url", server.url, "--yes", *extra], env=ENV)


def posted(server: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers={"Authorization": "Bearer sandbox-key"})
    return list(answer.json())


def results(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "run" / "results.csv").open(encoding="utf-8-sig") as handle:
        return {row["phone"]: row for row in csv.DictReader(handle)}


def test_liquid_outputs_that_need_a_value() -> None:
    text = (
        "{{ a }} {{b.c}} {{- d | upcase -}} {{ e | default: 'x' }} {{ 'lit' }} {{ 5 }} {{ now }} {{customer.name}}"
        " {% assign f = 1 %}{{ f }} {% raw %}{{ g }}{% endraw %} {% for h in items %}{{ h }}{% endfor %} {{ a }}"
    )
    assert needed_variables(text) == ["a", "b", "d"]


def test_a_variable_no_column_gives_stops_the_run_and_nothing_is_sent(seeded: Any, tmp_path: Path) -> None:
    result = run(seeded, tmp_path)
    assert result.exit_code == 2, result.output
    assert "nothing was sent" in result.output and "Traceback" not in result.output
    # {{name}}: the name column is a role; {{clinic}}: no column at all. Both named, with the fix.
    assert "{{name}} (asst_reminder firstMessage) has no value in any of the 4 rows (rows 2, 3, 4, 5)" in result.output
    assert 'write {{customer.name}}, or add name = "name" to [variables]' in result.output
    assert "{{clinic}} (asst_reminder model.messages[0].content)" in result.output
    assert "{{date}}" not in result.output and "customer.name}} (" not in result.output  # built-ins
    assert posted(seeded) == []


def test_an_empty_cell_stops_the_run_naming_its_rows(seeded: Any, tmp_path: Path) -> None:
    overrides = {"variableValues": {"clinic": "Northside"}}
    result = run(seeded, tmp_path, variables=VARIABLES, assistant_overrides=overrides, phone_number_id="pn_test")
    assert result.exit_code == 2, result.output
    assert "{{appointment}} (asst_reminder firstMessage) is empty in 1 of 4 rows (column 'appointment'): row 3;" in (
        result.output
    )
    assert posted(seeded) == []


def test_defaults_let_the_run_go_and_the_summary_says_what_was_checked(seeded: Any, tmp_path: Path) -> None:
    """A `| default:` use (voicemailMessage's {{name}}) needs nothing; campaign defaults fill the rest."""
    overrides = {"variableValues": {"clinic": "Northside", "appointment": "your next visit"}}
    result = run(seeded, tmp_path, "--format", "csv", variables=VARIABLES, assistant_overrides=overrides)
    assert result.exit_code == 0, result.output
    assert "preflight: assistant asst_reminder: variables appointment, clinic, name: every row has a value" in (
        result.output
    )
    assert "preflight: phone number pn_test: twilio, active" in result.output
    calls = {call["customer"]["number"]: call for call in posted(seeded)}
    assert len(calls) == 4
    assert calls["+12025550101"]["assistantOverrides"]["variableValues"]["appointment"] == "your next visit"


def test_unknown_ids_and_an_inactive_number_stop_before_anything_is_sent(seeded: Any, tmp_path: Path) -> None:
    unknown = run(seeded, tmp_path / "a", assistant_id="asst_gone")
    assert unknown.exit_code == 2, unknown.output
    assert "assistant 'asst_gone' is not known to" in unknown.output
    assert "used by 4 row(s) (rows 2, 3, 4, 5); fix assistant_id in the campaign file" in unknown.output
    blocked = run(seeded, tmp_path / "b", phone_number_id="pn_blocked")
    assert blocked.exit_code == 2 and "phone number 'pn_blocked' is blocked, not active" in blocked.output
    number = run(seeded, tmp_path / "c", phone_number_id="pn_nowhere")
    assert "phone number 'pn_nowhere' is not known to" in number.output
    assert posted(seeded) == []
    # The folder keeps no ledger of the refused plan: the corrected campaign runs in it.
    overrides = {"variableValues": {"clinic": "Northside", "appointment": "soon"}}
    fixed = run(seeded, tmp_path / "a", variables=VARIABLES, assistant_overrides=overrides)
    assert fixed.exit_code == 0, fixed.output
    assert len(posted(seeded)) == 4


def test_a_free_number_calls_only_us_rows_and_warns_of_its_cap(seeded: Any, tmp_path: Path) -> None:
    overrides = {"variableValues": {"clinic": "Northside", "appointment": "soon"}}
    result = run(
        seeded, tmp_path, "--format", "csv", variables=VARIABLES, assistant_overrides=overrides,
        phone_number_id="pn_free",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pn_free is a free Vapi number: it calls US numbers only" in result.output
    assert "daily cap" in result.output
    uk = results(tmp_path)["+447911123456"]
    assert uk["status"] == "suppressed"
    assert uk["reason"].startswith("international number: pn_free is a free Vapi number")
    assert sorted(call["customer"]["number"] for call in posted(seeded)) == [
        "+12025550100", "+12025550101", "+12025550103"
    ]  # fmt: skip
    again = run(seeded, tmp_path, "--format", "csv", variables=VARIABLES, assistant_overrides=overrides,
                phone_number_id="pn_free")  # fmt: skip
    assert again.exit_code == 0 and len(posted(seeded)) == 3  # the resumed run keeps its plan
    assert results(tmp_path)["+447911123456"]["status"] == "suppressed"


def test_no_preflight_sends_with_a_warning(seeded: Any, tmp_path: Path) -> None:
    result = run(seeded, tmp_path, "--no-preflight", assistant_id="asst_gone")
    assert "warning: --no-preflight" in result.output
    assert len(posted(seeded)) == 4  # the sandbox's POST does not look the assistant up


def test_plan_checks_a_transient_assistant_without_the_network(tmp_path: Path) -> None:
    data = {**BASE_CAMPAIGN, "assistant_id": None, "assistant": {"firstMessage": "See you {{ appointment }}"}}
    (tmp_path / "campaign.toml").write_text(to_toml({k: v for k, v in data.items() if v is not None}))
    (tmp_path / "leads.csv").write_text(SHEET)
    arguments = ["plan", str(tmp_path / "leads.csv"), "-c", str(tmp_path / "campaign.toml"), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert "`run` would stop here: template variable {{appointment}} (the [assistant] firstMessage) is empty in 1" in (
        result.output
    )
    assert (tmp_path / "o" / "requests.jsonl").exists()  # the plan is still written, to look at


def test_the_inbox_fails_a_file_whose_variables_are_missing(seeded: Any, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns" / "reminders"
    (folder / "inbox").mkdir(parents=True)
    data = {**BASE_CAMPAIGN, "assistant_id": "asst_reminder", "variables": VARIABLES}
    (folder / "campaign.toml").write_text(to_toml(data))
    dropped = folder / "inbox" / "leads.csv"
    dropped.write_text(SHEET)
    past = time.time() - 60
    os.utime(dropped, (past, past))
    with VapiClient("sandbox-key", seeded.url) as client:
        [outcome] = Inbox(tmp_path / "campaigns", client).run_once()
    assert outcome.state == "failed"
    error = (folder / "failed" / "leads.csv.error.txt").read_text()
    assert "{{clinic}}" in error and "nothing was sent" in error
    assert posted(seeded) == []


def test_the_inbox_logs_a_free_numbers_warning(seeded: Any, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns" / "reminders"
    (folder / "inbox").mkdir(parents=True)
    overrides = {"variableValues": {"clinic": "Northside", "appointment": "soon"}}
    data = {**BASE_CAMPAIGN, "assistant_id": "asst_reminder", "phone_number_id": "pn_free", "variables": VARIABLES,
            "assistant_overrides": overrides, "requests_per_minute": 6000}  # fmt: skip
    (folder / "campaign.toml").write_text(to_toml(data))
    dropped = folder / "inbox" / "leads.csv"
    dropped.write_text(SHEET)
    os.utime(dropped, (time.time() - 60, time.time() - 60))
    said: list[str] = []
    with VapiClient("sandbox-key", seeded.url) as client:
        [outcome] = Inbox(tmp_path / "campaigns", client, report=said.append).run_once()
    assert outcome.state == "done" and outcome.counts == {"queued": 3, "suppressed": 1}
    assert any("pn_free is a free Vapi number" in line for line in said)
    assert "pn_free is a free Vapi number" in (folder / "inbox.log").read_text()


def test_a_single_call_is_preflighted_too(seeded: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = {**BASE_CAMPAIGN, "assistant_id": "asst_gone"}
    (tmp_path / "campaign.toml").write_text(to_toml(data))
    arguments = ["call", "+12025550100", "-c", "campaign.toml", "--base-url", seeded.url, "--yes"]
    result = CliRunner().invoke(main, arguments, env=ENV)
    assert result.exit_code == 2 and "assistant 'asst_gone' is not known to" in result.output
    data["assistant_id"] = "asst_reminder"
    (tmp_path / "campaign.toml").write_text(to_toml(data))
    result = CliRunner().invoke(main, [*arguments, "--var", "clinic=Northside"], env=ENV)
    assert result.exit_code == 2 and "{{appointment}}" in result.output and "pass --var appointment=…" in result.output
    assert posted(seeded) == []


@pytest.mark.slow
def test_status_retry_preflights_the_follow_ups(sandbox: Any, tmp_path: Path) -> None:
    """The assistant is deleted after the first calls: the follow-ups are not sent, and say so."""
    server = sandbox(resources=Resources.load(DATA / "resources.json"), dial_now=True, call_seconds=0.3, seed=5)
    overrides = {"variableValues": {"clinic": "Northside", "appointment": "soon"}}
    retry = {"on": ["customer-did-not-answer", "customer-busy", "voicemail"], "max_attempts": 2, "after": "0s"}
    sheet = "phone,name\n" + "".join(f"+1202555{3000 + n:04d},P{n}\n" for n in range(16))
    first = run(server, tmp_path, sheet=sheet, variables={"name": "name"}, assistant_overrides=overrides, retry=retry)
    assert first.exit_code == 0, first.output
    wait_until_ended(server)
    sent = len(posted(server))
    server.config.resources.assistants.pop("asst_reminder")
    status = ["status", str(tmp_path / "run"), "--base-url", server.url, "--retry"]
    refused = CliRunner().invoke(main, status, env=ENV)
    assert refused.exit_code == 2, refused.output
    assert "assistant 'asst_reminder' is not known to" in refused.output
    assert len(posted(server)) == sent
    looked = CliRunner().invoke(main, status[:-1], env=ENV)  # without --retry nothing is sent: no preflight
    assert looked.exit_code == 0, looked.output


def test_a_key_that_may_not_read_assistants_is_told_how_to_go_on(tmp_path: Path) -> None:
    """403 on GET /assistant: the message names --no-preflight (some keys may place calls only)."""
    (tmp_path / "leads.csv").write_text(SHEET)
    (tmp_path / "campaign.toml").write_text(to_toml({**BASE_CAMPAIGN, "assistant_id": "asst_reminder"}))
    plan = plan_file(tmp_path / "leads.csv", tmp_path / "campaign.toml")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "Forbidden resource", "statusCode": 403})

    with (
        VapiClient("key", "http://vapi.test", transport=httpx.MockTransport(answer)) as client,
        pytest.raises(PreflightError, match=r"may not read assistants .*pass --no-preflight"),
    ):
        fetch(plan, client)


def test_an_unknown_assistant_from_a_column_names_the_column(seeded: Any, tmp_path: Path) -> None:
    sheet = "phone,agent\n+12025550100,asst_reminder\n+12025550101,asst_gone\n+12025550102,asst_gone\n"
    result = run(seeded, tmp_path, sheet=sheet, columns={"assistant_id": "agent"})
    assert result.exit_code == 2, result.output
    assert "assistant 'asst_gone' is not known to" in result.output
    assert "used by 2 row(s) (rows 3, 4); fix the rows' column 'agent'" in result.output
    assert posted(seeded) == []
