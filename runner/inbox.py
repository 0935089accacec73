"""Drop-folder processing: spreadsheets dropped in `campaigns/<name>/inbox/` are run unattended.

Safe from cron, twice at once, after a crash and on half-copied files:
- a file is taken only once it has settled (its mtime is older than the settle time), and only
  spreadsheet files (no hidden, Office lock, .part/.tmp/.crdownload files);
- taking it is an atomic rename into `processing/`; a crashed run's file there is resumed first;
- one process per campaign folder (a lock), and each file runs through the per-file ledger of
  `run`, so nothing is sent twice;
- the campaign folder remembers the content hash of every file it ran: the same content dropped
  again, under any name, goes to `done/` with a note and places no calls.

And it closes the loop, never silently: each dropped file has one current results file,
`results/<file stem>.xlsx`, refreshed by every later inbox run until its calls are all settled;
every run appends a line to `inbox-runs.jsonl` (empty nights too) and may notify someone
(runner.notify) when a file fails or a run stops; a file the inbox will never take gets a note
saying why, once, and a file still settling is said to be waiting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runner.campaign import load_campaign
from runner.errors import AuthError, CampaignError, FolderInUse, NetworkError, OutdirError, RunnerError
from runner.files import atomic_write, hold
from runner.sending.run import CampaignRun
from runner.sheets.read import BOOK_SUFFIXES, TEXT_SUFFIXES
from runner.statuses import Status
from runner.store.ledger import LEDGER_FILE, Ledger
from runner.store.run_folder import default_folder, remembered_api
from runner.store.sqlite import atomic, connect
from runner.vapi.client import VapiClient

CAMPAIGN_FILE = "campaign.toml"
FOLDERS = ("inbox", "processing", "done", "failed", "results")
IGNORED_SUFFIXES = {".part", ".tmp", ".crdownload", ".partial", ".download"}
DEFAULT_SETTLE_SECONDS = 10.0
RUNS_LOG = "inbox-runs.jsonl"  # in the campaigns folder: one line per inbox run
NOTE_SUFFIXES = (".note.txt", ".error.txt")  # the inbox's own notes: never taken as spreadsheets


@dataclass
class FileOutcome:
    """One processed file, as logged in inbox.log and printed."""

    campaign: str
    file: str
    # done | duplicate | failed | interrupted | stopped | pending; for an earlier file: follow-ups
    # (its campaign has [retry]) or updated (its results file refreshed)
    state: str
    sha256: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    results: str = ""
    error: str = ""
    # What the plan chose and warned of (the sheet read, the encoding guessed, rows skipped) and
    # what preflight warns of: a drop folder's log is the only place its user can see them.
    columns: dict[str, str] = field(default_factory=dict)  # role -> the header that took it
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in ("done", "duplicate", "follow-ups", "updated") and not (
            self.counts.get(Status.FAILED) or self.counts.get(Status.UNKNOWN)
        )

    def line(self) -> str:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        detail = self.error or counts
        where = f" -> {self.results}" if self.results else ""
        return f"{self.campaign}/{self.file}: {self.state}" + (f" ({detail})" if detail else "") + where


def campaign_folders(root: Path) -> list[Path]:
    """Every folder under root that holds a campaign.toml."""
    return sorted(p.parent for p in root.glob(f"*/{CAMPAIGN_FILE}"))


def misnamed_campaigns(root: Path) -> list[str]:
    """Folders under root that look like campaigns (an inbox/, or a file named like campaign.toml
    in another case or with another ending) but have no campaign.toml: each said, with the fix."""
    problems = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not (p / CAMPAIGN_FILE).exists()):
        lookalikes = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_file() and p.name.lower().startswith("campaign") and ".toml" in p.name.lower()
        )
        if lookalikes:
            found = ", ".join(map(repr, lookalikes))
            problems.append(f"{folder.name}: no {CAMPAIGN_FILE}, but {found}: rename it to {CAMPAIGN_FILE}")
        elif (folder / "inbox").is_dir():
            problems.append(f"{folder.name}: has an inbox/ but no {CAMPAIGN_FILE}: its files are not run")
    return problems


def is_transient(path: Path) -> bool:
    """A lock, temporary, partly downloaded or hidden file: gone or renamed soon, never said."""
    if path.name.startswith((".", "~$")):
        return True
    return bool({s.lower() for s in path.suffixes} & IGNORED_SUFFIXES)


def is_spreadsheet_name(path: Path) -> bool:
    """Named like a spreadsheet a person dropped: not a lock, temp or hidden file, nor a note."""
    if is_transient(path) or path.name.endswith(NOTE_SUFFIXES):
        return False
    return path.suffix.lower() in TEXT_SUFFIXES | BOOK_SUFFIXES


def is_regular(path: Path) -> bool:
    """A regular file itself, by lstat: a symbolic link is never followed (one to the project's .env,
    dropped as leads.csv, would have its secrets read, and quoted in an error, by whoever can drop files)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def is_candidate(path: Path) -> bool:
    """A spreadsheet a person finished dropping: a regular file (never a link) with its name."""
    return is_spreadsheet_name(path) and is_regular(path)


