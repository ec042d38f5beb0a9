"""JSON as the platform writes it: amounts as numbers with their exact cents."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse


def _number(value: Any) -> Any:
    # A two-place Decimal becomes the float whose shortest repr has the same digits, so the
    # text carries exactly the cents (a client reading with Decimal gets them back).
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(content: Any) -> bytes:
    """The JSON text of records holding Decimal amounts."""
    return json.dumps(content, default=_number, separators=(",", ":")).encode()


class PlatformJSON(JSONResponse):
    """A JSON answer whose records may hold Decimal amounts."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
