"""The Xero accounts a source needs (its spec's `xero_accounts`), created where missing.

Accounts are named by the source's settings (the Magento seed's bank, sales, inventory and cost
of goods sold accounts); one that exists under that name, in any case, is used as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from xerobridge.contract.context import XeroMirror
from xerobridge.contract.errors import Permanent, UserError
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import SourceSpec
from xerobridge.store.models import Source
from xerobridge.sync.engine import Engine

log = logging.getLogger(__name__)

#: Where new account codes start; the usual charts leave this range free.
FIRST_CODE = 901


@dataclass(frozen=True)
class AccountOutcome:
    """What became of one needed account."""

    setting: str
    name: str
    code: str
    created: bool


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


async def ensure_accounts(engine: Engine, source: Source) -> list[AccountOutcome]:
    """Make sure every account the source's settings name exists in Xero; create the missing."""
    runtime = engine.runtimes.get(source.id)  # type: ignore[arg-type]
    conn_id = source.connection_id
    if conn_id is None:
        raise UserError(f"source {source.name} has no Xero connection; add it with --connection")
    await engine.mirror.refresh(conn_id, ["Account"])
    view = engine.mirror.view(conn_id)
    codes = {str(a.get("Code")) for a in view.accounts() if a.get("Code")}
    outcomes = []
    for need in runtime.spec.xero_accounts:
        name = str(getattr(runtime.ctx.settings, need.setting) or need.default_name)
        found = view.account_by_name(name)
        if found is not None:
            outcomes.append(AccountOutcome(need.setting, name, str(found.get("Code")), False))
            continue
        code = next(str(c) for c in range(FIRST_CODE, 10_000) if str(c) not in codes)
        codes.add(code)
        account: dict[str, str] = {"Code": code, "Name": name, "Type": need.account_type}
        if need.account_type == "BANK":
            # Xero asks a bank account for its number; this placeholder is for a person to
            # replace in Xero with the real one (the account is used only to record payments).
            account["BankAccountNumber"] = f"XB-{code}"
        (result,) = await engine.client.write(conn_id, "Account", [account])
        if not result.ok:
            raise Permanent(f"Xero refused to create account {name!r}: {result.message}")
        engine.mirror.remember(conn_id, "Account", [result.record])
        outcomes.append(AccountOutcome(need.setting, name, code, True))
        log.info("created Xero account %s %s (%s)", code, name, need.account_type)
    return outcomes
