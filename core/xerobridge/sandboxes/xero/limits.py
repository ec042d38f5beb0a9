"""Xero's rate limits per tenant (5 in flight, 60 a minute, a daily budget) and per app.

Windows are rolling (a call counts for 60 s, or 24 h, after it was admitted). Xero's own
description says the windows reset "at different times for each tenant", which a rolling window
also produces; either way clients must trust Retry-After rather than guess. Calls refused with a
429 do not count against the budgets: Xero's headers on a day-limit 429 show the minute budget
untouched (observed `x-minlimit-remaining: 60` with `x-rate-limit-problem: day`).

The limiter also keeps what the sandbox saw (calls, peak in flight, the most calls in any rolling
minute, 429s served by kind), so tests can assert a client's discipline from the server's side,
with enforcement on or off.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum

from xerobridge.clock import Clock

MINUTE = 60.0
DAY = 86_400.0


class Problem(StrEnum):
    """The values of the X-Rate-Limit-Problem header.

    Real Xero sends `day` for the daily limit (pyxero matches on "day"; observed responses carry
    `x-rate-limit-problem: day`), not `daily`.
    """

    CONCURRENT = "concurrent"
    MINUTE = "minute"
    DAY = "day"
    APP_MINUTE = "appminute"


@dataclass
class LimitConfig:
    concurrent: int = 5
    minute: int = 60
    daily: int = 5_000
    app_minute: int = 10_000
    enforce: bool = True


@dataclass
class TenantStats:
    """What one tenant's traffic looked like from the sandbox's side."""

    calls: int = 0  # admitted calls
    in_flight: int = 0
    peak_in_flight: int = 0  # admitted calls running at the same time
    peak_attempted_in_flight: int = 0  # including calls refused for concurrency
    peak_minute: int = 0  # the most admitted calls in any rolling 60 s
    throttled: Counter[str] = field(default_factory=Counter)  # 429s served, by problem

    def snapshot(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "peak_attempted_in_flight": self.peak_attempted_in_flight,
            "peak_minute": self.peak_minute,
            "throttled": dict(self.throttled),
            "throttled_total": sum(self.throttled.values()),
        }


class RateLimited(Exception):
    """A call refused with a 429."""

    def __init__(self, problem: Problem, retry_after: int | None, headers: dict[str, str]) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.retry_after = retry_after
        self.headers = headers


class RateLimiter:
    """Admits or refuses accounting calls; `release` must follow every admitted call."""

    def __init__(self, clock: Clock, config: LimitConfig, *, time_scale: float = 1.0) -> None:
        self.clock = clock
        self.config = config
        # Retry-After is given in the caller's seconds: with a scaled clock (60 = a Xero minute
        # per real second) a 30 s wait becomes 1 s, so a client sleeping on its real clock
        # waits the right amount of sandbox time.
        self.time_scale = time_scale
        self.daily_overrides: dict[str, int] = {}
        self._minute: dict[str, deque[float]] = {}
        self._day: dict[str, deque[float]] = {}
        self._app: deque[float] = deque()
        self._stats: dict[str, TenantStats] = {}

    def stats(self, tenant_id: str) -> TenantStats:
        return self._stats.setdefault(tenant_id, TenantStats())

    def all_stats(self) -> dict[str, TenantStats]:
        return dict(self._stats)

    def set_daily_limit(self, limit: int, tenant_id: str | None = None) -> None:
        """Change the daily budget for one tenant, or the default for all."""
        if tenant_id is None:
            self.config.daily = limit
        else:
            self.daily_overrides[tenant_id] = limit

    def reset(self) -> None:
        self._minute.clear()
        self._day.clear()
        self._app.clear()
        self._stats.clear()

    def _daily(self, tenant_id: str) -> int:
        return self.daily_overrides.get(tenant_id, self.config.daily)

    def _prune(self, tenant_id: str, now: float) -> tuple[deque[float], deque[float]]:
        minute = self._minute.setdefault(tenant_id, deque())
        day = self._day.setdefault(tenant_id, deque())
        while minute and minute[0] <= now - MINUTE:
            minute.popleft()
        while day and day[0] <= now - DAY:
            day.popleft()
        while self._app and self._app[0] <= now - MINUTE:
            self._app.popleft()
        return minute, day

    def headers(self, tenant_id: str) -> dict[str, str]:
        """The X-...-Remaining headers Xero puts on every response."""
        now = self.clock.monotonic()
        minute, day = self._prune(tenant_id, now)
        return {
            "X-DayLimit-Remaining": str(max(0, self._daily(tenant_id) - len(day))),
            "X-MinLimit-Remaining": str(max(0, self.config.minute - len(minute))),
            "X-AppMinLimit-Remaining": str(max(0, self.config.app_minute - len(self._app))),
        }

    def _wait(self, window: deque[float], size: float, now: float) -> int:
        seconds = (window[0] + size - now) if window else 1.0
        return max(1, math.ceil(seconds / self.time_scale))

    def admit(self, tenant_id: str) -> None:
        """Count one call in, or raise RateLimited."""
        now = self.clock.monotonic()
        stats = self.stats(tenant_id)
        minute, day = self._prune(tenant_id, now)
        stats.peak_attempted_in_flight = max(stats.peak_attempted_in_flight, stats.in_flight + 1)
        if self.config.enforce:
            refusal: tuple[Problem, int | None] | None = None
            if len(day) >= self._daily(tenant_id):
                refusal = (Problem.DAY, self._wait(day, DAY, now))
            elif len(self._app) >= self.config.app_minute:
                # Whether Xero sends Retry-After for the app-wide limit is not documented.
                refusal = (Problem.APP_MINUTE, self._wait(self._app, MINUTE, now))
            elif len(minute) >= self.config.minute:
                refusal = (Problem.MINUTE, self._wait(minute, MINUTE, now))
            elif stats.in_flight >= self.config.concurrent:
                # Xero documents Retry-After for the minute and daily limits only.
                refusal = (Problem.CONCURRENT, None)
            if refusal is not None:
                problem, retry_after = refusal
                stats.throttled[problem.value] += 1
                headers = self.headers(tenant_id)
                raise RateLimited(problem, retry_after, headers)
        minute.append(now)
        day.append(now)
        self._app.append(now)
        stats.calls += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        stats.peak_minute = max(stats.peak_minute, len(minute))

    def release(self, tenant_id: str) -> None:
        stats = self.stats(tenant_id)
        stats.in_flight = max(0, stats.in_flight - 1)

    def record_injected(self, tenant_id: str, problem: Problem) -> None:
        """Count a 429 that a fault injected, so the served-429 totals include it."""
        self.stats(tenant_id).throttled[problem.value] += 1
