"""Make docs/summary.png, the README's picture of a results workbook's Summary sheet, from a real run.

    .venv/bin/python tools/summary_picture.py

Runs the demo campaign on sample_data/customers.csv against a sandbox on a loopback port (its calls
ring and end in a few seconds), fetches the outcomes with `status`, then has LibreOffice print the
Summary sheet to PDF and pdftoppm turn its first page into the PNG. Needs `soffice` (Debian:
libreoffice-calc-nogui) and `pdftoppm` (poppler-utils); nothing is sent anywhere but the sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openpyxl

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "summary.png"


def main() -> None:
    missing = [tool for tool in ("soffice", "pdftoppm") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"needs {' and '.join(missing)} (Debian: libreoffice-calc-nogui, poppler-utils)")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        os.environ["XDG_STATE_HOME"] = str(work / "state")  # a call history of its own
        workbook = _run(work)
        _render(workbook, work)
    print(f"wrote {PICTURE.relative_to(ROOT)}")


def _run(work: Path) -> Path:
    """The demo campaign run against a fresh sandbox, its outcomes fetched: the results workbook."""
    from runner.sandbox import Sandbox, SandboxConfig
    from runner.sending.run import CampaignRun
    from runner.sending.submitter import SubmitOptions
    from runner.vapi.client import VapiClient

    server = Sandbox(SandboxConfig(dial_now=True, call_seconds=4, seed=7, concurrency_limit=1000)).start()
    outdir = work / "run"
    try:
        with (
            VapiClient(server.config.api_key, server.url) as client,
            CampaignRun.open(
                ROOT / "sample_data" / "customers.csv", ROOT / "campaigns" / "example" / "campaign.toml",
                outdir, None, server.url,
            ) as run,
        ):  # fmt: skip
            run.send(client, SubmitOptions(requests_per_minute=10_000))
        _wait_until_ended(server.url, server.config.api_key)
        with VapiClient(server.config.api_key, server.url) as client, CampaignRun.reopen(outdir) as run:
            run.status(client)
    finally:
        server.stop()
    return outdir / "results.xlsx"


def _wait_until_ended(url: str, key: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = httpx.get(f"{url}/call", params={"limit": 1000}, headers={"Authorization": f"Bearer {key}"}).json()
        if calls and all(call["status"] == "ended" for call in calls):
            return
        time.sleep(0.1)
    sys.exit("the sandbox's calls did not end")


def _render(workbook: Path, work: Path) -> None:
    """The Summary sheet alone, printed by LibreOffice, its first page as a PNG."""
    book = openpyxl.load_workbook(workbook)
    for name in book.sheetnames:
        if name != "Summary":
            book.remove(book[name])
    book.save(work / "summary.xlsx")
    profile = f"-env:UserInstallation=file://{work / 'libreoffice'}"
    subprocess.run(
        ["soffice", "--headless", profile, "--convert-to", "pdf", "--outdir", str(work), str(work / "summary.xlsx")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(work / "summary.pdf"),
         str(PICTURE.with_suffix(""))],
        check=True, timeout=60,
    )  # fmt: skip


if __name__ == "__main__":
    main()