def settled(path: Path, settle_seconds: float, now: float) -> bool:
    """Unchanged for settle_seconds: a copy still being written keeps touching its mtime."""
    try:
        return now - path.stat().st_mtime >= settle_seconds
    except FileNotFoundError:
        return False


class InboxMemory:
    """The content hashes a campaign folder has run (inbox.sqlite beside campaign.toml)."""

    def __init__(self, folder: Path) -> None:
        self._db = connect(folder / "inbox.sqlite")
        self._db.execute("CREATE TABLE IF NOT EXISTS files (sha256 TEXT PRIMARY KEY, name TEXT, done_at TEXT)")
        # Each run folder's results file under results/: chosen once, when its file is taken.
        self._db.execute("CREATE TABLE IF NOT EXISTS results (run TEXT PRIMARY KEY, name TEXT UNIQUE)")

    def known_results(self, run: str) -> str | None:
        """The results file name a run was given (None: not a dropped file's run)."""
        known = self._db.execute("SELECT name FROM results WHERE run = ?", (run,)).fetchone()
        return str(known[0]) if known else None

    def results_name(self, run: str, stem: str, suffix: str) -> str:
        """The name of a run's one current results file: `<stem><suffix>`, or (when another file
        of that name, another content, took it) `<stem> (2)<suffix>`, … kept for good."""
        known = self.known_results(run)
        if known:
            return known
        taken = {row[0] for row in self._db.execute("SELECT name FROM results")}
        name, n = f"{stem}{suffix}", 1
        while name in taken:
            n += 1
            name = f"{stem} ({n}){suffix}"
        with atomic(self._db) as db:
            db.execute("INSERT INTO results VALUES (?, ?)", (run, name))
        return name

    def seen(self, sha256: str) -> tuple[str, str] | None:
        row = self._db.execute("SELECT name, done_at FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        return (row[0], row[1]) if row else None

    def remember(self, sha256: str, name: str) -> None:
        with atomic(self._db) as db:
            db.execute("INSERT OR IGNORE INTO files VALUES (?, ?, ?)", (sha256, name, datetime.now(UTC).isoformat()))

    def close(self) -> None:
        self._db.close()


@contextmanager
def campaign_lock(folder: Path) -> Iterator[bool]:
    """True when this process holds the campaign's lock; False when another process does."""
    try:
        handle = hold(folder / ".inbox.lock", "inbox run")
    except FolderInUse:
        yield False
        return
    with handle:
        yield True


@dataclass
class InboxRound:
    """One inbox run over every campaign: what it took and did, what it left waiting or will
    never take, and its exit code; a line of inbox-runs.jsonl."""

    started: datetime
    outcomes: list[FileOutcome] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # campaign/file still settling
    never_taken: list[str] = field(default_factory=list)  # what it said, once, of files it will never take
    problems: list[str] = field(default_factory=list)  # folders that look like campaigns but are not
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    watching: bool = False  # a round of a watch: said and logged only when it did something

    @property
    def exit_code(self) -> int:
        """0 when every file went through and nothing is wrong; 1 otherwise."""
        return 0 if all(outcome.ok for outcome in self.outcomes) and not self.problems else 1

    @property
    def alarming(self) -> bool:
        """Someone should hear of it: a file failed or was stopped, or a campaign folder is broken."""
        return bool(self.problems) or any(outcome.state in ("failed", "stopped") for outcome in self.outcomes)

    @property
    def eventful(self) -> bool:
        """It took a file, or found something to say: a broken folder, a file never taken or settling."""
        return bool(self.outcomes or self.problems or self.never_taken or self.waiting)

    def lines(self) -> list[str]:
        """What a person reads besides the files' own lines (and the problems, which are alerted):
        the files still settling, or that there was nothing to process. A watch's round without a
        file taken says nothing: a watch is silent when idle."""
        if self.watching and not self.outcomes:
            return []
        if self.waiting:
            return [
                f"{len(self.waiting)} file(s) waiting to settle, taken after {self.settle_seconds:g} s "
                f"unchanged: {', '.join(self.waiting)}"
            ]
        return [] if self.outcomes or self.problems else ["nothing to process"]

    def record(self) -> dict[str, object]:
        states: dict[str, int] = {}
        for outcome in self.outcomes:
            states[outcome.state] = states.get(outcome.state, 0) + 1
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "ended": datetime.now(UTC).isoformat(timespec="seconds"),
            "exit_code": self.exit_code,
            "files": states,
            "taken": [f"{o.campaign}/{o.file}" for o in self.outcomes if o.state not in ("follow-ups", "updated")],
            "failed": [o.line() for o in self.outcomes if not o.ok],
            "waiting": self.waiting,
            "never_taken": self.never_taken,
            "problems": self.problems,
        }


