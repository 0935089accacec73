"""`python -m runner.cli`: the console script without installing it."""

import sys

from runner.cli.commands import main

sys.exit(main())
