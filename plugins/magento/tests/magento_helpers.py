"""Helpers and fixtures for the Magento plugin's tests: the official spec, apps, clients."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge_magento.client import MagentoClient
from xerobridge_magento.sandbox import create_app

#: The project's shared reference folder sits beside the repository checkout.
SHARED = Path(os.environ.get("XEROBRIDGE_SHARED", Path(__file__).resolve().parents[4] / "shared"))
SPEC_PATH = SHARED / "source-apis" / "magento2" / "admin-schema-2.4.9.yaml"
BASE = "http://magento.test"
TOKEN = "sandbox-integration-token"
REST = f"{BASE}/rest/default/V1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@functools.cache
def spec_definitions() -> Mapping[str, Any]:
    """The official admin schema's definitions, parsed once per test session."""
    if not SPEC_PATH.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the official Magento spec is not at {SPEC_PATH}")
        pytest.skip(f"the official Magento spec is not at {SPEC_PATH}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as fh:
        spec = yaml.load(fh, Loader=loader)
    definitions: Mapping[str, Any] = spec["definitions"]
    return definitions


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


def make_app(clock: FakeClock, **kwargs: Any) -> Starlette:
    """A sandbox app on the fake clock."""
    return create_app(clock, **kwargs)


def http_for(app: Starlette, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client talking to the app in process (no sockets)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs)


def client_for(http: httpx.AsyncClient, **kwargs: Any) -> MagentoClient:
    """A MagentoClient with the sandbox's integration token unless told otherwise."""
    if not {"token", "username"} & kwargs.keys():
        kwargs["token"] = TOKEN
    return MagentoClient(http, BASE, **kwargs)


def criteria(
    *filters: tuple[int, str, str, str],
    sort: tuple[tuple[str, str], ...] = (),
    page_size: int | None = None,
    page: int | None = None,
    camel: bool = False,
) -> dict[str, str]:
    """Query parameters for searchCriteria; each filter is (group, field, value, condition)."""
    groups, filters_key, cond = (
        ("filterGroups", "filters", "conditionType")
        if camel
        else ("filter_groups", "filters", "condition_type")
    )
    params: dict[str, str] = {}
    counts: dict[int, int] = {}
    for group, field, value, condition in filters:
        n = counts.get(group, 0)
        counts[group] = n + 1
        prefix = f"searchCriteria[{groups}][{group}][{filters_key}][{n}]"
        params[f"{prefix}[field]"] = field
        params[f"{prefix}[value]"] = value
        params[f"{prefix}[{cond}]"] = condition
    for k, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{k}][field]"] = field
        params[f"searchCriteria[sortOrders][{k}][direction]"] = direction
    if page_size is not None:
        params["searchCriteria[pageSize]"] = str(page_size)
    if page is not None:
        params["searchCriteria[currentPage]"] = str(page)
    if not params:
        params["searchCriteria"] = ""
    return params