class Inbox:
    """Processes the inboxes of every campaign under a folder with one Vapi client."""

    def __init__(
        self,
        root: Path,
        client: VapiClient,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        fmt: str | None = None,
        report: Callable[[str], None] | None = None,
        preflight: bool = True,
        alert: Callable[[str], None] | None = None,
        notify: Callable[[dict[str, object]], list[str]] | None = None,
    ) -> None:
        """`report` hears every line; `alert` (default: `report`) the lines of files that did not
        go through, even when `report` is silent; `notify` (runner.notify.Notifier) is handed a
        round's record when someone should hear of it, and gives back what went wrong doing so."""
        self.root = root
        self.client = client
        self.preflight = client if preflight else None  # checks each file's plan before it is sent
        self.settle_seconds = settle_seconds
        self.fmt = fmt
        self.report = report or (lambda message: None)
        self.alert = alert or self.report
        self.notify = notify
        self.last = InboxRound(datetime.now(UTC), settle_seconds=settle_seconds)
        self._said: set[str] = set()  # the broken campaign folders said already (a watch says each once)

    def run_once(self, quiet_when_idle: bool = False) -> list[FileOutcome]:
        """One round over every campaign folder, logged in inbox-runs.jsonl (see `last`).

        `quiet_when_idle` (a watch's rounds): a broken campaign folder is said and notified once,
        not every round, and a round that did nothing new writes no line."""
        self.last = InboxRound(datetime.now(UTC), settle_seconds=self.settle_seconds, watching=quiet_when_idle)
        problems = misnamed_campaigns(self.root)
        self.last.problems = [line for line in problems if not quiet_when_idle or line not in self._said]
        self._said = set(problems)
        for folder in campaign_folders(self.root):
            self.last.outcomes.extend(self._campaign(folder))
        for line in self.last.problems:
            self.alert(line)
        record = self.last.record()
        if self.notify is not None and self.last.alarming:
            for trouble in self.notify(record):
                self.alert(f"warning: {trouble}")
        if self.last.eventful or not self.last.watching:
            with (self.root / RUNS_LOG).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        return self.last.outcomes

    def watch(self, interval: float, stop: Callable[[], bool] = lambda: False) -> Iterator[list[FileOutcome]]:
        """Run again every `interval` seconds; yields each round's outcomes. Logged as run_once
        logs, but only rounds that did something (a watch polls every 30 s by default)."""
        while not stop():
            yield self.run_once(quiet_when_idle=True)
            time.sleep(interval)

    # --- one campaign ---------------------------------------------------------------------------
    def _campaign(self, folder: Path) -> list[FileOutcome]:
        for name in FOLDERS:
            (folder / name).mkdir(exist_ok=True)
        with campaign_lock(folder) as held:
            if not held:
                self.report(f"{folder.name}: another inbox run is processing this campaign; skipped")
                return []
            memory = InboxMemory(folder)
            try:
                return self._process(folder, memory)
            finally:
                memory.close()

    def _process(self, folder: Path, memory: InboxMemory) -> list[FileOutcome]:
        # A crashed run's files come first: their ledgers make the resume safe.
        files = sorted(p for p in (folder / "processing").iterdir() if is_candidate(p))
        now = time.time()
        outcomes = []
        for path in sorted((folder / "inbox").iterdir()):
            if is_spreadsheet_name(path) and path.is_symlink():
                outcome = FileOutcome(folder.name, path.name, "done")
                why = "a symbolic link, not a file: links are never followed; drop a copy of the file itself"
                outcomes.append(self._logged(folder, self._quarantine(folder, path, outcome, why)))
            elif is_candidate(path) and settled(path, self.settle_seconds, now):
                taken = folder / "processing" / path.name
                if taken.exists():
                    taken = _unique(taken)
                try:
                    os.rename(path, taken)
                except FileNotFoundError:
                    continue  # another process took it
                files.append(taken)
            elif is_candidate(path):
                self.last.waiting.append(f"{folder.name}/{path.name}")
            elif not is_transient(path) and not path.name.endswith(NOTE_SUFFIXES):
                self._never_taken(folder, path)
        for path in files:
            outcome = self._file(folder, path, memory)
            outcomes.append(self._logged(folder, outcome))
            if outcome.state == "stopped":
                return outcomes  # the key or the account is refused: the other files would fail the same way
        ran = {default_folder(o.file, folder / "runs", o.sha256) for o in outcomes}
        return outcomes + [self._logged(folder, o) for o in self._refresh(folder, ran, memory)]

    def _never_taken(self, folder: Path, path: Path) -> None:
        """A file (or folder) in inbox/ the inbox will never take: said once, in a note beside it."""
        note = path.with_name(path.name + ".note.txt")
        if note.exists():
            return
        kinds = ", ".join(sorted(TEXT_SUFFIXES | BOOK_SUFFIXES))
        what = "a folder" if path.is_dir() else f"not a spreadsheet ({path.suffix or 'no extension'})"
        why = f"{path.name} is {what}: the inbox takes files ending {kinds}; move it out of inbox/"
        note.write_text(why + "\n")
        self.last.never_taken.append(f"{folder.name}/{path.name}")
        self.alert(f"{folder.name}/{path.name}: never taken: {why}")

    def _logged(self, folder: Path, outcome: FileOutcome) -> FileOutcome:
        _log(folder, outcome)
        (self.report if outcome.ok else self.alert)(outcome.line())
        if outcome.columns:
            self.report("  columns: " + ", ".join(f"{role} = {header!r}" for role, header in outcome.columns.items()))
        for warning in outcome.warnings:
            self.report(f"  warning: {warning}")
        return outcome

    def _refresh(self, folder: Path, skip: set[Path], memory: InboxMemory) -> list[FileOutcome]:
        """Earlier files whose calls are not all settled: their outcomes fetched and their results
        file replaced, as `status` would; with [retry], the attempts now due placed too (a nightly
        import is where marketers expect follow-ups to happen). A settled run is left alone."""
        try:
            retry = load_campaign(folder / CAMPAIGN_FILE).retry
        except CampaignError:
            return []
        retry_on, max_attempts = (retry.on, retry.max_attempts) if retry is not None else ([], 1)
        outcomes = []
        for ledger in sorted((folder / "runs").glob(f"*/{LEDGER_FILE}")):
            run_folder = ledger.parent
            if run_folder in skip or not Ledger.awaits_outcomes(run_folder, retry_on, max_attempts):
                continue
            outcome = FileOutcome(folder.name, run_folder.name, "follow-ups" if retry is not None else "updated")
            try:
                with CampaignRun.reopen(run_folder, self.preflight) as run:
                    result = run.status(self.client, retry=retry is not None)
                    source = Path(run.meta.source or run.meta.input)
            except RunnerError as exc:
                outcome.state, outcome.error = "failed", str(exc)
            else:
                outcome.counts = result.counts
                outcome.results = self._publish(folder, memory, run_folder, source.stem, result.results_path)
            outcomes.append(outcome)
        return outcomes

    def _publish(self, folder: Path, memory: InboxMemory, run_folder: Path, stem: str, sheet: Path) -> str:
        """Replace the run's one current results file (results/<file stem>.xlsx) with its sheet.
        Returns its path as said."""
        target = folder / "results" / memory.results_name(run_folder.name, stem, sheet.suffix)
        publish(sheet, target)
        return str(target.relative_to(self.root))

    def _file(self, folder: Path, path: Path, memory: InboxMemory) -> FileOutcome:
        outcome = FileOutcome(folder.name, path.name, "done")
        try:
            outcome.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            return self._quarantine(folder, path, outcome, f"cannot read the file: {exc.strerror}")
        earlier = memory.seen(outcome.sha256)
        if earlier is not None:
            outcome.state = "duplicate"
            outcome.error = f"same content as {earlier[0]}, run {earlier[1][:19]}Z; not sent again"
            moved = _move(path, folder / "done")
            moved.with_name(moved.name + ".note.txt").write_text(outcome.error + "\n")
            return outcome
        try:
            campaign = load_campaign(folder / CAMPAIGN_FILE)
            outdir = default_folder(path, folder / "runs", outcome.sha256)
            with CampaignRun.open(path, campaign, outdir, self.fmt, self.client.api_name, self.preflight) as run:
                result = run.send(self.client)
                outcome.columns = dict(run.record.roles)
                warnings = [*run.record.warnings, *(run.preflight.warnings if run.preflight else [])]
                outcome.warnings = [w.replace(str(path), f"{folder.name}/{path.name}") for w in warnings]
        except CampaignError as exc:
            return self._quarantine(folder, path, outcome, f"the campaign file is invalid: {exc}")
        except (AuthError, NetworkError) as exc:  # preflight could not ask: not the file's fault, it stays
            outcome.state, outcome.error = "stopped", str(exc)
            return outcome
        except RunnerError as exc:
            return self._quarantine(folder, path, outcome, str(exc))
        outcome.counts = result.counts
        report = result.report
        if report.fatal is not None or report.interrupted or report.unreachable:
            # Not the file's fault: it stays in processing/ and the next run resumes it.
            outcome.state = "interrupted" if report.interrupted else "stopped"
            outcome.error = str(report.fatal or report.unreachable or "interrupted")
            return outcome
        if result.counts.get(Status.PLANNED):
            # Rows not sent yet (Vapi kept refusing for now): the file is not done until they are.
            outcome.state = "pending"
            outcome.error = f"{result.counts[Status.PLANNED]} row(s) not sent yet; the next inbox run sends them"
            return outcome
        outcome.results = self._publish(folder, memory, outdir, path.stem, result.results_path)
        memory.remember(outcome.sha256, path.name)
        _move(path, folder / "done")
        return outcome

    def _quarantine(self, folder: Path, path: Path, outcome: FileOutcome, why: str) -> FileOutcome:
        """Move a file that cannot be run to failed/, with <name>.error.txt saying why."""
        outcome.state, outcome.error = "failed", why
        moved = _move(path, folder / "failed")
        moved.with_name(moved.name + ".error.txt").write_text(
            f"{path.name} was not run.\n\nWhy: {why}\n\nFix the file (or the campaign) and drop it into inbox/ again.\n"
        )
        return outcome


