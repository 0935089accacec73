"""`python -m runner.cli`: the console script without installing it."""

from runner.cli.commands import main
from runner.entry import exit_after

exit_after(main)
