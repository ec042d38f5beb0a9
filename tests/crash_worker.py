"""A worker process for the crash tests (run as a script, not collected).

python crash_worker.py STORE_URL [--lease S] [--max-wait S] [--clock-ahead S]
                                 [--attempts N] [--quick-retries]

Builds the engine with the crash test plugin (`crash_plugin`, registered as `crashtest`; its
data file is named by CRASH_PLUGIN_DATA) and runs one `engine.sync()` pass. Prints one JSON line
per recovery action as it ends (`{"recovery": "resend"|"sweep", "kind", "links", "calls",
"ok"}`, so that a worker killed later still shows what it recovered), then one line with the
sync summary, the API calls recovery spent (`recovery_calls`) and the jobs left queued.
With XEROBRIDGE_CRASH_AT=point[:n] set it dies by SIGKILL at that point (runtime/crashpoints.py).

--lease S          the queue's lease (a dead worker's jobs come back one lease after it died)
--clock-ahead S    run S seconds in the future: 600 is past Xero's idempotency memory, so what
                   a dead worker left in flight is settled by the sweep instead of a resend
--attempts N       tries per Xero call; 1 lets every lost answer reach the engine (links left
                   in flight, settled by recovery on the job's next try)
--quick-retries    short waits between a call's tries and a job's tries, for test speed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from xerobridge.clock import SystemClock
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.runtime.queue import Backoff
from xerobridge.store.db import Store
from xerobridge.store.models import Link, WriteAttempt
from xerobridge.sync.engine import Engine
from xerobridge.sync.recovery import Recovery
from xerobridge.xero.client import ElementResult

import crash_plugin


class AheadClock(SystemClock):
    """The system clock, some seconds in the future."""

    def __init__(self, seconds: float) -> None:
        self.ahead = timedelta(seconds=seconds)

    def now(self) -> datetime:
        return super().now() + self.ahead


def _event(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def report_recovery(recovery: Recovery) -> None:
    """Print each resend and sweep, with the calls it spent, as soon as it is over."""
    resend, sweep = recovery.resend, recovery.sweep

    async def reporting_resend(attempt: WriteAttempt) -> list[ElementResult]:
        before, ok = recovery.calls, False
        try:
            results = await resend(attempt)
            ok = True
            return results
        finally:
            (documents,) = json.loads(attempt.body).values()
            _event(recovery="resend", kind=attempt.xero_type, links=len(documents),
                   calls=recovery.calls - before, ok=ok)  # fmt: skip

    async def reporting_sweep(connection_id: int, links: list[Link]) -> None:
        before, ok = recovery.calls, False
        try:
            await sweep(connection_id, links)
            ok = True
        finally:
            _event(recovery="sweep", kind=",".join(sorted({link.xero_type for link in links})),
                   links=len(links), calls=recovery.calls - before, ok=ok)  # fmt: skip

    recovery.resend = reporting_resend  # type: ignore[method-assign]
    recovery.sweep = reporting_sweep  # type: ignore[method-assign]


async def run(args: argparse.Namespace) -> dict[str, object]:
    """One sync pass; what it did."""
    store = Store(args.url, clock=AheadClock(args.clock_ahead) if args.clock_ahead else None)
    info = register_module(crash_plugin, "crashtest")
    if info.status != "ok":
        raise SystemExit(f"the crash plugin failed to load: {info.error}")
    engine = Engine(
        store,
        Plugins([info]),
        xero_http=httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)),
    )
    engine.queue.lease = timedelta(seconds=args.lease)
    engine.worker.batch = 50  # the crash chains count claims and writes in batches of 50 jobs
    if args.attempts is not None:
        engine.client.retry.attempts = args.attempts
    if args.quick_retries:
        engine.client.retry.base = 0.05
        engine.queue.backoff = Backoff(base=0.3)
    report_recovery(engine.worker.recovery)
    try:
        summary = await engine.sync(max_wait=args.max_wait)
    finally:
        await engine.aclose()
    result: dict[str, object] = {
        **summary.as_dict(),
        "recovery_calls": engine.worker.recovery.calls,
        "jobs": engine.queue.counts(),
    }
    store.dispose()
    return result


def main() -> None:
    """Parse the arguments, run, print the summary line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--max-wait", type=float, default=30.0)
    parser.add_argument("--clock-ahead", type=float, default=0.0)
    parser.add_argument("--attempts", type=int, default=None)
    parser.add_argument("--quick-retries", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
