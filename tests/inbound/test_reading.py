"""Reading a Xero object by change time skips no record and reads none twice, even when many
share a second, going forward or back into history; ids come back 50 a call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sync.engine import Engine
from xerobridge.xero import reading

from inbound_helpers import contacts, run


async def _forward(engine: Engine, conn: int) -> list[list[dict[str, Any]]]:
    return [p async for p in reading.changed_since(engine.client, conn, "Contact", since=None)]


async def _back(engine: Engine, conn: int, before: Any) -> list[list[dict[str, Any]]]:
    pages = reading.changed_before(engine.client, conn, "Contact", before=before)
    return [page async for page, _rest in pages]


def test_pages_through_shared_seconds_without_loss_or_repeat(
    engine: Engine, sandbox: SandboxState, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "PAGE_SIZE", 10)
    made = contacts(sandbox, *(f"Same second {i}" for i in range(15)))
    for i in range(20):
        clock.advance(1)
        made += contacts(sandbox, f"Later {i}")
    conn = engine.sources("books")[0].connection_id
    assert conn is not None

    calls = engine.client.read_calls
    forward = [r["ContactID"] for page in run(_forward(engine, conn)) for r in page]
    forward_calls = engine.client.read_calls - calls
    assert sorted(forward) == sorted(c["ContactID"] for c in made)
    assert len(forward) == len(set(forward))
    assert forward_calls <= 5  # 35 records, 10 a page

    back_pages = run(_back(engine, conn, clock.now() + timedelta(seconds=1)))
    back = [r["ContactID"] for page in back_pages for r in page]
    assert sorted(back) == sorted(forward) and len(back) == len(set(back))
    assert back[:3] == [c["ContactID"] for c in made[-1:-4:-1]]  # newest first


def test_records_named_by_id_come_fifty_a_call(engine: Engine, sandbox: SandboxState) -> None:
    made = contacts(sandbox, *(f"Client {i}" for i in range(120)))
    conn = engine.sources("books")[0].connection_id
    assert conn is not None
    calls = engine.client.read_calls
    found = run(reading.by_ids(engine.client, conn, "Contact", [c["ContactID"] for c in made]))
    assert engine.client.read_calls - calls == 3
    assert set(found) == {c["ContactID"].lower() for c in made}


def test_an_edit_between_pages_is_caught_by_the_count_and_read_by_time(
    engine: Engine, sandbox: SandboxState, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Editing a record of page 1 moves it to the end, and page 2 would start one later: the
    read sees fewer records than Xero counts and reads on by time, missing none."""
    monkeypatch.setattr(reading, "PAGE_SIZE", 10)
    made = []
    for i in range(25):
        clock.advance(1)
        made += contacts(sandbox, f"Client {i}")
    conn = engine.sources("books")[0].connection_id
    assert conn is not None

    async def read_with_an_edit() -> list[str]:
        ids: list[str] = []
        pages = reading.changed_since(engine.client, conn, "Contact", since=None)
        async for page in pages:
            if not ids:  # between the first page and the second
                clock.advance(5)
                edited = {"ContactID": page[0]["ContactID"], "Name": "Edited"}
                sandbox.seed("Contacts", [edited], upsert=True)
            ids += [r["ContactID"] for r in page]
        return ids

    ids = run(read_with_an_edit())
    assert set(ids) == {c["ContactID"] for c in made}
    assert len(ids) == len(set(ids))
