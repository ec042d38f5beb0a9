"""The daemon on both stores, as real processes: leader election and takeover, and
`xerobridge run` serving, working and stopping cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select
from test_scheduler import slow_plugin

from xerobridge.config import sources
from xerobridge.runtime.leader import FileLeaderLock, PostgresLeaderLock, leader_lock
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Worker

pytestmark = pytest.mark.slow

XB = [sys.executable, "-m", "xerobridge"]
PLUGINS = Path(__file__).parent / "fixtures" / "plugins"

#: Holds or waits for the leader lock, printing "leader" or "follower" at every change.
CONTENDER = """
import sys, time
from xerobridge.runtime.leader import leader_lock
from xerobridge.store.db import Store
lock, said = leader_lock(Store(sys.argv[1])), None
while True:
    leading = lock.hold()
    if leading != said:
        print("leader" if leading else "follower", flush=True)
        said = leading
    time.sleep(0.05)
"""


class Output:
    """A process's output lines as they come, read by a thread so the pipe never fills."""

    def __init__(self, stream: object) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float) -> str:
        """The next line within `timeout` s."""
        line = self.lines.get(timeout=timeout)
        self.seen.append(line)
        return line

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until a line containing `text` came (fails after `timeout`)."""
        start = time.monotonic()
        while (left := timeout - (time.monotonic() - start)) > 0:
            try:
                if text in self.next(left):
                    return time.monotonic() - start
            except queue.Empty:
                break
        raise AssertionError(f"no {text!r} within {timeout} s; got: {self.seen[-20:]}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test, killed at its end whatever happens (with their children)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        children = child_pids(proc.pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pid in children:
            with_no_such_process(lambda pid=pid: os.kill(pid, signal.SIGKILL))


def with_no_such_process(action: Callable[[], object]) -> None:
    """Run an action on a process that may be gone already."""
    with contextlib.suppress(ProcessLookupError):
        action()


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def until(
    check: Callable[[], object], timeout: float, what: str, log: Output | None = None
) -> object:
    """Poll `check` every 0.1 s until it is truthy; its value (a failure shows the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    shown = [*log.seen, *drain(log)] if log else []
    raise AssertionError(f"{what} did not happen within {timeout} s; log: {shown[-30:]}")


# -- leader election ------------------------------------------------------------------------------


def test_one_lock_holder_at_a_time_in_one_process(store: Store) -> None:
    """Two locks on one store: one holds, the other waits until it is released."""
    a, b = leader_lock(store), leader_lock(store)
    assert isinstance(a, PostgresLeaderLock if not store.is_sqlite else FileLeaderLock)
    try:
        assert a.hold()
        assert a.hold()  # still ours
        assert not b.hold()
        a.release()
        assert b.hold()
        assert not a.hold()
    finally:
        a.release()
        b.release()


def test_a_postgres_leader_whose_session_ends_finds_out(store: Store) -> None:
    """The server ending the lock's session (a partition, a restart) ends the leadership; the
    next check says so, and the one after takes the lock again if it is free."""
    if store.is_sqlite:
        pytest.skip("PostgreSQL only")
    lock = PostgresLeaderLock(store.url)
    try:
        assert lock.hold()
        with store.engine.begin() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'xerobridge-leader' AND datname = current_database()"
                )
            ).all()
        assert ended == [(True,)]
        assert not lock.hold()
        assert lock.hold()
    finally:
        lock.release()


