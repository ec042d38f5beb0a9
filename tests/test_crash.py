"""Exactly-once through crashes and lost answers, with real processes on real sockets.

A served Xero sandbox (`xerobridge sandbox xero`), a store (SQLite file and PostgreSQL), a
custom connection, and a source of the crash test plugin with 300 customers and 200 invoices.
Worker processes (`crash_worker.py`) run the sync and are SIGKILLed at the named crash points,
one after the other in the same sync: each point shown to be hit (the marker file), each next
worker starting as soon as the dead one's leases run out. The last worker runs to the end. Xero
must then hold every expected contact and invoice exactly once and nothing else, every link
settled on the right object, and the recovery each worker did must be what the crash before it
left: one resend of the stored attempt per batch within Xero's idempotency memory, one read per
document type (the sweep) after it. The same invariant holds through the sandbox's
lost-response fault on 20% of writes.

XEROBRIDGE_LARGE=1 runs the larger size too (3,000 customers and 2,000 invoices).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from xerobridge.sandboxes.xero.testing import served
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link, SyncLog

import crash_plugin

WORKER = Path(__file__).with_name("crash_worker.py")
PREFIX = "CRSH"
#: A killed worker's jobs come back one lease after its last heartbeat.
LEASE = 1.0
#: Past Xero's idempotency memory (6 minutes): how much later each restart runs in the sweep
#: chain (its clock is this far ahead of the last worker's).
LATER = 600.0
#: Passes of a full run allowed to finish what faults left over.
PASSES = 4
SMALL = (300, 200)
LARGE = (3000, 2000)

large = pytest.mark.skipif(
    os.environ.get("XEROBRIDGE_LARGE") != "1", reason="the large crash runs need XEROBRIDGE_LARGE=1"
)


@dataclass
class Run:
    """One worker process, to its end or its death."""

    returncode: int
    stderr: str
    #: (resend | sweep, document type, links, calls, whether it got Xero's answer)
    recovered: list[tuple[str, str, int, int, bool]]
    summary: dict[str, Any] | None
    replays: int  # writes Xero answered from its idempotency memory meanwhile


@dataclass
class Step:
    """A worker of a chain: where it dies (None: it runs to the end), how far ahead its clock
    runs, and the recovery it must do first."""

    crash: tuple[str, int] | None
    ahead: float = 0.0
    recovered: list[tuple[str, str, int, int, bool]] = field(default_factory=list)
    replays: int = 0


@dataclass
class Rig:
    """Everything one run needs: the store, the served sandbox and the source's data."""

    store_url: str
    sandbox: dict[str, Any]
    data: Path
    marker: Path
    customers: int
    invoices: int

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the sandbox's control API; its JSON."""
        response = httpx.request(method, f"{self.sandbox['control_url']}{path}", timeout=30,
                                 **kwargs)  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    def replays(self) -> int:
        """Writes the sandbox answered from its idempotency memory so far."""
        return int(self.control("GET", "/stats")["idempotentReplays"])

    def worker(self, crash: tuple[str, int] | None = None, *args: str) -> Run:
        """Run one worker process to its end, or its death at `crash` (point, n-th visit)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", crash_plugin.DATA_ENV: str(self.data)}
        env.pop("XEROBRIDGE_CRASH_AT", None)
        if crash:
            env["XEROBRIDGE_CRASH_AT"] = f"{crash[0]}:{crash[1]}"
            env["XEROBRIDGE_CRASH_MARKER"] = str(self.marker)
        before = self.replays()
        done = subprocess.run(
            [sys.executable, str(WORKER), worker_url(self.store_url), "--lease", str(LEASE),
             *args],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        recovered = [(e["recovery"], e["kind"], e["links"], e["calls"], e["ok"])
                     for e in lines if "recovery" in e]  # fmt: skip
        summary = lines[-1] if lines and "recovery" not in lines[-1] else None
        return Run(done.returncode, done.stderr, recovered, summary, self.replays() - before)

    def crash(self, point: str, nth: int, *args: str) -> Run:
        """A worker killed by SIGKILL at the n-th visit of a crash point, shown to be hit."""
        hits = self.marker.read_text().split() if self.marker.exists() else []
        run = self.worker((point, nth), *args)
        assert run.returncode == -signal.SIGKILL, (point, run.returncode, run.stderr[-3000:])
        assert self.marker.read_text().split() == [*hits, point]
        assert run.summary is None, run.summary  # it died mid-sync
        return run

    def finish(self, *args: str) -> list[Run]:
        """Fresh workers until one ends with nothing failed and nothing left queued."""
        runs = []
        for _ in range(PASSES):
            run = self.worker(None, *args)
            assert run.returncode == 0, run.stderr[-3000:]
            assert run.summary is not None
            runs.append(run)
            if run.summary["failed"] == 0 and not run.summary["jobs"]:
                return runs
        raise AssertionError(f"not finished after {PASSES} passes: {[r.summary for r in runs]}")

    def assert_exactly_once(self) -> None:
        """Xero holds every expected document once and nothing else; every link is settled on
        its own document; the queue is empty."""
        contacts = self.control("GET", "/tenants/default/Contacts")["Contacts"]
        invoices = self.control("GET", "/tenants/default/Invoices")["Invoices"]
        expected = {crash_plugin.contact_number(PREFIX, str(i))
                    for i in range(1, self.customers + 1)}  # fmt: skip
        _assert_once("contacts", [c.get("ContactNumber") for c in contacts], expected)
        expected = {crash_plugin.invoice_number(PREFIX, str(1000 + i))
                    for i in range(1, self.invoices + 1)}  # fmt: skip
        _assert_once("invoices", [i.get("InvoiceNumber") for i in invoices], expected)
        ids = {c["ContactNumber"]: c["ContactID"] for c in contacts}
        data = json.loads(self.data.read_text())
        for invoice in invoices:
            key = invoice["InvoiceNumber"].rsplit("-", 1)[1]
            customer = crash_plugin.contact_number(PREFIX, data["invoices"][key]["customer"])
            assert invoice["Contact"]["ContactID"] == ids[customer], f"invoice {key}'s contact"

        store = Store(self.store_url)
        try:
            with store.transaction() as s:
                links = list(s.exec(select(Link)).all())
                jobs = list(s.exec(select(Job).where(Job.kind == "push")).all())
                created = list(s.exec(select(SyncLog.stream, SyncLog.record_key)
                                      .where(SyncLog.action == "created")).all())  # fmt: skip
        finally:
            store.dispose()
        # The sync log tells the truth: each record "created" once, however its run ended.
        assert len(created) == len(set(created)), "a record logged created twice"
        assert len(created) == self.customers + self.invoices, "a write not logged created"
        assert not jobs, [(j.stream, j.record_key, j.state, j.last_error) for j in jobs[:5]]
        assert len(links) == self.customers + self.invoices
        stuck = [(link.stream, link.record_key) for link in links
                 if link.in_flight_at is not None or not link.xero_id]  # fmt: skip
        assert not stuck, f"links left unsettled: {stuck[:10]}"
        by_number = {**ids, **{i["InvoiceNumber"]: i["InvoiceID"] for i in invoices}}
        wrong = [link.natural_key for link in links if by_number[link.natural_key] != link.xero_id]
        assert not wrong, f"links on the wrong object: {wrong[:10]}"


def _assert_once(what: str, numbers: list[str | None], expected: set[str]) -> None:
    twice = sorted(str(n) for n, count in Counter(numbers).items() if count > 1)
    assert not twice, f"{what} in Xero more than once: {twice[:10]}"
    got = set(numbers)
    missing, extra = sorted(expected - got), sorted(str(n) for n in got - expected)
    assert not missing and not extra, f"{what}: missing {missing[:10]}, unexpected {extra[:10]}"


def worker_url(store_url: str) -> str:
    """The workers' database URL. On PostgreSQL they commit without waiting for the WAL flush
    (synchronous_commit=off): only a crash of the server could lose such a commit, and these
    tests kill workers, never the server; it makes each commit ~3 ms cheaper."""
    url = make_url(store_url)
    if url.get_backend_name() != "postgresql":
        return store_url
    url = url.update_query_dict({"options": "-c synchronous_commit=off"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def xero_sandbox() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox xero` on a free port, stopped at the test's end."""
    with served() as sandbox:
        yield sandbox


