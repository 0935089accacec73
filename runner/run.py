"""A run: a plan bound to its folder and ledger; sends what is left and writes the results sheet.

The same input and campaign always map to the same folder and the same request ids, so running the
same command again resumes the run and never sends a request twice.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from runner.config import Campaign, load_campaign
from runner.customers import PLANNED
from runner.errors import OutdirError
from runner.history import History
from runner.ledger import REJECTED, SENDING, UNKNOWN, Ledger, now_utc
from runner.pipeline import Plan, plan_file, results_path, write_requests
from runner.results import RowResult, results_frame, write_results
from runner.submit import SubmitOptions, SubmitReport, Submitter
from runner.vapi import VapiClient

FAILED_STATUSES = ("failed", "unknown")


def default_outdir(plan: Plan) -> Path:
    """runs/<input stem>-<8 hex of its content>: the same file always resumes the same run."""
    return Path("runs") / f"{plan.sheet.path.stem}-{plan.run_tag}"


@dataclass
class RunOutcome:
    counts: dict[str, int]
    results_path: Path
    report: SubmitReport

    @property
    def exit_code(self) -> int:
        if self.report.interrupted:
            return 130
        return 1 if self.report.fatal or any(self.counts.get(s) for s in (*FAILED_STATUSES, PLANNED)) else 0


class CampaignRun:
    """Open with `CampaignRun.open(...)`; `send(client)` places the calls; `close()` releases the folder."""

    def __init__(self, plan: Plan, outdir: Path, fmt: str | None, ledger: Ledger, lock: IO[str]) -> None:
        self.plan = plan
        self.outdir = outdir
        self.fmt = fmt
        self.ledger = ledger
        self._lock = lock

    @classmethod
    def open(
        cls,
        input_path: str | Path,
        campaign: Campaign | str | Path,
        outdir: str | Path | None = None,
        fmt: str | None = None,
        api: str | None = None,
    ) -> CampaignRun:
        """Plan the input, take the folder's lock, and open (or resume) its ledger.

        `api` is the base URL the calls will go through: its call history screens the rows."""
        if not isinstance(campaign, Campaign):
            campaign = load_campaign(campaign)
        plan = plan_file(input_path, campaign, api=api)
        folder = Path(outdir) if outdir is not None else default_outdir(plan)
        lock = _lock_folder(folder)
        try:
            write_requests(plan, folder, fmt)
            ledger = Ledger.open(folder, plan.run_id, plan.requests)
        except BaseException:
            lock.close()
            raise
        run = cls(plan, folder, fmt, ledger, lock)
        run.write_results()
        return run

    def close(self) -> None:
        self.ledger.close()
        self._lock.close()

    def __enter__(self) -> CampaignRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pending(self) -> dict[str, int]:
        """Requests by ledger state: what a send would do now."""
        counts: dict[str, int] = {}
        for request in self.ledger.requests():
            counts[request.state] = counts.get(request.state, 0) + 1
        return counts

    def send(
        self,
        client: VapiClient,
        options: SubmitOptions | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> RunOutcome:
        """Send what is left, then write the results sheet (also after Ctrl-C or a fatal error)."""
        options = options or SubmitOptions(
            concurrency=self.plan.campaign.concurrency, requests_per_minute=self.plan.campaign.requests_per_minute
        )
        submitter = Submitter(self.ledger, client, options, progress)
        try:
            report = submitter.run()
        finally:
            self.remember_calls(client.base_url)
            path = self.write_results()
        return RunOutcome(self.counts(), path, report)

    def remember_calls(self, api: str) -> None:
        """Add this run's calls to the campaign folder's history (when each call may start)."""
        owners = self.ledger.owners()
        calls = []
        for result in self.row_results():
            if result.call_id and result.e164.startswith("+"):
                schedule = owners[result.row].body.get("schedulePlan") or {}
                when = datetime.fromisoformat(schedule["earliestAt"].replace("Z", "+00:00")) if schedule else now_utc()
                calls.append((result.e164, result.call_id, when))
        History(self.plan.campaign.base_dir).record(api, self.plan.run_id, calls)

    def row_results(self) -> list[RowResult]:
        """The plan's rows with what the ledger knows: call ids, Vapi's status, failures. A row the
        ledger holds follows the ledger (a resumed run may re-plan it differently, e.g. later in the day)."""
        outcomes = self.ledger.outcomes()
        owners = self.ledger.owners()
        merged = []
        for result in self.plan.row_results():
            owner = owners.get(result.row)
            if owner is None:
                merged.append(result)
                continue
            outcome = outcomes.get(result.row)
            status, reason, call_id = PLANNED, "", ""
            if outcome is not None:
                status, reason, call_id = outcome.status, outcome.reason, outcome.call_id
            elif owner.state == SENDING:
                status = UNKNOWN
                reason = "sent, but the run stopped before Vapi's answer was recorded; the next run checks"
            elif owner.state in (REJECTED, UNKNOWN):
                status, reason = ("failed" if owner.state == REJECTED else UNKNOWN), owner.error
            elif owner.error:
                status, reason = "failed", f"{owner.error}; run the same command again to send it"
            notes = result.reason if result.status == PLANNED else ""
            reason = "; ".join(part for part in (reason, notes) if part)
            schedule = owner.body.get("schedulePlan") or {}
            earliest, latest = schedule.get("earliestAt", ""), schedule.get("latestAt", "")
            merged.append(RowResult(result.row, result.e164, status, reason, call_id, owner.id, earliest, latest))
        return merged

    def counts(self) -> dict[str, int]:
        return dict(Counter(result.status for result in self.row_results()))

    def write_results(self) -> Path:
        results = self.row_results()
        path = results_path(self.outdir, self.fmt, len(results))
        counts = dict(Counter(result.status for result in results))
        return write_results(results_frame(self.plan.sheet.frame, results), path, counts)


def _lock_folder(folder: Path) -> IO[str]:
    """One run per folder at a time: a second process gets a clear error, not a race."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".lock").open("w")
    except OSError as exc:
        raise OutdirError(f"{folder}: cannot use as the run folder: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutdirError(f"{folder}: another vapi-campaign run is using this folder") from None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
