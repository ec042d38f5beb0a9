"""The Xero accounts a source needs (its spec's `xero_accounts`), created where missing.

Accounts are named by the source's settings (the Magento seed's bank, sales, inventory and cost
of goods sold accounts); one that exists under that name, in any case, is used as it is. A
setting left empty takes the account set up under its default name, so that what waited for it
(payouts for their bank account) goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from xerobridge.config import sources
from xerobridge.contract.errors import Permanent, UserError
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
    chosen: dict[str, str] = {}
    for need in runtime.spec.xero_accounts:
        current = getattr(runtime.ctx.settings, need.setting)
        name = str(current or need.default_name)
        if not current:
            chosen[need.setting] = name
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
    if chosen:
        sources.update_settings(engine.store, runtime.spec, source.name, chosen)
        # Records held for want of these settings go again with them.
        engine.queue.retry_failed(source_id=source.id)
    return outcomes