def make_rig(store_url: str, sandbox: dict[str, Any], tmp_path: Path, size: tuple[int, int]) -> Rig:
    """Connect the sandbox's custom connection and add a source of the crash plugin."""
    customers, invoices = size
    data = tmp_path / "source.json"
    crash_plugin.install_source(store_url, sandbox, data, customers, invoices, prefix=PREFIX)
    return Rig(store_url, sandbox, data, tmp_path / "crash.marker", customers, invoices)


def run_chain(rig: Rig, steps: list[Step]) -> list[Run]:
    """Run the chain's workers one after the other; check what each recovered."""
    runs: list[Run] = []
    # Each worker's clock runs one lease further ahead than the one killed before it, so that
    # the dead one's leases have run out when it starts, however fast it starts.
    skew = 0.0
    for step in steps:
        started = time.monotonic()
        ahead = step.ahead + skew
        args = ("--clock-ahead", str(ahead)) if ahead else ()
        if step.crash:
            runs.append(rig.crash(*step.crash, *args))
            skew += LEASE + 0.5
        else:
            runs.extend(rig.finish(*args))
        last = runs[-1]
        print(f"{step.crash or 'to the end'} (clock +{step.ahead:g}s): "
              f"{time.monotonic() - started:.1f}s, recovered {last.recovered}, "
              f"{last.replays} replayed; {last.summary or ''}")  # fmt: skip
        assert (last.recovered, last.replays) == (step.recovered, step.replays), step
    rig.assert_exactly_once()
    final = runs[-1].summary
    assert final is not None and final["failed"] == 0
    return runs


