"""The client's errors, in the core's categories; every message is one line a person can act on.

The SDK's categories under the platform's names: PaymentsUnavailable is RetryLater (timeouts,
5xx, 429, HTML error pages, answers cut off); PaymentsAuthError and PaymentsConfigError are
setup errors (a setting must change, and the message names it; the records wait for it);
PaymentsRequestError and PaymentsNotFound are Permanent (this record is wrong).
"""

from __future__ import annotations

from xerobridge.sdk import SourceRefused, SourceSetupError, SourceUnavailable


class PaymentsUnavailable(SourceUnavailable):
    """The platform could not answer now: try again later (after `retry_after`, if given)."""


class PaymentsAuthError(SourceSetupError):
    """The platform refused the API key: client_id or client_secret must change."""

    def __init__(self, message: str, *, status: int | None = 401) -> None:
        super().__init__(message, status=status)


class PaymentsConfigError(SourceSetupError):
    """The answers show the source is set up wrong (base_url is not the platform's API)."""


class PaymentsRequestError(SourceRefused):
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
        super().__init__(message, status=status)
        self.code = code
        self.field = field


class PaymentsNotFound(PaymentsRequestError):
    """The record asked for does not exist on the platform."""
