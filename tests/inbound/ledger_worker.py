"""A worker process for the from-Xero crash tests (run as a script, not collected).

python ledger_worker.py STORE_URL [--lease S]

Builds the engine with the ledger plugin (its data file named by LEDGER_DATA) and runs one
`engine.sync()` pass, then prints one JSON line: the sync's summary and the jobs left. With
XEROBRIDGE_CRASH_AT=point[:n] set it dies by SIGKILL at that point (runtime/crashpoints.py).
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

import ledger_plugin


async def run(url: str, lease: float) -> dict[str, object]:
    """One sync pass; what it did."""
    store = Store(url)
    info = register_module(ledger_plugin, "ledger")
    engine = Engine(store, Plugins([info]), xero_http=httpx.AsyncClient(timeout=30.0))
    engine.queue.lease = timedelta(seconds=lease)
    try:
        summary = await engine.sync(max_wait=10.0)
    finally:
        await engine.aclose()
    result = {**summary.as_dict(), "jobs": engine.queue.counts()}
    store.dispose()
    return result


def main() -> None:
    """Parse the arguments, run, print the summary line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--lease", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args.url, args.lease))), flush=True)


if __name__ == "__main__":
    main()
