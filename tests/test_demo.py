"""`xerobridge demo --once`: from nothing to a synced sandbox organisation in one command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from xerobridge.contract.plugins import load_plugins


@pytest.mark.slow
def test_the_demo_syncs_every_record_but_those_bad_on_purpose(tmp_path: Path) -> None:
    """Every stream is read and pushed; the only failures are the sandbox's EUR records."""
    if load_plugins().infos.get("magento") is None:
        pytest.skip("the Magento plugin is not installed")
    env = {**os.environ, "XEROBRIDGE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "xerobridge", "demo", "--once", "--json"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    streams = summary["streams"]
    assert set(streams) >= {f"demo-magento.{s}" for s in ("customers", "products", "orders")}
    assert all(counts["held"] == 0 for counts in streams.values())
    assert streams["demo-magento.customers"]["failed"] == 0
    assert streams["demo-magento.products"]["failed"] == 0
    assert streams["demo-magento.orders"]["created"] > 0
    # Each other installed plugin runs its whole loop with nothing failed.
    installed = {info.name for info in load_plugins() if info.status == "ok"}
    whole = {"payments": ("invoices", "payments", "payouts"), "servicedesk": ("worklogs",),
             "marketplace": ("customers", "products", "orders")}  # fmt: skip
    for plugin, names in whole.items():
        if plugin not in installed:
            continue
        for name in names:
            counts = streams[f"demo-{plugin}.{name}"]
            assert counts["created"] > 0 and counts["failed"] == 0, (plugin, name, counts)
    assert summary["http_429"] == 0
    log = subprocess.run(
        [sys.executable, "-m", "xerobridge", "log", "--status", "error", "--limit", "500",
         "--json"],
        env={**env, "XEROBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    failures = json.loads(log.stdout)
    assert len(failures) == summary["failed"]
    assert all("is in EUR, which is not enabled" in f["message"] for f in failures)


@pytest.mark.slow
def test_the_demo_serves_the_dashboard_with_a_password_of_its_own(tmp_path: Path) -> None:
    """After the sync the dashboard is served; the printed password logs in; Ctrl-C stops it."""
    if load_plugins().infos.get("magento") is None:
        pytest.skip("the Magento plugin is not installed")
    env = {**os.environ, "XEROBRIDGE_HOME": str(tmp_path), "COLUMNS": "300"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "xerobridge", "demo", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        announced = ""
        for line in demo.stdout:
            if line.startswith("dashboard on "):
                announced = line
                break
        found = re.match(r"dashboard on (\S+)/ : log in as admin with password (\S+) ", announced)
        assert found, announced
        url, password = found.groups()
        with httpx.Client(base_url=url, timeout=30) as browser:
            login = browser.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            answer = browser.post(
                "/login",
                data={"username": "admin", "password": password, "csrf_token": token.group(1)},
            )
            assert answer.status_code == 303
            overview = browser.get("/")
            assert overview.status_code == 200
            assert "demo-magento" in overview.text
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) in (0, 130)  # 130: stopped by Ctrl-C, as a shell shows