def resend_chain(size: tuple[int, int]) -> list[Step]:
    """Each point once, restarts within Xero's idempotency memory: in-flight batches are
    settled by resending their stored attempt, one call per batch.

    Visits: after_claim 1-2 are the two reads, then one per batch of 50 claimed; the write
    points are reached once per batch written. At the small size: worker 1 dies having claimed
    customers 101-150; worker 2 writes them, then dies before sending 151-200; worker 3 resends
    that attempt (Xero creates them), writes 201-250, and dies when Xero has committed 251-300;
    worker 4 resends that one (Xero replays its answer), writes the first two invoice batches
    and dies with the second linked but its jobs not completed; worker 5 finishes. The large
    size dies at the same places of its longer run.
    """
    claim, write, commit, link = {SMALL: (5, 2, 2, 2), LARGE: (32, 10, 21, 20)}[size]
    contacts = [("resend", "Contact", 50, 1, True)]
    return [
        Step(("after_claim", claim)),
        Step(("before_write", write)),
        Step(("after_commit", commit), recovered=contacts),
        Step(("after_link", link), recovered=contacts, replays=1),
        Step(None),
    ]


def sweep_chain(size: tuple[int, int]) -> list[Step]:
    """Each restart ten minutes after the crash before it, past Xero's idempotency memory: what
    is in flight is found (or not) by one read per document type, matched by natural key.

    At the small size: worker 1 dies before sending customers 101-150; worker 2 reads the
    contacts changed since (If-Modified-Since: the 100 made, one page), finds none of the 50,
    writes them and the rest, and dies when Xero has committed the second invoice batch;
    worker 3 reads those invoices by their numbers, finds all 50, links them, and finishes.
    At the large size worker 1 dies before customers 1,451-1,500 (two pages to read back).
    """
    write, commit, pages = {SMALL: (3, 6, 1), LARGE: (30, 33, 2)}[size]
    return [
        Step(("before_write", write)),
        Step(
            ("after_commit", commit), ahead=LATER, recovered=[("sweep", "Contact", 50, pages, True)]
        ),
        Step(None, ahead=2 * LATER, recovered=[("sweep", "Invoice", 50, 1, True)]),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("chain", [resend_chain, sweep_chain], ids=["resend", "sweep"])
def test_workers_killed_at_each_crash_point_leave_every_document_exactly_once(
    store_url: str, xero_sandbox: dict[str, Any], tmp_path: Path, chain: Any
) -> None:
    """SIGKILL at the crash points of one 500-record sync: each document once, none lost."""
    rig = make_rig(store_url, xero_sandbox, tmp_path, SMALL)
    run_chain(rig, chain(SMALL))


@pytest.mark.slow
@pytest.mark.parametrize("attempts", [None, 1], ids=["client-retries", "engine-recovers"])
def test_lost_answers_on_a_fifth_of_writes_never_make_a_second_copy(
    store_url: str, xero_sandbox: dict[str, Any], tmp_path: Path, attempts: int | None
) -> None:
    """The sandbox commits 20% of writes and drops their answer; each document still once.

    As shipped, the client resends a lost write at once with the same Idempotency-Key. With one
    try per call, every lost answer instead leaves its links in flight for the job's next try,
    where recovery resends the stored attempt before anything else. Either way each lost
    answer is settled by exactly one replay of that same write.
    """
    rig = make_rig(store_url, xero_sandbox, tmp_path, SMALL)
    # Seeded so that the run's dozen writes do draw lost answers (seed 0 draws none early).
    rule = {"kind": "lost-response", "probability": 0.2, "methods": ["POST", "PUT"], "seed": 7}
    rig.control("POST", "/faults", json=rule)
    started = time.monotonic()
    args = ("--quick-retries", *(("--attempts", str(attempts)) if attempts else ()))
    runs = rig.finish(*args)
    fired = rig.control("GET", "/faults")["history"]
    lost = sum(1 for f in fired if f["kind"] == "lost-response")
    rig.control("DELETE", "/faults")
    replays = sum(r.replays for r in runs)
    recovered = [e for r in runs for e in r.recovered]
    print(f"lost-response, {attempts or 'default'} tries: {lost} lost, {replays} replayed, "
          f"recovered {recovered}, {time.monotonic() - started:.1f}s, "
          f"{[r.summary for r in runs]}")  # fmt: skip
    assert lost >= 2
    rig.assert_exactly_once()
    assert replays == lost
    if attempts == 1:
        # Each lost answer, the resends' own included, was followed by one resend.
        assert len(recovered) == lost and all(e[0] == "resend" for e in recovered)
        assert sum(r.summary["recovery_calls"] for r in runs if r.summary) == lost
    else:
        assert not recovered  # the client's own retries answered every lost write


@large
@pytest.mark.slow
@pytest.mark.large
@pytest.mark.parametrize("chain", [resend_chain, sweep_chain], ids=["resend", "sweep"])
def test_large_crash_chains(
    store_url: str, xero_sandbox: dict[str, Any], tmp_path: Path, chain: Any
) -> None:
    """The same chains at 3,000 customers and 2,000 invoices, crashing ten times later."""
    rig = make_rig(store_url, xero_sandbox, tmp_path, LARGE)
    run_chain(rig, chain(LARGE))
