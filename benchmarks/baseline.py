"""Baseline: the same initial sync with one record per write call, as the seeds' integrations
and a script on Xero's official SDK make it (one create call per order, customer, product).

    python benchmarks/baseline.py [--customers 2000] [--products 500] [--orders 10000]

Runs xerobridge's own engine with batches of one job, so the data, mapping and documents are
the same as in `initial_sync.py` and only the batching differs. Xero's limits are off (the
sandbox counts, it does not refuse); the time the calls would take at 60 a minute is computed.

Prints one JSON line: records, write and read calls, documents per type, the bound of write
calls for those documents, calls per bound, and the Xero minutes the calls need at 60 a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import initial_sync

import bench_setup as bench


def main() -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    args.limits, args.time_scale, args.batch = "off", 1.0, 1
    result = asyncio.run(initial_sync.run(args))
    calls = int(result["write_calls"]) + int(result["read_calls"])  # type: ignore[call-overload]
    print(json.dumps({
        "benchmark": "baseline",
        "store": args.store,
        "customers": args.customers,
        "products": args.products,
        "orders": args.orders,
        "records_pushed": result["records_pushed"],
        "write_calls": result["write_calls"],
        "read_calls": result["read_calls"],
        "documents": result["documents"],
        "write_call_bound": result["write_call_bound"],
        "write_calls_per_bound": result["write_calls_per_bound"],
        "xero_minutes_at_60_a_minute": round(bench.bound_seconds(calls, 1.0) / 60, 1),
        "days_of_5000_calls": round(calls / 5000, 2),
        "failed": result["failed"],
        "wall_s": result["wall_s"],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
