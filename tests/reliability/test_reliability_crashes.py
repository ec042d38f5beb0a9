"""Crash points (issue 7, reliability item 1): `xerobridge run`, the whole daemon with its
worker process, SIGKILLed at random moments of a sync, again and again; after a last clean run
the served Xero sandbox holds every expected document exactly once.

The moments are drawn from a seeded generator: after a random number (1 to 4) of further calls
to Xero, whatever the daemon is doing then (a fresh daemon takes a few seconds to start its
worker, so the calls mark how far the sync got). Each restart comes at once: the dead worker's jobs
come back when their leases (10 s) run out, its unanswered writes are settled by recovery.
tests/test_crash.py kills single workers at each named crash point; this kills everything at
moments nobody chose.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from xerobridge.sandboxes.xero.testing import served
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link

from reliability_helpers import (
    assert_file_source_once,
    control,
    crash_plugin,
    file_source,
    plugin_site,
)

pytestmark = pytest.mark.slow

SMALL = (300, 200, 2)  # customers, invoices, kills
LARGE = (1500, 1000, 8)


class Daemon:
    """`xerobridge run` in its own process group, so that one signal reaches its workers; its
    log goes to a file (a pipe nobody reads could fill and stop it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "xerobridge", "run", "--workers", "1",
                 "--listen", "127.0.0.1:0"],
                env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True,
            )  # fmt: skip
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("xerobridge listening on"), line + self.output()

    def output(self) -> str:
        """What it logged so far."""
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL the daemon and every process of its group, at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, as an operator would; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def ensure_gone(self) -> None:
        """Whatever happened, leave no process of this daemon behind."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons started by the test, all gone at its end."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.ensure_gone()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll an external process's progress until `check` is truthy (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def done(store_url: str, customers: int, invoices: int) -> bool:
    """Every record linked and settled, no push left."""
    store = Store(store_url)
    try:
        with store.transaction() as s:
            pushes = s.exec(select(Job.id).where(Job.kind == "push")).first()
            settled = s.exec(
                select(Link.id).where(col(Link.xero_id) != "", col(Link.in_flight_at).is_(None))
            ).all()
    finally:
        store.dispose()
    return pushes is None and len(settled) == customers + invoices


def run_with_kills(
    store_url: str, tmp_path: Path, daemons: list[Daemon], size: tuple[int, int, int], seed: int
) -> None:
    """Kill the daemon `kills` times at random moments, then let one finish; check Xero."""
    customers, invoices, kills = size
    rng = random.Random(seed)
    with served() as sandbox:
        data = tmp_path / "source.json"
        file_source(store_url, sandbox, data, customers, invoices, {"schedule": "immediate"})
        path = os.pathsep.join(
            filter(None, [str(plugin_site(tmp_path / "site")), os.environ.get("PYTHONPATH")])
        )
        env = {
            **os.environ,
            "XEROBRIDGE_DATABASE_URL": store_url,
            "PYTHONPATH": path,
            "PYTHONUNBUFFERED": "1",
            "XEROBRIDGE_LOG_LEVEL": "WARNING",
            crash_plugin().DATA_ENV: str(data),
        }
        killed_at: list[int] = []
        started = time.monotonic()
        for _ in range(kills):
            before = control(sandbox, "GET", "/stats")["calls"]
            further = rng.randint(1, 4)
            daemon = Daemon(env, tmp_path / f"daemon-{len(daemons) + 1}.log")
            daemons.append(daemon)
            wait_for(lambda n=before + further: control(sandbox, "GET", "/stats")["calls"] >= n,
                     120, f"{further} more call(s) to Xero")  # fmt: skip
            daemon.kill()
            killed_at.append(control(sandbox, "GET", "/stats")["calls"])
            print(f"killed after {killed_at[-1]} calls, at {time.monotonic() - started:.1f} s")
        last = Daemon(env, tmp_path / "daemon-last.log")
        daemons.append(last)
        wait_for(lambda: done(store_url, customers, invoices), 300, "the last daemon finishing")
        print(f"the last daemon finished at {time.monotonic() - started:.1f} s")
        assert last.stop() == 0, last.output()[-3000:]
        stats = control(sandbox, "GET", "/stats")
        print(f"killed after calls {killed_at}; sandbox {stats}")
        assert len(set(killed_at)) == kills, "two kills at the same point of the sync"
        assert killed_at[-1] < stats["calls"], "the sync was over before the last kill"
        assert_file_source_once(store_url, sandbox, customers, invoices)


def test_the_daemon_killed_at_random_moments_leaves_every_document_once(
    store_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """300 customers and 200 invoices, two kills: each document once, none lost."""
    run_with_kills(store_url, tmp_path, daemons, SMALL, seed=1)


@pytest.mark.large
@pytest.mark.parametrize("seed", range(3))
def test_large_daemon_kills(
    store_url: str, tmp_path: Path, daemons: list[Daemon], seed: int
) -> None:
    """1,500 customers and 1,000 invoices, eight kills, three seeds (with --large)."""
    run_with_kills(store_url, tmp_path, daemons, LARGE, seed=seed)
