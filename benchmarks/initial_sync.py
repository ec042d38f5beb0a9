"""Initial sync of the Magento sandbox into the Xero sandbox by one xerobridge process.

    python benchmarks/initial_sync.py [--customers 2000] [--products 500] [--orders 10000]
        [--limits on|off] [--time-scale 60] [--store sqlite|postgresql]

With `--limits on` the Xero sandbox enforces Xero's limits (5 in flight, 60 calls a minute) on a
clock that runs `--time-scale` times faster than real time (60: a Xero minute in a second), and
xerobridge's own limiter keeps the same minute. Each sandbox is served over HTTP by a process
of its own, as the real systems are elsewhere, so the CPU seconds and peak RSS reported are
xerobridge's alone.

Prints one JSON line: records pushed per stream, write and read calls, documents written per
Xero type, the lower bounds of write calls (per document type, and the issue's per stream),
wall time against the bound's time at the same scale, 429s (our count and the sandbox's),
failures, xerobridge's peak RSS and CPU seconds, and seconds per stage. Needs the Magento
plugin (`pip install -e plugins/magento`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta

import httpx

from xerobridge.xero.ratelimit import Limits

import bench_setup as bench


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Serve both sandboxes, build the engine here, then time one full sync."""
    limits = args.limits == "on"
    scale = args.time_scale if limits else 1.0
    xero = bench.Served("xero", limits=limits, time_scale=scale)
    magento = bench.Served(
        "magento", customers=args.customers, products=args.products, orders=args.orders, seed=3
    )
    try:
        spent = (xero.cpu_seconds(), magento.cpu_seconds())
        result = await _sync(args, xero.url, magento.url, limits=limits, scale=scale)
        # Where the wall time went besides xerobridge: the sandboxes' own CPU during the run.
        result["xero_sandbox_cpu_s"] = round(xero.cpu_seconds() - spent[0], 2)
        result["magento_sandbox_cpu_s"] = round(magento.cpu_seconds() - spent[1], 2)
        return result
    finally:
        xero.stop()
        magento.stop()


async def _sync(
    args: argparse.Namespace, xero_url: str, magento_url: str, *, limits: bool, scale: float
) -> dict[str, object]:
    store = bench.new_store(args.store)
    xero_http = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0))
    engine, _source = await bench.install(
        store, xero_http=xero_http, magento_url=magento_url, xero_url=xero_url
    )
    if limits:
        # Our side keeps Xero's minute on the sandbox's scaled clock.
        window = timedelta(seconds=60 / scale)
        engine.client.limiter.limits = Limits(
            concurrent=bench.XERO_CONCURRENT, per_window=bench.XERO_PER_MINUTE, window=window
        )
    else:
        engine.client.limiter.limits = bench.UNLIMITED
    engine.worker.batch = getattr(args, "batch", engine.worker.batch)
    before = bench.xero_stats(xero_url)
    watch = bench.Stopwatch()
    summary = await engine.sync(full=True, max_wait=300)
    wall, cpu = watch.wall, watch.cpu
    after = bench.xero_stats(xero_url)
    stages = dict(getattr(engine.worker.progress, "seconds", {}))
    await engine.aclose()
    pushed = {k: v["created"] + v["updated"] for k, v in summary.streams.items()}
    records = sum(pushed.values())
    documents = bench.documents_written(store)
    bench.discard(store)
    documents.pop("Account", None)  # the accounts setup-accounts made before the sync
    bound = bench.call_bound(documents)
    bound_s = bench.bound_seconds(bound, scale)
    return {
        "benchmark": "initial_sync",
        "store": args.store,
        "limits": args.limits,
        "time_scale": scale,
        "customers": args.customers,
        "products": args.products,
        "orders": args.orders,
        "records_pushed": records,
        "pushed": pushed,
        "write_calls": summary.write_calls,
        "read_calls": summary.read_calls,
        "documents": documents,
        "write_call_bound": bound,
        "write_calls_per_bound": round(summary.write_calls / bound, 3) if bound else None,
        "record_bound": bench.record_bound(pushed),
        "wall_s": round(wall, 2),
        "bound_s": round(bound_s, 2),
        "wall_per_bound": round(wall / bound_s, 3) if bound_s else None,
        "http_429": summary.http_429,
        "sandbox_429": after["throttled_total"] - before["throttled_total"],
        "sandbox_peak_in_flight": after["peak_in_flight"],
        "sandbox_peak_minute": after["peak_minute"],
        "failed": summary.failed,
        "records_per_s": round(records / wall, 1),
        "engine_cpu_s": round(cpu, 2),
        "records_per_engine_cpu_s": round(records / cpu, 1) if cpu else None,
        "stage_s": bench.rounded(stages),
        "engine_peak_rss_mb": bench.peak_rss_mb(),
    }


def main() -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--limits", choices=["on", "off"], default="on")
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.time_scale <= 0:
        raise SystemExit("error: --time-scale must be positive")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
