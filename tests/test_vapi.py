"""The client's error mapping (httpx.MockTransport) and its network-failure classification."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest

from runner.errors import ApiError, AuthError, NetworkError
from runner.vapi.client import VapiClient
from runner.vapi.retry import parse_retry_after


def client_answering(status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> VapiClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=content, headers=headers))
    return VapiClient("key", "http://vapi.test", transport=transport)


def test_validation_message_list_is_joined() -> None:
    body = b'{"message":["customer.number must be E.164","name too long"],"error":"Bad Request","statusCode":400}'
    with pytest.raises(ApiError) as caught:
        client_answering(400, body).create_call({})
    assert caught.value.status == 400
    assert caught.value.message == "customer.number must be E.164; name too long"
    assert not isinstance(caught.value, AuthError)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b'{"message":"Invalid Key.","statusCode":401}'),
        (403, b"{}"),
        (400, b'{"message":"Insufficient credits to make this call.","statusCode":400}'),
    ],
)
def test_auth_and_billing_stop_the_run(status: int, body: bytes) -> None:
    with pytest.raises(AuthError):
        client_answering(status, body).create_call({})


def test_non_json_error_body_is_kept_as_text() -> None:
    with pytest.raises(ApiError, match="upstream exploded"):
        client_answering(502, b"<html>upstream exploded</html>").create_call({})


def test_retry_after_seconds_and_date() -> None:
    with pytest.raises(ApiError) as caught:
        client_answering(429, b"{}", {"Retry-After": "7"}).create_call({})
    assert caught.value.retry_after == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_shapes_told_apart_by_results_key() -> None:
    single = b'{"id":"c1","status":"queued","customer":{"number":"+12025550123"},"extra":1}'
    batch = b'{"results":[{"id":"c1"}],"errors":[{"customer":{"number":"+1"},"error":"no"}],'
    batch += b'"subscriptionLimits":{"remainingConcurrentCalls":0}}'
    one = client_answering(201, single).create_call({})
    assert [call["id"] for call in one.calls] == ["c1"] and one.errors == [] and not one.saturated
    response = client_answering(201, batch).create_call({})
    assert [call["id"] for call in response.calls] == ["c1"] and response.saturated
    assert response.errors == [{"customer": {"number": "+1"}, "error": "no"}]


@pytest.mark.parametrize(
    "body",
    [b'{"status": "queued"}', b'{"results": [{"id": 7}]}', b'{"results": {}}', b'{"id": "c1", "status": 3}'],
)
def test_an_unreadable_success_names_what_is_wrong(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        client_answering(201, body).create_call({})
    assert caught.value.status == 201 and "unreadable answer to POST /call" in caught.value.message


def test_connection_refused_was_provably_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NetworkError) as caught:
        VapiClient("key", f"http://127.0.0.1:{port}").create_call({})
    assert caught.value.maybe_sent is False


def test_a_proxy_in_the_environment_carries_the_post(sandbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A proxy set in the environment carries every request: with HTTP_PROXY naming a port no one
    listens on, the call never reaches the sandbox."""
    server = sandbox()
    body = {"assistantId": "asst_1", "phoneNumberId": "pn_1", "customer": {"number": "+12025550100"}}
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{probe.getsockname()[1]}")
    with VapiClient("sandbox-key", server.url) as proxied, pytest.raises(NetworkError) as caught:
        proxied.create_call(body)
    assert caught.value.maybe_sent is False
    monkeypatch.delenv("HTTP_PROXY")
    with VapiClient("sandbox-key", server.url) as direct:
        assert orjson.loads(direct.list_calls()) == []
        assert len(direct.create_call(body).calls) == 1
        assert len(orjson.loads(direct.list_calls())) == 1


def test_read_timeout_may_have_been_sent(sandbox) -> None:  # type: ignore[no-untyped-def]
    server = sandbox(latency_ms=500)
    client = VapiClient("sandbox-key", server.url, timeout=httpx.Timeout(5.0, read=0.1))
    with pytest.raises(NetworkError) as caught:  # a POST: never retried, so it may have been sent once
        client.create_call({"assistantId": "asst_1", "phoneNumberId": "pn_1", "customer": {"number": "+12025550100"}})
    assert caught.value.maybe_sent is True


def test_key_is_sent_as_bearer_and_never_in_errors() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(500, json={"message": "boom"})

    client = VapiClient("sk-secret-123", "http://vapi.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ApiError) as caught:
        client.create_call({})
    assert seen == ["Bearer sk-secret-123"]
    assert "sk-secret-123" not in str(caught.value)


def test_unreadable_success_is_an_error_that_says_so() -> None:
    with pytest.raises(ApiError) as caught:
        client_answering(201, b'{"status": "queued"}').create_call({})  # no id
    assert caught.value.status == 201 and "unreadable answer" in caught.value.message


def _counting(answers: list[int], headers: dict[str, str] | None = None) -> tuple[VapiClient, list[str], list[float]]:
    """A client whose server answers these statuses in turn, recording each request's method, and
    whose retries record their waits instead of sleeping."""
    seen: list[str] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        status = answers[min(len(seen), len(answers)) - 1]
        return httpx.Response(status, json=[] if status < 400 else {"message": "busy"}, headers=headers)

    client = VapiClient("key", "http://vapi.test", transport=httpx.MockTransport(handler))
    client._http._transport._sleep = waits.append  # type: ignore[attr-defined]
    return client, seen, waits


def test_a_get_is_retried_after_the_wait_the_api_asks_for() -> None:
    client, seen, waits = _counting([429, 503, 200], {"Retry-After": "2"})
    assert client.list_calls() == b"[]"
    assert seen == ["GET"] * 3 and waits == [2.0, 2.0]


def test_a_post_is_never_retried() -> None:
    client, seen, waits = _counting([503, 201])
    with pytest.raises(ApiError) as caught:
        client.create_call({})
    assert caught.value.status == 503 and seen == ["POST"] and waits == []


def test_a_get_that_keeps_failing_says_how_often_it_was_tried() -> None:
    client, seen, waits = _counting([500])
    with pytest.raises(NetworkError) as caught:
        client.get_call("c1")
    assert len(seen) == 6 and len(waits) == 5 and all(0 <= wait <= 30 for wait in waits)
    assert "500 busy (tried 6 times)" in str(caught.value) and caught.value.maybe_sent is False


def test_a_refused_connection_is_tried_three_times() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = VapiClient("key", f"http://127.0.0.1:{port}")
    waits: list[float] = []
    client._http._transport._sleep = waits.append  # type: ignore[attr-defined]
    with pytest.raises(NetworkError, match=r"could not connect.*tried 3 times"):
        client.delete_call("c1")
    assert len(waits) == 2
