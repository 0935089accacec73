"""The sandbox speaks Vapi's wire format: shapes, validation errors, filters, lifecycle, persistence,
and the official Python SDK parses every answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.ended_reasons import LIMIT_REASON
from runner.sandbox import Sandbox, SandboxConfig
from runner.sandbox.resources import Resources
from runner.sandbox.store import START_ERRORS, CallStore

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
    # Calls that never rang (no line free, a fault at start) parse too.
    reasons: set[str | None] = set()
    for faults in ({"concurrency_limit": 1}, {"start_error_rate": 1.0}):
        server = sandbox(dial_now=True, call_seconds=1, **faults)
        post(server, _batch(6))
        time.sleep(0.2)
        with httpx.Client() as http:
            listed = Vapi(token="sandbox-key", base_url=server.url, httpx_client=http).calls.list(limit=100)
        assert len(listed) == 6
        reasons |= {call.ended_reason for call in listed if call.status == "ended"}
    assert LIMIT_REASON in reasons and reasons & set(START_ERRORS)


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


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def from_spec(schema: Any, depth: int = 1) -> st.SearchStrategy[Any]:
    """Values drawn from one of Vapi's schemas (runner/vapi_schema.json), mostly near its limits and
    sometimes past them: the right shape with wrong values, unknown keys, wrong types. `$ref`s are
    followed `depth` levels, then anything goes."""
    from runner.spec import document

    if not isinstance(schema, dict) or depth < 0:
        return JSON
    if isinstance(schema.get("$ref"), str):
        return from_spec(document()["$defs"][schema["$ref"].rsplit("/", 1)[1]], depth - 1)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        return st.one_of([from_spec(branch, depth) for branch in branches[:6]])
    if schema.get("allOf"):
        return from_spec(schema["allOf"][0], depth)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if "enum" in schema:
        exact = st.sampled_from(schema["enum"])
    elif kind == "string":
        size = schema.get("maxLength", 50)
        exact = st.text(min_size=schema.get("minLength", 0), max_size=size) | st.just("x" * (size + 1))
    elif kind in ("number", "integer"):
        low, high = schema.get("minimum", -(10**6)), schema.get("maximum", 10**6)
        exact = st.integers(low, high) | st.sampled_from([low - 1, high + 1])
    elif kind == "boolean":
        exact = st.booleans()
    elif kind == "array":
        exact = st.lists(from_spec(schema.get("items", {}), depth), max_size=3)
    elif kind == "object" and isinstance(schema.get("properties"), dict):
        optional = {key: from_spec(value, depth) for key, value in list(schema["properties"].items())[:25]}
        shaped = st.fixed_dictionaries({}, optional=optional)
        exact = shaped | st.tuples(shaped, st.text(min_size=1, max_size=6), JSON).map(lambda t: {**t[0], t[1]: t[2]})
    else:
        return JSON
    return exact | JSON  # now and then a value of the wrong type altogether


@pytest.mark.slow
def test_the_sandbox_answers_any_body_or_query_as_vapi_would_and_survives(sandbox: Any) -> None:
    """Issue 44, case 6: bodies and queries drawn from Vapi's own schema (runner/vapi_schema.json),
    on one keep-alive connection: every answer is 201, 200, 400 or 404 in Vapi's envelope, never a
    500 or a dropped connection; a 201 only for a body the spec accepts; a body on a GET or DELETE
    does not spoil the next request."""
    from runner.spec import document, unknown_properties, violations

    server = sandbox()
    client = httpx.Client(base_url=server.url, headers=HEADERS, timeout=10)
    bodies = from_spec({"$ref": "#/$defs/CreateCallDTO"})
    declared = document()["queries"]["GET /call"]
    queries = st.dictionaries(st.sampled_from([*declared, "sortOrder", "page"]), st.text(max_size=30), max_size=4)
    ids = st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"), min_size=1, max_size=12
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, query=queries, call_id=ids, junk=st.binary(max_size=40))
    def exchange(body: Any, query: dict[str, str], call_id: str, junk: bytes) -> None:
        posted = client.post("/call", json=body)
        assert posted.status_code in (201, 400), posted.text
        assert posted.json().get("statusCode", 201) == posted.status_code
        if posted.status_code == 201:
            assert list(violations(body, "CreateCallDTO")) == [] and unknown_properties(body, "CreateCallDTO") == []
        listed = client.get("/call", params=query)
        assert listed.status_code in (200, 400), listed.text
        for method, path in (
            ("GET", f"/call/{call_id}"), ("DELETE", f"/call/{call_id}"), ("GET", f"/assistant/{call_id}"),
            ("GET", f"/phone-number/{call_id}"),
        ):  # fmt: skip
            answer = client.request(method, path, content=junk)
            assert answer.status_code in (200, 404), (method, path, answer.text)
        assert client.get("/call", params={"limit": 1}).status_code == 200  # the connection is still in step

    try:
        exchange()
    finally:
        client.close()


def test_the_sandbox_refuses_what_vapis_spec_refuses(sandbox: Any) -> None:
    """Issue 44, case 6: nested overrides and transient assistants the spec refuses were accepted,
    a body with `customerId` and no `customer` crashed the handler, and `limit=0` listed every call."""
    server = sandbox()
    cases = [
        ({**BODY, "assistantOverrides": {"maxDurationSeconds": 5}},
         "assistantOverrides.maxDurationSeconds 5 is less than the minimum of 10"),
        ({**BODY, "assistantOverrides": {"newThing": 1}}, "assistantOverrides.property newThing should not exist"),
        ({"workflowId": "wf", "phoneNumberId": "pn_1", "customer": {"number": "+12025550123"},
          "workflowOverrides": {"firstMessage": "Hi"}}, "workflowOverrides.property firstMessage should not exist"),
        ({"assistant": {"voice": {"provider": "11labs"}}, "phoneNumberId": "pn_1",
          "customer": {"number": "+12025550123"}}, "assistant.voice 'voiceId' is a required property"),
    ]  # fmt: skip
    for body, message in cases:
        answer = post(server, body)
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    saved = post(server, {"assistantId": "asst_1", "phoneNumberId": "pn_1", "customerId": "cus_1"})
    assert saved.status_code == 400 and "customerId" in saved.json()["message"]
    assert post(server, BODY).status_code == 201
    assert httpx.get(f"{server.url}/call", params={"limit": 0}, headers=HEADERS).json() == []
    unknown = httpx.get(f"{server.url}/call", params={"sortOrder": "ASC"}, headers=HEADERS)
    assert unknown.status_code == 400 and unknown.json()["message"] == ["property sortOrder should not exist"]


def _batch(count: int, **extra: Any) -> dict[str, Any]:
    body = {key: value for key, value in BODY.items() if key != "customer"}
    return {**body, "customers": [{"number": f"+1202555{n:04d}"} for n in range(count)], **extra}


def _calls(server: Sandbox) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(f"{server.url}/call", params={"limit": 1000}, headers=HEADERS).json()
    return listed


def _live_or(status: str) -> str:
    """A call holding a line is ringing, or in progress once answered: both are `live`."""
    return "live" if status in ("ringing", "in-progress") else status


def test_a_call_due_with_no_line_free_ends_with_the_limit_reason(sandbox: Any) -> None:
    """Two lines, five calls at once, over_limit fail (the default): two ring, three end at once,
    never having rung, with Vapi's reason; the answer's limits say so, and the lines free again."""
    server = sandbox(concurrency_limit=2, dial_now=True, call_seconds=0.5)
    answer = post(server, _batch(5)).json()
    assert answer["subscriptionLimits"]["remainingConcurrentCalls"] == 2  # nobody rings yet
    time.sleep(0.15)  # every call is due: it rings if a line is free
    calls = _calls(server)
    assert sorted(_live_or(call["status"]) for call in calls) == ["ended", "ended", "ended", "live", "live"]
    failed = [call for call in calls if call["status"] == "ended"]
    assert {call["endedReason"] for call in failed} == {LIMIT_REASON}
    assert not any("startedAt" in call for call in failed)
    assert server.limits() == {"concurrencyBlocked": True, "concurrencyLimit": 2, "remainingConcurrentCalls": 0}
    time.sleep(0.4)
    assert server.limits()["remainingConcurrentCalls"] == 2


@pytest.mark.slow  # three waves of calls: about 1 s
def test_over_limit_queue_waits_for_a_line_and_never_exceeds_the_lines(sandbox: Any) -> None:
    server = sandbox(concurrency_limit=2, dial_now=True, call_seconds=0.3, over_limit="queue")
    post(server, _batch(5))
    most = 0
    for _ in range(22):
        most = max(most, server.store.active_count())
        time.sleep(0.05)
    calls = _calls(server)
    assert most == 2
    assert [call["status"] for call in calls] == ["ended"] * 5
    assert LIMIT_REASON not in {call["endedReason"] for call in calls}


def test_a_scheduled_call_needs_a_line_when_its_time_comes(sandbox: Any) -> None:
    server = sandbox(concurrency_limit=1, call_seconds=1)
    soon = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    post(server, _batch(3, schedulePlan={"earliestAt": soon}))
    assert {call["status"] for call in _calls(server)} == {"scheduled"}
    time.sleep(0.6)
    statuses = sorted((_live_or(call["status"]), call.get("endedReason")) for call in _calls(server))
    assert statuses == [("ended", LIMIT_REASON), ("ended", LIMIT_REASON), ("live", None)]


def test_a_start_error_ends_a_call_that_never_rang(sandbox: Any) -> None:
    server = sandbox(concurrency_limit=2, dial_now=True, call_seconds=1, start_error_rate=1.0)
    post(server, _batch(4))
    time.sleep(0.2)
    calls = _calls(server)
    assert {call["endedReason"] for call in calls} <= set(START_ERRORS) and len(calls) == 4
    assert server.store.active_count() == 0 and not any("startedAt" in call for call in calls)


def test_a_deleted_call_frees_its_line_for_the_next_queued_one(sandbox: Any) -> None:
    server = sandbox(concurrency_limit=1, dial_now=True, call_seconds=3, over_limit="queue")
    first, second = (call["id"] for call in post(server, _batch(2)).json()["results"])
    time.sleep(0.4)
    assert [call["status"] for call in _calls(server)] == ["queued", "ringing"]  # newest first
    httpx.delete(f"{server.url}/call/{first}", headers=HEADERS)
    assert httpx.get(f"{server.url}/call/{second}", headers=HEADERS).json()["status"] == "ringing"


def test_the_lines_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "calls.jsonl"
    config = SandboxConfig(state_path=state, concurrency_limit=1, dial_now=True, call_seconds=3)
    with Sandbox(config) as first:
        post(first, _batch(2))
        time.sleep(0.4)
        before = sorted((call["id"], call["status"]) for call in _calls(first))
    with Sandbox(config) as second:
        assert sorted((call["id"], call["status"]) for call in _calls(second)) == before
        assert second.store.active_count() == 1
