"""Queue throughput: enqueue N push jobs, then drain them with P worker processes.

    python benchmarks/queue_throughput.py [--jobs 20000] [--workers 1] [--batch 50] [--url URL]

Prints one JSON line: store, jobs, workers, batch, enqueue seconds and jobs/s, drain seconds
and jobs/s (claim + sync-log row + complete per batch, as a worker does), median of 3 runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import synclog
from xerobridge.store.db import Store
from xerobridge.store.models import TABLES, Source


def drain(url: str, worker: str, batch: int) -> None:
    """Claim, log and complete batches until the queue is empty."""
    queue = Queue(Store(url))
    while jobs := queue.claim(worker, limit=batch):
        with queue.store.transaction() as s:
            for job in jobs:
                synclog.write(s, source_id=job.source_id, record_key=job.record_key,
                              action="created", message="OK", job_id=job.id)  # fmt: skip
            queue.complete(worker, [j.id for j in jobs], session=s)


def one_run(url: str, jobs: int, workers: int, batch: int) -> tuple[float, float]:
    """Seconds to enqueue and to drain, on an emptied store."""
    store = Store(url)
    store.upgrade()
    with store.engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(sa.delete(table))
    with store.transaction() as s:
        src = Source(name="bench", plugin="bench", key_prefix="BENCH")
        s.add(src)
        s.flush()
        source_id = src.id
    assert source_id is not None
    t0 = time.perf_counter()
    Queue(store).enqueue(
        NewJob(source_id=source_id, stream="orders", record_key=str(i)) for i in range(jobs)
    )
    t1 = time.perf_counter()
    procs = [
        multiprocessing.Process(target=drain, args=(url, f"w{i}", batch)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    t2 = time.perf_counter()
    store.dispose()
    return t1 - t0, t2 - t1


def main() -> None:
    """Parse arguments, run three times, print the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    runs = [one_run(url, args.jobs, args.workers, args.batch) for _ in range(3)]
    enqueue = statistics.median(r[0] for r in runs)
    drained = statistics.median(r[1] for r in runs)
    print(json.dumps({
        "benchmark": "queue_throughput",
        "store": url.split(":", 1)[0],
        "jobs": args.jobs,
        "workers": args.workers,
        "batch": args.batch,
        "enqueue_s": round(enqueue, 3),
        "enqueue_jobs_per_s": round(args.jobs / enqueue),
        "drain_s": round(drained, 3),
        "drain_jobs_per_s": round(args.jobs / drained),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
