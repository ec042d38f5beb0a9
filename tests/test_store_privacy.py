"""The store keeps what it holds to itself: private files, and no personal data in errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from xerobridge.store.db import Store
from xerobridge.store.models import Source


def test_a_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "xerobridge.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.upgrade()
        with store.transaction() as s:
            s.add(Source(name="shop", plugin="magento", key_prefix="SHOP"))
        files = [p for p in path.parent.iterdir() if p.name.startswith("xerobridge.db")]
        assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        store.dispose()


def test_a_database_error_does_not_carry_the_values_it_was_given(store: Store) -> None:
    """A refused write's message names the statement, never its parameters (customers' data)."""
    with store.transaction() as s:
        s.add(Source(name="shop", plugin="magento", key_prefix="SHOP"))
    with pytest.raises(sa.exc.IntegrityError) as caught, store.transaction() as s:
        s.add(Source(name="shop", plugin="magento", key_prefix="SECRETPERSONALDATA"))
    assert "SECRETPERSONALDATA" not in str(caught.value)
