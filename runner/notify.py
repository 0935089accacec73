"""Telling someone when an unattended inbox run goes wrong: a command of theirs, run with the run's
JSON record on stdin (mail, a pager, a script), and/or a JSON POST to a webhook URL with a
Slack-style `text` field beside the same record (Slack, Teams and most chat tools take that)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import httpx

TIMEOUT_SECONDS = 30.0  # a notification must not hold the nightly run for long


@dataclass(frozen=True)
class Notifier:
    """`command`: run by the shell, the record on stdin; `url`: POSTed the record as JSON."""

    command: str | None = None
    url: str | None = None

    def __call__(self, record: dict[str, object]) -> list[str]:
        """Send `record` both ways asked; what went wrong, in words (empty: all delivered)."""
        troubles = []
        if self.command:
            troubles += self._run(record)
        if self.url:
            troubles += self._post(record)
        return troubles

    def _run(self, record: dict[str, object]) -> list[str]:
        try:
            done = subprocess.run(
                self.command or "", shell=True, input=json.dumps(record) + "\n", text=True,
                capture_output=True, timeout=TIMEOUT_SECONDS, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"--notify command failed: {exc}"]
        if done.returncode:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            return [f"--notify command exited {done.returncode}: {said[0]}".rstrip(": ")]
        return []

    def _post(self, record: dict[str, object]) -> list[str]:
        try:
            answer = httpx.post(
                self.url or "", json={"text": text_of(record), **record}, timeout=TIMEOUT_SECONDS, trust_env=True
            )
        except httpx.HTTPError as exc:
            return [f"--notify-url failed: {type(exc).__name__}: {exc}"]
        if answer.is_error:
            return [f"--notify-url answered {answer.status_code}"]
        return []


def text_of(record: dict[str, object]) -> str:
    """One message a person reads in a chat: what failed, and where to look."""
    failed = record.get("failed") or []
    problems = record.get("problems") or []
    lines = [f"vapi-campaign inbox: exit {record.get('exit_code')}"]
    lines += [f"• {line}" for line in [*problems, *failed]]  # type: ignore[misc]  # lists of text
    return "\n".join(lines)
