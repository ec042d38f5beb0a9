"""The posting kit: Xero's rules for the documents a plugin builds, in one place.

A plugin's mapping describes its records in its own terms and leaves Xero's rules to these
modules, one concept each: `money` (amounts to the cent), `text` (field limits and cleaning),
`keys` (natural keys within Xero's lengths), `lines` (line amounts, totals and the rounding
line, tax percents), `accounts` (account codes by setting, asked of a person only when used),
`currencies` (the organisation's currencies), `dates` (the organisation's dates), `contacts`
(which Xero contact a person is) and `documents` (contacts, payments and allocations as Xero
takes them). Each is pure: the same input gives the same answer.
"""

from xerobridge.posting import (
    accounts,
    contacts,
    currencies,
    dates,
    documents,
    keys,
    lines,
    money,
    text,
)

__all__ = [
    "accounts",
    "contacts",
    "currencies",
    "dates",
    "documents",
    "keys",
    "lines",
    "money",
    "text",
]
