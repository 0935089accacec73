"""The command line: parse options, make one library call, print, map errors to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import click
import pyarrow

from runner.errors import FolderInUse, NetworkError, RunnerError, RunStarting
from runner.inbox import DEFAULT_SETTLE_SECONDS, Inbox, campaign_api, campaign_runs, is_campaign_folder
from runner.notify import Notifier
from runner.planning.plan import Plan
from runner.planning.preflight import local_problems
from runner.results.plan_sheet import write_plan
from runner.sandbox import Sandbox, SandboxConfig
from runner.sandbox.resources import Resources
from runner.sending.run import CampaignRun, RunOutcome
from runner.sending.single import SingleCall, place_call
from runner.sending.submitter import Dialled
from runner.statuses import RequestState, Status
from runner.store.ledger import Ledger
from runner.store.run_folder import plan_for, remembered_api
from runner.vapi.client import VapiClient
from runner.vapi.connect import SANDBOX_API, open_client

F = TypeVar("F", bound=Callable[..., Any])

# Options shared by several commands are defined once (pip-tools' options.py).
campaign_option = click.option(
    "-c",
    "--campaign",
    "campaign_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The campaign file (TOML).",
)
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["xlsx", "csv"]),
    default=None,
    help="Results sheet format (default: xlsx, or csv past Excel's row limit).",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
base_url_option = click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Vapi API base URL (default: $VAPI_BASE_URL or https://api.vapi.ai).",
)
sandbox_option = click.option(
    "--sandbox", is_flag=True, help="Send to a local sandbox started in-process: no account, no real calls."
)
no_preflight_option = click.option(
    "--no-preflight",
    is_flag=True,
    help="Send without first checking the assistants, phone numbers and template variables (for keys that "
    "cannot read assistants).",
)
yes_option = click.option("-y", "--yes", is_flag=True, help="Send without asking (required when not on a terminal).")


def interval_option(default: float, help: str) -> Callable[[F], F]:
    return click.option("--interval", default=default, show_default=True, type=click.FloatRange(min=0), help=help)


def out_option(required: bool, help: str) -> Callable[[F], F]:
    return click.option(
        "-o", "--out", "outdir", required=required, type=click.Path(file_okay=False, path_type=Path), help=help
    )


input_argument = click.argument("input_path", type=click.Path(dir_okay=False, path_type=Path))


class ExitCode(IntEnum):
    """What a command's exit status tells a person or a cron job (the README's "Exit codes")."""

    DONE = 0
    NOT_ALL_CALLED = 1  # it ran, but some rows failed, are unknown or still unsent (or a call was not placed)
    NOTHING_SENT = 2  # bad usage or bad input: nothing was sent
    INTERRUPTED = 130  # Ctrl-C: what was sent is recorded; the same command continues


class Failure(click.ClickException):
    """A library error shown as one clear message and exit code 2 (never a traceback)."""

    exit_code = ExitCode.NOTHING_SENT


def _fail(exc: RunnerError) -> Failure:
    return Failure(str(exc))


def _echo_progress(outdir: Path, quiet: bool) -> None:
    """A run holds the folder: its ledger's counts, read without fetching or writing anything."""
    progress = Ledger.progress(outdir)
    if not quiet:
        click.echo(f"{outdir}: a run is using this folder; its progress so far (read-only: nothing fetched or written)")
        for line in progress.lines():
            click.echo(f"  {line}")


def _echo_plan(plan: Plan, quiet: bool) -> None:
    """Warnings to stderr, the plan's summary to stdout; -q keeps only why nobody can be called."""
    if quiet:
        if plan.blocked:
            click.echo(f"warning: {plan.blocked}", err=True)
        return
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    for line in plan.summary_lines():
        click.echo(line)


def _preflight(no_preflight: bool) -> bool:
    """Whether preflight runs; skipping it is said on stderr, even with -q."""
    if no_preflight:
        click.echo(
            "warning: --no-preflight: assistants, phone numbers and template variables are not checked", err=True
        )
    return not no_preflight


