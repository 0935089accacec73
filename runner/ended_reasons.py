"""What a call's endedReason means for the row and the run, by what to do (Vapi's list has 600+
values; shared/reference/vapi-api.md groups the ones that matter here, and tests/test_dialing.py
checks every `call.start.error-*` of Vapi's OpenAPI document is named below).

- never rang: no call happened (no line was free, a fault before dialling); the row is placed
  again, and the claim does not count as a call;
- the account: every later call would fail the same way (no credit, frozen, fraud check); the
  run stops at once;
- final for the row: this row cannot be called this way (an international number from a free
  Vapi number, a misdialled number), said plainly;
- anything else is an outcome of a call that happened.

And what it means for the person (`call_outcome`: Reached, Left voicemail, No answer, Busy, Call
failed, Cancelled), by value, then by family; tests/test_outcomes.py checks that every value of
Vapi's list is named by one or the other, so nothing falls through to a guess."""

from __future__ import annotations

from enum import StrEnum

from runner.statuses import Outcome

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


# The person's outcome, by value (checked first), then by family (the value's opening).
_REACHED = (
    "customer-ended-call", "assistant-ended-call", "assistant-ended-call-after-message-spoken",
    "assistant-ended-call-with-hangup-task", "assistant-said-end-call-phrase", "assistant-forwarded-call",
    "exceeded-max-duration", "silence-timed-out", "customer-ended-call-after-warm-transfer-attempt",
    "customer-ended-call-before-warm-transfer", "customer-ended-call-during-transfer",
    "call.in-progress.sip-completed-call", "call.in-progress.twilio-completed-call", "vonage-completed",
    "call.ending.hook-executed-say", "call.ending.hook-executed-transfer", "call.forwarding.no-answer",
    "call.forwarding.operator-busy", "call.in-progress.error-transfer-failed",
    "call.in-progress.error-warm-transfer-assistant-cancelled", "call.in-progress.error-warm-transfer-max-duration",
    "call.in-progress.error-warm-transfer-microphone-timeout", "call.in-progress.error-warm-transfer-silence-timeout",
)  # fmt: skip
_NO_ANSWER = (
    "customer-did-not-answer", "call.ringing.hook-executed-say", "call.ringing.hook-executed-transfer",
    "call.ringing.sip-inbound-caller-hungup-before-call-connect",
)  # fmt: skip
REASON_OUTCOMES: dict[str, Outcome] = {
    **dict.fromkeys(_REACHED, Outcome.REACHED),
    "voicemail": Outcome.VOICEMAIL,
    **dict.fromkeys(_NO_ANSWER, Outcome.NO_ANSWER),
    "customer-busy": Outcome.BUSY,
    "vonage-rejected": Outcome.BUSY,  # the callee declined it
    **dict.fromkeys(("manually-canceled", "scheduled-call-deleted", "call-deleted"), Outcome.CANCELLED),
}
# Families of faults: a provider, the pipeline or the start failed, the person was not served.
FAMILY_OUTCOMES: tuple[tuple[str, Outcome], ...] = tuple(
    (opening, Outcome.FAILED)
    for opening in (
        "call.start.", "call-start-error-", "call.in-progress.error-", "call.ringing.error-", "pipeline-error-",
        "assistant-join-timed-out", "assistant-not-", "assistant-request-", "customer-did-not-give-microphone-",
        "phone-call-provider-", "twilio-", "vonage-", "worker-shutdown",
    )
)  # fmt: skip
# Plain words for the outcome_detail column; other values are shown as Vapi's code.
PLAIN_REASONS: dict[str, str] = {
    "customer-ended-call": "they hung up",
    "assistant-ended-call": "the assistant ended the call",
    "assistant-said-end-call-phrase": "the assistant said goodbye",
    "assistant-ended-call-after-message-spoken": "the assistant ended the call",
    "assistant-forwarded-call": "the assistant transferred the call",
    "exceeded-max-duration": "the call reached its maximum length",
    "silence-timed-out": "the call ended after a silence",
    "voicemail": "voicemail answered",
    "customer-did-not-answer": "nobody answered",
    "customer-busy": "the line was busy",
    "vonage-rejected": "the call was declined",
    "manually-canceled": "cancelled in Vapi",
    "scheduled-call-deleted": "the scheduled call was deleted",
    "call-deleted": "the call was deleted",
    **FINAL_FOR_ROW,
}


def call_outcome(reason: str) -> Outcome | None:
    """The person's outcome of a call that ended for this reason; None when no rule names it."""
    if reason in REASON_OUTCOMES:
        return REASON_OUTCOMES[reason]
    return next((outcome for opening, outcome in FAMILY_OUTCOMES if reason.startswith(opening)), None)


def plain_reason(reason: str) -> str:
    """An ended reason in a marketer's words, or Vapi's code as it is."""
    if reason in PLAIN_REASONS:
        return PLAIN_REASONS[reason]
    if reason in NEVER_RANG:
        return f"never rang ({reason})"
    return f"Vapi: {reason}"
