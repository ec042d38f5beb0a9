"""`POST /sources/<source>/notify`, on both stores: who may notify, what it queues, what not."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select
from test_scheduler import slow_plugin
from typer.testing import CliRunner

from xerobridge.cli import main as cli
from xerobridge.cli import root
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Setting, Source
from xerobridge.web.app import create_app

SECRET = "s3cret-notify-token-0123456789"


@pytest.fixture
def plugins() -> Plugins:
    """Only the slow test plugin (its hooks are never called: the route only enqueues)."""
    return slow_plugin()


@pytest.fixture
def shop(store: Store, plugins: Plugins) -> int:
    """A source with a notify secret; its id."""
    source = sources.add(store, plugins, "slow", "shop", values={"notify_secret": SECRET})
    assert source.id is not None
    return source.id


def post(
    store: Store,
    plugins: Plugins,
    source: str,
    body: Any = None,
    *,
    secret: str | None = SECRET,
    raw: bytes | None = None,
) -> httpx.Response:
    """One notification through the web app."""
    app = create_app(store, plugins=plugins)
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
            content = raw if raw is not None else json.dumps(body or {}).encode()
            return await client.post(f"/sources/{source}/notify", content=content, headers=headers)

    return asyncio.run(go())


def jobs(store: Store) -> list[Job]:
    """Every job, oldest first."""
    with store.transaction() as s:
        return list(s.exec(select(Job).order_by(Job.id)).all())  # type: ignore[arg-type]


def test_keys_are_queued_for_reading_at_once(
    store: Store, plugins: Plugins, shop: int, clock: FakeClock
) -> None:
    """202, and a fetch job of those keys, due now; a repeat coalesces into the waiting job."""
    answer = post(store, plugins, "shop", {"stream": "orders", "keys": ["1001"]})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"queued": 1, "streams": ["orders"], "keys": 1}
    post(store, plugins, "shop", {"stream": "orders", "keys": ["1001"]})
    [job] = jobs(store)
    assert (job.source_id, job.kind, job.stream, job.record_key, job.state) == (
        shop, "fetch", "orders", "1001", "queued"
    )  # fmt: skip
    assert job.payload == {"keys": ["1001"]}
    assert job.run_after == clock.now()

    assert post(store, plugins, "shop", {"stream": "orders", "keys": [2, "3", "2"]}).json() == {
        "queued": 1, "streams": ["orders"], "keys": 2
    }  # fmt: skip
    several = jobs(store)[-1]
    assert several.record_key.startswith("keys:")
    assert several.payload == {"keys": ["2", "3"]}
    # The same keys in another order are the same read.
    post(store, plugins, "shop", {"stream": "orders", "keys": ["3", "2"]})
    assert len(jobs(store)) == 2


def test_without_keys_the_stream_or_every_stream_is_read(
    store: Store, plugins: Plugins, shop: int
) -> None:
    """No keys: the stream's changes; no stream: every enabled stream's changes."""
    assert post(store, plugins, "shop", {"stream": "customers"}).status_code == 202
    assert [(j.stream, j.record_key, j.payload) for j in jobs(store)] == [("customers", "*", None)]
    answer = post(store, plugins, "shop", raw=b"")
    assert answer.status_code == 202
    assert answer.json()["streams"] == ["customers", "orders"]
    assert sorted(j.stream for j in jobs(store)) == ["customers", "orders"]


def test_a_waiting_full_read_stays_full_and_runs_now(
    store: Store, plugins: Plugins, shop: int, clock: FakeClock
) -> None:
    """A whole-stream notification does not turn a queued full read into a read of changes."""
    Queue(store, clock=clock).enqueue(
        [NewJob(shop, "customers", "*", kind="fetch", payload={"full": True})]
    )
    with store.transaction() as s:  # it failed and backs off for ten minutes
        s.execute(sa.update(Job).values(run_after=clock.now() + timedelta(minutes=10)))
    assert post(store, plugins, "shop", {"stream": "customers"}).status_code == 202
    [job] = jobs(store)
    assert job.payload == {"full": True}
    assert job.run_after == clock.now()


@pytest.mark.parametrize(
    ("case", "secret"),
    [("missing", None), ("wrong", "x" * len(SECRET)), ("prefix", SECRET[:-1]), ("empty", "")],
)
def test_a_missing_or_wrong_secret_is_refused(
    store: Store, plugins: Plugins, shop: int, case: str, secret: str | None
) -> None:
    """401 and nothing queued."""
    answer = post(store, plugins, "shop", {"stream": "orders", "keys": ["1"]}, secret=secret)
    assert answer.status_code == 401, case
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert jobs(store) == []


def test_a_source_without_a_secret_takes_no_notifications(store: Store, plugins: Plugins) -> None:
    """Notifications are off until a secret is set."""
    sources.add(store, plugins, "slow", "quiet")
    assert post(store, plugins, "quiet", {"stream": "orders"}, secret="").status_code == 401
    assert post(store, plugins, "quiet", {"stream": "orders"}).status_code == 401
    assert jobs(store) == []


def test_an_unknown_source_is_answered_as_a_wrong_secret_is(
    store: Store, plugins: Plugins, shop: int
) -> None:
    """Source names are not listed to strangers: an unknown source and a wrong secret get the
    same answer; an unknown stream is named only after the secret checked out."""
    unknown = post(store, plugins, "nope", {"stream": "orders"})
    wrong = post(store, plugins, "shop", {"stream": "orders"}, secret="bad")
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())
    assert unknown.status_code == 401
    assert post(store, plugins, "shop", {"stream": "refunds"}).status_code == 404
    assert post(store, plugins, "shop", {"stream": "refunds"}, secret="bad").status_code == 401
    assert jobs(store) == []


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"keys": ["1"]}', 400),
        (b'{"stream": "orders", "keys": "1"}', 400),
        (b'{"stream": "orders", "keys": [true]}', 400),
        (b'{"stream": "orders", "keys": [""]}', 400),
        (json.dumps({"stream": "orders", "keys": [str(n) for n in range(1001)]}).encode(), 413),
        (b" " * (256 * 1024 + 1), 413),
    ],
)
def test_malformed_bodies_are_refused(
    store: Store, plugins: Plugins, shop: int, raw: bytes, status: int
) -> None:
    """A body the route cannot use says why, and queues nothing."""
    answer = post(store, plugins, "shop", raw=raw)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert jobs(store) == []


def test_switched_off_sources_and_streams_are_409(
    store: Store, plugins: Plugins, shop: int
) -> None:
    """A stream or source that is off is not read, and the caller is told."""
    sources.update_settings(store, plugins.spec("slow"), "shop", {"disabled_streams": "orders"})
    assert post(store, plugins, "shop", {"stream": "orders"}).status_code == 409
    answer = post(store, plugins, "shop")
    assert (answer.status_code, answer.json()["streams"]) == (202, ["customers"])
    with store.transaction() as s:
        s.execute(sa.update(Source).values(enabled=False))
    assert post(store, plugins, "shop", {"stream": "customers"}).status_code == 409


def test_the_secret_is_set_through_the_cli_and_stored_encrypted(
    store: Store, store_url: str, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`xerobridge settings set <source> notify_secret=...`: encrypted at rest, shown redacted,
    too short refused, and an empty value switches notifications off."""
    sources.add(store, plugins, "slow", "shop")
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store_url)
    monkeypatch.setattr(root, "load_plugins", lambda: plugins)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli.app, list(args))

    assert invoke("settings", "set", "shop", f"notify_secret={SECRET}").exit_code == 0
    with store.transaction() as s:
        row = s.exec(select(Setting).where(Setting.name == "notify_secret")).one()
    assert row.secret and SECRET not in row.value
    shown = json.loads(invoke("settings", "show", "shop", "--json").output)
    assert shown["notify_secret"] == "********"
    assert post(store, plugins, "shop", {"stream": "orders"}).status_code == 202

    refused = invoke("settings", "set", "shop", "notify_secret=short")
    assert "at least 16 characters" in str(refused.exception)
    assert "short" not in str(refused.exception).replace("notify_secret", "")

    assert invoke("settings", "set", "shop", "notify_secret=").exit_code == 0
    assert post(store, plugins, "shop", {"stream": "orders"}).status_code == 401
