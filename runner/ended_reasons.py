"""What a call's endedReason means for the row and the run, by what to do (Vapi's list has 600+
values; shared/reference/vapi-api.md groups the ones that matter here, and tests/test_dialing.py
checks every `call.start.error-*` of Vapi's OpenAPI document is named below).

- never rang: no call happened (no line was free, a fault before dialling); the row is placed
  again, and the claim does not count as a call;
- the account: every later call would fail the same way (no credit, frozen, fraud check); the
  run stops at once;
- final for the row: this row cannot be called this way (an international number from a free
  Vapi number, a misdialled number), said plainly;
- anything else is an outcome of a call that happened."""

from __future__ import annotations

from enum import StrEnum

LIMIT_REASON = "call.start.error-subscription-concurrency-limit-reached"
# Transient faults before dialling: the same call placed again may well ring.
TRANSIENT_START_ERRORS = (
    "call.in-progress.error-vapifault-worker-not-available",
    "call.in-progress.error-vapifault-transport-never-connected",
    "call.start.error-vapifault-database-error",
    "call.start.error-vapifault-get-org",
    "call.start.error-vapifault-get-subscription",
    "call.start.error-get-transport",
    "call.in-progress.error-sip-outbound-call-failed-to-connect",
    "vonage-failed-to-connect-call",
)
NEVER_RANG = frozenset({LIMIT_REASON, *TRANSIENT_START_ERRORS})
ACCOUNT_STOPS = frozenset(
    {
        "call.start.error-subscription-insufficient-credits",
        "call.start.error-subscription-frozen",
        "call.start.error-subscription-wallet-does-not-exist",
        "call.start.error-subscription-upgrade-failed",
        "call.start.error-fraud-check-failed",
    }
)
# Final for the row, in words a person reads in the results sheet.
FINAL_FOR_ROW = {
    "call.start.error-vapi-number-international": "a free Vapi number cannot call outside the US",
    "call.start.error-vapi-number-outbound-daily-limit": "the free Vapi number reached its daily call limit",
    "twilio-reported-customer-misdialed": "the carrier says the number was misdialled",
    "call.start.error-get-customer": "Vapi could not read the customer",
    "call.start.error-get-assistant": "Vapi could not load the assistant",
    "call.start.error-get-phone-number": "Vapi could not load the phone number to call from",
    "call.start.error-get-resources-validation": "Vapi refused the call's settings",
    "call.start.error-enterprise-feature-not-available-recording-consent": (
        "recording consent is an enterprise feature of Vapi"
    ),
}


class Ending(StrEnum):
    NEVER_RANG = "never rang"
    ACCOUNT = "the account"
    FINAL = "final for the row"
    CALL = "a call"


def ending(reason: str | None) -> Ending:
    """What an endedReason means for the row and the run."""
    if reason in NEVER_RANG:
        return Ending.NEVER_RANG
    if reason in ACCOUNT_STOPS:
        return Ending.ACCOUNT
    if reason in FINAL_FOR_ROW:
        return Ending.FINAL
    return Ending.CALL
