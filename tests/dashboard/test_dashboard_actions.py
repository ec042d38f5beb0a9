"""The action log page: entries by level, each source's notify setting, acknowledging."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog

from dashboard_ops_helpers import (
    ESCAPED,
    HOSTILE,
    add_source,
    ops_plugins,
    post_form,
    refusals,
)


@pytest.fixture
def two(store: Store) -> tuple[int, int]:
    """`quiet` shows errors and actions only (the default); `chatty` shows all tasks."""
    plugins = ops_plugins()
    quiet = add_source(store, plugins, "quiet")[1]
    chatty = add_source(store, plugins, "chatty", notify="all")[1]
    with store.transaction() as s:
        for source_id, name in ((quiet, "quiet"), (chatty, "chatty")):
            for level in ("error", "action", "info"):
                message = f"{name}-{level}"
                s.add(ActionLog(at=store.clock.now(), source_id=source_id, level=level,
                                message=message, stream="orders", record_key="1"))  # fmt: skip
        s.add(ActionLog(at=store.clock.now(), level="action", message="org-reconnect"))
    return quiet, chatty


def shown(html: str) -> set[str]:
    """The messages of the entries on a page."""
    names = ("quiet", "chatty")
    return {
        f"{n}-{lvl}" for n in names for lvl in ("error", "action", "info") if f"{n}-{lvl}" in html
    } | ({"org-reconnect"} if "org-reconnect" in html else set())


def unacknowledged(store: Store) -> int:
    """How many entries nobody has seen."""
    with store.transaction() as s:
        return len(s.exec(select(ActionLog).where(ActionLog.acknowledged == False)).all())  # noqa: E712


def test_each_source_shows_what_its_setting_says(client: TestClient, two: tuple[int, int]) -> None:
    html = client.get("/actions").text
    assert shown(html) == {
        "quiet-error", "quiet-action", "chatty-error", "chatty-action", "chatty-info",
        "org-reconnect",
    }  # fmt: skip
    assert "errors and actions required only" in html and "all tasks" in html
    assert 'class="level-action">action required' in html


FILTERS: list[tuple[str, set[str]]] = [
    ("show=all", {"quiet-info", "chatty-info"}),
    ("show=errors", set()),
    ("source=chatty", {"chatty-info"}),
    ("source=quiet", set()),
    ("source=quiet&show=all", {"quiet-info"}),
]


def test_the_filter_overrides_the_setting(client: TestClient, two: tuple[int, int]) -> None:
    for query, expected in FILTERS:
        infos = {m for m in shown(client.get(f"/actions?{query}").text) if m.endswith("-info")}
        assert infos == expected, query


def test_acknowledging_one_lowers_the_header_count(
    client: TestClient, store: Store, two: tuple[int, int]
) -> None:
    assert '<span class="badge" title="unacknowledged entries">7</span>' in client.get("/").text
    with store.transaction() as s:
        entry = s.exec(select(ActionLog).where(ActionLog.message == "quiet-error")).one()
    response = post_form(client, "/actions", "/actions/acknowledge", {"entry_id": entry.id})
    assert response.status_code == 303
    html = client.get("/actions").text
    assert "acknowledged 1 entry" in html
    assert '<span class="badge" title="unacknowledged entries">6</span>' in html
    assert unacknowledged(store) == 6
    assert "quiet-error" not in client.get("/actions?unseen=1").text


def test_acknowledging_all_shown_leaves_the_hidden_ones(
    client: TestClient, store: Store, two: tuple[int, int]
) -> None:
    response = post_form(
        client, "/actions", "/actions/acknowledge",
        {"all": "1", "source": "quiet", "show": "", "unseen": "", "back": "/actions?source=quiet"},
    )  # fmt: skip
    assert response.headers["location"] == "/actions?source=quiet"
    assert "acknowledged 2 entries" in client.get("/actions").text
    assert unacknowledged(store) == 5  # quiet's info entry was not shown, so not seen
    post_form(client, "/actions", "/actions/acknowledge", {"all": "1"})
    assert unacknowledged(store) == 1  # quiet-info still hidden by quiet's setting
    html = client.get("/").text
    assert '<span class="badge" title="unacknowledged entries">1</span>' in html
    post_form(client, "/actions", "/actions/acknowledge", {"all": "1", "show": "all"})
    assert unacknowledged(store) == 0
    assert 'class="badge"' not in client.get("/").text


BAD_INPUT: list[tuple[dict[str, str], str]] = [
    ({}, "no entry was chosen"),
    ({"entry_id": "one"}, "entry id &#39;one&#39; is not a number"),
    ({"all": "1", "show": "loud"}, "show &#39;loud&#39; is not one of: setting, errors, all"),
    ({"all": "1", "source": "nowhere"}, "no source named &#39;nowhere&#39;"),
]


def test_bad_input_is_refused_with_a_reason(
    client: TestClient, store: Store, two: tuple[int, int]
) -> None:
    for data, problem in BAD_INPUT:
        response = post_form(client, "/actions", "/actions/acknowledge", data)
        assert response.status_code == 400, data
        assert problem in response.text, data
    assert unacknowledged(store) == 7


def test_a_bad_filter_is_refused(client: TestClient, two: tuple[int, int]) -> None:
    response = client.get("/actions?show=loud")
    assert response.status_code == 400
    assert "show &#39;loud&#39; is not one of" in response.text


def test_acknowledging_needs_a_login_and_the_token(
    client: TestClient, store: Store, two: tuple[int, int]
) -> None:
    refusals(client, "/actions/acknowledge", {"all": "1", "show": "all"})
    assert unacknowledged(store) == 7


def test_the_action_log_pages(client: TestClient, store: Store) -> None:
    with store.transaction() as s:
        for i in range(55):
            s.add(ActionLog(at=store.clock.now(), level="error", message=f"m{i:03d}"))
    first = client.get("/actions?unseen=1").text
    assert "m054" in first and "m005" in first and "m004" not in first
    assert 'href="/actions?unseen=1&amp;page=2"' in first
    assert "m004" in client.get("/actions?unseen=1&page=2").text


def test_stored_values_are_escaped(client: TestClient, store: Store) -> None:
    add_source(store, ops_plugins(), "shop")
    with store.transaction() as s:
        s.add(ActionLog(at=store.clock.now(), level="error", message=f"customer {HOSTILE}",
                        record_key=HOSTILE))  # fmt: skip
    html = client.get("/actions").text
    assert HOSTILE not in html and ESCAPED in html
