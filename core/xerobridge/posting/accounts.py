"""Xero accounts named by a source's settings, resolved from the mirror when a document uses
them: a missing account asks a person (NeedsPerson, saying how to fix it) only for the records
whose documents need that account, never for the others.
"""

from __future__ import annotations

from typing import Any

from xerobridge.contract.context import SourceContext, XeroMirror
from xerobridge.contract.errors import NeedsPerson


class AccountBook:
    """Account codes for the settings' account names, read from the mirror on use."""

    def __init__(
        self, mirror: XeroMirror, *, setup_command: str = "", creates: frozenset[str] = frozenset()
    ) -> None:
        self.mirror = mirror
        #: The command that creates the accounts of the settings in `creates`
        #: (`xerobridge setup-accounts SOURCE`, driven by `SourceSpec.xero_accounts`).
        self.setup_command = setup_command
        self.creates = creates

    @classmethod
    def of(cls, ctx: SourceContext[Any]) -> AccountBook:
        """A source's book: an account it can create itself names `xerobridge setup-accounts`."""
        command = f"xerobridge setup-accounts {ctx.source}"
        return cls(ctx.xero, setup_command=command, creates=ctx.account_settings)

    def _how(self, setting: str) -> str:
        if self.setup_command and setting in self.creates:
            return f"create it with `{self.setup_command}` or change the setting"
        return "create it in Xero (Accounting > Chart of accounts) or change the setting"

    def _find(self, setting: str, name: str) -> Any:
        account = self.mirror.account_by_name(name) or self.mirror.account_by_code(name)
        if account is None:
            raise NeedsPerson(f"account {name!r} ({setting}) is not in Xero: {self._how(setting)}")
        return account

    def code(self, setting: str, name: str) -> str:
        """The Code of the account a setting names (lines name accounts by code)."""
        account = self._find(setting, name)
        code = str(account.get("Code") or "")
        if not code:
            raise NeedsPerson(
                f"account {name!r} ({setting}) has no code in Xero, and document lines name "
                "accounts by code: give it a code in Xero (Accounting > Chart of accounts)"
            )
        return code

    def payable(self, setting: str, name: str, *, bank_only: bool = False) -> dict[str, str]:
        """The account money is paid into or out of, as Xero's `Account` reference.

        Xero takes payments only to bank accounts or accounts with payments enabled; bank
        transfers (`bank_only`) only between bank accounts. An account without a Code is named
        by its AccountID.
        """
        account = self._find(setting, name)
        kind = account.get("Type")
        if bank_only and kind != "BANK":
            raise NeedsPerson(
                f"account {name!r} ({setting}) is a {kind} account, and Xero transfers money only "
                "between bank accounts: name a bank account in the setting"
            )
        if kind != "BANK" and not account.get("EnablePaymentsToAccount"):
            raise NeedsPerson(
                f"account {name!r} ({setting}) is a {kind} account, and Xero takes payments only "
                "to bank accounts or accounts with 'Enable payments to this account': name a "
                "bank account in the setting or enable payments to it in Xero"
            )
        code = str(account.get("Code") or "")
        return {"Code": code} if code else {"AccountID": str(account["AccountID"])}

    def tax_type_of(self, name: str) -> str:
        """The TaxType Xero applies by default on an account ('' when the account is unknown)."""
        account = self.mirror.account_by_name(name) or self.mirror.account_by_code(name) or {}
        return str(account.get("TaxType") or "")
