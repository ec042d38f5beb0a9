"""The Xero connection end to end, as a person runs it: real processes on real sockets.

`xerobridge sandbox xero` serves Xero; `xerobridge run` serves the daemon's web app;
`xerobridge connect --client-credentials` connects; a contact created in the sandbox comes back
to the daemon as a signed webhook; `xerobridge report requests` counts what connecting cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from xerobridge.store.db import Store
from xerobridge.store.models import XeroEventRow

XB = [sys.executable, "-m", "xerobridge"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh data directory with its own SQLite database."""
    return {**os.environ, "XEROBRIDGE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


def serve(args: list[str], env: dict[str, str], procs: list[subprocess.Popen[str]]) -> str:
    """Start a server command and return the first line it prints."""
    proc = subprocess.Popen(
        [*XB, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    procs.append(proc)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, proc.stderr.read()  # type: ignore[union-attr]
    return line.strip()


def xb(args: list[str], env: dict[str, str]) -> str:
    """Run one command to the end; its stdout."""
    done = subprocess.run(
        [*XB, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_connect_to_a_served_sandbox_then_receive_its_webhook(
    env: dict[str, str], servers: list[subprocess.Popen[str]]
) -> None:
    """Connected with its ShortCode, the call counted, the webhook verified and recorded."""
    daemon = serve(["run", "--listen", "127.0.0.1:0"], env, servers)
    daemon_url = daemon.rsplit(" ", 1)[-1]
    sandbox = json.loads(
        serve(
            ["sandbox", "xero", "--port", "0", "--webhook-url", f"{daemon_url}/xero/webhooks"],
            env,
            servers,
        )
    )
    output = xb(
        ["connect", "--name", "demo", "--client-credentials",
         "--client-id", sandbox["client_id"], "--client-secret", sandbox["client_secret"],
         "--api-url", sandbox["api_url"], "--identity-url", sandbox["identity_url"]],
        env,
    )  # fmt: skip
    assert output.startswith("connected demo: ") and "ShortCode !" in output
    listed = json.loads(xb(["connections", "list", "--json"], env))
    assert [(c["name"], c["status"]) for c in listed] == [("demo", "connected")]
    report = json.loads(xb(["report", "requests", "--json"], env))
    assert [(r["connection"], r["calls"]) for r in report] == [("demo", 1)]

    xb(["connections", "webhook-key", "demo", "--key", sandbox["webhook_key"]], env)
    created = httpx.post(
        f"{sandbox['control_url']}/tenants/default/Contacts",
        json={"Contacts": [{"Name": "Webhook Ltd", "ContactNumber": "WH-1"}]},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    store = Store(f"sqlite:///{Path(env['XEROBRIDGE_HOME']) / 'xerobridge.sqlite3'}")
    deadline = time.monotonic() + 15  # the sandbox posts in the background, with retries
    rows: list[XeroEventRow] = []
    while time.monotonic() < deadline and not rows:
        with store.transaction() as s:
            rows = list(s.exec(select(XeroEventRow)).all())
        time.sleep(0.1)
    store.dispose()
    assert [(r.category, r.event_type) for r in rows] == [("CONTACT", "CREATE")]
    assert rows[0].tenant_id == sandbox["tenant_id"].lower()
