"""Failures the sandbox plays on demand: error statuses, slow answers and spoiled answers."""

from __future__ import annotations

from dataclasses import dataclass

#: The ways a fault can spoil a successful answer (Fault.answer).
SPOILED = ("html", "truncated", "repeat", "nested")


@dataclass
class Fault:
    """A failure played on the next matching API requests.

    `status` None answers normally after `delay` (waited on the sandbox's clock, so a FakeClock
    moves instead of a test sleeping); `times` 0 means until cleared; `path` matches the start
    of the request path (e.g. "/invoices"); `after` lets that many matching requests through
    first. With `status` None, `answer` spoils a successful answer: "html" sends a 200 HTML
    page (a captive portal or a wrong base_url), "truncated" cuts the JSON in half, "repeat"
    sends the previous answer to the same path again whatever was asked, and "nested" answers a
    list in the older `pagination{}` envelope of the quick-start guide.
    """

    status: int | None = 503
    times: int = 1
    path: str | None = None
    method: str | None = None
    delay: float = 0.0
    retry_after: float | None = None
    answer: str | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if self.answer is not None and self.answer not in SPOILED:
            raise ValueError(f"fault answer {self.answer!r} is not one of {', '.join(SPOILED)}")
        if self.answer is not None and self.status is not None:
            raise ValueError("a fault spoils either the status or the answer, not both")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


class Faults:
    """The queue of faults; the first matching one plays."""

    def __init__(self) -> None:
        self.queue: list[Fault] = []

    def add(self, status: int | None = 503, **kwargs: object) -> Fault:
        """Queue a fault; see Fault for the arguments."""
        fault = Fault(status=status, **kwargs)  # type: ignore[arg-type]
        self.queue.append(fault)
        return fault

    def clear(self) -> None:
        self.queue.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching a request, consumed once."""
        for fault in self.queue:
            if not fault.matches(method, path):
                continue
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.queue.remove(fault)
            return fault
        return None