def _echo_preflight(campaign_run: CampaignRun, quiet: bool) -> None:
    """What preflight checked (stdout) and warns of (stderr, also with -q)."""
    checked = campaign_run.preflight
    if checked is None:
        return
    for warning in checked.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        for line in checked.lines:
            click.echo(f"preflight: {line}")


OpenClient = Callable[..., AbstractContextManager[VapiClient]]


def api_options(command: F) -> F:
    """--base-url and --sandbox (which exclude each other), given to the command as one `api`: what
    opens its client, the real API's or the in-process sandbox's (runner.vapi.connect). Called
    with the API a run folder remembers (`api(remembered)`), that one is used unless a flag says
    otherwise: `status` of a `--sandbox` run needs no `--sandbox`."""

    @functools.wraps(command)
    def with_api(*args: Any, base_url: str | None, sandbox: bool, resources: Path | None, **kwargs: Any) -> Any:
        if sandbox and base_url:
            raise click.UsageError("--sandbox and --base-url exclude each other")
        if resources is not None and not sandbox:
            raise click.UsageError("--resources is for --sandbox: the real API knows your assistants itself")
        known = Resources.load(resources) if resources is not None else None

        def opened(remembered: str | None = None) -> AbstractContextManager[VapiClient]:
            if sandbox or base_url or not remembered:
                return open_client(base_url, sandbox, known)
            return open_client(None, True) if remembered == SANDBOX_API else open_client(remembered, False)

        return command(*args, api=opened, **kwargs)

    return cast(F, base_url_option(sandbox_option(resources_option(with_api))))


