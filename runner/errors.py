"""The library's exceptions: one base class, each subclass a kind of failure the CLI maps to an exit code.

    RunnerError
    ├── InputError        the spreadsheet cannot be read as a whole (exit 2, nothing sent)
    ├── CampaignError     the campaign file is invalid (exit 2, nothing sent)
    ├── CredentialError   the API key cannot be sent as it is (exit 2, nothing sent)
    ├── OutdirError       the output folder holds another run, or cannot be written (exit 2)
    │   └── FolderInUse   another process is running in it (`status` then reads it read-only)
    │       └── RunStarting   …and is still planning: no ledger yet
    ├── PreflightError    an assistant, phone number or template variable Vapi would refuse (exit 2, nothing sent)
    ├── ApiError          Vapi (or the sandbox) answered with an error
    │   └── AuthError     401/403 or billing: the whole run must stop at once
    └── NetworkError      no answer; `maybe_sent` says whether Vapi may have acted on it

Row-level problems are never exceptions: they are statuses and reasons in the results sheet.
"""

from __future__ import annotations

from pathlib import Path


class RunnerError(Exception):
    """Base class: the message is written for the person running the tool, with a fix where there is one."""


class InputError(RunnerError):
    """A spreadsheet (or a do-not-call list) cannot be used at all."""


class CampaignError(RunnerError):
    """The campaign file is missing, unreadable, or has a bad or unknown key."""


class CredentialError(RunnerError):
    """The API key is empty or holds a character an HTTP header cannot carry (never quoted)."""


class OutdirError(RunnerError):
    """The output folder cannot be used for this run."""


class FolderInUse(OutdirError):
    """Another process holds the run folder's lock (a long `run`, most often)."""


class RunStarting(FolderInUse):
    """A run holds the folder but is still planning: nothing has been written or sent yet."""


class PreflightError(RunnerError):
    """Preflight found a reason not to send anything: an unknown or inactive assistant or phone
    number, or a template variable some rows have no value for."""


class ApiError(RunnerError):
    """An error answer from the Vapi API, with its HTTP status and parsed message."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"Vapi answered {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


class AuthError(ApiError):
    """The key was refused (401/403) or the account cannot pay: nothing else will succeed."""


class NetworkError(RunnerError):
    """No HTTP answer. maybe_sent=False only when the request provably never reached the server."""

    def __init__(self, message: str, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


def unwritable(folder: Path, what: str, exc: BaseException) -> OutdirError:
    """The message for a folder that cannot be written (a full disk, most often)."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return OutdirError(
        f"{folder}: cannot write {what} ({why}); free disk space (or fix the folder's permissions), then run "
        "the same command again: it resumes, and nothing already sent is sent twice"
    )


def damaged(path: Path, exc: BaseException, fix: str) -> OutdirError:
    """The message for a file of a run folder that cannot be read (damaged, or not what it should be)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OutdirError(f"{path}: damaged, it cannot be read ({text}); {fix}")
