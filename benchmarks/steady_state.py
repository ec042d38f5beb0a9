"""Steady state: from an order edit notified to the updated invoice in Xero, with the daemon.

    python benchmarks/steady_state.py [--edits 100] [--workers 1] [--pace 1.5]

Everything runs as a user runs it, each in its own process: `xerobridge sandbox xero` (Xero's
limits on, real time), `xerobridge sandbox magento`, then `xerobridge connect`, `sources add`
(schedule `immediate`, a notify secret), `setup-accounts`, one `sync`, and `xerobridge run`.
Each edit changes an order's shipping description in the Magento sandbox (which the order's
Xero invoice carries on its shipping line), POSTs `/sources/shop/notify` for that order, and
polls the Xero sandbox until the invoice carries the new text. Edits are `--pace` seconds apart
at least, so that the calls they need (and the daemon's own) stay under Xero's 60 a minute, as
in a steady state; at 1.1 s the minute can be spent, and then the daemon waits out a whole
Xero minute before its next call.

Prints one JSON line: edits, median, 95th percentile and maximum seconds, Xero calls per edit,
429s the sandbox served.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import bench_setup as bench

XEROBRIDGE = str(Path(sys.executable).with_name("xerobridge"))
SECRET = "bench-notify-secret"


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a long-running command; its process and the first line it prints."""
    proc = subprocess.Popen(
        [XEROBRIDGE, *args], stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"error: `xerobridge {' '.join(args)}` exited with {proc.wait()}")
    return proc, line


def cli(args: list[str], env: dict[str, str]) -> str:
    """Run a command to its end; its output, or a clear error."""
    done = subprocess.run([XEROBRIDGE, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: `xerobridge {args[0]}` failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def invoices(xero: dict[str, Any]) -> list[dict[str, Any]]:
    """Every invoice in the sandbox organisation (its control API, no rate limit)."""
    url = f"{xero['control_url']}/tenants/{xero['tenant_id']}/invoices"
    return list(httpx.get(url, timeout=30).json()["Invoices"])


def carries(invoice: dict[str, Any], text: str) -> bool:
    """Whether one of the invoice's lines has this description."""
    return any(line.get("Description") == text for line in invoice.get("LineItems") or [])


def main() -> None:
    """Set everything up, time the edits, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pace", type=float, default=1.5)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="xb-steady-")
    env = {**os.environ, "XEROBRIDGE_HOME": home, "XEROBRIDGE_LOG_LEVEL": "WARNING"}
    env.pop("XEROBRIDGE_DATABASE_URL", None)
    procs: list[subprocess.Popen[str]] = []
    try:
        proc, line = start(["sandbox", "xero", "--port", "0", "--region", "UK"], env)
        procs.append(proc)
        xero = json.loads(line)
        proc, line = start(["sandbox", "magento", "--port", "0", "--orders", "60"], env)
        procs.append(proc)
        magento = json.loads(line)
        cli(["connect", "--name", "org", "--client-credentials", "--client-id",
             xero["client_id"], "--client-secret", xero["client_secret"], "--api-url",
             xero["api_url"], "--identity-url", xero["identity_url"]], env)  # fmt: skip
        settings = {
            **bench.MAGENTO_SETTINGS,
            "base_url": magento["base_url"],
            "token": magento["token"],
            "schedule": "immediate",
            "notify_secret": SECRET,
        }
        sets = [part for k, v in settings.items() for part in ("--set", f"{k}={v}")]
        cli(["sources", "add", "magento", "--name", "shop", "--connection", "org", *sets], env)
        cli(["setup-accounts", "shop"], env)
        # A few sandbox records are bad on purpose, so the sync exits non-zero: that is fine.
        subprocess.run([XEROBRIDGE, "sync"], capture_output=True, env=env, check=False)
        rest = httpx.Client(
            base_url=magento["rest_url"], headers={"Authorization": f"Bearer {magento['token']}"}
        )
        query = {
            "searchCriteria[filterGroups][0][filters][0][field]": "state",
            "searchCriteria[filterGroups][0][filters][0][value]": "new",
            "searchCriteria[pageSize]": "100",
        }
        orders = rest.get("/orders", params=query).json()["items"]
        by_number = {inv.get("InvoiceNumber", ""): inv for inv in invoices(xero)}
        targets = []
        for order in orders:
            number = next((n for n in by_number if n.endswith(f"-{order['increment_id']}")), None)
            if number and float(order.get("shipping_amount") or 0) > 0:
                targets.append((order["entity_id"], number))
        if not targets:
            raise SystemExit("error: no synced order with shipping to edit")
        proc, line = start(["run", "--listen", "127.0.0.1:0", "--workers", str(args.workers)], env)
        procs.append(proc)
        daemon = line.strip().rsplit(" ", 1)[-1]
        before = httpx.get(f"{xero['control_url']}/stats", timeout=30).json()
        seconds: list[float] = []
        for i in range(-1, args.edits):  # edit -1 warms the daemon's workers up, uncounted
            entity_id, number = targets[i % len(targets)]
            text = f"Courier run {i + 1}"
            sent = time.perf_counter()
            httpx.post(
                f"{magento['control_url']}/orders/{entity_id}/edit",
                json={"shipping_description": text}, timeout=30,
            ).raise_for_status()  # fmt: skip
            httpx.post(
                f"{daemon}/sources/shop/notify",
                json={"stream": "orders", "keys": [str(entity_id)]},
                headers={"Authorization": f"Bearer {SECRET}"}, timeout=30,
            ).raise_for_status()  # fmt: skip
            while True:
                found = next((v for v in invoices(xero) if v.get("InvoiceNumber") == number), {})
                if carries(found, text):
                    break
                if time.perf_counter() - sent > 120:
                    raise SystemExit(f"error: edit {i} of order {entity_id} not in Xero in 120 s")
                time.sleep(0.02)  # a real poll of another process, not a test's wait
            if i >= 0:
                seconds.append(time.perf_counter() - sent)
            time.sleep(max(0.0, args.pace - (time.perf_counter() - sent)))
        after = httpx.get(f"{xero['control_url']}/stats", timeout=30).json()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    ordered = sorted(seconds)
    print(json.dumps({
        "benchmark": "steady_state",
        "edits": len(seconds),
        "workers": args.workers,
        "median_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
        "max_s": round(ordered[-1], 3),
        "xero_calls_per_edit": round((after["calls"] - before["calls"]) / len(seconds), 2),
        "sandbox_429": after["throttled_total"] - before["throttled_total"],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
