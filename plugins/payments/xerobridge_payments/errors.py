"""The client's errors, in the core's categories; every message is one line a person can act on.

PaymentsUnavailable is RetryLater (timeouts, 5xx, 429, HTML error pages, answers cut off);
PaymentsAuthError and PaymentsConfigError are UserError (a setting must change, and the message
names it); PaymentsRequestError and PaymentsNotFound are Permanent (this record is wrong).
"""

from __future__ import annotations

import httpx

from xerobridge.sdk import Permanent, RetryLater, UserError


class PaymentsUnavailable(RetryLater):
    """The platform could not answer now: try again later (after `retry_after`, if given)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class PaymentsAuthError(UserError):
    """The platform refused the API key: client_id or client_secret must change."""

    def __init__(self, message: str, *, status: int | None = 401) -> None:
        super().__init__(message)
        self.status = status


class PaymentsConfigError(UserError):
    """The answers show the source is set up wrong (base_url is not the platform's API)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PaymentsRequestError(Permanent):
    """The platform refused this request as such; repeating it will not help.

    `code` is the platform's error code and `field` the first field its validation named.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class PaymentsNotFound(PaymentsRequestError):
    """The record asked for does not exist on the platform."""


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a response's Retry-After asks to wait (None if absent or an HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
