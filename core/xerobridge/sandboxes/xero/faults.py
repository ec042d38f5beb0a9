"""Faults on demand: injected 429s, 5xx, slow answers, resets and responses lost after commit.

A rule fires for the next N matching calls, or with a probability per matching call drawn from
a seeded generator, so a run with the same seed and the same calls fails the same way.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class FaultKind(StrEnum):
    RATE_MINUTE = "429-minute"
    RATE_DAY = "429-day"
    RATE_CONCURRENT = "429-concurrent"
    RATE_APP_MINUTE = "429-appminute"
    ERROR_500 = "500"
    ERROR_503 = "503"
    SLOW = "slow"
    RESET = "reset"  # the connection drops before anything is done
    LOST_RESPONSE = "lost-response"  # the write is applied, then the connection drops


# The kinds a `--faults` spec names (FaultKind values; the list plus the sandbox's
# `429-appminute` and `reset`).
SPEC_KINDS = tuple(kind.value for kind in FaultKind)
WRITE_METHODS = ("PUT", "POST", "DELETE")


def parse_faults(spec: str) -> list[tuple[FaultKind, float]]:
    """Parse a faults spec: a comma list of `kind:rate`, rate from 0 to 1.

    `parse_faults("429-minute:0.1,503:0.05,lost-response:0.2")`. An empty spec is no faults.
    Raises ValueError naming the part that is wrong.
    """
    parsed: list[tuple[FaultKind, float]] = []
    seen: set[FaultKind] = set()
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        kind_text, sep, rate_text = part.rpartition(":")
        if not sep or not kind_text.strip():
            raise ValueError(f"fault {part!r}: expected kind:rate, e.g. 503:0.05")
        kind_text = kind_text.strip().lower()
        if kind_text not in SPEC_KINDS:
            raise ValueError(
                f"fault {part!r}: unknown kind {kind_text!r} (kinds: {', '.join(SPEC_KINDS)})"
            )
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError(
                f"fault {part!r}: rate {rate_text.strip()!r} is not a number"
            ) from None
        if not 0.0 <= rate <= 1.0:  # also refuses nan
            raise ValueError(f"fault {part!r}: rate must be from 0 to 1")
        kind = FaultKind(kind_text)
        if kind in seen:
            raise ValueError(f"fault {part!r}: {kind_text} is given twice")
        seen.add(kind)
        parsed.append((kind, rate))
    return parsed


class SandboxConnectionReset(httpx.ReadError):
    """Raised into the transport so the client sees a transport error, as on a real reset.

    Through `httpx.ASGITransport` the client gets this exception itself (an httpx.ReadError);
    served by uvicorn, the response has started and the server drops the connection, which the
    client sees as an incomplete response (httpx.RemoteProtocolError).
    """


@dataclass
class FaultRule:
    """One way to fail. `times` counts down; `probability` applies per matching call."""

    kind: FaultKind
    times: int | None = None
    probability: float | None = None
    tenant_id: str | None = None
    methods: tuple[str, ...] | None = None  # e.g. ("PUT", "POST"); None is every method
    path_contains: str | None = None  # case-insensitive substring of the path
    seconds: float = 5.0  # how long SLOW waits (sandbox clock)
    retry_after: int = 60  # Retry-After of injected minute/day/appminute 429s
    id: int = 0
    fired: int = field(default=0)
    from_spec: bool = False  # set by a faults spec (replaced when the spec changes)

    def matches(self, tenant_id: str | None, method: str, path: str) -> bool:
        if self.tenant_id is not None and tenant_id != self.tenant_id:
            return False
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return not (self.path_contains and self.path_contains.lower() not in path.lower())

    def exhausted(self) -> bool:
        return self.times is not None and self.times <= 0

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["methods"] = list(self.methods) if self.methods else None
        return data


class Faults:
    """The active fault rules and what they did."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._seed = seed
        self.rules: list[FaultRule] = []
        self.history: list[dict[str, Any]] = []
        self._next_id = 1
        self.spec = ""

    def add(
        self,
        kind: FaultKind | str,
        *,
        times: int | None = None,
        probability: float | None = None,
        tenant_id: str | None = None,
        methods: tuple[str, ...] | list[str] | str | None = None,
        path_contains: str | None = None,
        seconds: float = 5.0,
        retry_after: int = 60,
    ) -> FaultRule:
        """Add a rule. With neither `times` nor `probability` it fires once."""
        if times is None and probability is None:
            times = 1
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if isinstance(methods, str):
            methods = "PUT,POST,DELETE" if methods.lower() == "write" else methods
            methods = tuple(m.strip().upper() for m in methods.split(",") if m.strip())
        rule = FaultRule(
            kind=FaultKind(kind),
            times=times,
            probability=probability,
            tenant_id=tenant_id,
            methods=tuple(m.upper() for m in methods) if methods else None,
            path_contains=path_contains,
            seconds=seconds,
            retry_after=retry_after,
            id=self._next_id,
        )
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self.spec = ""

    def set_spec(self, spec: str) -> list[FaultRule]:
        """Replace the rules of the previous spec with those of `spec` (other rules stay).

        Each `kind:rate` fires with that probability on every call (lost-response on writes
        only: it is a write that commits and whose answer is lost). When several kinds are
        given they are drawn in order and the first that fires wins, so later kinds fire a
        little less often than their rate when earlier ones are frequent.
        """
        parsed = parse_faults(spec)  # raises before anything changes
        self.rules = [r for r in self.rules if not r.from_spec]
        added = []
        for kind, rate in parsed:
            if rate == 0:
                continue
            rule = self.add(
                kind,
                probability=rate,
                methods=WRITE_METHODS if kind is FaultKind.LOST_RESPONSE else None,
            )
            rule.from_spec = True
            added.append(rule)
        self.spec = ",".join(f"{kind.value}:{rate:g}" for kind, rate in parsed)
        return added

    def reseed(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)

    def draw(self, tenant_id: str | None, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this call, if any (first matching rule wins)."""
        for rule in self.rules:
            if rule.exhausted() or not rule.matches(tenant_id, method, path):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            if rule.times is not None:
                rule.times -= 1
            rule.fired += 1
            self.history.append(
                {"kind": rule.kind.value, "tenant_id": tenant_id, "method": method, "path": path}
            )
            logger.debug("fault %s on %s %s", rule.kind.value, method, path)
            return rule
        self.rules = [r for r in self.rules if not r.exhausted()]
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        return [rule.snapshot() for rule in self.rules if not rule.exhausted()]