def test_a_follower_process_leads_when_the_leader_is_killed(
    store_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    """Two processes: one leads, the other follows; SIGKILL the leader and the other leads
    within a second or two (the OS or the server frees the lock with the process)."""

    def contender() -> tuple[subprocess.Popen[str], Output]:
        proc = subprocess.Popen(
            [sys.executable, "-c", CONTENDER, store_url], stdout=subprocess.PIPE, text=True
        )
        processes.append(proc)
        return proc, Output(proc.stdout)

    first, first_out = contender()
    assert first_out.next(timeout=15) == "leader"
    _second, second_out = contender()
    assert second_out.next(timeout=15) == "follower"
    time.sleep(0.3)
    assert second_out.lines.empty()  # it keeps following while the leader lives

    first.kill()
    first.wait(timeout=5)
    took = second_out.wait_for("leader", timeout=5)
    assert took < 3


# -- the daemon -----------------------------------------------------------------------------------


@pytest.fixture
def daemon_env(tmp_path: Path, store_url: str, store: Store) -> dict[str, str]:
    """The environment of `xerobridge run`: the test's store, and the slow test plugin installed
    as a distribution, with one source of it ('shop', read every 5 minutes)."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(PLUGINS / "xbtest_slow.py", site / "xbtest_slow.py")
    info = site / "xbtest_slow-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xbtest-slow\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[xerobridge]\nslow = xbtest_slow\n")
    (info / "RECORD").write_text("")
    sources.add(store, slow_plugin(), "slow", "shop")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "XEROBRIDGE_DATABASE_URL": store_url,
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
    }


def start_daemon(
    env: dict[str, str], processes: list[subprocess.Popen[str]], *, workers: int
) -> tuple[subprocess.Popen[str], str, Output]:
    """`xerobridge run --workers N --listen 127.0.0.1:0`: the process, its URL, its log."""
    proc = subprocess.Popen(
        [*XB, "run", "--workers", str(workers), "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("xerobridge listening on http://127.0.0.1:"), (
        line + proc.stderr.read()  # type: ignore[union-attr]
    )
    return proc, line.split()[-1], Output(proc.stderr)


def workers_of(store: Store) -> list[Worker]:
    """The registered worker processes."""
    with store.transaction() as s:
        return list(s.exec(select(Worker)).all())


def job_states(store: Store) -> list[tuple[str, str]]:
    """(stream, state) of every job."""
    with store.transaction() as s:
        return sorted((j.stream, j.state) for j in s.exec(select(Job)).all())


def test_run_serves_works_and_stops_cleanly_on_sigterm(
    daemon_env: dict[str, str], store: Store, processes: list[subprocess.Popen[str]]
) -> None:
    """The daemon answers /healthz, schedules the source's reads and its workers take them;
    SIGTERM while a read hangs: the read is given back, the workers leave, exit status 0."""
    proc, url, log = start_daemon(daemon_env, processes, workers=2)
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
    log.wait_for("scheduler: leading", timeout=10)
    # The first tick reads the new source; a worker claims the reads and hangs in the first.
    until(lambda: ("customers", "running") in job_states(store), 20, "a worker claiming", log)
    registered = until(lambda: len(w := workers_of(store)) == 2 and w, 10, "two workers", log)
    workers = [w.pid for w in registered]  # type: ignore[union-attr]
    assert set(workers) <= set(child_pids(proc.pid))

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, log.seen
    assert time.monotonic() - started < 12, log.seen
    assert job_states(store) == [("customers", "queued"), ("orders", "queued")]
    assert workers_of(store) == []
    assert not [pid for pid in workers if alive(pid)]


def test_another_daemon_takes_over_scheduling_when_the_leader_dies(
    daemon_env: dict[str, str], store: Store, processes: list[subprocess.Popen[str]]
) -> None:
    """Two daemons on one store: one schedules; SIGKILL it, the other schedules within seconds,
    and the dead one's workers do not outlive it."""
    first, _url, first_log = start_daemon(daemon_env, processes, workers=1)
    first_log.wait_for("scheduler: leading", timeout=10)
    second, url, second_log = start_daemon(daemon_env, processes, workers=1)
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    orphans = until(lambda: child_pids(first.pid), 5, "the first daemon's worker")
    time.sleep(1.5)  # the second has tried to lead at least once by now
    assert not any("scheduler: leading" in line for line in [*second_log.seen, *drain(second_log)])

    first.kill()
    first.wait(timeout=5)
    took = second_log.wait_for("scheduler: leading", timeout=10)
    assert took < 5
    until(lambda: not [p for p in orphans if alive(p)], 10, "the orphaned worker leaving")  # type: ignore[union-attr]

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    assert "running" not in {state for _stream, state in job_states(store)}


def drain(output: Output) -> list[str]:
    """The lines that came so far."""
    lines = []
    while not output.lines.empty():
        lines.append(output.next(timeout=0.1))
    return lines
