"""Xero as the origin: a history import, then a burst of webhook events, into a source.

    python benchmarks/history_import.py [--contacts 2000] [--invoices 10000] [--old-percent 40]
        [--events 1000] [--limits on|off] [--time-scale 60] [--store sqlite|postgresql]

The served Xero sandbox holds `--contacts` contacts and `--invoices` sales invoices, of which
`--old-percent` last changed two years ago. A source of the from-Xero tests' ledger plugin
(clients from contacts, bills from sales invoices, each stream with a 12-month backfill) takes
them in one `sync`: the last year first, then the older history. Then `--events` invoices are
changed in Xero and their webhook events filed, and the workers read them back and apply them.

Prints one JSON line: read calls of the import against ⌈records / 1,000⌉ per stream (Xero's
largest page), writes made in the source, wall time, peak RSS and CPU seconds; and for the
events, the read calls against ⌈events / 50⌉ (ids per `IDs=` call), the updates made and the
wall time. The ledger keeps its records in memory, so the writes cost the source nothing: the
figures are the core's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.models import Connection
from xerobridge.store.xero_events import record_events
from xerobridge.sync.engine import Engine
from xerobridge.xero.ratelimit import Limits
from xerobridge.xero.reading import IDS_PER_CALL

import bench_setup as bench

# The ledger is the from-Xero tests' plugin: a source that keeps what it is given in memory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "inbound"))
import ledger_plugin

PAGE = 1000


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Serve the Xero sandbox with the history, then import it and apply the events."""
    limits = args.limits == "on"
    scale = args.time_scale if limits else 1.0
    history = {"contacts": args.contacts, "invoices": args.invoices,
               "old_percent": args.old_percent}  # fmt: skip
    xero = bench.Served("xero", limits=limits, time_scale=scale, history=history)
    try:
        return await _import(args, xero.url, limits=limits, scale=scale)
    finally:
        xero.stop()


async def _import(
    args: argparse.Namespace, xero_url: str, *, limits: bool, scale: float
) -> dict[str, object]:
    store = bench.new_store(args.store)
    seen: list[str] = []

    async def note(request: httpx.Request) -> None:
        """Tell the streams' reads (by change time, or by ids) from the mirror's."""
        if request.method == "GET" and "/api.xro/" in str(request.url):
            params = request.url.params
            stream = "UpdatedDateUTC" in params.get("order", "") or "IDs" in params
            seen.append("stream" if stream else "mirror")

    xero_http = httpx.AsyncClient(
        timeout=httpx.Timeout(120.0, connect=10.0), event_hooks={"request": [note]}
    )
    await bench.connect(store, xero_http=xero_http, xero_url=xero_url)
    plugins = Plugins([register_module(ledger_plugin, "ledger")])
    sources.add(store, plugins, "ledger", "books", connection="org")
    engine = Engine(store, plugins, xero_http=xero_http)
    engine.client.limiter.limits = (
        Limits(concurrent=bench.XERO_CONCURRENT, per_window=bench.XERO_PER_MINUTE,
               window=timedelta(seconds=60 / scale))
        if limits else bench.UNLIMITED
    )  # fmt: skip
    await engine.refresh_mirrors()  # reference data, not the import's reads
    seen.clear()
    watch = bench.Stopwatch()
    summary = await engine.sync(max_wait=300)
    wall, cpu = watch.wall, watch.cpu
    import_reads = seen.count("stream")
    bound = math.ceil(args.contacts / PAGE) + math.ceil(args.invoices / PAGE)
    ledger = ledger_plugin.DATA
    result: dict[str, object] = {
        "benchmark": "history_import",
        "store": args.store,
        "limits": args.limits,
        "time_scale": scale,
        "contacts": args.contacts,
        "invoices": args.invoices,
        "old_percent": args.old_percent,
        "clients_in_source": len(ledger["clients"]),
        "bills_in_source": len(ledger["bills"]),
        "source_writes": len(ledger_plugin.WRITES),
        "import_read_calls": import_reads,
        "read_call_bound": bound,
        "read_calls_per_bound": round(import_reads / bound, 3),
        "mirror_read_calls": seen.count("mirror"),
        "failed": summary.failed,
        "http_429": summary.http_429,
        "wall_s": round(wall, 2),
        "records_per_s": round((args.contacts + args.invoices) / wall, 1),
        "engine_cpu_s": round(cpu, 2),
        "engine_peak_rss_mb": bench.peak_rss_mb(),
    }
    seen.clear()
    result.update(await _events(args, engine, xero_url))
    result["event_read_calls"] = seen.count("stream")
    await engine.aclose()
    bench.discard(store)
    return result


async def _events(args: argparse.Namespace, engine: Engine, xero_url: str) -> dict[str, object]:
    """Change `--events` invoices in Xero, file their webhook events, apply them."""
    bills = list(ledger_plugin.DATA["bills"].values())[: args.events]
    changes = [
        {"InvoiceID": b["xero_id"], "Reference": f"changed {i}"} for i, b in enumerate(bills)
    ]
    async with httpx.AsyncClient(timeout=120) as http:
        for start in range(0, len(changes), 500):
            answer = await http.post(f"{xero_url}/_sandbox/tenants/default/Invoices?upsert=true",
                                     json={"Invoices": changes[start : start + 500]})  # fmt: skip
            answer.raise_for_status()
    store = engine.store
    with store.transaction() as s:
        tenant = s.exec(Connection.__table__.select()).first().tenant_id  # type: ignore[attr-defined]
    now = engine.queue.clock.now().isoformat()
    events = [{"tenantId": tenant, "eventCategory": "INVOICE", "eventType": "UPDATE",
               "resourceId": c["InvoiceID"], "eventDateUtc": now} for c in changes]  # fmt: skip
    record_events(store, events, {tenant})
    writes = len(ledger_plugin.WRITES)
    watch = bench.Stopwatch()
    await engine.worker.run_until_idle(max_wait=0)
    wall = watch.wall
    return {
        "events": len(events),
        "event_read_bound": math.ceil(len(events) / IDS_PER_CALL),
        "event_updates": len(ledger_plugin.WRITES) - writes,
        "event_wall_s": round(wall, 2),
    }


def main() -> None:
    """Parse the arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--old-percent", type=int, default=40)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--limits", choices=["on", "off"], default="on")
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
