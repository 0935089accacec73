"""Cancel a run's calls that have not started: each cancellation is committed to the ledger
before its DELETE leaves, the DELETEs go out concurrently and paced like sends, and each is
retried like a GET (deleting a call twice changes nothing). A call Vapi no longer knows counts as
cancelled; a cancelled call never rang, so it leaves the campaign's call history."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from runner.errors import ApiError, AuthError, NetworkError
from runner.sending.client import VapiClient
from runner.sending.ledger import Ledger
from runner.sending.refresh import retrying
from runner.sending.submitter import Pacer
from runner.statuses import CallStatus, CancelState, Status

NOT_STARTED = (CallStatus.SCHEDULED.value, CallStatus.QUEUED.value)


@dataclass
class CancelReport:
    """What `cancel` did: calls deleted now, cancelled before, left alone (by their status), failed."""

    cancelled: int = 0
    already: int = 0
    left_alone: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)  # one line per call that could not be deleted

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        alone = ", ".join(f"{status} {n}" for status, n in self.left_alone.most_common())
        lines = [f"cancelled: {self.cancelled}" + (f" (and {self.already} before)" if self.already else "")]
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
        pacer.wait(stop)
        try:
            retrying(client, f"DELETE /call/{call_id}", lambda: client.delete_call(call_id), "delete the calls")
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
        ledger.record_cancellation(call_id, CancelState.CANCELLED)
        forget(request_id, row)
        with lock:
            report.cancelled += 1

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cancel") as pool:
        list(pool.map(cancel, rows))
    return report
