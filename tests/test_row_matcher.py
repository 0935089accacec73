"""Which row of a request Vapi's answer means: RowMatcher against the rule as the README says it,
written plainly (each customer's keys, first row wins; an externalId, when the answer carries one,
is the only key looked at)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.sending.submitter import RowMatcher
from runner.store.ledger import LedgerRequest

_FIELDS = {
    "externalId": st.sampled_from([None, "", "e1", "e2"]),
    "number": st.sampled_from([None, "", "+12025550100", "+12025550101"]),
    "extension": st.sampled_from([None, "", "9"]),
    "sipUri": st.sampled_from([None, "", "sip:a@x", "sip:b@x"]),
}
customers = st.fixed_dictionaries({}, optional=_FIELDS)


def _keys(customer: dict[str, Any]) -> list[str]:
    keys = []
    if customer.get("externalId"):
        keys.append("id:" + customer["externalId"])
    if customer.get("number"):
        keys.append(f"n:{customer['number']};{customer.get('extension') or ''}")
    if customer.get("sipUri"):
        keys.append("sip:" + customer["sipUri"])
    return keys


def reference(sent: list[dict[str, Any]], rows: list[int], returned: dict[str, Any]) -> int | None:
    table: dict[str, int] = {}
    for row, customer in zip(rows, sent, strict=True):
        for key in _keys(customer):
            table.setdefault(key, row)
    keys = _keys(returned)
    if returned.get("externalId"):
        keys = keys[:1]
    return next((table[key] for key in keys if key in table), None)


@given(st.lists(customers, min_size=1, max_size=6), customers)
def test_the_matcher_follows_the_rule(sent: list[dict[str, Any]], returned: dict[str, Any]) -> None:
    rows = [10 + 3 * n for n in range(len(sent))]
    request = LedgerRequest("r", 1, "", tuple(rows), "sending", 1, None, "", 1)
    matcher = RowMatcher(request, {"customers": sent})
    assert matcher.row_for(returned) == reference(sent, rows, returned)
    assert matcher.row_for(None) is None
