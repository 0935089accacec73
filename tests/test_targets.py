"""What answers the calls and what every call carries, end to end against the sandbox: squads,
workflows, pinned assistant versions, and [assistant_overrides] merged with the rows' variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from runner.sending.run import CampaignRun
from runner.vapi.client import VapiClient

from .conftest import BASE_CAMPAIGN, to_toml
from .test_run import FAST

SHEET = "phone,name,appointment\n+12025550100,Ava,Mon 10:00\n+12025550101,Ben,\n+12025550102,Cy,Tue 09:30\n"
OVERRIDES = {
    "firstMessage": "Hi {{name}}, about {{appointment}}",
    "maxDurationSeconds": 300,
    "metadata": {"source": "nightly"},
    "variableValues": {"appointment": "your next visit", "clinic": "Northside"},
}


def run_campaign(tmp_path: Path, server: Any, **changes: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Send the sheet with the base campaign changed by `changes`: (the bodies planned, the calls
    the sandbox holds, oldest first)."""
    data = {**BASE_CAMPAIGN, "variables": {"appointment": "appointment"}, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "campaign.toml").write_text(to_toml(data), encoding="utf-8")
    (tmp_path / "leads.csv").write_text(SHEET, encoding="utf-8")
    with (
        VapiClient(server.config.api_key, server.url) as client,
        CampaignRun.open(tmp_path / "leads.csv", tmp_path / "campaign.toml", tmp_path / "run") as run,
    ):
        outcome = run.send(client, FAST)
        bodies = [request.body for request in run.plan.requests]
    assert outcome.counts == {"queued": 3}, outcome.counts
    headers = {"Authorization": f"Bearer {server.config.api_key}"}
    calls = httpx.get(f"{server.url}/call", params={"limit": 100}, headers=headers).json()
    return bodies, sorted(calls, key=lambda call: call["customer"]["number"])


def test_campaign_overrides_go_with_every_request_and_default_the_blank_variables(tmp_path: Path, sandbox: Any) -> None:
    bodies, calls = run_campaign(tmp_path, sandbox(), assistant_overrides=OVERRIDES)
    assert len(bodies) == 3  # split: each row's variables differ
    first = bodies[0]["assistantOverrides"]
    assert first == {
        "firstMessage": "Hi {{name}}, about {{appointment}}",
        "maxDurationSeconds": 300,  # a TOML integer stays a JSON integer
        "metadata": {"source": "nightly"},
        "variableValues": {"appointment": "Mon 10:00", "clinic": "Northside"},
    }
    values = [call["assistantOverrides"]["variableValues"] for call in calls]
    assert values == [
        {"appointment": "Mon 10:00", "clinic": "Northside"},
        {"appointment": "your next visit", "clinic": "Northside"},  # Ben's cell is empty: the default
        {"appointment": "Tue 09:30", "clinic": "Northside"},
    ]


def test_per_customer_variables_travel_with_each_customer_beside_the_campaigns(tmp_path: Path, sandbox: Any) -> None:
    bodies, calls = run_campaign(tmp_path, sandbox(), assistant_overrides=OVERRIDES, overrides="per-customer")
    [body] = bodies
    assert body["assistantOverrides"] == {
        "firstMessage": OVERRIDES["firstMessage"],
        "maxDurationSeconds": 300,
        "metadata": {"source": "nightly"},
    }
    assert [c["assistantOverrides"] for c in body["customers"]][1] == {
        "variableValues": {"appointment": "your next visit", "clinic": "Northside"}
    }
    assert calls[1]["assistantOverrides"]["firstMessage"] == OVERRIDES["firstMessage"]
    assert calls[1]["assistantOverrides"]["variableValues"]["appointment"] == "your next visit"


def test_a_squad_campaign_sends_squad_id_and_squad_overrides(tmp_path: Path, sandbox: Any) -> None:
    bodies, calls = run_campaign(tmp_path, sandbox(), assistant_id=None, squad_id="squad_front_desk")
    for body in bodies:
        assert body["squadId"] == "squad_front_desk"
        assert "assistantId" not in body and "assistant" not in body and "assistantOverrides" not in body
    assert calls[0]["squadOverrides"] == {"variableValues": {"appointment": "Mon 10:00"}}
    assert "squadOverrides" not in calls[1]  # Ben has no appointment, and no default
    assert {call["squadId"] for call in calls} == {"squad_front_desk"}


def test_a_transient_squad_and_a_workflow_and_a_pinned_version(tmp_path: Path, sandbox: Any) -> None:
    squad = {"members": [{"assistantId": "asst_greeter"}, {"assistantId": "asst_booker"}]}
    bodies, _ = run_campaign(tmp_path / "squad", sandbox(), assistant_id=None, squad=squad)
    assert bodies[0]["squad"] == squad
    bodies, calls = run_campaign(tmp_path / "workflow", sandbox(), assistant_id=None, workflow_id="wf_reminders")
    assert bodies[0]["workflowId"] == "wf_reminders" and calls[0]["workflowId"] == "wf_reminders"
    assert bodies[0]["workflowOverrides"] == {"variableValues": {"appointment": "Mon 10:00"}}
    bodies, calls = run_campaign(tmp_path / "pinned", sandbox(), assistant_version="7")
    assert bodies[0]["assistantId"] == "asst_test" and bodies[0]["assistantVersion"] == "7"
    assert calls[0]["assistantVersion"] == "7"


def test_the_campaigns_tables_are_checked_against_vapis_spec(write_csv: Any, make_campaign: Any) -> None:
    """Issue 44, case 4: `maxDurationSeconds = 5` (minimum 10), a 41-character `name`, an unknown
    `firstMessageMode`, a voice without `voiceId`: plan said nothing, and every row then failed."""
    from runner.planning.plan import plan_file

    overrides = {"maxDurationSeconds": 5, "name": "x" * 41, "firstMessageMode": "shout", "newThing": 1}
    warnings = plan_file(write_csv("phone\n+12025550100\n"), make_campaign(assistant_overrides=overrides)).warnings
    said = [w for w in warnings if "Vapi's spec" in w]
    assert said == [
        '[assistant_overrides] `firstMessageMode`: "shout" is not one of "assistant-speaks-first", '
        '"assistant-speaks-first-with-model-generated-message", "assistant-waits-for-user" (Vapi\'s spec, '
        "AssistantOverrides): every call would be refused; fix the campaign",
        "[assistant_overrides] `maxDurationSeconds`: 5 is less than the minimum of 10 (Vapi's spec, "
        "AssistantOverrides): every call would be refused; fix the campaign",
        "[assistant_overrides] `name`: 41 characters, more than the 40 Vapi takes (Vapi's spec, AssistantOverrides): "
        "every call would be refused; fix the campaign",
        "[assistant_overrides] `newThing`: not in Vapi's spec (AssistantOverrides) as this tool knows it: Vapi "
        "refuses keys it does not know, unless it is newer than this copy of its spec",
    ]
    transient = make_campaign(assistant_id=None, assistant={"firstMessage": "Hi", "voice": {"provider": "11labs"}})
    warnings = plan_file(write_csv("phone\n+12025550100\n"), transient).warnings
    assert [w for w in warnings if "Vapi's spec" in w] == [
        "[assistant] `voice`: 'voiceId' is a required property (Vapi's spec, CreateAssistantDTO): every call would "
        "be refused; fix the campaign"
    ]
