"""A run: a plan bound to its folder and ledger; sends what is left, follows the calls' outcomes,
places follow-up attempts, and writes the results sheet.

The run folder is self-contained: its ledger keeps the campaign, the moment the run was planned and
a copy of the input, so the same command re-plans exactly the same requests and never sends one
twice; `status OUTDIR` reads the plan's record (runner.store.plan_record) and plans only for
follow-ups.
"""

from __future__ import annotations

import getpass
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO

import polars as pl

from runner.campaign import Campaign, load_campaign
from runner.errors import NetworkError, OutdirError, RunStarting
from runner.hours import HORIZON
from runner.planning.body import dumps, followup_body, request_id
from runner.planning.customers import PLANNED, WHEN, Rows, with_status
from runner.planning.plan import REQUESTS_FILE, Plan, plan_file, start_time, write_requests
from runner.planning.requests import CallRequest, build_requests
from runner.planning.screen import Screen, load_do_not_call, load_opt_outs
from runner.results.plan_sheet import results_path, results_target, write_unsent
from runner.results.run_results import result_arrays, run_results
from runner.results.summary import Summary, summarize
from runner.results.write import results_table, write_results
from runner.sending.admission import Admission
from runner.sending.cancel import CancelReport, delete_calls, targets
from runner.sending.preflight import Preflight, check_variables, fetch
from runner.sending.submitter import SubmitOptions, SubmitReport, Submitter
from runner.statuses import CallStatus, CancelState, RequestState, Status
from runner.store.call_store import STORE_SCHEMA
from runner.store.history import CallHistory, open_history
from runner.store.ledger import Ledger, now_utc
from runner.store.opt_outs import record_opt_outs
from runner.store.plan_record import PlanRecord
from runner.store.run_folder import RunMeta, default_folder, held, keep_input, take
from runner.vapi.call_fields import calls_of, shown
from runner.vapi.call_list import fetch_calls, list_calls
from runner.vapi.client import VapiClient
from runner.vapi.credentials import base_url

FAILED_STATUSES = (Status.FAILED, Status.UNKNOWN)
# Vapi's call statuses that are final without being `ended`: a watch waits no longer for them.
NEVER_ENDING = ("not-found", "deletion-failed")
CLOCK_SKEW = timedelta(minutes=5)  # how far Vapi's clock may be from ours when searching its call list


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
        trouble = report.fatal or report.unreachable or report.not_found or report.unwritten or self.blocked
        return 1 if trouble or any(self.counts.get(s) for s in (*FAILED_STATUSES, Status.PLANNED)) else 0


