"""Workers in processes of their own, for plugins' crash tests.

`python -m xerobridge.testkit.worker STORE_URL` builds the engine with the installed plugins,
runs one `engine.sync()` pass against what the sources' settings name (sandboxes served in
processes of their own), then prints one JSON line: the sync's summary and the jobs left. With
XEROBRIDGE_CRASH_AT=point[:n] set it dies by SIGKILL at that point
(`xerobridge.runtime.crashpoints`); `spawn` runs one and checks that it died there, or finished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from xerobridge.contract.plugins import load_plugins
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine


def spawn(store_url: str, *, crash: str | None = None, marker: Path | None = None) -> Any:
    """Run one worker process to its end; its summary line, or None when `crash` killed it
    (an AssertionError when it was to die and did not, or failed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("XEROBRIDGE_CRASH_AT", None)
    if crash:
        env["XEROBRIDGE_CRASH_AT"] = crash
        if marker is not None:
            env["XEROBRIDGE_CRASH_MARKER"] = str(marker)
    done = subprocess.run([sys.executable, "-m", "xerobridge.testkit.worker", store_url], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if crash:
        assert done.returncode == -signal.SIGKILL, (crash, done.returncode, done.stderr[-3000:])
        return None
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


async def one_pass(url: str) -> dict[str, object]:
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
    print(json.dumps(asyncio.run(one_pass(args.url))), flush=True)


if __name__ == "__main__":
    main()
