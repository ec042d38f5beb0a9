"""The errors hooks raise, each telling the core what to do with the record in hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xerobridge.contract.types import Candidate


class XerobridgeError(Exception):
    """Base of every error xerobridge raises on purpose; its message is meant for a person."""


class UserError(XerobridgeError):
    """A person's mistake in a command, a setting or the environment: one line, no traceback."""


class RetryLater(XerobridgeError):
    """The record could not be handled now but may be later (source down, throttled, timeout)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NeedsPerson(XerobridgeError):
    """A person must decide (ambiguous match, missing mapping); the job waits as unmapped."""

    def __init__(self, message: str, *, candidates: tuple[Candidate, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates

    def choices(self) -> list[dict[str, str]]:
        """The candidates as the queue keeps them for a person to choose from."""
        return [
            {"xero_id": c.xero_id, "label": c.label, "reason": c.reason} for c in self.candidates
        ]


class NeedsChoice(NeedsPerson):
    """Which object a record is needs a person's choice (`Resolution.choose`): the record waits
    on the Unmapped page (`xerobridge map`). Any other `NeedsPerson` (credentials refused, an
    account missing, a setting wrong) holds the record until the setup is fixed."""


class Permanent(XerobridgeError):
    """The record is wrong and retrying will not help until someone changes it at the source."""
