"""Serving an ASGI app on a socket we bind ourselves, so that port 0 can report its real port."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any

from xerobridge.contract.errors import UserError
from xerobridge.web.connection_limits import ConnectionLimits, server_config

#: What to print for an address that listens everywhere.
LOOPBACK_NAMES = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1"}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one), or a UserError saying why not."""
    if not 0 <= port <= 65535:
        raise UserError("the port must be from 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this (Linux): without it every keep-alive answer waits
    # ~40 ms on Nagle and delayed ACKs, since the headers and the body are written apart.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, sock: socket.socket) -> str:
    """The http URL a client on this machine uses to reach the socket."""
    shown = LOOPBACK_NAMES.get(host, host)
    port = sock.getsockname()[1]
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serve(app: Any, sock: socket.socket, limits: ConnectionLimits | None = None) -> None:
    """Run the app with uvicorn on the socket until stopped."""
    import uvicorn

    try:
        uvicorn.Server(server_config(app, limits)).run(sockets=[sock])
    finally:
        sock.close()


def serve_sandbox(
    host: str,
    port: int,
    make_app: Callable[[str], Any],
    describe: Callable[[Any, str], Mapping[str, Any]],
) -> None:
    """Serve an emulator on `host:port`: `make_app(url)` builds it knowing its own URL, and
    `describe(app, url)` is printed as one JSON line (the settings that reach it) before it
    serves, so that a script can read how to reach it even on port 0."""
    sock = bind(host, port)
    url = base_url(host, sock)
    try:
        app = make_app(url)
    except BaseException:
        sock.close()
        raise
    sys.stdout.write(json.dumps(dict(describe(app, url))) + "\n")
    sys.stdout.flush()
    serve(app, sock)
