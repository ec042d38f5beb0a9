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
from typing import Any

from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.testkit.processes import one_pass

import ledger_plugin


async def run(url: str, lease: float) -> Any:
    """One sync pass with the ledger plugin; what it did."""
    info = register_module(ledger_plugin, "ledger")
    return await one_pass(url, Plugins([info]), lease=lease)


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
