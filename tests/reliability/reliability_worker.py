"""A worker process for the reliability suite's multi-process tests (a script, not collected).

python reliability_worker.py STORE_URL [--batch N] [--window S] [--concurrent N]
                               [--per-window N] [--max-wait S]

Builds the engine with the crash test plugin (`crash_plugin`, registered as `crashtest`, whose
data file CRASH_PLUGIN_DATA names; the tests put its folder on PYTHONPATH) and runs one
`engine.sync()` pass: it works the shared queue until nothing is due. `--batch` is the documents
per write; `--window` the length of a Xero minute in seconds, for a sandbox served with a time
scale (1 with `--time-scale 60`); `--concurrent` and `--per-window` the limits (Xero's 5 and
60 by default). Prints the pass's summary as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import timedelta

import httpx

from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine
from xerobridge.xero.ratelimit import Limits

import crash_plugin


async def run(args: argparse.Namespace) -> dict[str, object]:
    """One sync pass; what it did."""
    store = Store(args.url)
    info = register_module(crash_plugin, "crashtest")
    if info.status != "ok":
        raise SystemExit(f"the crash plugin failed to load: {info.error}")
    engine = Engine(store, Plugins([info]), xero_http=httpx.AsyncClient(timeout=30))
    engine.worker.batch = args.batch
    engine.client.limiter.limits = Limits(
        concurrent=args.concurrent,
        per_window=args.per_window,
        window=timedelta(seconds=args.window),
        poll=0.005,
    )
    try:
        summary = await engine.sync(max_wait=args.max_wait)
    finally:
        await engine.aclose()
        store.dispose()
    return summary.as_dict()


def main() -> None:
    """Parse the arguments, run, print the summary line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--concurrent", type=int, default=5)
    parser.add_argument("--per-window", type=int, default=60)
    parser.add_argument("--max-wait", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
