"""The sandbox speaks Vapi's wire format: shapes, validation errors, filters, lifecycle, persistence,
and the official Python SDK parses every answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.sandbox import Sandbox, SandboxConfig
from runner.sandbox.resources import Resources
from runner.sandbox.store import CallStore

from .conftest import DATA

BODY: dict[str, Any] = {"assistantId": "asst_1", "phoneNumberId": "pn_1", "customer": {"number": "+12025550123"}}
HEADERS = {"Authorization": "Bearer sandbox-key"}


def post(server: Sandbox, body: Any, key: str = "sandbox-key") -> httpx.Response:
    return httpx.post(f"{server.url}/call", json=body, headers={"Authorization": f"Bearer {key}"})


def test_single_and_batch_shapes(sandbox: Any) -> None:
    server = sandbox()
    single = post(server, BODY)
    assert single.status_code == 201
    call = single.json()
    assert call["status"] == "queued" and call["customer"] == {"number": "+12025550123"}
    assert {"id", "orgId", "createdAt", "updatedAt", "subscriptionLimits"} <= set(call)
    batch = post(
        server,
        {
            **{k: v for k, v in BODY.items() if k != "customer"},
            "customers": [{"number": "+12025550124"}, {"number": "+12025550125"}],
        },
    )
    assert batch.status_code == 201
    assert [c["customer"]["number"] for c in batch.json()["results"]] == ["+12025550124", "+12025550125"]
    assert batch.json()["errors"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer": {"number": "2025550123"}}, "customer.number must be a valid phone number in the E.164 format"),
        ({"name": "x" * 41}, "name must be shorter than or equal to 40 characters"),
        ({"customer": {"number": "+12025550123", "externalId": "x" * 41}}, "customer.externalId must be shorter"),
        ({"metadata": {"row": 1}}, "property metadata should not exist"),
        (
            {"schedulePlan": {"earliestAt": "2030-01-01T10:00:00Z", "latestAt": "2030-01-01T09:00:00Z"}},
            "schedulePlan.latestAt must be after schedulePlan.earliestAt",
        ),
    ],
)
def test_validation_errors_are_nestjs_lists(sandbox: Any, change: dict[str, Any], message: str) -> None:
    response = post(sandbox(), {**BODY, **change})
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert any(message in m for m in body["message"])


@pytest.mark.parametrize("missing", ["assistantId", "phoneNumberId"])
def test_missing_assistant_or_number_is_a_string_message(sandbox: Any, missing: str) -> None:
    response = post(sandbox(), {k: v for k, v in BODY.items() if k != missing})
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)


def test_wrong_key_is_401(sandbox: Any) -> None:
    response = post(sandbox(), BODY, key="nope")
    assert response.status_code == 401
    assert response.json()["message"].startswith("Invalid Key")


def test_throttle_and_error_create_nothing(sandbox: Any) -> None:
    throttled = sandbox(throttle_rate=1.0, retry_after=3)
    response = post(throttled, BODY)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    failing = sandbox(error_rate=1.0)
    assert post(failing, BODY).status_code == 500
    for server in (throttled, failing):
        assert httpx.get(f"{server.url}/call", headers=HEADERS).json() == []


def test_drop_creates_the_call_and_closes_without_answer(sandbox: Any) -> None:
    server = sandbox(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(server, BODY)
    assert len(httpx.get(f"{server.url}/call", headers=HEADERS).json()) == 1


def test_partial_batch_refuses_some_customers(sandbox: Any) -> None:
    server = sandbox(partial_rate=0.5, seed=3)
    customers = [{"number": f"+1202555{n:04d}"} for n in range(100, 120)]
    body = {"assistantId": "a", "phoneNumberId": "p", "customers": customers}
    answer = post(server, body).json()
    assert answer["errors"] and answer["results"]
    assert len(answer["errors"]) + len(answer["results"]) == 20


def test_list_filters_and_limit(sandbox: Any) -> None:
    server = sandbox()
    post(server, BODY)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    post(server, {**BODY, "assistantId": "asst_2"})

    def listed(**params: Any) -> list[str]:
        return [c["assistantId"] for c in httpx.get(f"{server.url}/call", params=params, headers=HEADERS).json()]

    assert listed() == ["asst_2", "asst_1"]
    assert listed(assistantId="asst_1") == ["asst_1"]
    assert listed(createdAtGt=middle.isoformat()) == ["asst_2"]
    assert listed(createdAtLe=middle.isoformat()) == ["asst_1"]
    assert listed(limit=1) == ["asst_2"]
    assert httpx.get(f"{server.url}/call", params={"limit": 1001}, headers=HEADERS).status_code == 400


def test_lifecycle_and_delete(sandbox: Any) -> None:
    server = sandbox(call_seconds=0.3, dial_now=True, seed=1)
    call = post(server, BODY).json()
    time.sleep(0.4)
    ended = httpx.get(f"{server.url}/call/{call['id']}", headers=HEADERS).json()
    assert ended["status"] == "ended" and ended["endedReason"]
    scheduled_server = sandbox()
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = post(scheduled_server, {**BODY, "schedulePlan": {"earliestAt": later}}).json()
    assert scheduled["status"] == "scheduled"
    deleted = httpx.delete(f"{scheduled_server.url}/call/{scheduled['id']}", headers=HEADERS).json()
    assert (deleted["status"], deleted["endedReason"]) == ("ended", "scheduled-call-deleted")
    assert httpx.get(f"{server.url}/call/nope", headers=HEADERS).status_code == 404


@pytest.mark.slow
def test_a_call_deleted_while_ringing_says_it_started(sandbox: Any) -> None:
    server = sandbox(call_seconds=10, dial_now=True)  # queued for 1 s, then ringing
    call = post(server, BODY).json()
    time.sleep(1.1)
    deleted = httpx.delete(f"{server.url}/call/{call['id']}", headers=HEADERS).json()
    assert (deleted["status"], deleted["endedReason"]) == ("ended", "manually-canceled") and deleted["startedAt"]
    later = httpx.get(f"{server.url}/call/{call['id']}", headers=HEADERS).json()
    assert later["startedAt"] == deleted["startedAt"]


def test_calls_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "calls.jsonl"
    with Sandbox(SandboxConfig(state_path=state)) as first:
        call_id = post(first, BODY).json()["id"]
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        scheduled = post(first, {**BODY, "schedulePlan": {"earliestAt": later}}).json()["id"]
        httpx.delete(f"{first.url}/call/{scheduled}", headers=HEADERS)
    with Sandbox(SandboxConfig(state_path=state)) as second:
        assert httpx.get(f"{second.url}/call/{call_id}", headers=HEADERS).status_code == 200
        assert httpx.get(f"{second.url}/call/{scheduled}", headers=HEADERS).json()["status"] == "ended"
    assert len(state.read_text().splitlines()) == 3  # appended to: two calls, one deletion


@pytest.mark.slow
def test_a_request_costs_what_it_touches_not_what_the_sandbox_holds(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox(dial_now=True, call_seconds=10, concurrency_limit=10_000)  # calls ring after 1 s
    batch = {key: value for key, value in BODY.items() if key != "customer"}
    for start in range(0, 3000, 1000):
        customers = [{"number": f"+1202555{n:04d}"} for n in range(start, start + 1000)]
        assert post(server, {**batch, "customers": customers}).status_code == 201
    views = 0
    real_view = CallStore._view

    def counted(store: CallStore, call: dict[str, Any]) -> dict[str, Any]:
        nonlocal views
        views += 1
        return real_view(store, call)

    monkeypatch.setattr(CallStore, "_view", counted)
    time.sleep(1.1)  # every call rings, none has ended
    assert post(server, BODY).status_code == 201 and views == 1  # the new call's answer, nothing else
    assert server.store.active_count() == 3000
    views = 0
    listed = httpx.get(f"{server.url}/call", params={"limit": 10}, headers=HEADERS).json()
    assert len(listed) == 10 and views == 10


@pytest.mark.slow
def test_official_sdk_parses_every_answer(sandbox: Any) -> None:
    from vapi import Vapi
    from vapi.types import Call as SdkCall
    from vapi.types import CallBatchResponse as SdkBatch

    server = sandbox(dial_now=True, call_seconds=0.2, partial_rate=0.3, seed=2)
    with httpx.Client() as http:
        check_sdk(Vapi(token="sandbox-key", base_url=server.url, httpx_client=http), SdkCall, SdkBatch)


@pytest.mark.slow
def test_official_sdk_parses_seeded_resources(sandbox: Any) -> None:
    """A resources file's objects are answered as given (the SDK parses a free Vapi number), and
    ids not in it are 404s."""
    from vapi import Vapi
    from vapi.core.api_error import ApiError as SdkError

    server = sandbox(resources=Resources.load(DATA / "resources.json"))
    with httpx.Client() as http:
        client = Vapi(token="sandbox-key", base_url=server.url, httpx_client=http)
        assert client.assistants.get("asst_reminder").first_message == "Hi {{name}}, see you {{ appointment }}."
        free = client.phone_numbers.get("pn_free")
        assert free.provider == "vapi" and free.status == "active"
        with pytest.raises(SdkError) as caught:
            client.assistants.get("asst_unknown")
        assert caught.value.status_code == 404
        with pytest.raises(SdkError) as caught:
            client.phone_numbers.get("pn_unknown")
        assert caught.value.status_code == 404


def check_sdk(client: Any, SdkCall: type[Any], SdkBatch: type[Any]) -> None:
    single = client.calls.create(
        assistant_id="asst_1", phone_number_id="pn_1", customer={"number": "+12025550123", "name": "Ann"}
    )
    assert isinstance(single, SdkCall) and single.customer and single.customer.number == "+12025550123"
    batch = client.calls.create(
        assistant_id="asst_1",
        phone_number_id="pn_1",
        customers=[{"number": f"+1202555{n:04d}", "externalId": f"r{n}"} for n in range(130, 140)],
        schedule_plan={"earliest_at": datetime.now(UTC) + timedelta(hours=1)},
    )
    assert isinstance(batch, SdkBatch)
    assert len(batch.results) + len(batch.errors) == 10
    time.sleep(0.3)
    listed = client.calls.list(phone_number_id="pn_1", limit=100)
    assert len(listed) == 1 + len(batch.results)
    ended = client.calls.get(single.id)
    assert ended.status == "ended" and ended.ended_reason
    assert client.calls.delete(single.id).id == single.id
    # Preflight's endpoints: a plain assistant and an active number for any id, without --resources.
    assistant = client.assistants.get("asst_1")
    assert assistant.id == "asst_1" and assistant.first_message
    number = client.phone_numbers.get("pn_1")
    assert number.id == "pn_1" and number.status == "active" and number.provider == "twilio"
