"""A process of the multi-process refresh test (run as a script, not collected).

python refresh_worker.py STORE_URL CONNECTION_ID STALE_TOKEN WORKER_ID
    opens the store, prints "ready", waits for a line on stdin (the start signal shared by all
    workers), forces a refresh of the connection's token past STALE_TOKEN and prints
    {"token": ...} or {"error": ...} as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx

from xerobridge.store.db import Store
from xerobridge.xero.auth import TokenManager


async def refresh(store: Store, connection_id: int, stale: str, worker: str) -> str:
    async with httpx.AsyncClient() as http:
        manager = TokenManager(store, http=http, worker_id=worker)
        return await manager.refresh(connection_id, stale=stale)


def main() -> None:
    url, connection_id, stale, worker = sys.argv[1:]
    store = Store(url)
    with store.engine.connect():  # open the database before the start, not after it
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        token = asyncio.run(refresh(store, int(connection_id), stale, worker))
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        raise SystemExit(1) from None
    print(json.dumps({"token": token}), flush=True)
    store.dispose()


if __name__ == "__main__":
    main()
