"""`POST /sources/<source>/notify`: a source says that records changed; they are read at once.

The source (a Magento module, a script, a system's outbound webhook) sends
`Authorization: Bearer <notify_secret>` with a JSON body:

- `{"stream": "orders", "keys": ["1001", "1002"]}`: read these records now;
- `{"stream": "orders"}`: read the stream's changes now;
- `{}`: read the changes of every enabled stream now.

The route only checks and enqueues a fetch job, then answers 202; a worker does the reading.
Answers: 202 queued; 400 a malformed body; 401 no or a wrong secret (or the source has none
set: `xerobridge settings set <source> notify_secret=...`, and an unknown source, alike); 404
an unknown stream;
409 the source or stream is switched off; 413 too large; 503 the source cannot be loaded.

Notifications of one record coalesce while its read waits; several keys become one job whose
record key is a digest of the keys, so a repeated notification coalesces too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xerobridge.config import sources
from xerobridge.contract import plugins as plugin_loading
from xerobridge.contract.errors import UserError, XerobridgeError
from xerobridge.runtime.queue import WAITING, NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Source
from xerobridge.web import bodies

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
UNAUTHORISED = "a valid 'Authorization: Bearer <notify_secret>' is required"
MAX_KEYS = 1000
MAX_KEY_LENGTH = 200


class Refusal(Exception):
    """An answer other than 202."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="xerobridge"'} if self.status == 401 else None
        return JSONResponse({"error": self.error}, status_code=self.status, headers=headers)


def plugins_of(request: Request) -> plugin_loading.Plugins:
    """The app's plugins, loaded on first use when the app was made without them."""
    state = request.app.state
    if getattr(state, "plugins", None) is None:
        state.plugins = plugin_loading.load_plugins()
    plugins: plugin_loading.Plugins = state.plugins
    return plugins


def bearer(request: Request) -> str:
    """The token of an `Authorization: Bearer` header, or ''."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def parse_body(body: bytes) -> tuple[str | None, list[str] | None]:
    """The stream and keys asked for, or a 400 Refusal saying what is wrong."""
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        raise Refusal(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refusal(400, 'the body must be a JSON object like {"stream": "...", "keys": [...]}')
    stream = data.get("stream")
    if stream is not None and (not isinstance(stream, str) or not stream):
        raise Refusal(400, "stream must be a stream name")
    raw_keys = data.get("keys")
    if raw_keys is None:
        return stream, None
    if stream is None:
        raise Refusal(400, "keys need the stream they belong to")
    if not isinstance(raw_keys, list) or not all(
        isinstance(k, str | int) and not isinstance(k, bool) for k in raw_keys
    ):
        raise Refusal(400, "keys must be a list of record keys (strings)")
    keys = list(dict.fromkeys(str(k) for k in raw_keys))
    if not keys:
        return stream, None
    if len(keys) > MAX_KEYS:
        raise Refusal(413, f"at most {MAX_KEYS} keys per notification")
    if any(not k or len(k) > MAX_KEY_LENGTH for k in keys):
        raise Refusal(400, f"a key must be 1 to {MAX_KEY_LENGTH} characters")
    return stream, keys


def record_key(keys: list[str] | None) -> str:
    """The fetch job's record key: '*' for a whole read, the key, or a digest of the keys."""
    if not keys:
        return "*"
    if len(keys) == 1:
        return keys[0]
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    return f"keys:{digest}"


def accept(
    store: Store, plugins: plugin_loading.Plugins, name: str, token: str, body: bytes
) -> dict[str, Any]:
    """Check a notification and enqueue its read; the 202 answer, or a Refusal."""
    with store.transaction() as s:
        source = s.exec(select(Source).where(Source.name == name)).first()
        if source is None:
            # Answered as a wrong secret is: source names are not listed to strangers.
            log.warning("notification for an unknown source %r refused", name)
            raise Refusal(401, UNAUTHORISED)
        info = plugins.infos.get(source.plugin)
        if info is None or info.status != "ok":
            raise Refusal(503, f"the plugin {source.plugin!r} of this source is not loaded")
        spec = plugins.spec(source.plugin)
        try:
            settings = sources.load_settings(s, source, spec)
        except UserError as exc:
            log.warning("notification for %s refused: %s", name, exc)
            raise Refusal(
                503, "the source's settings are not valid; see the daemon's log"
            ) from None
    secret = settings.notify_secret.get_secret_value() if settings.notify_secret else ""
    # Compare in constant time; an unset secret refuses everything (and says so in the log).
    if not secret or not token or not hmac.compare_digest(token.encode(), secret.encode()):
        if not secret:
            log.warning("notification for %s refused: no notify_secret is set", name)
        raise Refusal(401, UNAUTHORISED)
    own = _own_format(plugins, source.plugin, body)
    if own is not None:
        if not source.enabled:
            raise Refusal(409, f"source {name!r} is switched off")
        streams = {st.name for st in spec.streams}
        # An event of a stream switched off is not read: the scheduled read skips it too.
        reads = [(st, keys) for st, keys in own if st in streams and settings.stream_enabled(st)]
    else:
        stream, keys = parse_body(body)
        if stream is not None and stream not in {st.name for st in spec.streams}:
            raise Refusal(404, f"source {name!r} has no stream {stream!r}")
        if not source.enabled:
            raise Refusal(409, f"source {name!r} is switched off")
        if stream is not None and not settings.stream_enabled(stream):
            raise Refusal(409, f"stream {stream!r} of {name!r} is switched off")
        names = (
            [stream]
            if stream
            else [st.name for st in spec.streams if settings.stream_enabled(st.name)]
        )
        reads = [(st, keys) for st in names]
    assert source.id is not None
    jobs = [
        NewJob(
            source_id=source.id,
            stream=st,
            record_key=record_key(keys),
            kind="fetch",
            payload={"keys": keys} if keys else None,
            connection_id=source.connection_id,
            priority=10,
        )
        for st, keys in reads
    ]
    enqueue(Queue(store), jobs)
    return {
        "queued": len(jobs),
        "streams": [st for st, _k in reads],
        "keys": sum(len(keys or []) for _st, keys in reads),
    }


