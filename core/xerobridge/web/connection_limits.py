"""What a connection to our web server may cost: the time to send a request, and how many stay open.

uvicorn times out a connection only while it idles between answers: one that opens and sends
part of its headers, or drips a body, stays for ever, and enough of them spend every file
descriptor (the daemon's health check, scheduler and database then fail with "Too many open
files"). The protocol made by `guarded_h11` closes a connection whose request has not arrived
whole `request_timeout` seconds after it began (after the connection opened, or after its first
byte once the previous answer is sent), and keeps at most `max_connections` open: the next one
takes the place of the connection that has waited longest without a request in progress, so a
flood of half-open connections cannot keep a real client, or a signed webhook from Xero, out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def _default_max_connections() -> int:
    """At most half the file descriptors this process may open, and never more than 1,000."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(16, min(1000, soft // 2))


@dataclass(frozen=True)
class ConnectionLimits:
    """The server's limits on connections (see the module's docstring)."""

    #: Seconds from a request's start until its headers and body have all arrived.
    request_timeout: float = 20.0
    #: Seconds a connection may idle between one answer and the next request (uvicorn's).
    idle_timeout: int = 5
    #: Connections open at once; the oldest waiting for a request gives way to a new one.
    max_connections: int = 0  # 0: `_default_max_connections()`

    def connections(self) -> int:
        return self.max_connections or _default_max_connections()


def guarded_h11(limits: ConnectionLimits) -> type[Any]:
    """uvicorn's h11 protocol with the limits above, for one server."""
    # Imported here: plugins import `serve` through the SDK, and seldom serve anything.
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    # A request is done arriving in these states (or the connection is finished with).
    arrived = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
    cap = limits.connections()
    # The connections not in the middle of a request, oldest first: the ones to give way.
    waiting: dict[GuardedH11, None] = {}

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()
            waiting[self] = None
            if len(self.connections) > cap:
                self._make_room()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            waiting.pop(self, None)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state in arrived:
                self._disarm()
            else:
                self._arm()
            if not self._between_requests():
                waiting.pop(self, None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self._between_requests():
                waiting.pop(self, None)
                waiting[self] = None  # the newest to wait again

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(limits.request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                log.debug(
                    "closing %s: no whole request in %.0f s", self.client, limits.request_timeout
                )
                self.transport.close()

        def _make_room(self) -> None:
            while waiting:
                oldest = next(iter(waiting))
                del waiting[oldest]
                if oldest._between_requests():
                    oldest.transport.close()
                    return
            self.transport.close()  # every other connection is answering a request

    return GuardedH11


def server_config(app: Any, limits: ConnectionLimits | None = None, **options: Any) -> Any:
    """A uvicorn.Config for our app with the connection limits set."""
    import uvicorn

    limits = limits or ConnectionLimits()
    return uvicorn.Config(
        app,
        http=guarded_h11(limits),
        timeout_keep_alive=limits.idle_timeout,
        log_level="warning",
        access_log=False,
        lifespan="on",
        **options,
    )
