"""`xerobridge demo`: from nothing to a synced sandbox organisation in one command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from xerobridge.contract.plugins import load_plugins


@pytest.mark.slow
def test_the_demo_syncs_every_record_but_those_bad_on_purpose_then_serves_the_dashboard(
    tmp_path: Path,
) -> None:
    """Every stream is read and pushed, the only failures the sandbox's EUR records, each in
    the log `xerobridge log` reads; then the dashboard is served, the printed password logs in,
    and Ctrl-C stops it. (`--once`, the same sync without the serving, is run by
    tests/kit/test_new_plugin_install.py.)"""
    if load_plugins().infos.get("magento") is None:
        pytest.skip("the Magento plugin is not installed")
    env = {**os.environ, "XEROBRIDGE_HOME": str(tmp_path), "COLUMNS": "300"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "xerobridge", "demo", "--port", "0", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        summary: dict[str, Any] = {}
        announced = ""
        for line in demo.stdout:
            if line.startswith("{") and not summary:
                summary = json.loads(line)
            if line.startswith("dashboard on "):
                announced = line
                break
        _check_summary(summary, env, tmp_path)
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


def _check_summary(summary: dict[str, Any], env: dict[str, str], home: Path) -> None:
    """What the demo's sync did, and what its log says of the failures."""
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
        env={**env, "XEROBRIDGE_DATABASE_URL": f"sqlite:///{home / 'demo.sqlite3'}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    failures = json.loads(log.stdout)
    assert len(failures) == summary["failed"]
    assert all("is in EUR, which is not enabled" in f["message"] for f in failures)
