"""What a run keeps of each call it fetched: polars reads a page of Vapi's call list as the plain
one-dict-at-a-time specification says, whatever the calls hold; the list's pages give each wanted
call once, with its row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.vapi import call_list as refresh
from runner.vapi.call_fields import CALL_COLUMNS, CALL_SCHEMA, calls_of, page_calls, polars_page, shown
from runner.vapi.call_list import CallSearch, list_calls

ENDED = {"id": "c1", "status": "ended", "endedReason": "customer-ended-call", "customer": {"number": "+12025550100"}}

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
SCALAR = st.one_of(
    st.none(),
    TEXT,
    st.sampled_from(["2030-12-02T15:00:00.000Z", "2030-12-02T15:01:12.5+01:00", "2030-12-02T15:00:00", "1", "true"]),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
SMALL = st.integers(-1000, 1000)
ANY = st.one_of(SCALAR, st.lists(SMALL, max_size=2), st.dictionaries(st.just("k"), SMALL, max_size=1))


def _object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """An object with some of these fields, or (rarely) something that is not an object."""
    return st.one_of(st.fixed_dictionaries({}, optional=fields), st.none(), ANY)


CALL = st.fixed_dictionaries(
    {"id": TEXT},
    optional={
        "createdAt": ANY, "status": ANY, "endedReason": ANY, "startedAt": ANY, "endedAt": ANY, "cost": ANY,
        "customer": _object({"number": ANY, "name": ANY}),
        "analysis": _object({"summary": ANY, "successEvaluation": ANY,
                             "structuredData": _object({"optOut": ANY, "other": ANY})}),
        "messages": ANY,
    },
)  # fmt: skip


@pytest.mark.slow  # a property test over pages: over a second
@given(st.lists(CALL, max_size=6))
def test_polars_reads_a_page_as_the_specification_does(calls: list[dict[str, Any]]) -> None:
    read = polars_page(orjson.dumps(calls), "optOut")
    if read is not None:
        assert shown(read, "optOut").equals(calls_of(calls, "optOut"))
    assert page_calls(orjson.dumps(calls), "optOut").equals(calls_of(calls, "optOut"))


@given(st.lists(st.fixed_dictionaries({"id": TEXT}, optional={"status": TEXT, "cost": st.floats(0, 100),
       "customer": st.fixed_dictionaries({"number": TEXT}), "analysis": st.fixed_dictionaries({"summary": TEXT})}),
       max_size=6))  # fmt: skip
def test_a_page_as_vapi_types_it_is_read_by_polars(calls: list[dict[str, Any]]) -> None:
    assert polars_page(orjson.dumps(calls), "optOut") is not None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"startedAt": "2030-12-02T15:00:00.000Z", "endedAt": "2030-12-02T15:01:12.500Z", "cost": 0.0512,
             "analysis": {"summary": "Booked.", "successEvaluation": "true"}},
            {"started_at": "2030-12-02T15:00:00.000Z", "ended_at": "2030-12-02T15:01:12.500Z", "duration_s": "72",
             "cost": "0.0512", "summary": "Booked.", "success_evaluation": "true"},
        ),
        (  # verdicts that are not text: shown as their JSON
            {"cost": 3, "analysis": {"summary": 0, "successEvaluation": True}},
            {"cost": "3", "summary": "0", "success_evaluation": "true"},
        ),
        ({"analysis": {"summary": ["a"], "successEvaluation": 8.5}}, {"summary": '["a"]', "success_evaluation": "8.5"}),
        (  # ends that cannot be measured, a cost that is not a number, an analysis that is not an object
            {"startedAt": "soon", "endedAt": "2030-12-02T15:01:12Z", "cost": "free", "analysis": "n/a"},
            {"started_at": "soon", "ended_at": "2030-12-02T15:01:12Z", "duration_s": "", "cost": ""},
        ),
        ({"startedAt": "2030-12-02T15:00:00Z", "endedAt": None, "cost": False}, {"started_at": "2030-12-02T15:00:00Z"}),
    ],
)  # fmt: skip
def test_the_fields_kept_of_odd_calls(extra: dict[str, Any], expected: dict[str, str]) -> None:
    (fields,) = page_calls(orjson.dumps([{**ENDED, **extra}]), "optOut").to_dicts()
    blank = dict.fromkeys(CALL_COLUMNS, "")
    assert fields == {**blank, "status": "ended", "ended_reason": "customer-ended-call", **expected,
                      "call_id": "c1", "created_at": "", "number": "+12025550100", "opted_out": False,
                      "recording_url": "", "assistant_name": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "opted_out"), [(True, True), (1, True), (1.0, True), ("true", True), ("TRUE", True), ("1", True),
                            (False, False), (0, False), ("no", False), (None, False), ({"x": 1}, False)]
)  # fmt: skip
def test_the_opt_out_flag(flag: object, opted_out: bool) -> None:
    call = {**ENDED, "analysis": {"structuredData": {"doNotCall": flag, "optOut": True}}}
    frame = page_calls(orjson.dumps([call]), "doNotCall")
    assert frame.schema == CALL_SCHEMA
    assert frame.get_column("opted_out").to_list() == [opted_out]


@pytest.mark.parametrize("answer", [b'{"id": "c1"}', b"[1, 2]", b'"calls"'])
def test_an_answer_that_is_not_a_list_of_calls(answer: bytes) -> None:
    with pytest.raises(ValueError, match="not a JSON array of calls"):
        page_calls(answer, "optOut")


class _Pages:
    """A client whose GET /call answers these pages in turn, each but the last padded to a full
    page (LIST_LIMIT) by calls nobody wants, created with the page's last call, so the list goes on."""

    base_url = "http://pages"

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.asked: list[dict[str, Any]] = []

    def list_calls(self, **filters: Any) -> bytes:
        self.asked.append(filters)
        page = self.pages[len(self.asked) - 1]
        at = page[-1]["createdAt"]
        if len(self.asked) == len(self.pages):
            return orjson.dumps(page)
        return orjson.dumps(
            page + [{"id": f"other-{len(self.asked)}-{n}", "createdAt": at} for n in range(1000 - len(page))]
        )


