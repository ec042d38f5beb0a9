"""Currencies as the organisation has them: a document in a currency it has not enabled fails
alone, saying to enable it in Xero, before any call is spent."""

from __future__ import annotations

import re
from decimal import Decimal

from xerobridge.contract.context import OrgFacts
from xerobridge.contract.errors import Permanent

_CODE = re.compile(r"[A-Z]{3}")


def currency(value: object, *, record: str, what: str = "currency") -> str:
    """An ISO 4217 code from a source field, or Permanent naming the record and the field."""
    code = str(value or "").strip().upper()
    if not _CODE.fullmatch(code):
        raise Permanent(f"{record}: {what} {code or 'missing'!r} is not a currency code")
    return code


def check(org: OrgFacts, code: str, *, record: str, fix: str = "") -> None:
    """Permanent when the organisation cannot take documents in `code`: its base currency and
    the currencies read from Xero are taken; nothing is checked while the base is unknown."""
    base = org.base_currency.upper()
    if not base or code == base or code in org.currencies:
        return
    also = f", or {fix}" if fix else ""
    raise Permanent(
        f"{record} is in {code}, which is not enabled in the Xero organisation: add the currency "
        f"in Xero (Settings > Currencies){also} (the organisation's base currency is {base})"
    )


def rate(org: OrgFacts, code: str, source_base: str, source_rate: Decimal) -> Decimal | None:
    """The CurrencyRate to send (units of `code` per base unit) when the source knows it and
    shares the organisation's base currency; None lets Xero use its daily rate."""
    base = org.base_currency.upper() or source_base.upper()
    if code == base or source_base.upper() != base or source_rate <= 0:
        return None
    return source_rate
