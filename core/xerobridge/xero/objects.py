"""What the client needs to know of each Xero resource: its envelope, id field and parameters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One Accounting API collection, with the query parameters its operations accept."""

    kind: str  # the singular used in XeroDocument.kind
    plural: str  # the path and the envelope key
    id_field: str
    paged: bool = False
    unitdp: bool = False  # accepts unitdp=4 (four-decimal unit amounts)
    summarize_errors: bool = True  # POST/PUT accept summarizeErrors=false
    envelope: bool = True  # writes take {"Plural": [...]}; else one bare object per request
    create_method: str = "POST"  # the method that takes a batch of new documents


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Contact", "Contacts", "ContactID", paged=True),
        Resource("Item", "Items", "ItemID", unitdp=True),
        Resource("Invoice", "Invoices", "InvoiceID", paged=True, unitdp=True),
        Resource("CreditNote", "CreditNotes", "CreditNoteID", paged=True, unitdp=True),
        # POST /Payments takes one payment and no summarizeErrors; PUT takes a batch, and a
        # payment is never updated (only deleted), so payments are always PUT.
        Resource("Payment", "Payments", "PaymentID", paged=True, create_method="PUT"),
        Resource(
            "BankTransaction", "BankTransactions", "BankTransactionID", paged=True, unitdp=True
        ),
        Resource("Account", "Accounts", "AccountID", summarize_errors=False, envelope=False),
        # Written one credit note at a time, to CreditNotes/{CreditNoteID}/Allocations.
        Resource("Allocation", "Allocations", "AllocationID"),
        Resource("TaxRate", "TaxRates", "TaxType", summarize_errors=False),
        Resource(
            "TrackingCategory", "TrackingCategories", "TrackingCategoryID", summarize_errors=False
        ),
    )
}
BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES.values()}


def resource(kind_or_plural: str) -> Resource:
    """The resource named by its singular or plural."""
    found = RESOURCES.get(kind_or_plural) or BY_PLURAL.get(kind_or_plural)
    if found is None:
        raise KeyError(f"unknown Xero resource {kind_or_plural!r}")
    return found
