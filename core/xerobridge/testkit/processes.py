"""Workers and sandboxes in processes of their own, for crash tests.

`served(name)` runs `xerobridge sandbox NAME --port 0` and gives the JSON line it prints.
`python -m xerobridge.testkit.processes STORE_URL` builds the engine with the installed plugins,
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from xerobridge.contract.plugins import Plugins, load_plugins
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
    command = [sys.executable, "-m", "xerobridge.testkit.processes", store_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    if crash:
        assert done.returncode == -signal.SIGKILL, (crash, done.returncode, done.stderr[-3000:])
        return None
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def until_done(store_url: str, passes: int = 3) -> Any:
    """Worker processes one after the other until the queue is empty (a recovery after a
    kill may need a pass of its own); the last one's summary."""
    summary = None
    for _ in range(passes):
        summary = spawn(store_url)
        if not summary["jobs"]:
            return summary
    raise AssertionError(f"jobs left after {passes} passes: {summary}")


@contextmanager
def served(name: str, *args: str) -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox NAME --port 0 ARGS` in a process of its own: yields the JSON line it
    prints (its URL, credentials, control API); stopped at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "xerobridge", "sandbox", name, "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def one_pass(url: str, plugins: Plugins | None = None, *, lease: float = 1.0) -> Any:
    """One sync pass of the plugins (the installed ones by default); what it did."""
    store = Store(url)
    engine = Engine(store, plugins or load_plugins(), xero_http=httpx.AsyncClient(timeout=30.0))
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(one_pass(args.url))), flush=True)


if __name__ == "__main__":
    main()
