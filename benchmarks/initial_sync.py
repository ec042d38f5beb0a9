"""Initial sync of the Magento sandbox into the Xero sandbox, in one process, limits off.

    python benchmarks/initial_sync.py [--customers 400] [--products 100] [--orders 2000]
        [--url DATABASE_URL]

Prints one JSON line: records pushed, write and read calls, the lower bound of write calls
(ceil(n/50) per stream), failures, wall time, records per second and peak RSS. Needs the
Magento plugin installed (`pip install -e plugins/magento`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

import xerobridge_magento
from xerobridge import sources
from xerobridge.accounts import ensure_accounts
from xerobridge.engine import Engine
from xerobridge.plugins import Plugins, register_module
from xerobridge.ratelimit import Limits
from xerobridge.store import Store
from xerobridge.xero.connect import connect_client_credentials
from xerobridge.xero.sandbox import create_app as xero_sandbox
from xerobridge_magento.sandbox import create_app as magento_sandbox


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Build both sandboxes and the engine, then time one full sync."""
    magento = magento_sandbox(
        seed=3, customers=args.customers, products=args.products, orders=args.orders
    )
    xero = xero_sandbox(region="UK", limits=False)
    state = xero.state.sandbox
    state.register_app("BENCH", "bench-secret", custom_tenant_id=state.default_tenant_id)
    # Limits off means no minute to spend: the client would otherwise (rightly) wait out a
    # spent minute when X-MinLimit-Remaining reaches 0.
    state.limiter.config.minute = state.limiter.config.app_minute = 10**9
    state.limiter.set_daily_limit(10**9)
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    store = Store(url)
    store.upgrade()
    xero_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=xero))
    await connect_client_credentials(store, name="org", client_id="BENCH",
                                     client_secret="bench-secret", http=xero_http)  # fmt: skip
    plugins = Plugins([register_module(xerobridge_magento, "magento")])
    settings = {
        "base_url": "http://magento.bench", "token": "sandbox-integration-token",
        "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT", "store_ids": "1",
        "default_tax_type": "OUTPUT2",
    }  # fmt: skip
    source = sources.add(store, plugins, "magento", "shop", connection="org", values=settings)
    engine = Engine(
        store, plugins, xero_http=xero_http,
        source_http=lambda _s: httpx.AsyncClient(transport=httpx.ASGITransport(app=magento)),
    )  # fmt: skip
    # Limits off on our side too: this measures the machinery, not Xero's pace.
    engine.client.limiter.limits = Limits(concurrent=10_000, per_window=10**9,
                                          window=timedelta(seconds=60))  # fmt: skip
    await ensure_accounts(engine, source)
    started = time.perf_counter()
    summary = await engine.sync(full=True)
    wall = time.perf_counter() - started
    await engine.aclose()
    pushed = {k: v["created"] + v["updated"] for k, v in summary.streams.items()}
    bound = sum(math.ceil(n / 50) for n in pushed.values())
    records = sum(pushed.values())
    return {
        "benchmark": "initial_sync",
        "store": url.split(":", 1)[0],
        "orders": args.orders,
        "records_pushed": records,
        "write_calls": summary.write_calls,
        "write_call_bound": bound,
        "read_calls": summary.read_calls,
        "failed": summary.failed,
        "wall_s": round(wall, 2),
        "records_per_s": round(records / wall, 1),
        "waits": sum(v.get("waiting", 0) for v in summary.streams.values()),
        "retries": sum(v.get("retry", 0) for v in summary.streams.values()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--url", default="")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
