"""Bad input is one line naming the input and the fix, exit 2, never a traceback (issue 44, case 8):
each command run as a subprocess, as a cron job or a person sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet


def vapi_campaign(*args: str | Path, cwd: Path, key: str = "k") -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VAPI_")}, "VAPI_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, one message naming the input, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    for word in words:
        assert word in output, output


@pytest.fixture
def ran(tmp_path: Path, make_campaign: Callable[..., Path]) -> Path:
    """A run folder of a one-row sheet, sent to the in-process sandbox."""
    (tmp_path / "leads.csv").write_text("phone,name\n+12025550100,Ann\n")
    result = vapi_campaign("run", "leads.csv", "-c", make_campaign(), "-o", "run", "--sandbox", "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "run"


@pytest.mark.slow
def test_a_base_url_python_cannot_parse(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    (tmp_path / "leads.csv").write_text("phone\n+12025550100\n")
    result = vapi_campaign(
        "run", "leads.csv", "-c", make_campaign(), "--base-url", "http://[::1", "--yes", cwd=tmp_path
    )
    refused(result, "--base-url 'http://[::1' is not a valid URL", "http://[::1]:8787")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("sandbox", "--port", "99999"), ("'--port': 99999 is not in the range 0<=x<=65535",)),
        (("inbox", ".", "--watch", "--interval", "-1"), ("'--interval': -1.0 is not in the range x>=0",)),
        (("inbox", ".", "--once", "--settle", "-5"), ("'--settle': -5.0 is not in the range x>=0",)),
    ],
)
def test_options_out_of_range(tmp_path: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    refused(vapi_campaign(*args, cwd=tmp_path), *words)


@pytest.mark.slow
def test_status_watch_with_a_negative_interval(ran: Path) -> None:
    refused(vapi_campaign("status", ran, "--sandbox", "--watch", "--interval", "-1", cwd=ran.parent),
            "'--interval': -1.0 is not in the range x>=0")  # fmt: skip


@pytest.mark.slow
def test_a_damaged_calls_file(ran: Path) -> None:
    (ran / "calls.parquet").write_bytes(b"not parquet at all")
    refused(vapi_campaign("status", ran, "--sandbox", cwd=ran.parent),
            "calls.parquet: damaged, it cannot be read", "delete it and run `status` again")  # fmt: skip
    (ran / "calls.parquet").unlink()  # the fix the message names
    result = vapi_campaign("status", ran, "--sandbox", cwd=ran.parent)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_damaged_ledger(ran: Path) -> None:
    ledger = ran / "ledger.sqlite"
    data = bytearray(ledger.read_bytes())
    data[100:200] = b"x" * 100  # the first page's schema
    ledger.write_bytes(bytes(data))
    for wal in ran.glob("ledger.sqlite-*"):
        wal.unlink()
    refused(vapi_campaign("status", ran, "--sandbox", cwd=ran.parent),
            "ledger.sqlite: damaged, it cannot be read", "Restore the file from a backup")  # fmt: skip


@pytest.mark.slow
def test_a_workbook_with_a_shared_string_that_is_not_there(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.append(["phone", "name"])
    sheet.append(["+12025550100", "Ann"])
    book.save(tmp_path / "ok.xlsx")
    with zipfile.ZipFile(tmp_path / "ok.xlsx") as source, zipfile.ZipFile(tmp_path / "bad.xlsx", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b'<c r="B2" t="inlineStr"><is><t>Ann</t></is></c>', b'<c r="B2" t="s"><v>999</v></c>'
                )
            target.writestr(item, data)
    refused(vapi_campaign("plan", "bad.xlsx", "-c", make_campaign(), "-o", "out", cwd=tmp_path),
            "bad.xlsx: not a readable workbook", "save it again")  # fmt: skip
    assert not (tmp_path / "out").exists()
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


@pytest.mark.slow
def test_status_watch_ends_when_the_api_does_not_know_the_calls(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Issue 44, case 2: a watch whose calls the API answers 404 for never returned (a cron job
    hung for ever). Those calls will never end as far as the API says: the watch stops, exit 1."""
    first, other = sandbox(), sandbox()
    (tmp_path / "leads.csv").write_text("phone\n+12025550100\n+12025550101\n")
    sent = vapi_campaign("run", "leads.csv", "-c", make_campaign(), "-o", "run", "--base-url", first.url, "--yes",
                         cwd=tmp_path, key=first.config.api_key)  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    watched = vapi_campaign("status", "run", "--base-url", other.url, "--watch", "--interval", "0.1",
                            cwd=tmp_path, key=other.config.api_key)  # fmt: skip
    output = watched.stdout + watched.stderr
    assert watched.returncode == 1, output
    assert "--watch stops: 2 call(s) will never end as far as the API says: row 2 (call" in output, output
    assert "the API answered 404" in output


@pytest.mark.slow
def test_a_results_sheet_that_cannot_be_written_after_sending_is_exit_1_not_2(
    tmp_path: Path, make_campaign: Callable[..., Path], sandbox: Any
) -> None:
    """Issue 44, case 10: exit 2 means nothing was sent; here everything was."""
    server = sandbox()
    (tmp_path / "leads.csv").write_text("phone\n+12025550100\n")
    (tmp_path / "run" / "results.xlsx").mkdir(parents=True)  # where the sheet goes: cannot be replaced
    result = vapi_campaign("run", "leads.csv", "-c", make_campaign(), "-o", "run", "--base-url", server.url, "--yes",
                           cwd=tmp_path, key=server.config.api_key)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    assert "sent, but the results sheet was not written" in output and "then `status run`" in output
    assert "wrote run/results.xlsx" not in output
    assert len(httpx.get(f"{server.url}/call", headers={"Authorization": "Bearer sandbox-key"}).json()) == 1
