"""Cancel a run's calls that have not started: each cancellation is committed to the ledger
before its DELETE leaves, the DELETEs go out concurrently and paced like sends, and each is
retried like a GET (deleting a call twice changes nothing).

Statuses change while a cancel runs (a queued call rings a moment later), so each call is looked
at right before its DELETE, and the DELETE's answer is read too: a call seen ringing, in progress
or over, or with a `startedAt`, "started before it could be cancelled" and stays in the call
history. Only a call provably never dialled (scheduled at that look, or deleted as a scheduled
call) leaves the history; a queued one cancelled may have begun to dial in between, so it stays."""

from __future__ import annotations

import getpass
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import ApiError, AuthError, NetworkError
from runner.results.summary import Summary
from runner.sending.submitter import Pacer
from runner.statuses import CallStatus, CancelState, Status
from runner.store.ledger import Ledger
from runner.vapi.client import VapiClient

NOT_STARTED = (CallStatus.SCHEDULED.value, CallStatus.QUEUED.value)
# Ended reasons of a call that was deleted, not dialled: without a startedAt, it never rang.
DELETED_REASONS = ("scheduled-call-deleted", "manually-canceled")


def started(call: dict[str, Any]) -> bool:
    """Whether a call (as GET or DELETE answered it) had begun to dial."""
    status = call.get("status") or ""
    if call.get("startedAt") or status not in (*NOT_STARTED, CallStatus.ENDED.value):
        return True
    return status == CallStatus.ENDED.value and call.get("endedReason") not in DELETED_REASONS


def never_dialled(seen: dict[str, Any], answer: dict[str, Any]) -> bool:
    """Provably never dialled: scheduled when looked at right before the DELETE, or deleted as a scheduled call."""
    return seen.get("status") == CallStatus.SCHEDULED.value or answer.get("endedReason") == "scheduled-call-deleted"


@dataclass
class CancelReport:
    """What `cancel` did: calls deleted now, cancelled before, left alone (by their status), failed."""

    cancelled: int = 0
    already: int = 0
    started: list[str] = field(default_factory=list)  # "row N (status)": started before their DELETE
    kept: int = 0  # cancelled while queued: they stay in the call history
    left_alone: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)  # one line per call that could not be deleted

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        alone = ", ".join(f"{status} {n}" for status, n in self.left_alone.most_common())
        lines = [f"cancelled: {self.cancelled}" + (f" (and {self.already} before)" if self.already else "")]
        if self.kept:
            lines.append(
                f"  {self.kept} of them were queued (about to dial): they stay in the call history, so another run "
                "does not call them again before min_days_between_calls"
            )
        if self.started:
            lines.append(
                f"started before it could be cancelled: {len(self.started)} (left alone; still in the call history)"
            )
            lines += [f"  {line}" for line in self.started[:10]]
        lines.append(f"left alone (already started or over): {sum(self.left_alone.values())}" + (
            f" ({alone})" if alone else ""))  # fmt: skip
        if self.failed:
            lines.append(f"not cancelled, run cancel again: {len(self.failed)}")
            lines += [f"  {line}" for line in self.failed[:10]]
        return lines


def targets(results: pl.DataFrame, cancellations: pl.DataFrame) -> tuple[pl.DataFrame, CancelReport]:
    """(call id, row, request id) of the calls to delete: the run's calls not started at the last
    look, and those a cancel began without finishing; and the report of the rest."""
    report = CancelReport()
    unfinished = cancellations.filter(pl.col("state").is_in([CancelState.CANCELLING.value, CancelState.FAILED.value]))
    calls = results.filter(pl.col("call_id") != "")
    cancelled = pl.col("status") == Status.CANCELLED.value  # the results already join the cancellations
    report.already = calls.filter(cancelled).height
    open_calls = calls.filter(~cancelled)
    wanted = pl.col("status").is_in(NOT_STARTED) | pl.col("call_id").is_in(unfinished.get_column("call_id").implode())
    left = open_calls.filter(~wanted).group_by("status").len()
    report.left_alone = Counter(dict(zip(left["status"].to_list(), left["len"].to_list(), strict=True)))
    chosen = open_calls.filter(wanted).select("call_id", pl.col("row").cast(pl.Int64), "request_id")
    return chosen, report


def delete_calls(
    client: VapiClient,
    ledger: Ledger,
    chosen: pl.DataFrame,
    by: str,
    at: datetime,
    report: CancelReport,
    forget: Callable[[str, int], None],
    concurrency: int = 4,
    per_minute: int = 120,
) -> CancelReport:
    """Delete the chosen calls: intent first (one transaction), then the DELETEs; `forget(request
    id, row)` takes each cancelled call out of the call history."""
    rows = list(chosen.iter_rows())  # one tuple per call to delete: a few thousand at most
    ledger.mark_cancelling(rows, by, at)
    pacer, stop, lock = Pacer(per_minute), threading.Event(), threading.Lock()

    def cancel(target: tuple[str, int, str]) -> None:
        call_id, row, request_id = target
        try:
            pacer.wait(stop)
            seen = client.get_call(call_id)
            answer = seen
            if not started(seen):
                pacer.wait(stop)
                answer = client.delete_call(call_id)
        except AuthError:
            stop.set()
            raise
        except (ApiError, NetworkError) as exc:
            # 404: Vapi no longer knows it (a cancel whose answer was lost): cancelled like the rest.
            if not (isinstance(exc, ApiError) and exc.status == 404):
                ledger.record_cancellation(call_id, CancelState.FAILED, str(exc))
                with lock:
                    report.failed.append(f"row {row}, call {call_id}: {exc}")
                return
            seen = answer = {"endedReason": "scheduled-call-deleted"}
        if started(answer):
            status = answer.get("status") or "started"
            ledger.record_cancellation(call_id, CancelState.STARTED, f"it was {status} when looked at")
            with lock:
                report.started.append(f"row {row}, call {call_id}: {status}")
            return
        ledger.record_cancellation(call_id, CancelState.CANCELLED)
        forgotten = never_dialled(seen, answer)
        if forgotten:
            forget(request_id, row)
        with lock:
            report.cancelled += 1
            report.kept += not forgotten

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cancel") as pool:
        list(pool.map(cancel, rows))
    return report


@dataclass(frozen=True)
class CancelOutcome:
    """What `cancel` did, and the results sheet it rewrote."""

    results_path: Path
    report: CancelReport
    summary: Summary


def who_cancels() -> str:
    """Who is cancelling, for the results' reason: the login name, if the system knows one."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"
