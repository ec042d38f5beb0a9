"""A process that makes rate-limited "calls" for the cross-process limiter test (a script).

    python limiter_worker.py URL CONNECTION_ID CALLS WINDOW_SECONDS
prints one JSON line per call: [slot start, call end] as POSIX timestamps.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from datetime import timedelta

from xerobridge.store.db import Store
from xerobridge.xero.ratelimit import Limits, RateLimiter


async def run(url: str, connection_id: int, calls: int, window: float) -> None:
    """Take a slot, hold it briefly as a call would, release; repeat."""
    limits = Limits(window=timedelta(seconds=window), poll=0.005)
    limiter = RateLimiter(Store(url), limits=limits)
    rng = random.Random(os.getpid())
    for _ in range(calls):
        slot = await limiter.acquire(connection_id, f"p{os.getpid()}")
        await asyncio.sleep(rng.uniform(0.0, 0.03))
        end = time.time()
        limiter.release(slot)
        print(json.dumps([slot.started_at.timestamp(), end]), flush=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