def publish(sheet: Path, target: Path) -> None:
    """Replace `target` with a copy of `sheet`, atomically: whoever has it open keeps the old one whole."""
    with atomic_write(target, f"the results file {target.name}") as partial:
        shutil.copyfile(sheet, partial)


def _unique(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return target.with_name(f"{target.stem}-{stamp}{target.suffix}")


def _move(path: Path, folder: Path) -> Path:
    target = folder / path.name
    if target.exists():
        target = _unique(target)
    os.rename(path, target)
    return target


def _log(folder: Path, outcome: FileOutcome) -> None:
    entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(outcome)}
    with (folder / "inbox.log").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


@dataclass
class RunLine:
    """One run of a campaign folder, as `status CAMPAIGN_DIR` shows it."""

    file: str  # the dropped (or run) file's name
    folder: Path  # its run folder
    planned_at: datetime
    people: int
    outcomes: dict[str, int]  # people by outcome
    results: str = ""  # its one current results file, when the inbox gave it one
    error: str = ""  # why it could not be read or refreshed

    def line(self) -> str:
        when = f"{self.planned_at:%Y-%m-%d %H:%M} UTC"
        if self.error:
            return f"{self.file} ({when}): {self.error}"
        shown = " · ".join(f"{outcome} {n}" for outcome, n in self.outcomes.items())
        where = f" -> {self.results}" if self.results else f" -> {self.folder}"
        return f"{self.file} ({when}, {self.people} people): {shown}{where}"


