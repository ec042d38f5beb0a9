"""The Magento sandbox's spoiled answers: truncated JSON, an HTML page, a broken record, a
repeated page; and what the plugin's client makes of each."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge_magento.sandbox import SandboxState

from magento_helpers import AUTH, REST, client_for, criteria, http_for, make_app


def _get(app: object, path: str, params: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with http_for(app) as http:  # type: ignore[arg-type]
            return await http.get(f"{REST}{path}", params=params, headers=AUTH)

    return asyncio.run(go())


def test_each_spoiled_answer(clock: FakeClock) -> None:
    """Each kind spoils the next matching answer once; the one after is whole again."""
    app = make_app(clock, seed=1, customers=5, products=3, orders=1)
    state: SandboxState = app.state.sandbox
    page1, page2 = criteria(page_size=2, page=1), criteria(page_size=2, page=2)
    whole = _get(app, "/customers/search", page1).json()

    state.add_fault(None, path="/V1/customers", answer="truncated")
    cut = _get(app, "/customers/search", page1)
    assert cut.status_code == 200 and cut.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        cut.json()

    state.add_fault(None, path="/V1/customers", answer="html")
    page = _get(app, "/customers/search", page1)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

    state.add_fault(None, path="/V1/customers", answer="broken-record")
    broken = _get(app, "/customers/search", page1).json()
    assert "id" not in broken["items"][0] and "updated_at" not in broken["items"][0]
    assert broken["items"][1] == whole["items"][1]

    state.add_fault(None, path="/V1/customers", answer="repeat")
    repeated = _get(app, "/customers/search", page2).json()
    assert repeated["items"] == whole["items"]  # page 1 again, though page 2 was asked
    assert _get(app, "/customers/search", page2).json()["items"] != whole["items"]
    assert not state.faults


def test_a_fault_spoils_the_status_or_the_answer() -> None:
    """Unknown kinds and a status with an answer are refused, naming what is wrong."""
    state = SandboxState(FakeClock())
    with pytest.raises(ValueError, match="'garbled' is not one of truncated"):
        state.add_fault(None, answer="garbled")
    with pytest.raises(ValueError, match="either the status or the answer"):
        state.add_fault(503, answer="html")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("truncated", RetryLater),  # cut off on the way: try again
        ("html", NeedsPerson),  # a login page where the API should be: check base_url
        ("broken-record", RetryLater),
        ("repeat", RetryLater),  # the first page again where the second was asked
    ],
)
def test_the_client_never_takes_a_spoiled_page_for_records(
    clock: FakeClock, answer: str, error: type[Exception]
) -> None:
    """Reading changes through a spoiled second page raises, having yielded only the first
    page's records: nothing from the spoiled page is taken."""
    app = make_app(clock, seed=1, customers=6, products=3, orders=1)
    state: SandboxState = app.state.sandbox
    seen: list[int] = []

    async def read(spoil: bool) -> None:
        async with http_for(app) as http:
            async for record in client_for(http).iter_changes("customers", page_size=2):
                seen.append(int(record["id"]))
                if spoil and len(seen) == 1:
                    state.add_fault(None, path="/V1/customers", answer=answer)

    asyncio.run(read(spoil=False))
    everything, seen[:] = list(seen), []
    assert len(everything) == 6
    with pytest.raises(error):
        asyncio.run(read(spoil=True))
    assert seen == everything[:2]
    assert not state.faults
    assert not issubclass(error, Permanent)


def test_a_fault_can_let_requests_through_first(clock: FakeClock) -> None:
    """`after` lets that many matching requests pass untouched; the next one meets the fault."""
    app = make_app(clock, seed=1, customers=3, products=3, orders=1)
    state: SandboxState = app.state.sandbox
    state.add_fault(503, path="/V1/customers", after=2)
    codes = [_get(app, "/customers/search", criteria()).status_code for _ in range(4)]
    assert codes == [200, 200, 503, 200]


def test_an_empty_store_searches_by_its_columns(clock: FakeClock) -> None:
    """With no customers yet, a search by website_id finds none (it is a column, not a 400)."""
    app = make_app(clock)
    answer = _get(app, "/customers/search", criteria((0, "website_id", "1", "in")))
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == [] and answer.json()["total_count"] == 0
