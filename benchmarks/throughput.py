"""Throughput with Xero's limits off: one full sync worked by 1, 2 or 4 worker processes.

    python benchmarks/throughput.py [--store sqlite|postgresql] [--workers 1]
        [--customers 400] [--products 100] [--orders 2000]

The Magento and Xero sandboxes are served over HTTP by processes of their own (as the real
systems are elsewhere), so the workers spend CPU only on xerobridge's part. The main process
connects the organisation, adds the source, refreshes the mirror and queues a full read of
every stream; then the workers (each an Engine running its worker until the queue is empty)
read, map, write and link everything.

Prints one JSON line: records pushed, write calls, wall seconds, records per second end to end,
and per stage the seconds summed over the workers and the records per second of that stage
alone (fetch: reading Magento into the queue; map: the plugin's hooks and dependencies; write:
waiting for Xero; link: the store's part of a push; claim: taking jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from xerobridge.store.db import Store
from xerobridge.store.models import SyncLog
from xerobridge.sync.engine import Engine

import bench_setup as bench


async def _work(url: str, ready: Any, go: Any) -> dict[str, Any]:
    store = Store(url)
    engine = Engine(store, bench.plugin_set())
    engine.client.limiter.limits = bench.UNLIMITED
    ready.put(True)
    go.wait()  # every worker starts at once, after its imports
    cpu = bench.cpu_seconds()
    progress = await engine.worker.run_until_idle(max_wait=60)
    out = {
        "seconds": dict(getattr(progress, "seconds", {})),
        "write_calls": engine.client.write_calls,
        "read_calls": engine.client.read_calls,
        "cpu_s": bench.cpu_seconds() - cpu,
        "peak_rss_mb": bench.peak_rss_mb(),
    }
    await engine.aclose()
    store.dispose()
    return out


def worker(url: str, ready: Any, go: Any, results: Any) -> None:
    """One worker process: work until nothing is due, then report."""
    results.put(asyncio.run(_work(url, ready, go)))


def gather(results: Any, procs: list[Any]) -> list[dict[str, Any]]:
    """Each worker's report; a clear error, not a hang, when one died without reporting."""
    import queue

    reports: list[dict[str, Any]] = []
    while len(reports) < len(procs):
        try:
            reports.append(results.get(timeout=5))
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                codes = [p.exitcode for p in procs]
                raise SystemExit(
                    f"error: a worker died without reporting (exit codes {codes})"
                ) from None
    return reports


async def prepare(args: argparse.Namespace, xero_url: str, magento_url: str) -> Store:
    """Connect, add the source and its accounts, refresh the mirror, queue a full read."""
    store = bench.new_store(args.store)
    async with httpx.AsyncClient(timeout=60) as http:
        engine, _source = await bench.install(
            store, xero_http=http, magento_url=magento_url, xero_url=xero_url
        )
        engine.client.limiter.limits = bench.UNLIMITED
        await engine.refresh_mirrors()
        engine.queue_reads(full=True)
        await engine.runtimes.aclose()
    return store


def main() -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2000)
    args = parser.parse_args()
    if args.workers < 1:
        raise SystemExit("error: --workers must be at least 1")
    xero = bench.Served("xero", limits=False)
    magento = bench.Served(
        "magento", customers=args.customers, products=args.products, orders=args.orders, seed=3
    )
    try:
        store = asyncio.run(prepare(args, xero.url, magento.url))
        context = multiprocessing.get_context("spawn")
        ready, go, results = context.Queue(), context.Event(), context.Queue()
        procs = [
            context.Process(target=worker, args=(store.url, ready, go, results))
            for _ in range(args.workers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get()
        spent = (xero.cpu_seconds(), magento.cpu_seconds())
        started = time.perf_counter()
        go.set()
        reports = gather(results, procs)
        wall = time.perf_counter() - started
        sandbox_cpu = (xero.cpu_seconds() - spent[0], magento.cpu_seconds() - spent[1])
        for proc in procs:
            proc.join()
        stats = bench.xero_stats(xero.url)
    finally:
        xero.stop()
        magento.stop()
    with store.transaction() as s:
        pushed = dict(
            s.exec(
                select(SyncLog.stream, sa.func.count())
                .where(col(SyncLog.action).in_(("created", "updated")))
                .group_by(SyncLog.stream)
            ).all()
        )
        failed = s.exec(select(sa.func.count()).where(SyncLog.status == "error")).one()
    records = sum(pushed.values())
    seconds: Counter[str] = Counter()
    for report in reports:
        seconds.update(report["seconds"])
    print(json.dumps({
        "benchmark": "throughput",
        "store": args.store,
        "workers": args.workers,
        "orders": args.orders,
        "records_pushed": records,
        "pushed": pushed,
        "failed": failed,
        "write_calls": sum(r["write_calls"] for r in reports),
        "read_calls": sum(r["read_calls"] for r in reports),
        "sandbox_calls": stats.get("calls"),
        "wall_s": round(wall, 2),
        "records_per_s": round(records / wall, 1),
        "worker_cpu_s": round(sum(r["cpu_s"] for r in reports), 2),
        "records_per_worker_cpu_s": round(records / sum(r["cpu_s"] for r in reports), 1),
        "xero_sandbox_cpu_s": round(sandbox_cpu[0], 2),
        "magento_sandbox_cpu_s": round(sandbox_cpu[1], 2),
        "stage_s": bench.rounded(seconds),
        "stage_records_per_s": {k: round(records / v, 1) for k, v in sorted(seconds.items()) if v},
        "peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
    }))  # fmt: skip
    bench.discard(store)


if __name__ == "__main__":
    main()
