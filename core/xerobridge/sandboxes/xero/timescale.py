"""A clock that runs faster than real time, so a benchmark can live through Xero minutes quickly."""

from __future__ import annotations

from datetime import datetime, timedelta

from xerobridge.clock import Clock, SystemClock


class ScaledClock:
    """Sandbox time that passes `scale` times faster than its base clock (60: a minute a second).

    Every time rule of the sandbox (rate-limit windows, token expiry, idempotency memory,
    UpdatedDateUTC) reads this clock, so scaling it scales them all consistently.
    """

    def __init__(self, scale: float, base: Clock | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._base = base or SystemClock()
        self._start_now = self._base.now()
        self._start_mono = self._base.monotonic()

    def _elapsed(self) -> float:
        return (self._base.monotonic() - self._start_mono) * self.scale

    def now(self) -> datetime:
        return self._start_now + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        return self._start_mono + self._elapsed()

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(max(0.0, seconds) / self.scale)
