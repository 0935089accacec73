"""Every status word the tool writes, each once: a row's status in the results sheet, a request's
state in the ledger, and the call statuses of Vapi's that the tool acts on."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A row's status in the results sheet (besides the call status Vapi reports once a call exists)."""

    PLANNED = "planned"  # to be sent; after a run, not sent yet (the reason says why)
    INVALID = "invalid"  # cannot be called as written (the reason names the column)
    DUPLICATE = "duplicate"  # calls the same destination as an earlier row
    SUPPRESSED = "suppressed"  # a rule says not to call (consent, do-not-call, hours, history, …)
    FAILED = "failed"  # Vapi refused it
    UNKNOWN = "unknown"  # may have reached Vapi; every run and status looks for its call again
    NOT_DUE = "not due"  # a follow-up whose window is too short to place now
    CANCELLED = "cancelled"  # its call was deleted by `cancel` before it started (the reason says when)


class RequestState(StrEnum):
    """A POST /call request's state in the ledger: planned → sending → sent | rejected | unknown, or
    planned → set aside (admission at send time refused every row it held)."""

    PLANNED = "planned"  # not sent (again, only when it provably never reached Vapi)
    SENDING = "sending"  # its intent is on disk: it may be on the wire
    SENT = "sent"  # Vapi answered with its calls
    REJECTED = "rejected"  # Vapi refused the whole request
    UNKNOWN = "unknown"  # no answer: it may have reached Vapi
    SET_ASIDE = "set aside"  # never sent: its rows were not admitted when it was to leave (each says why)


class CallStatus(StrEnum):
    """The statuses of Vapi's calls that the tool acts on (others it only reports)."""

    QUEUED = "queued"  # accepted, dialing soon: what an answer without a status means
    ENDED = "ended"  # over: its ended reason and outcome are final
    SCHEDULED = "scheduled"  # waiting for its schedulePlan's earliestAt: may still be cancelled


class CancelState(StrEnum):
    """A call's cancellation in the ledger: cancelling → cancelled | started | failed."""

    CANCELLING = "cancelling"  # its intent is on disk: the DELETE may be on the wire
    CANCELLED = "cancelled"  # Vapi deleted it (or no longer knows it) before it started
    FAILED = "failed"  # the DELETE got no answer or an error: `cancel` again tries again
    STARTED = "started"  # it had started ringing (or more) before it could be cancelled: left alone


class Outcome(StrEnum):
    """What became of a person, in a marketer's words: the results sheet's `outcome` column
    (docs/results.md). The first five are calls that happened, best first."""

    REACHED = "Reached"
    VOICEMAIL = "Left voicemail"
    NO_ANSWER = "No answer"
    BUSY = "Busy"
    FAILED = "Call failed"
    SCHEDULED = "Scheduled"
    IN_PROGRESS = "In progress"
    CANCELLED = "Cancelled"
    NOT_CONFIRMED = "Not confirmed"  # sent, but Vapi's answer was lost and the call is not found yet
    NO_CONSENT = "Not called — no consent"
    INVALID = "Not called — invalid number"
    DUPLICATE = "Not called — duplicate"  # the sheet says "duplicate of row N"
    OPTED_OUT = "Not called — opted out"
    DO_NOT_CALL = "Not called — do not call"
    RECENTLY_CALLED = "Not called — recently called"
    OUTSIDE_HOURS = "Not called — outside calling hours"
    NOT_CALLED = "Not called"  # another rule (a hidden row, a free number abroad): the detail says
    NOT_SENT = "Not sent yet"


# Calls that happened, best first: a person's best outcome over their attempts.
CALL_OUTCOMES = (Outcome.REACHED, Outcome.VOICEMAIL, Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED)
