"""A claimed batch on its way to Xero: the work per job, what the batch did, and the state
the push's three stages share (resolve.py, write.py, settle.py; push.py runs them in order).
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xerobridge.clock import Clock
from xerobridge.contract.errors import Permanent
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import Change, Resolution, XeroDocument
from xerobridge.runtime.queue import Queue
from xerobridge.store import links as linkstore
from xerobridge.store.models import Job, Link
from xerobridge.sync.recovery import Recovery
from xerobridge.sync.runtimes import Runtimes, SourceRuntime
from xerobridge.xero.client import XeroClient
from xerobridge.xero.mirror import Mirror

#: A record of the batch: (source id, stream, record key).
Record = tuple[int, str, str]
#: The links of the batch's records, by record and role.
OwnLinks = dict[Record, dict[str, Link]]
#: How long a job waits for a record it depends on before it is tried again.
DEPENDENCY_WAIT = 0.2
#: The sync log's message for a record whose documents are as last pushed.
UNCHANGED = "unchanged since the last push"


class AwaitsXero(Permanent):
    """The record needs records of a stream from Xero that have not come: it fails (a person
    sees why) and is tried again by itself once one of them is linked (`Queue.wake`)."""

    def __init__(self, message: str, *, awaited: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message)
        self.awaited = awaited


class HoldBack(Exception):
    """The job must wait (for a dependency) without spending an attempt.

    With `awaited`, what it needs waits for a person: the job is held, costs nothing while it
    waits, and wakes when one of those records is done (see `Queue.hold` and `Queue.complete`).
    """

    def __init__(
        self,
        reason: str,
        delay: float = DEPENDENCY_WAIT,
        *,
        awaited: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(reason)
        self.delay = delay
        self.awaited = awaited


@dataclass
class Work:
    """One job on its way through the batch."""

    job: Job
    runtime: SourceRuntime
    change: Change
    resolution: Resolution
    links: dict[tuple[str, str, str], str]
    started: float
    docs: list[XeroDocument] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # created | updated per written document
    xero: list[tuple[str, str]] = field(default_factory=list)  # (kind, id) of main documents
    calls: int = 0
    error: Exception | None = None
    wrote: bool = False  # a document of this job was written in the current round
    #: Given back to the queue to be prepared afresh by a later batch (see write.py).
    again: bool = False


@dataclass
class BatchStats:
    """What a batch did: (source id, stream, outcome) per job, where the outcome is created,
    updated, skipped, failed, held, retry or waiting."""

    outcomes: list[tuple[int, str, str]] = field(default_factory=list)


class Stage:
    """What every stage of a push reads: the queue, the store, the plugins and the client."""

    def __init__(
        self,
        *,
        queue: Queue,
        plugins: Plugins,
        runtimes: Runtimes,
        client: XeroClient,
        recovery: Recovery,
        clock: Clock,
        worker_id: str,
        mirror: Mirror | None = None,
    ) -> None:
        self.mirror = mirror
        self.queue = queue
        self.store = queue.store
        self.plugins = plugins
        self.runtimes = runtimes
        self.client = client
        self.recovery = recovery
        self.clock = clock
        self.worker_id = worker_id
        #: Per source, the newest queued job `_look_ahead` has asked about.
        self._looked: dict[int, int] = {}
        #: Jobs given back after Xero refused a name their document held: the refused hash.
        self._retaken: dict[int, str] = {}
        #: Jobs sent back to be built again because a claim of theirs is held by another
        #: record, with the body that lost it: the same body losing again is the plugin's bug.
        self._outclaimed: dict[int, str] = {}
        #: Seconds per stage since the last `take_seconds`: map (hooks and dependencies),
        #: write (waiting for Xero) and link (the store's part of a push).
        self._seconds: dict[str, float] = defaultdict(float)
        #: The batch's finished jobs with their sync-log rows, written in one go (settle.py).
        self._done: list[tuple[int, dict[str, Any]]] = []

    def take_seconds(self) -> dict[str, float]:
        """The seconds spent per stage since the last call."""
        taken, self._seconds = self._seconds, defaultdict(float)
        return taken

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[stage] += time.perf_counter() - started

    def _load_own(self, records: list[tuple[SourceRuntime, str, str]]) -> OwnLinks:
        """Every link of the given records, in one query per source and stream."""
        by_source: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for runtime, stream, key in records:
            by_source[runtime.id].append((stream, key))
        found: OwnLinks = defaultdict(dict)
        with self.store.transaction() as s:
            for source_id, keys in by_source.items():
                for (stream, key, role), link in linkstore.of_records(s, source_id, keys).items():
                    found[(source_id, stream, key)][role] = link
        return found


def own_xero_ids(own: OwnLinks, source_id: int, change: Change) -> dict[tuple[str, str, str], str]:
    """The record's own links that name a Xero object, as `to_xero` gets them."""
    return {
        (change.stream, change.key, role): link.xero_id
        for role, link in own[(source_id, change.stream, change.key)].items()
        if link.xero_id
    }


def parse_when(value: Any) -> datetime | None:
    """A stored ISO time, or None when there is none or it does not parse."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
