"""The action log holds errors and actions required; with a source's `notify` set to all tasks,
every finished task is an info entry too (unchanged records excepted)."""

from __future__ import annotations

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def infos(store: Store) -> list[str]:
    with store.transaction() as s:
        return sorted(e.message for e in s.exec(select(ActionLog)) if e.level == "info")


def test_all_tasks_are_noted_only_when_the_source_asks(
    engine: Engine, store: Store, plugins: Plugins, clock: FakeClock
) -> None:
    engine_plugin.put("customers", "1", clock.now(), name="Ann", email="a@ex.com")
    run(engine.sync())
    assert infos(store) == []  # the default: errors and actions required only

    sources.update_settings(store, plugins.spec("enginetest"), "shop", {"notify": "all"})
    clock.advance(600)
    engine_plugin.put("customers", "1", clock.now(), name="Ann Smith", email="a@ex.com")
    engine_plugin.put("customers", "2", clock.now(), name="Bob", email="b@ex.com")
    run(engine.sync())
    assert infos(store) == ["customers 1 updated", "customers 2 created"]

    clock.advance(600)
    run(engine.sync(full=True))  # nothing changed: nothing to note
    assert infos(store) == ["customers 1 updated", "customers 2 created"]
