"""The command line: options in, one library call, output out (see `commands`)."""

from runner.cli.commands import main

__all__ = ["main"]
