"""Each plugin's `check`: against its sandbox it says what answered; a wrong credential is one
line naming the setting to fix (what `xerobridge sources add` shows before saving anything)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import httpx
import pytest

from xerobridge.sdk import NeedsPerson, Source, UserError
from xerobridge.testkit.context import make_context

CASES = [
    ("magento", {"token": "wrong"}, "`token`", "store views default"),
    ("servicedesk", {"token": "wrong"}, "`token`", "ServiceDesk Plus MSP at"),
    ("marketplace", {"password": "wrong"}, "`password`", "marketplace '"),
    ("payments", {"client_secret": "wrong"}, "client_secret", "payments platform at"),
]


def check(name: str, **changed: str) -> Any:
    plugin = importlib.import_module(f"xerobridge_{name}")
    source: Source = plugin.source
    assert source.sandbox is not None and source.check is not None
    sandbox = source.sandbox()
    settings = source.settings(**{**sandbox.settings, **changed})

    async def go() -> Any:
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport) as http:
            ctx = make_context(settings, http=http, plugin=name, client_factory=source.client)
            return await source.check_source(ctx)

    return asyncio.run(go())


@pytest.mark.parametrize(("name", "wrong", "setting", "answered"), CASES)
def test_a_plugins_check_names_what_answered_or_the_setting_to_fix(
    name: str, wrong: dict[str, str], setting: str, answered: str
) -> None:
    assert answered in check(name)
    with pytest.raises((UserError, NeedsPerson)) as refused:
        check(name, **wrong)
    assert setting in str(refused.value) and "\n" not in str(refused.value)