def _own_format(
    plugins: plugin_loading.Plugins, plugin: str, body: bytes
) -> list[tuple[str, list[str] | None]] | None:
    """The reads a plugin makes of a body in its source's own format (`read_notification`),
    or None when the body is in the core's."""
    if not plugins.has_hook(plugin, "read_notification"):
        return None
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        raise Refusal(400, "the body is not JSON") from None
    try:
        reads = plugins.call(plugin, "read_notification", body=data)
    except XerobridgeError as exc:
        raise Refusal(400, str(exc)) from None
    if reads is None:
        return None
    out: list[tuple[str, list[str] | None]] = []
    for stream, keys in reads:
        out.append((str(stream), [str(k) for k in keys][:MAX_KEYS] if keys else None))
    return out


def enqueue(queue: Queue, jobs: list[NewJob]) -> None:
    """Queue the reads; a whole-stream read that already waits is made due instead.

    Merging into a waiting whole-stream read would replace its payload (a full read would
    become a read of changes); making it due keeps what it is and still reads now.
    """
    whole = [j for j in jobs if j.record_key == "*"]
    waiting: dict[str, int] = {}
    if whole:
        with queue.store.transaction() as s:
            rows = s.exec(
                select(Job).where(
                    col(Job.source_id) == whole[0].source_id,
                    col(Job.kind) == "fetch",
                    col(Job.record_key) == "*",
                    col(Job.stream).in_([j.stream for j in whole]),
                    col(Job.state).in_(WAITING),
                )
            ).all()
            waiting = {job.stream: job.id for job in rows if job.id is not None}
    if waiting:
        queue.run_now(waiting.values())
    queue.enqueue(j for j in jobs if not (j.record_key == "*" and j.stream in waiting))


def sync_record(
    store: Store, plugins: plugin_loading.Plugins, name: str, stream: str, key: str
) -> str:
    """A person's "Sync now" of one record: its waiting push job runs at once ("run"), or,
    with none waiting (or one that failed or waits for a mapping, which fresh data may fix),
    the record is read from the source now, as a notification with its key does ("read")."""
    with store.transaction() as s:
        source = sources.get(s, name)
        spec = plugins.spec(source.plugin)
        spec.stream(stream)
        settings = sources.load_settings(s, source, spec)
        if not source.enabled:
            raise UserError(f"source {name!r} is switched off; switch it on first")
        if not settings.stream_enabled(stream):
            raise UserError(f"stream {stream!r} of {name!r} is switched off; switch it on first")
        waiting = s.exec(
            select(col(Job.id)).where(
                col(Job.source_id) == source.id,
                col(Job.kind) == "push",
                col(Job.stream) == stream,
                col(Job.record_key) == key,
                sa.or_(
                    col(Job.state) == "queued",
                    sa.and_(col(Job.state) == "held", col(Job.hold_reason) == "approval"),
                ),
            )
        ).first()
    queue = Queue(store)
    if waiting is not None:
        queue.run_now([waiting])
        return "run"
    assert source.id is not None
    enqueue(
        queue,
        [
            NewJob(
                source_id=source.id,
                stream=stream,
                record_key=record_key([key]),
                kind="fetch",
                payload={"keys": [key]},
                connection_id=source.connection_id,
                priority=10,
            )
        ],
    )
    return "read"


async def receive(request: Request) -> Response:
    """POST /sources/{source}/notify."""
    store: Store = request.app.state.store
    try:
        body = await bodies.read(request, MAX_BODY)
    except bodies.TooLarge as exc:
        return Refusal(413, str(exc)).response()
    try:
        answer = await run_in_threadpool(
            accept, store, plugins_of(request), request.path_params["source"], bearer(request), body
        )
    except Refusal as refusal:
        return refusal.response()
    return JSONResponse(answer, status_code=202)
