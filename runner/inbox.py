"""Drop-folder processing: spreadsheets dropped in `campaigns/<name>/inbox/` are run unattended.

Safe from cron, twice at once, after a crash and on half-copied files:
- a file is taken only once it has settled (its mtime is older than the settle time), and only
  spreadsheet files (no hidden, Office lock, .part/.tmp/.crdownload files);
- taking it is an atomic rename into `processing/`; a crashed run's file there is resumed first;
- one process per campaign folder (a lock), and each file runs through the per-file ledger of
  `run`, so nothing is sent twice;
- the campaign folder remembers the content hash of every file it ran: the same content dropped
  again, under any name, goes to `done/` with a note and places no calls.
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
from runner.errors import AuthError, CampaignError, FolderInUse, NetworkError, RunnerError
from runner.files import hold
from runner.sending.run import CampaignRun
from runner.sheets.read import BOOK_SUFFIXES, TEXT_SUFFIXES
from runner.statuses import Status
from runner.store.ledger import LEDGER_FILE, Ledger
from runner.store.run_folder import default_folder
from runner.store.sqlite import atomic, connect
from runner.vapi.client import VapiClient

CAMPAIGN_FILE = "campaign.toml"
FOLDERS = ("inbox", "processing", "done", "failed", "results")
IGNORED_SUFFIXES = {".part", ".tmp", ".crdownload", ".partial", ".download"}
DEFAULT_SETTLE_SECONDS = 10.0


@dataclass
class FileOutcome:
    """One processed file, as logged in inbox.log and printed."""

    campaign: str
    file: str
    state: str  # done | duplicate | failed | interrupted | stopped | pending | follow-ups (an earlier run's)
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
        return self.state in ("done", "duplicate", "follow-ups") and not (
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


def is_spreadsheet_name(path: Path) -> bool:
    """Named like a spreadsheet a person dropped: not a lock, temp or hidden file."""
    name = path.name
    if name.startswith((".", "~$")):
        return False
    suffixes = {s.lower() for s in path.suffixes}
    if suffixes & IGNORED_SUFFIXES:
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
    ) -> None:
        self.root = root
        self.client = client
        self.preflight = client if preflight else None  # checks each file's plan before it is sent
        self.settle_seconds = settle_seconds
        self.fmt = fmt
        self.report = report or (lambda message: None)

    def run_once(self) -> list[FileOutcome]:
        outcomes: list[FileOutcome] = []
        for folder in campaign_folders(self.root):
            outcomes.extend(self._campaign(folder))
        return outcomes

    def watch(self, interval: float, stop: Callable[[], bool] = lambda: False) -> Iterator[list[FileOutcome]]:
        """Run again every `interval` seconds; yields each round's outcomes."""
        while not stop():
            yield self.run_once()
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
        for path in files:
            outcome = self._file(folder, path, memory)
            outcomes.append(self._logged(folder, outcome))
            if outcome.state == "stopped":
                return outcomes  # the key or the account is refused: the other files would fail the same way
        ran = {default_folder(o.file, folder / "runs", o.sha256) for o in outcomes}
        return outcomes + [self._logged(folder, o) for o in self._follow_ups(folder, ran)]

    def _logged(self, folder: Path, outcome: FileOutcome) -> FileOutcome:
        _log(folder, outcome)
        self.report(outcome.line())
        if outcome.columns:
            self.report("  columns: " + ", ".join(f"{role} = {header!r}" for role, header in outcome.columns.items()))
        for warning in outcome.warnings:
            self.report(f"  warning: {warning}")
        return outcome

    def _follow_ups(self, folder: Path, skip: set[Path]) -> list[FileOutcome]:
        """Earlier runs of a campaign with [retry]: fetch their outcomes and place the attempts now due,
        as `status --retry` would (a nightly import is where marketers expect follow-ups to happen)."""
        try:
            retry = load_campaign(folder / CAMPAIGN_FILE).retry
        except CampaignError:
            return []
        if retry is None:
            return []
        outcomes = []
        for ledger in sorted((folder / "runs").glob(f"*/{LEDGER_FILE}")):
            run_folder = ledger.parent
            if run_folder in skip or not Ledger.awaits_outcomes(run_folder, retry.on, retry.max_attempts):
                continue
            outcome = FileOutcome(folder.name, run_folder.name, "follow-ups")
            try:
                with CampaignRun.reopen(run_folder, self.preflight) as run:
                    result = run.status(self.client, retry=True)
            except RunnerError as exc:
                outcome.state, outcome.error = "failed", str(exc)
            else:
                outcome.counts = result.counts
                results = folder / "results" / f"{run_folder.name}-{_stamp()}{result.results_path.suffix}"
                shutil.copyfile(result.results_path, results)
                outcome.results = str(results.relative_to(self.root))
            outcomes.append(outcome)
        return outcomes

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
        results = folder / "results" / f"{path.stem}-{_stamp()}{result.results_path.suffix}"
        shutil.copyfile(result.results_path, results)
        outcome.results = str(results.relative_to(self.root))
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


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


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
