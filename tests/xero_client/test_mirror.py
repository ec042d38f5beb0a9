"""The local mirror: one full read, then only changes; look-ups cost no API calls."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.contract.context import XeroMirror
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import ApiUsage, MirrorCursor
from xerobridge.xero.client import XeroClient
from xerobridge.xero.mirror import Mirror, MirrorView, parse_xero_datetime

from client_helpers import run


def calls(store: Store) -> int:
    """All API calls counted so far."""
    with store.transaction() as s:
        return sum(u.calls for u in s.exec(select(ApiUsage)).all())


def test_first_refresh_reads_everything_then_only_what_changed(
    client: XeroClient, store: Store, sandbox: SandboxState, clock: FakeClock,
    connection_id: int,
) -> None:  # fmt: skip
    """A second refresh with nothing new reads nothing new; an edit comes through."""
    sandbox.seed(
        "Contacts",
        [{"Name": "Acme Ltd", "EmailAddress": "Ops@Acme.example", "ContactNumber": "SHOP-C-1"}],
    )
    sandbox.seed("Items", [{"Code": "SHOP-WIDGET", "Name": "Widget"}])
    mirror = Mirror(store, client)
    first = run(mirror.refresh(connection_id))
    assert first["Contact"] == 1 and first["Item"] == 1 and first["Account"] > 5
    assert first["TaxRate"] > 0
    clock.advance(5)
    second = run(mirror.refresh(connection_id))
    assert second["Contact"] <= 1 and second["Item"] <= 1  # If-Modified-Since is inclusive
    assert second["TaxRate"] == 0  # fresh enough: not read again
    clock.advance(5)
    sandbox.seed("Contacts", [{"Name": "Beta Pty", "ContactNumber": "SHOP-C-2"}])
    run(mirror.refresh(connection_id, ["Contact"]))
    assert len(mirror.view(connection_id).contacts()) == 2


def test_look_ups_fold_case_like_xero_and_cost_no_calls(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    """Name and email match case-insensitively; numbers and codes exactly."""
    sandbox.seed(
        "Contacts",
        [{"Name": "Acme Ltd", "EmailAddress": "Ops@Acme.example", "ContactNumber": "SHOP-C-1"}],
    )
    sandbox.seed("Items", [{"Code": "SHOP-WIDGET", "Name": "Widget"}])
    mirror = Mirror(store, client)
    run(mirror.refresh(connection_id))
    before = calls(store)
    view: XeroMirror = mirror.view(connection_id)
    assert isinstance(view, MirrorView)
    assert [c["Name"] for c in view.contacts_by_name("ACME LTD ")] == ["Acme Ltd"]
    assert [c["ContactNumber"] for c in view.contacts_by_email("ops@acme.EXAMPLE")] == ["SHOP-C-1"]
    found = view.contact_by_number("SHOP-C-1")
    assert found is not None and found["Name"] == "Acme Ltd"
    item = view.item_by_code("SHOP-WIDGET")
    assert item is not None and item["Name"] == "Widget"
    assert view.item_by_code("shop-widget") is None
    sales = view.account_by_name("sales")
    assert sales is not None and sales["Code"] == "200"
    assert calls(store) == before


def test_our_own_writes_land_in_the_mirror(
    client: XeroClient, store: Store, connection_id: int
) -> None:
    """What Xero answers to a write is remembered, so the next mapping sees it at once."""
    mirror = Mirror(store, client)
    results = run(
        client.write(connection_id, "Contact", [{"Name": "Gamma", "ContactNumber": "X-1"}])
    )
    mirror.remember(connection_id, "Contact", [r.record for r in results])
    found = mirror.view(connection_id).contact_by_number("X-1")
    assert found is not None and found["ContactID"] == results[0].xero_id


def test_xero_dates_parse_from_both_forms() -> None:
    """`/Date(ms+0000)/` and ISO timestamps give the same moment."""
    a = parse_xero_datetime("/Date(1551399321043+0000)/")
    b = parse_xero_datetime("2019-03-01T00:15:21.043")
    assert a is not None and a == b


def test_a_slower_refresh_never_moves_the_cursor_back(
    client: XeroClient, store: Store, clock: FakeClock, connection_id: int
) -> None:
    """Workers refreshing together upsert one cursor row; the newest change seen wins."""
    mirror = Mirror(store, client)
    newer, older = clock.now(), clock.now() - timedelta(hours=1)
    mirror._save_cursor(connection_id, "Contact", newer, clock.now())
    mirror._save_cursor(connection_id, "Contact", older, clock.now())
    mirror._save_cursor(connection_id, "Contact", None, clock.now())
    with store.transaction() as s:
        row = s.get(MirrorCursor, (connection_id, "Contact"))
    assert row is not None and row.modified_since == newer
