"""Configuring sources: names and key prefixes that would collide are refused up front."""

from __future__ import annotations

import pytest

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import load_plugins
from xerobridge.store.db import Store

SHOP = {"base_url": "https://shop.example.com", "token": "t0ken"}


def test_a_source_name_that_would_shadow_a_core_variable_is_refused(store: Store) -> None:
    """`database` + `url` would read XEROBRIDGE_DATABASE_URL as a setting."""
    with pytest.raises(UserError, match="clash with xerobridge's own environment"):
        sources.add(store, load_plugins(), "magento", "database", values=SHOP)


def test_two_sources_cannot_share_a_key_prefix(store: Store) -> None:
    """Natural keys in one Xero organisation stay apart: each source has its own prefix."""
    plugins = load_plugins()
    sources.add(store, plugins, "magento", "shop-eu", values=SHOP)
    with pytest.raises(UserError, match="key prefix 'SHOPEU' is used"):
        sources.add(store, plugins, "magento", "shopeu", values=SHOP, key_prefix="SHOPEU")
    # A prefix made from the name takes a digit when another source has it.
    derived = sources.add(store, plugins, "magento", "shopeu", values=SHOP)
    assert derived.key_prefix == "SHOPE2"
    second = sources.add(store, plugins, "magento", "shop-eu2", values=SHOP, key_prefix="SHOPEU3")
    assert second.key_prefix == "SHOPEU3"


def test_a_source_is_connected_once_each_stream_it_reads_has_been_read(store: Store) -> None:
    """A dependency-only stream (Magento's guests, read only when an order needs one) never
    keeps its source pending."""
    from xerobridge.store import cursors

    plugins = load_plugins()
    source = sources.add(store, plugins, "magento", "shop", values={"base_url": "http://m.test"})
    assert source.id is not None

    def state() -> str:
        with store.transaction() as s:
            return sources.status(s, sources.get(s, "shop"), plugins.spec("magento"))

    assert state() == "pending"
    for stream in ("customers", "products", "orders", "invoices"):
        cursors.save_now(store, source.id, stream, "2026-01-01T00:00:00", store.clock.now())
    assert state() == "pending"  # credit memos not read yet
    cursors.save_now(store, source.id, "credit_memos", "2026-01-01T00:00:00", store.clock.now())
    assert state() == "connected"