def plan_for(
    input_path: str | Path,
    campaign: Campaign | str | Path,
    api: str | None = None,
    now: datetime | None = None,
    run_folder: Path | None = None,
    free_numbers: Collection[str] = (),
) -> Plan:
    """plan_file with the campaign's call history: the calls placed through `api` (default:
    $VAPI_BASE_URL or Vapi's) recently enough to matter, leaving out `run_folder`'s own."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    moment = now or now_utc()
    lookback = timedelta(days=max(1.0, campaign.compliance.min_days_between_calls))
    history = open_history(campaign)
    try:  # since the earliest start: the screen measures each call against the plan's own start
        recent = history.calls_since(api or base_url(None), start_time(campaign, moment) - lookback, run_folder)
    finally:
        history.close()
    return plan_file(input_path, campaign, now=moment, recent_calls=recent, free_numbers=free_numbers)


class CampaignRun:
    """Open with `CampaignRun.open(...)` (or `reopen(outdir)`); `send(client)` places the calls,
    `refresh(client)` fetches their outcomes; `close()` releases the folder."""

    def __init__(
        self,
        record: PlanRecord,
        campaign: Campaign,
        outdir: Path,
        fmt: str | None,
        ledger: Ledger,
        lock: IO[str],
        plan: Plan | None,
        replan: Callable[[], Plan],
    ) -> None:
        self.record = record  # what the results sheet needs of the plan (runner.store.plan_record)
        self.campaign = campaign
        self._plan = plan  # None until a follow-up needs it (then `replan` makes it)
        self._replan = replan
        self.outdir = outdir
        self.fmt = fmt
        self.ledger = ledger
        self._lock = lock
        self._not_found: set[str] = set()  # call ids the API answered 404 for at the last refresh
        self._last_poll: datetime | None = None  # when this process last looked (for --watch)
        self.list_requests = 0  # GET /call pages the last refresh asked for
        self.opted_out = 0  # numbers the last refresh added to the campaign's opt-out list
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
        """Plan the input, take the folder's lock, and open (or resume) its ledger.

        `api` is the base URL the calls will go through: its call history screens the rows. A resumed
        run is planned as of its first planning, so it yields the same requests. With `preflight`
        (the client the calls will go through), the plan's assistants, phone numbers and template
        variables are checked first (runner.sending.preflight): PreflightError, nothing sent."""
        if not isinstance(campaign, Campaign):
            campaign = load_campaign(campaign)
        folder = Path(outdir) if outdir is not None else default_folder(input_path)
        lock = take(folder)
        try:
            known = RunMeta.of(Ledger.read_meta(folder))  # a resumed run: as its first planning was made
            planned_at = known.planned_at if known else now_utc()
            api = api or (known.api if known else "") or None
            # A resumed run keeps the free numbers of its first planning, so its requests stay the same.
            free = known.free_numbers if known else frozenset()
            plan_now = partial(plan_for, input_path, campaign, api=api, now=planned_at, run_folder=folder)
            plan = plan_now(free_numbers=free)
            checked = None
            if preflight is not None:
                plan, checked = _preflighted(plan, preflight, None if known else plan_now, folder, fmt)
            fmt = fmt or (known.format if known else None)
            results_target(plan, folder, fmt)
            if not known or not (folder / REQUESTS_FILE).exists():
                # A resumed run (and status) keeps the file of its first planning, as its ledger
                # keeps that planning's requests: no body is built again.
                write_requests(plan, folder)
            copy = keep_input(folder, plan.sheet.path)
            meta = RunMeta(planned_at, campaign, copy.name, str(plan.sheet.path), api or "", fmt, plan.free_numbers)
            # A resumed run keeps the record of its first planning, as its ledger keeps its requests.
            record = PlanRecord.load(folder) if known else None
            if record is None:
                record = PlanRecord.of(plan)
                record.save(folder)
            # Built only for a new ledger, a block at a time: a resumed run (and `status`) builds none.
            ledger = Ledger.open(folder, plan.run_id, plan.planned_requests.each(), meta.as_text())
        except BaseException:
            lock.close()
            raise
        replan = partial(_replan, copy, campaign, api, planned_at, plan.free_numbers, plan.run_id, folder)
        run = cls(record, campaign, folder, fmt, ledger, lock, plan, replan)
        run.preflight = checked
        return run

    @classmethod
    def reopen(cls, outdir: str | Path, preflight: VapiClient | None = None) -> CampaignRun:
        """Open an existing run folder from what its ledger kept (for `status`; `preflight` as in `open`)."""
        folder = Path(outdir)
        meta = RunMeta.of(Ledger.read_meta(folder))
        if meta is None:
            if held(folder):
                raise RunStarting(
                    f"{folder}: a run is starting in this folder: it is still planning, nothing has been sent yet; "
                    "run `status` again in a moment"
                )
            raise OutdirError(f"{folder}: not a run folder (no ledger.sqlite written by `vapi-campaign run`)")
        if preflight is None:
            resumed = cls._from_record(folder, meta)
            if resumed is not None:
                return resumed
        return cls.open(folder / meta.input, meta.campaign, folder, meta.format, meta.api or None, preflight)

    @classmethod
    def _from_record(cls, folder: Path, meta: RunMeta) -> CampaignRun | None:
        """The run as its folder keeps it, planned again only if a follow-up needs the plan; None
        when the folder holds no record of its plan (an older version's: then `open` plans)."""
        lock = take(folder)
        try:
            record = PlanRecord.load(folder)
            if record is None:
                lock.close()
                return None
            ledger = Ledger.open(folder, meta.plan_id, ())
        except BaseException:
            lock.close()
            raise
        replan = partial(
            _replan, folder / meta.input, meta.campaign, meta.api or None, meta.planned_at, meta.free_numbers,
            meta.plan_id, folder,
        )  # fmt: skip
        return cls(record, meta.campaign, folder, meta.format, ledger, lock, None, replan)

    @property
    def plan(self) -> Plan:
        """The run's plan: planned again, as of its first planning, on first use after `reopen` or
        a send (only follow-up attempts need it; the results sheet reads `record`)."""
        if self._plan is None:
            self._plan = self._replan()
        return self._plan

    def close(self) -> None:
        self.ledger.close()
        self._lock.close()

    def __enter__(self) -> CampaignRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def people_to_call(self) -> int:
        """Rows in the requests a send would place now: the number the confirmation asks about."""
        return self.ledger.counts().rows.get(RequestState.PLANNED, 0)

    def pending(self) -> dict[str, int]:
        """Requests by ledger state: what a send would do now."""
        return self.ledger.counts().requests

    # --- sending ---------------------------------------------------------------------------------
    def send(
        self,
        client: VapiClient,
        options: SubmitOptions | None = None,
        progress: Callable[[int, int], None] | None = None,
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
        return SubmitOptions(
            concurrency=self.campaign.concurrency,
            requests_per_minute=self.campaign.requests_per_minute,
            resend_unknown=resend_unknown,
        )

    def _submit(
        self, client: VapiClient, options: SubmitOptions, progress: Callable[[int, int], None] | None = None
    ) -> RunOutcome:
        """Send every request the ledger holds as planned (first attempts, resends, follow-ups)."""
        self._plan = None  # sending needs only the ledger: a million rows' planning table goes first
        history = open_history(self.campaign)
        try:
            report = Submitter(self.ledger, client, options, progress, self._history_log(history, client)).run()
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
        results, summary, path = self._sheet()
        try:
            write_results(results_table(self.record.sheet, result_arrays(results)), path, summary)
        except OutdirError as exc:
            return path, summary, f"{exc} (then `status {self.outdir}`)"
        return path, summary, ""

    def _history_log(self, history: CallHistory, client: VapiClient) -> Admission:
        """What admits each request's rows as it leaves: the current lists, a claim in the history
        (under the account's org id, when the API has told it: preflight's answers carry it)."""
        if client.org_id is not None:
            history.learn(client.api_name, client.org_id)
        return Admission(history, client.api_name, self.outdir, self.campaign)

    # --- outcomes and follow-ups -----------------------------------------------------------------
    def refresh(self, client: VapiClient, concurrency: int = 4) -> int:
        """Fetch every call that has not ended yet into the ledger; returns how many were fetched.

        The calls come from Vapi's call list (runner.vapi.call_list.list_calls: a page per 1,000
        calls of the run's from-numbers and send times); the first look fetches by id only the
        calls the list did not return. Later looks in the same process (--watch) ask the list for
        what changed since the last one (updatedAtGe) and nothing by id."""
        unfinished = self._unfinished()
        started = now_utc()
        search = self.ledger.call_search(CLOCK_SKEW) if unfinished.height else None
        field = self.campaign.compliance.opt_out_field
        try:
            pages = list(list_calls(client, search, unfinished, field, self._last_poll) if search else ())
            found = [shown(pl.concat(pages), field) if pages else pl.DataFrame(schema=STORE_SCHEMA)]
            left = unfinished.join(found[0], on="call_id", how="anti")
            # The first look fetches by id what the list did not return; --watch's later ones need not.
            lookup = left.get_column("call_id").to_list() if self._last_poll is None else []
            fetched = fetch_calls(client, lookup, concurrency)
        except NetworkError as exc:
            raise NetworkError(
                f"cannot fetch the calls at {client.base_url}: {exc}; nothing was changed: "
                "run the same command again when the API answers",
                maybe_sent=False,
            ) from None
        self.list_requests = len(pages)
        if self._last_poll is None:
            by_id = calls_of([{**data, "id": call_id} for call_id, data in fetched.items()], field)
            found.append(by_id.join(left, on="call_id"))
            self._not_found = set(left.get_column("call_id")) - set(fetched)
        else:  # --watch: the list gave every call that changed since the last look
            still = unfinished.filter(pl.col("call_id").is_in(list(self._not_found))).get_column("call_id")
            self._not_found = set(still)
        stored = pl.concat(frame.select(*STORE_SCHEMA) for frame in found)
        self.ledger.store_calls(stored)
        self._last_poll = started - CLOCK_SKEW
        # Before anything plans a follow-up: whoever asked not to be called again is not.
        self.opted_out = record_opt_outs(self.ledger, self.campaign, self.outdir)
        return stored.height

    def update(self, client: VapiClient, retry: bool = False) -> RunOutcome:
        """`status`: look again for calls left in doubt, fetch the calls' outcomes, optionally place
        due follow-ups, rewrite the sheet."""
        report = self.reconcile(client)
        self.refresh(client)
        if self.opted_out:
            report.notes.append(
                f"{self.opted_out} person(s) asked on the call not to be called again: added to "
                f"{self.campaign.opt_outs_path()}, which every later plan of this campaign honours"
            )
        if self._not_found:
            report.not_found = len(self._not_found)
            report.notes.append(
                f"{report.not_found} call(s) not known to {client.base_url} (it answered 404): is this the API "
                "the run sent them to? (--sandbox, --base-url, $VAPI_BASE_URL)"
            )
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
            return Submitter(self.ledger, client, options, contacts=self._history_log(history, client)).reconcile()
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
                client, self.ledger, chosen, by or _who(), now_utc(), report,
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
            outcome = self.update(client, retry)
            unfinished = self._unfinished()
            stuck = self._never_ending(unfinished)
            if unfinished.height == stuck.height and stuck.height:
                shown = ", ".join(f"row {row} (call {call}: {why})" for row, call, why in stuck.head(10).iter_rows())
                more = f" and {stuck.height - 10} more" if stuck.height > 10 else ""
                outcome.report.notes.append(
                    f"--watch stops: {stuck.height} call(s) will never end as far as the API says: {shown}{more}"
                )
                outcome.report.not_found = outcome.report.not_found or stuck.height
            yield outcome
            if unfinished.height == stuck.height:
                return
            time.sleep(interval)

    def _never_ending(self, unfinished: pl.DataFrame) -> pl.DataFrame:
        """(row, call_id, why) of the unfinished calls that will not end: the API answered 404 for
        them, or gives them a status that is final without `ended`."""
        statuses = self.ledger.calls.frame().select("row", "call_id", "status")
        joined = unfinished.join(statuses, on=["row", "call_id"], how="left")
        missing = pl.col("call_id").is_in(list(self._not_found))
        final = pl.col("status").is_in(list(NEVER_ENDING))
        return joined.filter(missing | final).select(
            "row", "call_id", why=pl.when(missing).then(pl.lit("the API answered 404")).otherwise("status")
        )

    def unfinished_calls(self) -> int:
        return self._unfinished().height

    def _unfinished(self) -> pl.DataFrame:
        """(row, call_id) of every call the rows were given that has not been seen ended."""
        return self.ledger.unfinished_frame()

    def schedule_followups(self, now: datetime | None = None) -> int:
        """Plan the next attempt for rows whose last call ended for a reason in [retry] `on`, inside
        calling hours, at most once per attempt and never past max_attempts. Returns rows planned."""
        retry = self.campaign.retry
        if retry is None:
            return 0
        now = now or now_utc()
        campaign = self.campaign
        do_not_call = load_do_not_call(campaign.dnc_paths(), campaign.default_region)
        ended_at = pl.col("ended_at").str.strptime(pl.Datetime("us", "UTC"), "%+", strict=False)
        attempts = pl.col("attempts").cast(pl.Int64, strict=False)
        due = (
            self.results()
            .with_row_index("position")
            .filter(
                (pl.col("status") == CallStatus.ENDED.value)
                & pl.col("ended_reason").is_in(retry.on)
                & (attempts < retry.max_attempts)
            )
            .with_columns(
                next_attempt=attempts + 1,
                start=pl.max_horizontal(pl.lit(now), ended_at.fill_null(pl.lit(now)) + retry.delay),
            )
            .group_by("next_attempt", "start", maintain_order=True)
            .agg("position")
        )
        planned = 0
        for attempt, start, positions in due.iter_rows():
            screen = Screen(
                campaign, self.plan.sheet.roles, start, do_not_call,
                opt_outs=load_opt_outs(campaign), free_numbers=self.plan.free_numbers,
            )  # fmt: skip
            again = _placeable(screen.apply(self.plan.rows.subset(positions))[0], start, campaign)
            requests = [
                CallRequest(
                    request_id(self.plan.run_id, request.rows, attempt),
                    request.rows,
                    dumps(followup_body(request.body, attempt)),
                )
                for request in build_requests(again, campaign, self.plan.run_id)
            ]
            self.ledger.add_requests(requests, attempt)
            planned += again.counts()[Status.PLANNED]
        return planned

    # --- results -----------------------------------------------------------------------------------
    def results(self) -> pl.DataFrame:
        """Every row's result as one table (run_results.run_results): the plan's rows, with what the
        ledger knows of them (call ids, Vapi's status and outcome, failures)."""
        return run_results(self.record.results, self.ledger, self._not_found, self._cancelled())

    def _cancelled(self) -> pl.DataFrame:
        """The calls `cancel` deleted, or found started before it could: call id, who, when, state."""
        frame = self.ledger.cancellations_frame()
        done = pl.col("state").is_in([CancelState.CANCELLED.value, CancelState.STARTED.value])
        return frame.filter(done).select("call_id", "by", "at", "state")

    def summary(self) -> Summary:
        return summarize(self.results()).with_rules(self._suppressed())

    def _suppressed(self) -> Counter[str]:
        """Suppressed rows by rule: the plan's, and those admission set aside when they were to leave."""
        return self.record.suppressed + self.ledger.set_aside_by_rule()

    def write_results(self) -> Path:
        return self._write()[0]

    def _write(self) -> tuple[Path, Summary]:
        """The results sheet from the ledger as it is now."""
        results, summary, path = self._sheet()
        return write_results(results_table(self.record.sheet, result_arrays(results)), path, summary), summary

    def _sheet(self) -> tuple[pl.DataFrame, Summary, Path]:
        """The results, their summary, and where the sheet of them goes."""
        results = self.results()
        path = results_path(self.outdir, self.fmt, results.height, self.record.sheet.num_columns)
        return results, summarize(results).with_rules(self._suppressed()), path


def _preflighted(
    plan: Plan, client: VapiClient, replan: Callable[..., Plan] | None, folder: Path, fmt: str | None
) -> tuple[Plan, Preflight]:
    """The plan once preflight (runner.sending.preflight) passed it, before its ledger exists.
    `replan` (a new run's: plan_for with its arguments but free_numbers) plans again for the free
    Vapi numbers found; a resumed run keeps those of its first planning. An API that cannot be
    reached leaves a new run's sheet saying why no row was sent."""
    try:
        checked = fetch(plan, client)
    except NetworkError as exc:
        if replan is not None:
            write_unsent(plan, folder, fmt, str(exc))
        raise
    if replan is not None and checked.free_numbers:
        plan = replan(free_numbers=checked.free_numbers)
    check_variables(plan, checked)
    return plan, checked


@dataclass(frozen=True)
class CancelOutcome:
    """What `cancel` did, and the results sheet it rewrote."""

    results_path: Path
    report: CancelReport
    summary: Summary


def _who() -> str:
    """Who is cancelling, for the results' reason: the login name, if the system knows one."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


def _placeable(rows: Rows, start: datetime, campaign: Campaign) -> Rows:
    """Follow-up rows as they can be placed from `start`: with calling hours off, a window from
    then until the schedule ends; a window under a minute long is `not due` yet."""
    unscheduled = PLANNED & pl.col("window_start").is_null()
    end = campaign.schedule.latest_at or start + HORIZON
    rows = rows.with_columns(
        window_start=pl.when(unscheduled).then(pl.lit(start, WHEN)).otherwise("window_start"),
        window_end=pl.when(unscheduled).then(pl.lit(end, WHEN)).otherwise("window_end"),
    )
    too_short = pl.col("window_end") - pl.col("window_start") < timedelta(minutes=1)
    return rows.with_columns(**with_status(PLANNED & too_short.fill_null(False), Status.NOT_DUE, ""))


def _replan(
    input_path: Path,
    campaign: Campaign,
    api: str | None,
    planned_at: datetime,
    free_numbers: frozenset[str],
    plan_id: str,
    folder: Path,
) -> Plan:
    """A run's plan again, as its first planning made it (its time, API and free numbers, from the
    folder's copy of the input): the same plan or none (the copy changed: refused)."""
    plan = plan_for(input_path, campaign, api=api or None, now=planned_at, run_folder=folder, free_numbers=free_numbers)
    if plan.run_id != plan_id:
        raise OutdirError(f"{folder}: its copy of the input ({input_path.name}) no longer plans the run it holds")
    return plan
