"""A worker process for the payments crash test (run as a script, not collected).

python payments_worker.py STORE_URL

Builds the engine with the installed plugins and runs one `engine.sync()` pass against the
served sandboxes the source's settings name, then prints one JSON line: the sync's summary and
the jobs left. With XEROBRIDGE_CRASH_AT=point[:n] set it dies by SIGKILL at that point.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import timedelta

import httpx

from xerobridge.contract.plugins import load_plugins
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine


async def run(url: str) -> dict[str, object]:
    """One sync pass; what it did."""
    store = Store(url)
    engine = Engine(store, load_plugins(), xero_http=httpx.AsyncClient(timeout=30.0))
    engine.queue.lease = timedelta(seconds=1)
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args.url))), flush=True)


if __name__ == "__main__":
    main()
