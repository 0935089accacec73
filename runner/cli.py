"""The command line: parse options, make one library call, print, map errors to exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runner.errors import RunnerError
from runner.pipeline import Plan, plan_file, write_plan

F = TypeVar("F", bound=Callable[..., Any])

# Options shared by several commands are defined once (pip-tools' options.py).
campaign_option = click.option(
    "-c", "--campaign", "campaign_path", required=True,
    type=click.Path(dir_okay=False, path_type=Path), help="The campaign file (TOML).",
)  # fmt: skip
format_option = click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "csv"]), default=None,
    help="Results sheet format (default: xlsx, or csv past Excel's row limit).",
)  # fmt: skip
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
input_argument = click.argument("input_path", type=click.Path(dir_okay=False, path_type=Path))


class Failure(click.ClickException):
    """A library error shown as one clear message and exit code 2 (never a traceback)."""

    exit_code = 2


def _fail(exc: RunnerError) -> Failure:
    return Failure(str(exc))


def _echo_warnings(plan: Plan, quiet: bool) -> None:
    if not quiet:
        for warning in plan.warnings:
            click.echo(f"warning: {warning}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vapi-campaign")
def main() -> None:
    """Turn a spreadsheet into Vapi outbound calls, each sent at most once."""


@main.command()
@input_argument
@campaign_option
@click.option("-o", "--out", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for requests.jsonl and the results sheet.")  # fmt: skip
@format_option
@quiet_option
def plan(input_path: Path, campaign_path: Path, outdir: Path, fmt: str | None, quiet: bool) -> None:
    """Plan calls without sending anything: writes OUTDIR/requests.jsonl and the results sheet.

    Example: vapi-campaign plan sample_data/customers.csv -c campaigns/example/campaign.toml -o out
    """
    try:
        result = plan_file(input_path, campaign_path)
        written = write_plan(result, outdir, fmt)
    except RunnerError as exc:
        raise _fail(exc) from None
    _echo_warnings(result, quiet)
    if not quiet:
        for line in result.summary_lines():
            click.echo(line)
        click.echo(f"wrote {outdir / 'requests.jsonl'} and {written}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
