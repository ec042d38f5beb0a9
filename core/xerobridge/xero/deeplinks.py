""" "View in Xero" links, built from the organisation's ShortCode (no API call)."""

from __future__ import annotations

from urllib.parse import quote

LOGIN = "https://go.xero.com/organisationlogin/default.aspx"

# Contact, Invoice, Bill and CreditNote paths are those of Xero's deep-link guide (the guide
# gives the credit-note page under AccountsPayable for both kinds). Item, BankTransaction and
# Payment paths are the web app's own pages, which the guide does not list: unverified.
_PATHS: dict[str, str] = {
    "Contact": "/Contacts/View/{id}",
    "Item": "/Accounts/Inventory/{id}",
    "Invoice": "/AccountsReceivable/View.aspx?InvoiceID={id}",
    "Bill": "/AccountsPayable/Edit.aspx?InvoiceID={id}",
    "CreditNote": "/AccountsPayable/ViewCreditNote.aspx?creditNoteID={id}",
    "BankTransaction": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "Payment": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
}


def view_url(short_code: str, kind: str, xero_id: str) -> str:
    """The deep link to one object in the Xero web app, or "" when none is known for its kind."""
    template = _PATHS.get(kind)
    if not template or not short_code or not xero_id:
        return ""
    path = template.format(id=quote(xero_id, safe=""))
    return f"{LOGIN}?shortcode={quote(short_code, safe='')}&redirecturl={quote(path, safe='')}"
