"""The user guide's path, as a person follows it: real processes on real sockets.

Serve the Xero sandbox and a Magento sandbox (`xerobridge sandbox ...`), connect, add a source
and set its settings, create its accounts, sync, read the log, sync again (nothing to write),
and upgrade the database: the commands of docs/user-guide.md, with the sandboxes' values where
the guide shows a real shop's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

XB = [sys.executable, "-m", "xerobridge"]


def test_connect_add_a_source_run_and_upgrade(
    tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
    env.update(XEROBRIDGE_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")

    def serve(*args: str) -> dict[str, object]:
        proc = subprocess.Popen([*XB, *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        servers.append(proc)
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
        described: dict[str, object] = json.loads(line)
        return described

    def xb(*args: str) -> str:
        done = subprocess.run([*XB, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, f"xerobridge {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    xero = serve("sandbox", "xero", "--port", "0", "--region", "UK")
    shop = serve("sandbox", "magento", "--port", "0", "--customers", "6", "--products", "6",
                 "--orders", "8")  # fmt: skip

    connected = xb(
        "connect", "--name", "sandbox", "--client-credentials",
        "--client-id", str(xero["client_id"]), "--client-secret", str(xero["client_secret"]),
        "--api-url", str(xero["api_url"]), "--identity-url", str(xero["identity_url"]),
    )  # fmt: skip
    assert connected.startswith("connected sandbox: ")

    xb(
        "sources", "add", "magento", "--name", "shop", "--connection", "sandbox",
        "--prefix", "SHOP", "--set", f"base_url={shop['base_url']}",
        "--set", f"token={shop['token']}", "--set", "store_ids=1",
        "--set", "tax_map=20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
        "--set", "default_tax_type=OUTPUT2",
    )  # fmt: skip
    xb("settings", "set", "shop", "schedule=every 15 minutes", "notify=all")
    shown = xb("settings", "show", "shop")
    assert "every 15 minutes" in shown and "********" in shown  # the token stays hidden

    xb("setup-accounts", "shop")
    first = json.loads(xb("sync", "--source", "shop", "--json"))
    assert first["failed"] == 0, first
    assert first["streams"]["shop.orders"]["created"] >= 1, first
    assert first["write_calls"] >= 1
    synced = json.loads(xb("log", "--source", "shop", "--json"))
    assert any(r["stream"] == "orders" and r["status"] == "success" for r in synced)

    again = json.loads(xb("sync", "--source", "shop", "--json"))
    assert (again["failed"], again["write_calls"]) == (0, 0)

    assert "is up to date" in xb("db", "upgrade")
