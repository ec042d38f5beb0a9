"""The request log: every API call the sandbox answered, per tenant, for counting and reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass
class LoggedRequest:
    time: datetime
    tenant_id: str | None
    method: str
    path: str
    query: str
    status: int
    idempotency_key: str | None = None
    replayed: bool = False  # answered from the Idempotency-Key memory
    fault: str | None = None  # the injected fault, if one fired
    rate_problem: str | None = None  # X-Rate-Limit-Problem of a 429
    violation: bool = False  # refused for not conforming to the spec

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


class RequestLog:
    def __init__(self) -> None:
        self.entries: list[LoggedRequest] = []

    def add(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)

    def for_tenant(self, tenant_id: str | None) -> list[LoggedRequest]:
        return [e for e in self.entries if e.tenant_id == tenant_id]

    def count(
        self,
        tenant_id: str | None = None,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many logged calls match all the given conditions."""
        return sum(
            1
            for e in self.entries
            if (tenant_id is None or e.tenant_id == tenant_id)
            and (method is None or e.method == method.upper())
            and (path_contains is None or path_contains.lower() in e.path.lower())
            and (status is None or e.status == status)
        )

    def by_status(self, tenant_id: str | None = None) -> Counter[int]:
        return Counter(
            e.status for e in self.entries if tenant_id is None or e.tenant_id == tenant_id
        )

    def clear(self) -> None:
        self.entries.clear()