resources_option = click.option(
    "--resources",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --sandbox: a JSON file of the assistants and phone numbers it knows (as GET /assistant/{id} "
    "returns them), so a rehearsal runs preflight's checks; the demo campaign has one.",
)


class _Commands(click.Group):
    """What every command shares: a library error is one line and exit 2 (never a traceback), and
    Ctrl-C (planning, `status --watch`, …) exits 130 with one line, not "Aborted!"."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunnerError as exc:  # every library error, in every command: one line, exit 2
            raise _fail(exc) from None
        except (KeyboardInterrupt, click.exceptions.Abort) as exc:
            if isinstance(exc, click.exceptions.Abort) and not isinstance(exc.__context__, KeyboardInterrupt):
                raise  # a "no" at the confirmation: click's own Aborted!, exit 1
            click.echo("interrupted: what was sent is recorded; run the same command to continue", err=True)
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vapi-campaign")
def main() -> None:
    """Turn a spreadsheet into Vapi outbound calls, each sent at most once."""
    # Arrow on glibc's allocator rather than mimalloc: fewer page faults at a million rows
    # (bench/README.md); the allocator is the process's choice, so the command line makes it.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


@main.command()
@input_argument
@campaign_option
@out_option(required=True, help="Folder for requests.jsonl and the results sheet.")
@format_option
@quiet_option
def plan(input_path: Path, campaign_path: Path, outdir: Path, fmt: str | None, quiet: bool) -> None:
    """Plan calls without sending anything: writes OUTDIR/requests.jsonl and the results sheet.

    Example: vapi-campaign plan sample_data/customers.csv -c campaigns/example/campaign.toml -o out
    """
    result = plan_for(input_path, campaign_path)
    written = write_plan(result, outdir, fmt)
    _echo_plan(result, quiet)
    if not quiet:
        click.echo(f"wrote {outdir / 'requests.jsonl'} and {written}")
    problems = local_problems(result)
    for problem in problems:
        click.echo(f"error: `run` would stop here: {problem}", err=True)
    sys.exit(ExitCode.NOTHING_SENT if problems else result.exit_code)


@main.command()
@input_argument
@campaign_option
@out_option(required=False, help="Run folder (default: runs/<input stem>-<8 hex of its content>).")
@format_option
@api_options
@yes_option
@click.option(
    "--resend-unknown", is_flag=True, help="Send again the rows whose fate stayed unknown (check the dashboard first)."
)
@no_preflight_option
@quiet_option
def run(
    input_path: Path,
    campaign_path: Path,
    outdir: Path | None,
    fmt: str | None,
    api: OpenClient,
    yes: bool,
    resend_unknown: bool,
    no_preflight: bool,
    quiet: bool,
) -> None:
    """Plan, confirm, and place the calls; the same command again resumes and never re-sends.

    Example: vapi-campaign run sample_data/customers.csv -c campaigns/example/campaign.toml --sandbox
    """
    try:
        with (
            api() as client,
            CampaignRun.open(
                input_path, campaign_path, outdir, fmt, client.api_name, client if _preflight(no_preflight) else None
            ) as campaign_run,
        ):
            _echo_plan(campaign_run.plan, quiet)
            _echo_preflight(campaign_run, quiet)
            if not quiet:
                click.echo(f"run folder: {campaign_run.outdir}")
                states = ", ".join(f"{n} {s}" for s, n in campaign_run.pending().items())
                click.echo(f"requests: {states or 'none to send'}")
            requests = campaign_run.pending().get(RequestState.PLANNED, 0)
            if requests:
                _confirm(_question(campaign_run, requests), yes)
            outcome = _send_with_progress(campaign_run, client, quiet, resend_unknown)
    except NetworkError as exc:  # preflight could not reach the API: nothing sent, the same command resumes
        click.echo(f"stopped: {exc}", err=True)
        sys.exit(ExitCode.NOT_ALL_CALLED)
    _echo_stops(outcome)
    if outcome.report.interrupted:
        click.echo("interrupted: in-flight requests were recorded; run the same command to continue", err=True)
    if not quiet:
        _echo_outcome(outcome)
    sys.exit(outcome.exit_code)


def _echo_stops(outcome: RunOutcome) -> None:
    """Why a run stopped, and what else it has to say, on stderr (also with -q)."""
    if outcome.report.fatal:
        click.echo(f"stopped: {outcome.report.fatal}", err=True)
    if outcome.report.unreachable:
        click.echo(f"stopped: {outcome.report.unreachable}", err=True)
    for note in outcome.report.notes:
        click.echo(f"warning: {note}", err=True)


def _echo_outcome(outcome: RunOutcome) -> None:
    """A small aligned table: rows by status, people by outcome once calls have ended, and what
    the calls cost."""
    summary, figures = outcome.summary, outcome.summary.report
    tables = [("status", "rows", summary.by_status)]
    if summary.by_ended_reason and figures is not None:
        tables.append(("outcome", "people", figures.by_outcome))
    width = max(len(key) for title, _, counts in tables for key in [title, *counts])
    for title, unit, counts in tables:
        click.echo(f"{title:<{width}}  {unit:>6}")
        for key, count in counts.items():
            click.echo(f"{key:<{width}}  {count:>6}")
    if summary.reach_rate is not None:
        click.echo(f"reached {summary.reached} of {summary.ended} ended calls ({summary.reach_rate:.0%})")
    if figures is not None and figures.calls:
        click.echo(f"{figures.calls} call(s) cost ${figures.total_cost:,.2f}")
    if not outcome.report.unwritten:
        click.echo(f"wrote {outcome.results_path}")


def _confirm(question: str, yes: bool, action: str = "send") -> None:
    """Ask on a terminal; elsewhere only --yes goes ahead (a cron job must say it means it)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Failure(f"not on a terminal: pass --yes to {action} without confirmation")
    click.confirm(question, abort=True, err=True)


def _question(campaign_run: CampaignRun, requests: int) -> str:
    """The confirmation: calls now, or (when every call is scheduled for later) when the first rings."""
    people, first = campaign_run.people_to_call(), campaign_run.first_call()
    if first is None:
        return f"Call {people} people now ({requests} request(s) to Vapi)?"
    due, zone = first
    local = due.astimezone(ZoneInfo(zone)) if zone else due
    where = "local" if zone else "UTC"
    return (
        f"Schedule {people} calls, the first at {local:%H:%M} {where} on {local:%a} {local.day} {local:%b} "
        f"({requests} request(s) to Vapi)?"
    )


def _campaign_status(folder: Path, api: OpenClient, quiet: bool) -> None:
    """`status CAMPAIGN_DIR`: every run of the campaign refreshed, a line each (oldest first)."""
    with api(campaign_api(folder)) as client:
        lines = campaign_runs(folder, client)
    for line in lines if not quiet else []:
        click.echo(line.line())
    sys.exit(ExitCode.NOT_ALL_CALLED if any(line.error for line in lines) else ExitCode.DONE)


def _send_with_progress(campaign_run: CampaignRun, client: VapiClient, quiet: bool, resend_unknown: bool) -> RunOutcome:
    """The library reports progress through a callback; the bar is the CLI's, on a terminal only."""
    if quiet or not sys.stderr.isatty():
        return campaign_run.send(client, resend_unknown=resend_unknown)
    total = max(1, campaign_run.people_to_call())

    def shown(now: Dialled | None) -> str:
        return f"live {now.live} · waiting {now.waiting}" if now else ""

    with click.progressbar(length=total, label="calling", file=sys.stderr, item_show_func=shown) as bar:
        return campaign_run.send(
            client, progress=lambda now: bar.update(now.placed - bar.pos, now), resend_unknown=resend_unknown
        )


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@api_options
@click.option("--watch", is_flag=True, help="Repeat until every call has ended.")
@interval_option(15.0, "Seconds between checks with --watch.")
@click.option("--retry", is_flag=True, help="Also place the follow-up attempts that are due ([retry]).")
@no_preflight_option
@quiet_option
def status(
    outdir: Path, api: OpenClient, watch: bool, interval: float, retry: bool, no_preflight: bool,
    quiet: bool,
) -> None:  # fmt: skip
    """Fetch each call's outcome into the run's results sheet (status, ended reason, duration, cost).

    OUTDIR is a run folder, or a campaign folder (with campaign.toml): then every run of the
    campaign is refreshed and shown, a line each. The API is the one the run used (--sandbox or
    --base-url only to choose another).

    Example: vapi-campaign status runs/customers-1a2b3c4d --watch
    """
    if is_campaign_folder(outdir):
        _campaign_status(outdir, api, quiet)
        return
    try:
        with (
            api(remembered_api(outdir)) as client,
            # Only --retry sends: then preflight checks the follow-ups' assistants and variables.
            CampaignRun.reopen(outdir, client if retry and _preflight(no_preflight) else None) as campaign_run,
        ):
            _echo_preflight(campaign_run, quiet)
            if watch:
                for outcome in campaign_run.watch(client, interval, retry):
                    if not quiet:
                        waiting = campaign_run.unfinished_calls()
                        click.echo(f"{outcome.summary.ended} call(s) ended, {waiting} not yet", err=True)
            else:
                outcome = campaign_run.status(client, retry)
    except FolderInUse as exc:
        if watch or retry:
            raise Failure(f"{exc}; wait for it, or run `status` without --watch/--retry to see its progress") from None
        if isinstance(exc, RunStarting):
            click.echo(str(exc))
            return
        _echo_progress(outdir, quiet)
        return
    _echo_stops(outcome)
    if not quiet:
        _echo_outcome(outcome)
    sys.exit(outcome.exit_code)


@main.command()
@click.argument("number")
@campaign_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A template variable (repeatable).")
@click.option("--name", default="", help="The person's name (the customer's name in Vapi).")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Earliest start, ISO 8601 (default: now; calling hours still apply).")  # fmt: skip
@click.option("--consent", is_flag=True, help="This person agreed to be called (for require_consent).")
@api_options
@yes_option
@no_preflight_option
@quiet_option
def call(
    number: str, campaign_path: Path, variables: tuple[str, ...], name: str, at: Any, consent: bool,
    api: OpenClient, yes: bool, no_preflight: bool, quiet: bool,
) -> None:  # fmt: skip
    """Place one call, exactly as a spreadsheet row would be (normalized, screened, at most once).

    The same command again places no second call and says so. Its run folder (runs/call-…) works
    with `status` and `cancel`.

    Example: vapi-campaign call "(202) 555-0100" -c campaigns/example/campaign.toml --var appointment="Mon 10:00"
    """
    values = {}
    for item in variables:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise Failure(f"--var {item!r}: write it as NAME=VALUE")
        values[key.strip()] = value
    if at is not None and at.tzinfo is None:
        raise Failure(f"--at {at.isoformat()}: give a time zone (…Z or …+01:00): a call's time must not be guessed")
    _confirm(f"Call {number} now?", yes, "place the call")
    with api() as client:
        call_asked = SingleCall(number, values, name, consent, at)
        outcome = place_call(call_asked, campaign_path, client, preflight=_preflight(no_preflight))
    if outcome.status in (Status.SUPPRESSED, Status.DUPLICATE):
        click.echo(f"not called: {outcome.reason}", err=True)
        sys.exit(ExitCode.NOT_ALL_CALLED)
    if not quiet:
        said = "placed" if outcome.placed_now else "already placed by this command before: no second call"
        click.echo(f"{said}: call {outcome.call_id or '(none)'}, status {outcome.status}")
        if outcome.reason:
            click.echo(f"reason: {outcome.reason}", err=True)
        click.echo(f"run folder: {outcome.outdir}", err=True)
    sys.exit(ExitCode.DONE if outcome.call_id else ExitCode.NOT_ALL_CALLED)


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@api_options
@click.option("-y", "--yes", is_flag=True, help="Cancel without asking (required when not on a terminal).")
@quiet_option
def cancel(outdir: Path, api: OpenClient, yes: bool, quiet: bool) -> None:
    """Delete every call of a run that has not started yet (scheduled or queued).

    Each cancellation is recorded in the run's ledger before it is sent; the results sheet shows
    `cancelled`. Calls already ringing or over are left alone. Safe to run again. Cancelled rows
    leave the campaign's call history: running the file again with a corrected campaign calls
    exactly them. Exit 1 if some call could not be cancelled (run cancel again).

    Example: vapi-campaign cancel runs/customers-1a2b3c4d
    """
    try:
        with api(remembered_api(outdir)) as client, CampaignRun.reopen(outdir) as campaign_run:
            count = campaign_run.cancellable(client)
            if count:
                _confirm(f"Cancel {count} call(s) that have not started?", yes, "cancel")
            outcome = campaign_run.cancel(client)
    except FolderInUse as exc:
        raise Failure(f"{exc}; stop that run first (Ctrl-C), then cancel") from None
    if not quiet:
        for line in outcome.report.lines():
            click.echo(line, err=True)
        click.echo(f"results: {outcome.results_path}", err=True)
    sys.exit(outcome.report.exit_code)


@main.command()
@click.argument("campaigns_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--once", "mode", flag_value="once", default=True, help="Process what is there, then exit (cron).")
@click.option("--watch", "mode", flag_value="watch", help="Keep polling the inboxes.")
@interval_option(30.0, "Seconds between polls with --watch.")
@click.option("--settle", default=DEFAULT_SETTLE_SECONDS, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a file must stay unchanged before it is taken.")  # fmt: skip
@format_option
@api_options
@no_preflight_option
@click.option(
    "--notify",
    "notify_command",
    metavar="CMD",
    help="Run CMD (by the shell) with the run's JSON record on stdin when a file fails or a run stops.",
)
@click.option("--notify-url", metavar="URL",
              help="POST the same record as JSON, with a Slack-style `text` field, to URL.")  # fmt: skip
@quiet_option
def inbox(
    campaigns_dir: Path, mode: str, interval: float, settle: float, fmt: str | None, api: OpenClient,
    no_preflight: bool, notify_command: str | None, notify_url: str | None, quiet: bool,
) -> None:  # fmt: skip
    """Run every spreadsheet dropped into CAMPAIGNS_DIR/<campaign>/inbox/ (safe from cron).

    Each file moves to processing/, then done/ or failed/ (with <name>.error.txt saying why); its
    results are CAMPAIGNS_DIR/<campaign>/results/<file name>.xlsx, refreshed by every later run
    until its calls are settled. Every run appends a line to CAMPAIGNS_DIR/inbox-runs.jsonl.
    Files that failed are said on stderr, even with -q. Exit 1 if any file failed or has failed or
    unknown rows, or a campaign folder has no campaign.toml.

    Example: vapi-campaign inbox campaigns --once -q --notify 'mail -s "calls failed" ops@example.com'
    """
    report = (lambda message: None) if quiet else click.echo
    notifier = Notifier(notify_command, notify_url) if notify_command or notify_url else None
    exit_code: int = ExitCode.DONE
    with api() as client:
        processor = Inbox(
            campaigns_dir, client, settle, fmt, report, _preflight(no_preflight),
            alert=lambda line: click.echo(line, err=True), notify=notifier,
        )  # fmt: skip
        rounds = [processor.run_once()] if mode == "once" else processor.watch(interval)
        try:
            for _ in rounds:
                exit_code = max(exit_code, processor.last.exit_code)
                for line in processor.last.lines() if not quiet else []:
                    click.echo(line)
        except KeyboardInterrupt:
            pass
    sys.exit(exit_code)


@main.command("sandbox")
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--api-key", default="sandbox-key", show_default=True, help="The key clients must send.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file that keeps calls across restarts.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for faults and call outcomes.")
@click.option(
    "--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of POSTs answered 500, nothing created."
)
@click.option(
    "--throttle-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of POSTs answered 429 + Retry-After."
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of POSTs whose calls are created, then the connection dropped.",
)
@click.option(
    "--slow-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of POSTs whose calls are created, answer delayed.",
)
@click.option(
    "--partial-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of batch customers refused in `errors`."
)
@click.option("--latency-ms", default=0.0, help="Delay before every answer.")
@click.option("--slow-seconds", default=90.0, show_default=True, help="How long a slow answer takes.")
@click.option("--dial-now", is_flag=True, help="Ignore earliestAt: calls start at once.")
@click.option("--call-seconds", default=30.0, show_default=True, help="How long a call lasts.")
@click.option("--concurrency-limit", default=10, show_default=True,
              help="The account's lines: calls ringing or in progress at once (Vapi's default: 10).")  # fmt: skip
@click.option("--over-limit", type=click.Choice(["fail", "queue"]), default="fail", show_default=True,
              help="A call due with no line free ends at once with Vapi's limit reason, or waits queued.")  # fmt: skip
@click.option("--start-error-rate", default=0.0, type=click.FloatRange(0, 1),
              help="Share of calls that end at start with a transient Vapi fault, never having rung.")  # fmt: skip
@click.option("--opt-out-rate", default=0.0, help="Share of answered calls whose person asks not to be called again.")
@click.option(
    "--clock-offset", default=0.0, help="Seconds the API's clock is ahead of this machine's (negative: behind)."
)
@click.option(
    "--resources",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='JSON {"assistants": [...], "phoneNumbers": [...]}: the only ids GET /assistant and /phone-number know.',
)
def sandbox_command(resources: Path | None, **options: Any) -> None:
    """Serve a local Vapi-compatible API (POST/GET/DELETE /call, GET /assistant and /phone-number)
    for demos and fault drills.

    Example: vapi-campaign sandbox --port 8787 --drop-rate 0.2 --dial-now --call-seconds 5
    """
    known = Resources.load(resources) if resources is not None else Resources()
    config = SandboxConfig(**options, resources=known)
    try:
        server = Sandbox(config)
    except OSError as exc:
        raise Failure(f"cannot listen on port {config.port}: {exc.strerror}") from None
    click.echo(f"Vapi sandbox on {server.url} (send the key given with --api-key); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
