"""The platform's limit: 5 requests a second per API key, refused with 429 and Retry-After."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class RateLimit:
    """At most `requests` in any `per_seconds` window per key.

    UNVERIFIED: the platform documents 5 a second per API key and 429 past it, not how it
    counts; a sliding window is the strictest reading, so a client that passes it passes any.
    """

    requests: int = 5
    per_seconds: float = 1.0
    refused: int = 0
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def retry_after(self, key: str, now: float) -> float | None:
        """None when the request may pass (and counts it), else seconds until it may."""
        window = self._seen[key]
        while window and window[0] <= now - self.per_seconds:
            window.popleft()
        if len(window) >= self.requests:
            self.refused += 1
            return max(0.0, window[0] + self.per_seconds - now)
        window.append(now)
        return None
