"""`xerobridge run`: the web app, the scheduler (when this process leads) and worker processes.

One `xerobridge run` is a main process and N worker processes (multiprocessing, spawn):

- the main process serves the web app (Xero's webhooks, source notifications, the OAuth
  callback, /healthz), tries every second to lead the scheduler (see `leader`), and while it
  leads, enqueues the scheduled reads (see `scheduler`); it restarts a worker that dies;
- each worker process claims and runs jobs (`Engine.worker.run_forever`).

On PostgreSQL any number of `xerobridge run` processes on any number of machines share one
database: all of them work, one of them schedules, another takes over when it dies.

SIGTERM or Ctrl-C stops it: the web app stops accepting, the scheduler gives up its lock, each
worker finishes the batch it is running (at most `grace` seconds; after that the batch is
cancelled, which is as safe as a crash and quicker to recover from) and gives back the jobs it
holds; the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from typing import Any, TextIO

from xerobridge.contract import plugins as plugin_loading
from xerobridge.runtime.leader import leader_lock
from xerobridge.runtime.scheduler import Scheduler
from xerobridge.store.db import Store
from xerobridge.web.connection_limits import server_config
from xerobridge.web.serve import base_url, bind

log = logging.getLogger(__name__)

#: Seconds a stopping worker may spend finishing its batch before the batch is cancelled.
GRACE = 5.0
#: Seconds the main process waits for a worker to leave after its grace, before killing it.
EXIT_WAIT = 10.0


def configure_logging() -> None:
    """The daemon's log: xerobridge's INFO and up on stderr (`XEROBRIDGE_LOG_LEVEL` changes it)."""
    level = os.environ.get("XEROBRIDGE_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    for handler in root.handlers:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
        )
    logging.getLogger("xerobridge").setLevel(getattr(logging, level, logging.INFO))


# -- worker processes -----------------------------------------------------------------------------


def worker_main(url: str, grace: float, parent: int) -> None:
    """A worker process's entry point: work until SIGTERM or until the main process is gone."""
    # Ctrl-C reaches the whole process group; the main process turns it into our SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging()
    asyncio.run(_work(url, grace, parent))


async def _work(url: str, grace: float, parent: int) -> None:
    from xerobridge.sync.engine import Engine

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    store = Store(url)
    engine = Engine(store, plugin_loading.load_plugins())
    work = asyncio.create_task(engine.worker.run_forever(stop))
    orphan = asyncio.create_task(_watch_parent(parent, stop))
    try:
        await asyncio.wait([work, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
        try:
            # run_forever leaves between batches once stop is set, giving back what it holds.
            await asyncio.wait_for(asyncio.shield(work), timeout=grace)
        except TimeoutError:
            log.warning("worker %s: batch still running after %.0f s; cancelling it",
                        engine.worker_id, grace)  # fmt: skip
            work.cancel()  # its finally gives the claimed jobs back (forget_worker)
            with contextlib.suppress(asyncio.CancelledError):
                await work
    finally:
        orphan.cancel()
        await engine.aclose()
        store.dispose()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the main process is gone (killed with SIGKILL, say): no orphan workers."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("the main process is gone; stopping")
            stop.set()
        await asyncio.sleep(1.0)


class WorkerPool:
    """N worker processes, restarted when one dies, stopped together."""

    def __init__(self, url: str, size: int, *, grace: float = GRACE) -> None:
        self.url = url
        self.size = size
        self.grace = grace
        self.context = multiprocessing.get_context("spawn")
        self.procs: list[BaseProcess | None] = [None] * size
        self.started: list[float] = [0.0] * size
        self.crashes: list[int] = [0] * size
        self.restart_at: list[float] = [0.0] * size

    def start(self, index: int) -> None:
        proc = self.context.Process(
            target=worker_main,
            args=(self.url, self.grace, os.getpid()),
            name=f"worker-{index + 1}",
        )
        proc.start()
        self.procs[index] = proc
        self.started[index] = time.monotonic()

    def start_all(self) -> None:
        for index in range(self.size):
            self.start(index)

    def check(self) -> None:
        """Restart workers that died; one that keeps dying waits longer each time (max 60 s)."""
        now = time.monotonic()
        for index, proc in enumerate(self.procs):
            if proc is None or proc.is_alive():
                continue
            if not self.restart_at[index]:
                quick = now - self.started[index] < 30
                self.crashes[index] = self.crashes[index] + 1 if quick else 0
                delay = min(60.0, 2.0 ** self.crashes[index]) if quick else 0.0
                self.restart_at[index] = now + delay
                log.warning("%s exited with status %s; restarting it in %.0f s",
                            proc.name, proc.exitcode, delay)  # fmt: skip
            if now >= self.restart_at[index]:
                self.restart_at[index] = 0.0
                self.start(index)

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    def stop(self) -> None:
        """SIGTERM every worker and wait for them; kill one that outstays its welcome."""
        live = [p for p in self.procs if p is not None and p.is_alive()]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + self.grace + EXIT_WAIT
        for proc in live:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("%s did not stop; killing it (its leases run out)", proc.name)
                proc.kill()
                proc.join(timeout=5)


# -- the main process -----------------------------------------------------------------------------


def _server(app: Any) -> Any:
    """A uvicorn server that leaves signals to us (uvicorn re-raises them after stopping)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(server_config(app, timeout_graceful_shutdown=5))


async def _main(store: Store, sock: socket.socket, *, workers: int, grace: float) -> int:
    from xerobridge.web.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    plugins = plugin_loading.load_plugins()
    server = _server(create_app(store, plugins=plugins))
    web = asyncio.create_task(server.serve(sockets=[sock]))
    scheduling = asyncio.create_task(Scheduler(store, plugins).run(stop, leader_lock(store)))
    pool = WorkerPool(store.url, workers, grace=grace)
    pool.start_all()
    supervising = asyncio.create_task(pool.supervise(stop))
    status = 0
    try:
        await asyncio.wait([web, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
        if web.done():
            log.error("the web app stopped: %s", web.exception() or "without an error")
            status = 1
        stop.set()
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.to_thread(pool.stop)
        for task in (supervising, scheduling, web):
            with contextlib.suppress(Exception):
                await task
        sock.close()
    log.info("stopped")
    return status


def run(
    store: Store,
    *,
    host: str,
    port: int,
    workers: int = 2,
    grace: float = GRACE,
    out: TextIO | None = None,
) -> int:
    """Run the daemon until SIGTERM or Ctrl-C; its exit status."""
    out = out or sys.stdout
    sock = bind(host, port)
    # The first line says where it listens, so scripts (and tests) can read the real port.
    out.write(f"xerobridge listening on {base_url(host, sock)}\n")
    out.flush()
    configure_logging()
    log.info("daemon on %s with %d worker process(es)", store.safe_url, workers)
    return asyncio.run(_main(store, sock, workers=workers, grace=grace))
