"""Xero faults (issue 7, reliability item 3): a fifth of Xero's answers go wrong, in every way
the sandbox knows (429s of each kind, 500, 503, timeouts, connection resets, answers lost after
the write was committed), while customers and products sync in batches of three.

Afterwards Xero holds every document exactly once, every link is settled, nothing is left in
the queue; and every 429 was waited for as Xero said: no call reached the organisation before
the Retry-After of the 429 before it had run out (the sandbox's own log, on the shared clock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import FaultKind
from xerobridge.sandboxes.xero.faults import FaultRule, Faults

from reliability_helpers import TIMEOUT, World, assert_once, assert_settled, large

#: Retry-After of the injected 429s (the concurrent kind has none, as at Xero). The day's is
#: longer than the client waits within a call, so that one goes back to the queue.
RETRY_AFTER = {
    FaultKind.RATE_MINUTE: 30,
    FaultKind.RATE_APP_MINUTE: 20,
    FaultKind.RATE_DAY: 600,
}
#: In this order in the cycle: the faults that leave a write's fate unknown first.
KINDS = [
    FaultKind.LOST_RESPONSE,
    FaultKind.SLOW,
    FaultKind.RESET,
    FaultKind.ERROR_500,
    FaultKind.ERROR_503,
    FaultKind.RATE_MINUTE,
    FaultKind.RATE_CONCURRENT,
    FaultKind.RATE_APP_MINUTE,
    FaultKind.RATE_DAY,
]
RATE = 0.2


@pytest.fixture
def world(store_url: str, clock: FakeClock) -> Iterator[World]:
    """The two sandboxes and the engine, pushing three documents a call (more calls)."""
    w = World(store_url, clock)
    w.engine.worker.batch = 3
    yield w
    w.close()


class EveryFifthCall(Faults):
    """The sandbox's faults, drawn in turn instead of by chance: every fifth call fails, with
    the next kind of the cycle that applies to it (a lost answer only to a write), so that a
    small run meets every kind whatever its exact calls are."""

    def __init__(self, rules: list[FaultRule]) -> None:
        super().__init__()
        self.rules = rules
        self.calls = 0
        self.turn = 0

    def draw(self, tenant_id: str | None, method: str, path: str) -> FaultRule | None:
        self.calls += 1
        if self.calls % 5:
            return None
        for step in range(len(self.rules)):
            rule = self.rules[(self.turn + step) % len(self.rules)]
            if rule.matches(tenant_id, method, path):
                self.turn += step + 1
                rule.fired += 1
                self.history.append(
                    {"kind": rule.kind.value, "tenant_id": tenant_id, "method": method,
                     "path": path}
                )  # fmt: skip
                return rule
        return None


def rules() -> list[FaultRule]:
    """One rule per kind of fault, with its Retry-After or its slowness."""
    return [
        FaultRule(
            kind,
            probability=1 - (1 - RATE) ** (1 / len(KINDS)),  # one of them on RATE of calls
            methods=("PUT", "POST") if kind is FaultKind.LOST_RESPONSE else None,
            seconds=TIMEOUT + 15,  # a slow answer is a timeout
            retry_after=RETRY_AFTER.get(kind, 60),
            id=n,
        )
        for n, kind in enumerate(KINDS, start=1)
    ]


def inject(world: World, seed: int | None) -> None:
    """Every fifth call in turn (seed None), or each kind at random by a seeded draw."""
    if seed is None:
        world.sandbox.faults = EveryFifthCall(rules())
        return
    world.sandbox.faults.rules = rules()
    world.sandbox.faults.reseed(seed)


def assert_every_429_waited_for(world: World) -> int:
    """No call after a 429 came before its Retry-After ran out; how many 429s there were."""
    entries = world.sandbox.log.for_tenant(world.sandbox.default_tenant_id)
    waited = 0
    for i, entry in enumerate(entries):
        if entry.status != 429:
            continue
        waited += 1
        seconds = RETRY_AFTER.get(FaultKind(entry.fault)) if entry.fault else None
        if seconds is None:
            continue  # 429-concurrent: Xero says no time, only that too many are in flight
        until = entry.time + timedelta(seconds=seconds)
        early = [e for e in entries[i + 1 :] if e.time < until]
        assert not early, (
            f"a {entry.rate_problem} 429 at {entry.time} asked for {seconds} s, but "
            f"{early[0].method} {early[0].path} came at {early[0].time}"
        )
    return waited


def run(world: World, seed: int | None, customers: int, products: int) -> Counter[str]:
    """Sync under the faults until done; check the invariant; the faults that fired."""
    ids = world.add_customers(customers)
    skus = world.add_products(products)
    inject(world, seed)
    for _ in range(4):
        summary = world.sync()
        if not world.jobs():
            break
        world.clock.advance(3600)
    fired = Counter(f["kind"] for f in world.sandbox.faults.history)
    calls = len(world.sandbox.log.for_tenant(world.sandbox.default_tenant_id))
    print(f"seed {seed}: {calls} calls, faults {dict(fired)}, last pass {summary.as_dict()}")
    assert summary.failed == 0, summary.streams
    assert_once("contacts", world.contact_numbers(), world.expected_contacts(ids))
    assert_once("items", world.item_codes(), world.expected_items(skus))
    assert_settled(world)
    throttled = assert_every_429_waited_for(world)
    assert throttled == sum(n for k, n in fired.items() if k.startswith("429"))
    assert 0.1 * calls <= sum(fired.values()) <= 0.3 * calls
    assert world.sandbox.violations == []
    return fired


def test_a_fifth_of_xero_calls_failing_loses_and_doubles_nothing(world: World) -> None:
    """90 customers and 30 products, every fifth call failing, each kind in turn."""
    assert set(KINDS) == set(FaultKind)
    fired = run(world, seed=None, customers=90, products=30)
    assert set(fired) == {k.value for k in KINDS}


@pytest.mark.large
@pytest.mark.parametrize("seed", range(10))
def test_large_xero_fault_runs(
    store_url: str, clock: FakeClock, request: pytest.FixtureRequest, seed: int
) -> None:
    """600 customers and 200 products, the kinds drawn at random, over ten seeds."""
    assert large(request.config)
    w = World(store_url, clock)
    w.engine.worker.batch = 10
    try:
        run(w, seed=seed, customers=600, products=200)
    finally:
        w.close()
