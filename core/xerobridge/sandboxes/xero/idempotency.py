"""Idempotency-Key memory: a repeated write within ~6 minutes gets the first answer back.

From Xero's idempotency guide (as quoted in the reference notes): the same key with the same
request returns the first response without processing it again; a repeat that arrives while the
first is still running waits for it; the same key with a different request is refused with a
400; keys are remembered for 6 minutes from first use; at most 128 characters.

Keys are scoped per app and tenant here (Xero's scope is not documented). Answers produced by the
accounting engine (2xx and 4xx) are remembered; calls that never reached it (429, injected 5xx,
resets) are not, so retrying them is processed normally.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from xerobridge.clock import Clock

TTL = timedelta(minutes=6)
MAX_KEY_LENGTH = 128


@dataclass
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class _Entry:
    fingerprint: str
    created: datetime
    done: asyncio.Event = field(default_factory=asyncio.Event)
    response: StoredResponse | None = None


class KeyConflict(Exception):
    """The key was used for a different request."""


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same": verb, path, query string and the exact body."""
    digest = hashlib.sha256()
    for part in (method.upper(), path.lower(), query):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, clock: Clock, ttl: timedelta = TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self.replays = 0

    def _expire(self) -> None:
        cutoff = self.clock.now() - self.ttl
        for key in [k for k, e in self._entries.items() if e.created <= cutoff]:
            entry = self._entries[key]
            if entry.done.is_set():
                del self._entries[key]

    async def begin(self, scope: tuple[str, str, str], print_: str) -> StoredResponse | None:
        """Claim a key, or return the stored answer for it (waiting if it is still running)."""
        self._expire()
        while True:
            entry = self._entries.get(scope)
            if entry is None:
                self._entries[scope] = _Entry(fingerprint=print_, created=self.clock.now())
                return None
            if entry.fingerprint != print_:
                raise KeyConflict(scope[2])
            if not entry.done.is_set():
                await entry.done.wait()
                continue
            if entry.response is not None:
                self.replays += 1
                return entry.response

    def finish(self, scope: tuple[str, str, str], response: StoredResponse | None) -> None:
        """Store the answer (or None: forget the key) and wake any waiting repeats."""
        entry = self._entries.get(scope)
        if entry is None:
            return
        entry.response = response
        entry.done.set()
        if response is None:
            del self._entries[scope]

    def clear(self) -> None:
        self._entries.clear()
        self.replays = 0
