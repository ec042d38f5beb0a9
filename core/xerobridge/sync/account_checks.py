"""Whether the organisation has the Xero accounts a source needs (`SourceSpec.xero_accounts`).

Each need is named by one of the source's settings; the answer comes from the local mirror of
the organisation, so a check costs no API call. Creating the missing ones is `setup-accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xerobridge.contract.context import XeroMirror
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import SourceSpec


@dataclass(frozen=True)
class AccountCheck:
    """One account a source needs, and what the organisation's mirror holds under its name."""

    setting: str
    account_type: str  # the Xero AccountType the source needs
    name: str  # the name the setting gives (or the need's default)
    code: str  # the code of the account of that name; "" when there is none
    found_type: str  # the Type of the account of that name; "" when there is none

    @property
    def state(self) -> Literal["missing", "ok", "wrong type"]:
        """Whether the organisation has it, of the right type."""
        if not self.code and not self.found_type:
            return "missing"
        return "ok" if self.found_type == self.account_type else "wrong type"


def check_accounts(
    spec: SourceSpec, settings: SourceSettings, mirror: XeroMirror | None
) -> list[AccountCheck]:
    """Each account the source's settings name, looked up in the mirror (no API calls)."""
    checks = []
    for need in spec.xero_accounts:
        name = str(getattr(settings, need.setting) or need.default_name)
        found = mirror.account_by_name(name) if mirror is not None else None
        code = str(found.get("Code") or "") if found else ""
        kind = str(found.get("Type") or "") if found else ""
        checks.append(AccountCheck(need.setting, need.account_type, name, code, kind))
    return checks
