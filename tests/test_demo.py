"""`xerobridge demo --once`: from nothing to a synced sandbox organisation in one command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xerobridge.plugins import load_plugins


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
