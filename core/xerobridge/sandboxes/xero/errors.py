"""The error answers Xero gives, as exceptions that carry their HTTP response."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response


class ElementInvalid(Exception):
    """One element of a batch failed validation; the batch goes on with the others."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class ApiError(Exception, ABC):
    """A whole request fails with this HTTP answer; each kind says how it is rendered."""

    status_code = 400

    @abstractmethod
    def response(self) -> Response:
        """The HTTP answer Xero gives for this error."""


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """The problem-JSON body of Xero's API gateway (401, 403, 429 and friends)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


class Unauthorized(ApiError):
    """401: no, unknown or expired access token."""

    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def response(self) -> Response:
        return JSONResponse(
            problem(401, "Unauthorized", self.detail),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class Forbidden(ApiError):
    """403 AuthenticationUnsuccessful: the tenant header is missing, wrong or not connected."""

    status_code = 403

    def response(self) -> Response:
        return JSONResponse(problem(403, "Forbidden", "AuthenticationUnsuccessful"), 403)


class NotFound(ApiError):
    """404: Xero answers an unknown id or path with a short plain-text body, not JSON."""

    status_code = 404

    def response(self) -> Response:
        return PlainTextResponse("The resource you're looking for cannot be found", 404)


class MethodNotAllowed(ApiError):
    """405 for a verb the resource does not take (Xero's exact body is not documented)."""

    status_code = 405

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("method not allowed")
        self.allowed = allowed

    def response(self) -> Response:
        return JSONResponse(
            problem(405, "Method Not Allowed", "The requested resource does not support it"),
            405,
            headers={"Allow": ", ".join(self.allowed)},
        )


class BadRequest(ApiError):
    """400 from the gateway, before the request reaches the accounting engine."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def response(self) -> Response:
        return JSONResponse(problem(400, "Bad Request", self.detail), 400)


class XeroException(ApiError):
    """400 in Xero's own Error schema: ErrorNumber, Type, Message, optional Elements."""

    def __init__(
        self,
        error_number: int,
        kind: str,
        message: str,
        elements: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_number = error_number
        self.kind = kind
        self.message = message
        self.elements = elements

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ErrorNumber": self.error_number,
            "Type": self.kind,
            "Message": self.message,
        }
        if self.elements is not None:
            body["Elements"] = self.elements
        return body

    def response(self) -> Response:
        return JSONResponse(self.body(), 400)


def validation_exception(elements: list[dict[str, Any]]) -> XeroException:
    """The summarised 400 of a batch in which at least one element failed (spec 400Error)."""
    return XeroException(10, "ValidationException", "A validation exception occurred", elements)


def query_parse_exception(message: str) -> XeroException:
    """A `where` or `order` Xero cannot parse (ErrorNumber 16, seen in xeroizer#160)."""
    return XeroException(16, "QueryParseException", message)


def post_data_invalid(message: str) -> XeroException:
    """A body that is not the expected JSON. ErrorNumber 14 is what Xero has been seen to send."""
    return XeroException(14, "PostDataInvalidException", message)
