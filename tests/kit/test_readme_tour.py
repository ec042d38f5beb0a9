"""README.md's tour, run as written: every command block after "A short tour", in order, on a
fresh XEROBRIDGE_HOME, against the sandboxes it serves, ending with the shop's orders in Xero.

What a reader types in for themselves is filled in as they would: the credentials the
sandboxes print where the README shows `...`, and free ports where it names fixed ones. A line's
exit code is 0 unless its comment says `exits N`. Lines the test cannot run say why in SKIPPED.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

#: Lines the tour cannot run here, by what they contain, and why.
SKIPPED = {
    ".venv/bin/pip install": "the test runs in an environment with everything installed",
    "db.internal": "a deployment's own PostgreSQL server",
    "XEROBRIDGE_DATABASE_URL": "a deployment's own PostgreSQL server",
}
#: The README's fixed ports, each replaced by a free one.
PORTS = ("8765", "8766", "8767")


def tour_lines(readme: str) -> list[str]:
    """The commands of the tour's blocks, continuation lines joined, in order."""
    tour = readme.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    lines: list[str] = []
    for block in re.findall(r"```\n(.*?)```", tour, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                lines.append(line.strip())
    return lines


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _expected_exit(line: str) -> int:
    found = re.search(r"#.*\bexits (\d+)", line)
    return int(found.group(1)) if found else 0


def test_the_readme_tour_runs_as_written(
    tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    lines = tour_lines((ROOT / "README.md").read_text())
    assert any(" sync " in line for line in lines), "the tour syncs"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "xerobridge").write_text(f'#!/bin/sh\nexec {sys.executable} -m xerobridge "$@"\n')
    (bin_dir / "xerobridge").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
    env.update(XEROBRIDGE_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1", COLUMNS="100")
    ports = {port: _free_port() for port in PORTS}
    printed: dict[str, dict[str, object]] = {}  # what each sandbox printed, by its name

    def filled(line: str) -> str:
        for fixed, free in ports.items():
            line = line.replace(fixed, free)
        xero, shop = printed.get("xero", {}), printed.get("magento", {})
        line = line.replace("--client-id ...", f"--client-id {xero.get('client_id')}")
        line = line.replace("--client-secret ...", f"--client-secret {xero.get('client_secret')}")
        return line.replace("token=...", f"token={shop.get('token')}")

    ran = 0
    for line in lines:
        if any(marker in line for marker in SKIPPED):
            continue
        command = filled(line.split("  #", 1)[0].strip())
        if "webhook-key" in command:
            env["XEROBRIDGE_WEBHOOK_KEY"] = str(printed["xero"]["webhook_key"])
        if command.endswith("&"):
            words = shlex.split(command[:-1])
            proc = subprocess.Popen(words, cwd=tmp_path, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
            servers.append(proc)
            if words[1] == "sandbox":
                first = proc.stdout.readline()  # type: ignore[union-attr]
                assert first, f"{line}:\n{proc.stderr.read()}"  # type: ignore[union-attr]
                printed[words[2]] = json.loads(first)
            else:
                _wait_healthy(proc, f"http://127.0.0.1:{ports['8765']}/healthz", line)
            ran += 1
            continue
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == _expected_exit(line), (
            f"{line}\nexited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
        assert "Traceback" not in done.stderr, f"{line}:\n{done.stderr}"
        ran += 1
    assert ran >= 12, "the tour's commands ran"

    # The shop's orders are in Xero: every one the sync log says it created, each once.
    xb = str(bin_dir / "xerobridge")
    log = subprocess.run(
        [xb, "log", "--source", "shop", "--json", "--limit", "1000"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(log.stdout)
    created = {r["xero_id"] for r in rows if r["stream"] == "orders" and r["action"] == "created"}
    failed = [r for r in rows if r["status"] == "error"]
    assert created, rows
    assert failed and [r["message"] for r in failed if "EUR" not in r["message"]] == []
    xero = printed["xero"]
    invoices = httpx.get(f"{xero['control_url']}/tenants/{xero['tenant_id']}/Invoices").json()
    records = invoices.get("Invoices", invoices) if isinstance(invoices, dict) else invoices
    in_xero = [i["InvoiceID"] for i in records if i["InvoiceID"] in created]
    assert sorted(in_xero) == sorted(created)


def _wait_healthy(proc: subprocess.Popen[str], url: str, line: str) -> None:
    """Until the daemon answers its health check (it is started in the background)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{line}:\n{proc.stderr.read()}"  # type: ignore[union-attr]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{line}: the daemon did not answer {url} in 60 s")
