"""A worker process for the multi-process queue tests (run as a script, not collected).

python queue_worker.py URL WORKER_ID drain
    claim batches until the queue is empty; each batch is logged and completed in one
    transaction; prints every claimed id as one JSON list per line.
python queue_worker.py URL WORKER_ID hold LIMIT LEASE_SECONDS
    claim LIMIT jobs, print them, and heartbeat every LEASE/5 seconds until killed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import timedelta

from xerobridge.runtime.queue import Queue
from xerobridge.store import synclog
from xerobridge.store.db import Store


def drain(queue: Queue, worker: str) -> None:
    """Claim and finish jobs until two claims in a row come back empty."""
    empty = 0
    while empty < 2:
        jobs = queue.claim(worker, limit=50)
        if not jobs:
            empty += 1
            time.sleep(0.05)
            continue
        empty = 0
        print(json.dumps([j.id for j in jobs]), flush=True)
        with queue.store.transaction() as s:
            for job in jobs:
                synclog.write(s, source_id=job.source_id, record_key=job.record_key,
                              action="created", message="OK", job_id=job.id)  # fmt: skip
            done = queue.complete(worker, [j.id for j in jobs], session=s)
            if done != len(jobs):
                raise SystemExit(f"{worker} lost {len(jobs) - done} leases")


def hold(queue: Queue, worker: str, limit: int) -> None:
    """Claim a batch and keep its lease alive until killed."""
    queue.register_worker(worker)
    jobs = queue.claim(worker, limit=limit)
    beat = queue.lease.total_seconds() / 5

    def heartbeat() -> None:
        while True:
            queue.heartbeat(worker)
            time.sleep(beat)

    threading.Thread(target=heartbeat, daemon=True).start()
    print(json.dumps([j.id for j in jobs]), flush=True)
    time.sleep(3600)


def main() -> None:
    """Run one mode."""
    url, worker, mode, *rest = sys.argv[1:]
    store = Store(url)
    if mode == "drain":
        drain(Queue(store), worker)
    else:
        limit, lease = int(rest[0]), float(rest[1])
        hold(Queue(store, lease=timedelta(seconds=lease)), worker, limit)


if __name__ == "__main__":
    main()
