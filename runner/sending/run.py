"""A run: a plan bound to its folder and ledger; sends what is left, follows the calls' outcomes,
places follow-up attempts, and writes the results sheet.

The run folder (runner.store.run_folder) is self-contained: its ledger keeps the campaign, the
moment the run was planned and a copy of the input, so the same command plans exactly the same
requests again and never sends one twice; `status OUTDIR` reads the plan's record
(runner.store.plan_record) and plans only for follow-ups.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import polars as pl

from runner.campaign import Campaign, load_campaign
from runner.errors import OutdirError
from runner.planning.plan import Plan, write_requests
from runner.planning.spread import DUE_NOW
from runner.results.plan_sheet import results_target
from runner.results.run_results import RunSheet
from runner.results.summary import Summary
from runner.sending.admission import Admission
from runner.sending.cancel import CancelOutcome, delete_calls, targets, who_cancels
from runner.sending.followups import forgetting, place_again, place_never_rang, schedule_followups
from runner.sending.lines import Lines
from runner.sending.outcomes import CallWatch, stuck_note
from runner.sending.preflight import Preflight, preflighted
from runner.sending.submitter import Dialled, SubmitOptions, SubmitReport, Submitter
from runner.statuses import RequestState, Status
from runner.store.history import open_history
from runner.store.ledger import Ledger, now_utc
from runner.store.plan_record import PlanRecord
from runner.store.run_folder import RunFolder, RunMeta, default_folder
from runner.vapi.client import VapiClient

FAILED_STATUSES = (Status.FAILED, Status.UNKNOWN)


@dataclass
class RunOutcome:
    results_path: Path
    report: SubmitReport
    summary: Summary
    blocked: str = ""  # the plan's: why the campaign itself can call no one

    @property
    def counts(self) -> dict[str, int]:
        """Rows by status."""
        return self.summary.by_status

    @property
    def exit_code(self) -> int:
        if self.report.interrupted:
            return 130
        report = self.report
        trouble = report.fatal or report.unreachable or report.not_found or report.unwritten or report.stopped_by
        trouble = trouble or report.paused or self.blocked
        return 1 if trouble or any(self.counts.get(s) for s in (*FAILED_STATUSES, Status.PLANNED)) else 0


class CampaignRun:
    """Open with `CampaignRun.open(...)` (or `reopen(outdir)`); `send(client)` places the calls,
    `status(client)` fetches their outcomes; `close()` releases the folder.

    Examples:
        >>> import tempfile
        >>> from runner import Sandbox, SandboxConfig, VapiClient
        >>> account = SandboxConfig(concurrency_limit=100)  # an account of 100 lines: nobody waits
        >>> with Sandbox(account) as sandbox, VapiClient("sandbox-key", sandbox.url) as client:
        ...     with CampaignRun.open("sample_data/customers.csv", "campaigns/example/campaign.toml",
        ...                           tempfile.mkdtemp(), api=sandbox.url) as run:
        ...         outcome = run.send(client)
        >>> sum(outcome.counts.values()), outcome.exit_code, outcome.results_path.name
        (30, 0, 'results.xlsx')
    """

    def __init__(
        self, folder: RunFolder, meta: RunMeta, record: PlanRecord, ledger: Ledger, plan: Plan | None = None
    ) -> None:
        self.folder = folder
        self.outdir = folder.path
        self.meta = meta  # how the run was first planned (its campaign, moment, API, format)
        self.campaign = meta.campaign
        self.fmt = meta.format
        self.record = record  # what the results sheet needs of the plan (runner.store.plan_record)
        self.ledger = ledger
        self._plan = plan  # None until a follow-up needs it (then the folder plans it again)
        self.calls = CallWatch(ledger, meta.campaign, folder.path)
        self.sheet = RunSheet(record, ledger, folder.path, meta)
        self.preflight: Preflight | None = None  # what preflight found, when open() ran it

    @classmethod
    def open(
        cls,
        input_path: str | Path,
        campaign: Campaign | str | Path,
        outdir: str | Path | None = None,
        fmt: str | None = None,
        api: str | None = None,
        preflight: VapiClient | None = None,
    ) -> CampaignRun:
        """Plan the input, take the folder, and open (or resume) its ledger.

        `api` is the base URL the calls will go through: its call history screens the rows. A resumed
        run is planned as of its first planning, so it yields the same requests. With `preflight`
        (the client the calls will go through), the plan's assistants, phone numbers and template
        variables are checked first (runner.sending.preflight): PreflightError, nothing sent."""
        if not isinstance(campaign, Campaign):
            campaign = load_campaign(campaign)
        folder = RunFolder.take(Path(outdir) if outdir is not None else default_folder(input_path))
        try:
            known = folder.meta()  # a resumed run: as its first planning was made
            source = Path(input_path)
            meta = RunMeta(
                planned_at=known.planned_at if known else now_utc(),
                campaign=campaign,
                input=known.input if known else "",
                source=str(source),
                api=api or (known.api if known else ""),
                format=fmt or (known.format if known else None),
                # A resumed run keeps the free numbers of its first planning, so its requests stay the same.
                free_numbers=known.free_numbers if known else frozenset(),
            )
            plan = folder.plan(source, meta)
            checked = None
            if preflight is not None:
                plan, checked = preflighted(plan, preflight, folder, meta, new=known is None)
            results_target(plan, folder.path, meta.format)
            if not known or not folder.has_requests_file():
                # A resumed run (and status) keeps the file of its first planning, as its ledger
                # keeps that planning's requests: no body is built again.
                write_requests(plan, folder.path)
            copy = folder.keep_input(plan.sheet.path)
            meta = RunMeta(
                meta.planned_at, campaign, copy.name, str(plan.sheet.path), meta.api, meta.format, plan.free_numbers,
                plan.plan_id,
            )  # fmt: skip
            # A resumed run keeps the record of its first planning, as its ledger keeps its requests.
            record = PlanRecord.load(folder.path) if known else None
            if record is None:
                record = PlanRecord.of(plan)
                record.save(folder.path)
            # Built only for a new ledger, a block at a time: a resumed run (and `status`) builds none.
            ledger = Ledger.open(folder.path, plan.plan_id, plan.planned_requests.each(), meta.as_text())
        except BaseException:
            folder.close()
            raise
        run = cls(folder, meta, record, ledger, plan)
        run.preflight = checked
        return run

    @classmethod
    def reopen(cls, outdir: str | Path, preflight: VapiClient | None = None) -> CampaignRun:
        """Open an existing run folder from what its ledger kept (for `status`; `preflight` as in `open`).
        Without preflight, the sheet comes from the plan's record: nothing is planned unless a
        follow-up needs the plan."""
        path = Path(outdir)
        meta = RunFolder.meta_of(path)
        if preflight is None:
            folder = RunFolder.take(path)
            try:
                record = PlanRecord.load(path)
                if record is not None:
                    return cls(folder, meta, record, Ledger.open(path, meta.plan_id, ()))
            except BaseException:
                folder.close()
                raise
            folder.close()  # an older version's folder, with no record of its plan: planned again
        return cls.open(path / meta.input, meta.campaign, path, meta.format, meta.api or None, preflight)

    @property
    def plan(self) -> Plan:
        """The run's plan: planned again, as of its first planning, on first use after `reopen` or
        a send (only follow-up attempts need it; the results sheet reads `record`)."""
        if self._plan is None:
            self._plan = self.folder.replan(self.meta)
        return self._plan

    def close(self) -> None:
        self.ledger.close()
        self.folder.close()

    def __enter__(self) -> CampaignRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def people_to_call(self) -> int:
        """Rows in the requests a send would place now: the number the confirmation asks about."""
        return self.ledger.counts().rows.get(RequestState.PLANNED, 0)

    def first_call(self) -> tuple[datetime, str] | None:
        """When the first call a send would place is due, and its recipient's time zone ("" when
        unknown), if every such call is scheduled for later; None when some ring now."""
        planned = self.ledger.requests_frame().filter(pl.col("state") == RequestState.PLANNED)
        if planned.is_empty():
            return None
        due = planned.with_columns(due=pl.col("earliest_at").str.to_datetime("%+", time_zone="UTC", strict=False)).sort(
            "due", nulls_last=False
        )
        first = due.row(0, named=True)
        if first["due"] is None or first["due"] <= now_utc() + DUE_NOW:
            return None
        row = json.loads(first["rows"])[0]
        zones = self.record.results.filter(pl.col("n") == row).get_column("time_zone").to_list()
        return first["due"], (zones[0] if zones else "") or ""

    def pending(self) -> dict[str, int]:
        """Requests by ledger state: what a send would do now."""
        return self.ledger.counts().requests

    # --- sending ---------------------------------------------------------------------------------
    def send(
        self,
        client: VapiClient,
        options: SubmitOptions | None = None,
        progress: Callable[[Dialled], None] | None = None,
        resend_unknown: bool = False,
    ) -> RunOutcome:
        """Send what is left (and follow-up attempts that are due), then write the results sheet.
        `resend_unknown`: the operator checked the dashboard; rows left unknown are sent again."""
        options = options or self._options(resend_unknown)
        if self.campaign.retry is not None and self.ledger.has_outcomes():
            self.refresh(client)
            self.schedule_followups()
        return self._submit(client, options, progress)

    def _options(self, resend_unknown: bool = False) -> SubmitOptions:
        """How the campaign sends: its concurrency and pacing."""
        campaign = self.campaign
        return SubmitOptions(campaign.concurrency, campaign.requests_per_minute, resend_unknown=resend_unknown)

    def _submit(
        self, client: VapiClient, options: SubmitOptions, progress: Callable[[Dialled], None] | None = None
    ) -> RunOutcome:
        """Send every request the ledger holds as planned (first attempts, resends, follow-ups)."""
        self._plan = None  # sending needs only the ledger: a million rows' planning table goes first
        history = open_history(self.campaign)
        try:
            again = partial(place_again, self.ledger, self.meta.plan_id, forget=forgetting(history, self.outdir))
            admission = Admission.through(client, history, self.outdir, self.campaign)
            lines = Lines(client, self.campaign.dialing)
            report = Submitter(self.ledger, client, options, progress, admission, lines, again).run()
        finally:
            history.close()
            path, summary, unwritten = self._write_after_sending()
        if unwritten:  # what was sent is in the ledger: exit 1 with the fix, not 2 ("nothing sent")
            report.notes.append(f"sent, but the results sheet was not written: {unwritten}")
            report.unwritten = True
        return RunOutcome(path, report, summary, self.record.blocked)

    def _write_after_sending(self) -> tuple[Path, Summary, str]:
        """The results sheet once requests have gone: a sheet that cannot be written (a full disk)
        does not hide what was sent; it is said, and `status` writes it later."""
        try:
            return (*self._write(), "")
        except OutdirError as exc:
            results = self.results()
            return self.sheet.path(results.height), self.sheet.summary(results), f"{exc} (then `status {self.outdir}`)"

    # --- outcomes and follow-ups -----------------------------------------------------------------
    def refresh(self, client: VapiClient, concurrency: int = 4) -> int:
        """Fetch every call that has not ended yet into the ledger (runner.sending.outcomes)."""
        return self.calls.look(client, concurrency)

    def status(self, client: VapiClient, retry: bool = False) -> RunOutcome:
        """`status`: look again for calls left in doubt, fetch the calls' outcomes, optionally place
        due follow-ups, rewrite the sheet."""
        report = self.reconcile(client)
        self.refresh(client)
        report.notes += place_never_rang(self.ledger, self.campaign, self.meta.plan_id, self.outdir)
        report.notes += self.calls.notes(client.base_url)
        report.not_found = len(self.calls.not_found)
        if retry:
            self.schedule_followups()
            if self.ledger.requests(RequestState.PLANNED):  # due now, or stranded by an earlier 429
                outcome = self._submit(client, self._options())
                outcome.report.notes[:0] = report.notes
                return outcome
        path, summary = self._write()
        return RunOutcome(path, report, summary, self.record.blocked)

    def reconcile(self, client: VapiClient) -> SubmitReport:
        """Look in Vapi's call list for requests a run left `sending` and rows left `unknown`
        (the calls found go into the call history too)."""
        options = SubmitOptions(concurrency=self.campaign.concurrency)
        history = open_history(self.campaign)
        try:
            admission = Admission.through(client, history, self.outdir, self.campaign)
            return Submitter(self.ledger, client, options, contacts=admission).reconcile()
        finally:
            history.close()

    def cancellable(self, client: VapiClient) -> int:
        """How many of the run's calls `cancel` would delete now (their statuses fetched first)."""
        self.refresh(client)
        return targets(self.results(), self.ledger.cancellations_frame())[0].height

    def cancel(self, client: VapiClient, by: str | None = None) -> CancelOutcome:
        """`cancel`: delete every call of the run that has not started (scheduled or queued at a
        fresh look, and again right before its DELETE), each recorded in the ledger first; calls
        provably never dialled leave the call history, so a corrected campaign can call those rows
        again. Safe to repeat. Rewrites the sheet."""
        self.refresh(client)
        chosen, report = targets(self.results(), self.ledger.cancellations_frame())
        history, folder = open_history(self.campaign), str(self.outdir.resolve())
        try:
            delete_calls(
                client, self.ledger, chosen, by or who_cancels(), now_utc(), report,
                lambda request_id, row: history.forget(folder, request_id, [row]),
                self.campaign.concurrency, self.campaign.requests_per_minute,
            )  # fmt: skip
        finally:
            history.close()
        if report.started:  # the sheet shows what they are doing now
            self.refresh(client)
        path, summary = self._write()
        return CancelOutcome(path, report, summary)

    def watch(self, client: VapiClient, interval: float, retry: bool = False) -> Iterator[RunOutcome]:
        """`status --watch`: update until every call has ended, or will never end as far as the API
        says (it answers 404 for it, or its status is not-found or deletion-failed): then the last
        outcome says which calls, and exits 1."""
        while True:
            outcome = self.status(client, retry)
            unfinished = self.calls.unfinished()
            stuck = self.calls.never_ending(unfinished)
            if unfinished.height == stuck.height and stuck.height:
                outcome.report.notes.append(stuck_note(stuck))
                outcome.report.not_found = outcome.report.not_found or stuck.height
            yield outcome
            if unfinished.height == stuck.height:
                return
            time.sleep(interval)

    def unfinished_calls(self) -> int:
        return self.calls.unfinished().height

    def schedule_followups(self, now: datetime | None = None) -> int:
        """Plan the next attempt of the rows due one (runner.sending.followups). Returns rows planned."""
        return schedule_followups(self.ledger, self.campaign, self.results(), lambda: self.plan, now or now_utc())

    # --- results -----------------------------------------------------------------------------------
    def results(self) -> pl.DataFrame:
        """Every row's result as one table (runner.results.run_results): the plan's rows, with what
        the ledger knows of them (call ids, Vapi's status and outcome, failures)."""
        return self.sheet.results(self.calls.not_found)

    def summary(self) -> Summary:
        return self.sheet.summary(self.results())

    def write_results(self) -> Path:
        return self._write()[0]

    def _write(self) -> tuple[Path, Summary]:
        """The results sheet from the ledger as it is now."""
        return self.sheet.write(self.calls.not_found)
