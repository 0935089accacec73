"""The console script. Ctrl-C while the libraries load (pandas, Arrow: about a second) exits 130
with one line, as it does anywhere else in a command, instead of an import traceback."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import NoReturn


def main() -> None:
    try:
        from runner.cli import main as commands
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was planned or sent\n")
        sys.exit(130)
    exit_after(commands)


def exit_after(command: Callable[[], object]) -> NoReturn:
    """Run the command, then end the process at once with its exit code, skipping the
    interpreter's teardown: Arrow's C++ thread pools can abort it ("terminate called without an
    active exception", exit 134; apache/arrow#34314), here about 1 exit in 20 under load, which a
    nightly job reads as a failure and which hides the exit code 2 of bad input. Nothing is left
    to tear down by then: each command has committed its ledgers and closed its files."""
    try:
        command()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """sys.exit's argument as the interpreter turns it into a status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1
