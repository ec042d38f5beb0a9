"""Limits across processes (issue 7, reliability item 2): four worker processes on PostgreSQL
share one Xero organisation of a served sandbox, and the sandbox's own count says they never
had more calls in flight nor more in a Xero minute than the limits, and earned no 429.

Each worker makes one call at a time, so four of them can never press against Xero's 5 in
flight; and a busy test machine makes fewer than 60 calls a second. So the sandbox and the
workers are given the same smaller limits, 2 in flight and 4 a Xero minute, which four
workers do press against even on a busy machine: the sandbox runs at 60 times real speed (a
Xero minute is a real second), every answer takes a tenth of a second, and writes carry five
documents each, so 80 customers and 40 invoices need some thirty calls, seven Xero minutes'
worth at the limit.
(tests/test_ratelimit.py shows Xero's own numbers for the limiter alone, by its own count;
this is the whole engine, counted by "Xero".)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero.testing import served
from xerobridge.store.db import Store
from xerobridge.store.models import Connection
from xerobridge.xero.ratelimit import Limits, RateLimiter

from reliability_helpers import (
    TESTS,
    WORKER,
    assert_file_source_once,
    control,
    crash_plugin,
    file_source,
)

PROCESSES = 4
CUSTOMERS, INVOICES = 80, 40
CONCURRENT, PER_MINUTE = 2, 4


def test_a_call_counts_in_the_minute_until_a_minute_after_it_ended(
    store: Store, clock: FakeClock
) -> None:
    """Xero counts a call when it arrives, which can be long after the slot was taken: so a
    call holds its place in the minute until a minute after it ended, not after it started."""
    with store.transaction() as s:
        conn = Connection(name="org")
        s.add(conn)
        s.flush()
        conn_id = conn.id
    assert conn_id is not None
    limiter = RateLimiter(store, limits=Limits(per_window=2, window=timedelta(seconds=60)))
    slow, _ = limiter.try_acquire(conn_id, "w")
    assert slow is not None
    clock.advance(30)  # a slow answer
    limiter.release(slow)
    quick, _ = limiter.try_acquire(conn_id, "w")
    assert quick is not None
    limiter.release(quick)
    clock.advance(35)  # 65 s after the slow call started, 35 s after it ended
    refused, wait = limiter.try_acquire(conn_id, "w")
    assert refused is None and wait == pytest.approx(25)
    clock.advance(wait)
    assert limiter.try_acquire(conn_id, "w")[0] is not None


@pytest.mark.slow
def test_four_workers_on_postgres_keep_xeros_limits_by_xeros_count(
    store_url: str, tmp_path: Path
) -> None:
    """Peak in flight at most 2, peak in any Xero minute at most 4, no 429, each document
    once; and both limits were reached, so the workers did press against them."""
    if not store_url.startswith("postgresql"):
        pytest.skip("several worker processes share a store on PostgreSQL")
    with served("--time-scale", "60") as sandbox:
        data = tmp_path / "source.json"
        file_source(store_url, sandbox, data, CUSTOMERS, INVOICES)
        control(sandbox, "POST", "/reset-traffic")  # count only the workers' calls
        control(sandbox, "POST", "/limits", json={"concurrent": CONCURRENT, "minute": PER_MINUTE})
        # Every answer takes 6 Xero seconds: a tenth of a real second.
        control(sandbox, "POST", "/faults", json={"kind": "slow", "probability": 1, "seconds": 6})
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
            crash_plugin().DATA_ENV: str(data),
        }
        command = [sys.executable, str(WORKER), store_url, "--batch", "5", "--window", "1",
                   "--concurrent", str(CONCURRENT), "--per-window", str(PER_MINUTE)]  # fmt: skip
        procs = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(PROCESSES)
        ]
        summaries: list[dict[str, Any]] = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            summaries.append(json.loads(out.splitlines()[-1]))
        stats = control(sandbox, "GET", "/stats")
        print(f"sandbox: {stats}; workers: {[s['write_calls'] for s in summaries]} writes")
        assert stats["throttled_total"] == 0, stats["throttled"]
        assert stats["peak_attempted_in_flight"] == stats["peak_in_flight"] == CONCURRENT
        assert PER_MINUTE - 1 <= stats["peak_minute"] <= PER_MINUTE
        assert stats["calls"] > 3 * PER_MINUTE  # several Xero minutes of calls at the limit
        assert sum(1 for s in summaries if s["write_calls"]) >= 2  # the work was shared
        assert sum(s["failed"] for s in summaries) == 0
        assert_file_source_once(store_url, sandbox, CUSTOMERS, INVOICES)