def test_the_list_gives_each_wanted_call_once_with_its_row() -> None:
    def call(call_id: str, at: str) -> dict[str, Any]:
        return {**ENDED, "id": call_id, "createdAt": at}

    pages = [
        [call("b", "2030-01-02T00:00:00Z"), call("x", "2030-01-02T00:00:00Z"), call("b", "2030-01-02T00:00:00Z")],
        [call("a", "2030-01-01T00:00:00Z")],
        [call("c", "2029-12-31T00:00:00Z")],
        [call("d", "2029-12-30T00:00:00Z")],
    ]
    client = _Pages(pages)
    search = CallSearch([{"phoneNumberId": "pn"}], datetime(2029, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))
    wanted = pl.DataFrame({"row": [7, 8, 9], "call_id": ["c", "a", "b"]})
    found = pl.concat(list_calls(client, search, wanted, "optOut"))  # type: ignore[arg-type]
    assert sorted(found.select("row", "id").iter_rows()) == [(7, "c"), (8, "a"), (9, "b")]
    assert len(client.asked) == 3  # everything wanted was found: the fourth page is not asked for
    # each next page from the oldest call seen
    assert [asked["createdAtLe"] for asked in client.asked[1:]] == ["2030-01-02T00:00:00Z", "2030-01-01T00:00:00Z"]


def test_ids_of_one_hash_are_never_taken_for_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every id hashed alike: only the id that really is on the page is matched, with its own row;
    the others are left for the fetch by id, and the list is read to its end looking for them."""
    monkeypatch.setattr(refresh, "_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    pages = [[{**ENDED, "id": call_id, "createdAt": f"2030-01-0{4 - n}T00:00:00Z"}] for n, call_id in enumerate("abc")]
    client = _Pages(pages)
    search = CallSearch([{"phoneNumberId": "pn"}], datetime(2029, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))
    wanted = pl.DataFrame({"row": [7, 8, 9], "call_id": ["c", "a", "b"]})
    found = pl.concat(list_calls(client, search, wanted, "optOut"))  # type: ignore[arg-type]
    assert found.select("row", "id").rows() == [(7, "c")]
    assert len(client.asked) == 3


def test_a_page_as_vapi_answers_it_is_read_by_polars() -> None:
    """Calls with everything Vapi sends beside the fields kept (messages, costs, artifact, an
    analysis whose structured data holds objects): no field of them makes polars give up."""
    page = (Path(__file__).parent / "data" / "vapi_call_page.json").read_bytes()
    read = polars_page(page, "optOut")
    assert read is not None
    calls = shown(read, "optOut").select("call_id", "duration_s", "cost", "success_evaluation", "opted_out")
    assert calls.rows() == [("c1", "60", "0.0912", "true", False), ("c2", "60", "0.0912", "8", True),
                            ("c3", "", "", "", False)]  # fmt: skip
