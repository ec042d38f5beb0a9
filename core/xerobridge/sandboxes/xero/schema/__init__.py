"""The parts of Xero's official Accounting OpenAPI description the sandbox validates against.

`accounting.json` is generated from xero_accounting.yaml (github.com/XeroAPI/Xero-OpenAPI, MIT
licensed, see LICENSE-xero-openapi) by `python -m xerobridge.sandboxes.xero.schema.build`; it keeps
only the operations the sandbox serves and the component schemas they reach, without
descriptions and examples, so an installed xerobridge needs neither the YAML nor PyYAML.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

FILE_NAME = "accounting.json"


@cache
def load() -> dict[str, Any]:
    """The packaged compact schema (read once per process)."""
    text = resources.files(__name__).joinpath(FILE_NAME).read_text(encoding="utf-8")
    return json.loads(text)
