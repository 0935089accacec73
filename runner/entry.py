"""The console script. Ctrl-C while the libraries load (pandas, Arrow: about a second) exits 130
with one line, as it does anywhere else in a command, instead of an import traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from runner.cli import main as commands
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was planned or sent\n")
        sys.exit(130)
    commands()