def is_campaign_folder(path: Path) -> bool:
    """A campaign folder (its campaign.toml), not a run folder."""
    return (path / CAMPAIGN_FILE).is_file() and not (path / LEDGER_FILE).exists()


def _runs_by_age(folder: Path) -> list[Path]:
    """A campaign folder's run folders, oldest first."""
    ledgers = sorted((folder / "runs").glob(f"*/{LEDGER_FILE}"), key=lambda path: path.stat().st_mtime)
    return [ledger.parent for ledger in ledgers]


def campaign_api(folder: Path) -> str | None:
    """The API a campaign's latest run went through; OutdirError when it has no run yet."""
    runs = _runs_by_age(folder)
    if not runs:
        raise OutdirError(f"{folder}: no run of this campaign yet (its runs are in {folder / 'runs'})")
    return remembered_api(runs[-1])


def campaign_runs(folder: Path, client: VapiClient, root: Path | None = None) -> list[RunLine]:
    """Every run of a campaign folder (runs/*), oldest first, each refreshed as `status` would
    (outcomes fetched; a dropped file's results/<name>.xlsx replaced while its calls were not all
    settled). A run held by another process is said, not waited for."""
    root = root or folder.parent
    lines = []
    memory = InboxMemory(folder)
    try:
        for run_folder in _runs_by_age(folder):
            meta = Ledger.read_meta(run_folder)
            planned = datetime.fromisoformat(meta.get("planned_at", "1970-01-01T00:00:00+00:00"))
            source = Path(meta.get("source") or meta.get("input") or run_folder.name)
            line = RunLine(source.name, run_folder, planned, 0, {})
            unsettled = Ledger.awaits_outcomes(run_folder, [], 1)
            try:
                with CampaignRun.reopen(run_folder) as run:
                    outcome = run.status(client)
            except RunnerError as exc:
                line.error = str(exc)
            else:
                figures = outcome.summary.report
                line.people = figures.people if figures else sum(outcome.counts.values())
                line.outcomes = figures.by_outcome if figures else dict(outcome.counts)
                name = memory.known_results(run_folder.name)
                if name:
                    target = folder / "results" / name
                    if unsettled or not target.exists():
                        publish(outcome.results_path, target)
                    line.results = str(target.relative_to(root))
            lines.append(line)
    finally:
        memory.close()
    return lines
