"""The one registry of Xero objects: everything the core knows about each kind, in one row.

The client (paths, envelopes, parameters), the store (natural keys of documents we write), the
webhook and poll paths (event categories), the mirror (which kinds it keeps) and from-Xero
streams (what can be read, a page at a time) all read this table; adding an object is one row.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Xero's largest page on the endpoints that page (`pageSize`, Accounting API).
MAX_PAGE_SIZE = 1000
#: Most documents one write request carries.
BATCH_SIZE = 50


@dataclass(frozen=True)
class XeroObject:
    """One Accounting API object and how the core reads and writes it."""

    kind: str  # the singular used in XeroDocument.kind and StreamSpec.xero_object
    plural: str  # the path and the envelope key
    id_field: str
    #: The fields a natural key of a document we write may sit in, preferred first; empty for
    #: objects xerobridge never writes as documents.
    key_fields: tuple[str, ...] = ()
    #: The webhook category its changes arrive under (and are polled for), if any.
    event_category: str | None = None
    paged: bool = False  # lists page (`page`, `pageSize` up to MAX_PAGE_SIZE)
    unitdp: bool = False  # accepts unitdp=4 (four-decimal unit amounts)
    summarize_errors: bool = True  # POST/PUT accept summarizeErrors=false
    envelope: bool = True  # writes take {"Plural": [...]}; else one bare object per request
    create_method: str = "POST"  # the method that takes a batch of new documents
    #: Written up to BATCH_SIZE a request; else one document a request.
    batchable: bool = True
    #: Kept in the local mirror of each organisation (reference data for mapping).
    mirrored: bool = False
    #: Its list honours If-Modified-Since (else a mirror re-reads it whole when stale).
    incremental: bool = True
    #: Read back many at a time by `IDs=` (comma-separated ids), for webhook events; the
    #: spec gives CreditNotes no IDs filter.
    by_ids: bool = False
    #: Xero changes a written one in place (else it is only ever made or deleted, and a
    #: changed document cannot be pushed onto it).
    updatable: bool = True

    @property
    def write_size(self) -> int:
        """How many documents one write request of this kind carries."""
        return BATCH_SIZE if self.envelope and self.batchable else 1


OBJECTS: tuple[XeroObject, ...] = (
    XeroObject(
        "Contact",
        "Contacts",
        "ContactID",
        key_fields=("ContactNumber",),
        event_category="CONTACT",
        paged=True,
        mirrored=True,
        by_ids=True,
    ),
    XeroObject("Item", "Items", "ItemID", key_fields=("Code",), unitdp=True, mirrored=True),
    XeroObject(
        "Invoice",
        "Invoices",
        "InvoiceID",
        key_fields=("InvoiceNumber", "Reference"),
        event_category="INVOICE",
        paged=True,
        unitdp=True,
        by_ids=True,
    ),
    XeroObject(
        "CreditNote",
        "CreditNotes",
        "CreditNoteID",
        key_fields=("CreditNoteNumber", "Reference"),
        event_category="CREDITNOTE",
        paged=True,
        unitdp=True,
    ),
    # POST /Payments takes one payment and no summarizeErrors; PUT takes a batch, and a
    # payment is never updated (only deleted), so payments are always PUT.
    XeroObject(
        "Payment",
        "Payments",
        "PaymentID",
        key_fields=("Reference",),
        paged=True,
        create_method="PUT",
    ),
    XeroObject(
        "BankTransaction",
        "BankTransactions",
        "BankTransactionID",
        key_fields=("Reference",),
        paged=True,
        unitdp=True,
    ),
    # A transfer between two bank accounts is made (PUT, a batch; the spec gives it no
    # summarizeErrors) or deleted (POST with Status DELETED), never changed; its list does
    # not page.
    XeroObject(
        "BankTransfer",
        "BankTransfers",
        "BankTransferID",
        key_fields=("Reference",),
        summarize_errors=False,
        create_method="PUT",
        updatable=False,
    ),
    XeroObject(
        "Account",
        "Accounts",
        "AccountID",
        key_fields=("Code", "Name"),
        summarize_errors=False,
        envelope=False,
        mirrored=True,
    ),
    # Written one credit note at a time, to CreditNotes/{CreditNoteID}/Allocations.
    XeroObject(
        "Allocation",
        "Allocations",
        "AllocationID",
        key_fields=("CreditNoteNumber", "Reference"),
        batchable=False,
    ),
    XeroObject(
        "TaxRate",
        "TaxRates",
        "TaxType",
        summarize_errors=False,
        mirrored=True,
        incremental=False,
    ),
    XeroObject(
        "TrackingCategory",
        "TrackingCategories",
        "TrackingCategoryID",
        summarize_errors=False,
        mirrored=True,
        incremental=False,
    ),
)

_BY_KIND: dict[str, XeroObject] = {o.kind: o for o in OBJECTS}
_BY_PLURAL: dict[str, XeroObject] = {o.plural: o for o in OBJECTS}
_BY_CATEGORY: dict[str, XeroObject] = {o.event_category: o for o in OBJECTS if o.event_category}

#: The kinds a XeroDocument may be, with the fields its natural key may sit in.
DOCUMENT_KEYS: dict[str, tuple[str, ...]] = {o.kind: o.key_fields for o in OBJECTS if o.key_fields}
#: The kinds the mirror keeps, in the order it refreshes them.
MIRRORED: tuple[str, ...] = tuple(o.kind for o in OBJECTS if o.mirrored)


def xero_object(name: str) -> XeroObject:
    """The object named by its singular or plural (KeyError naming it when unknown)."""
    found = _BY_KIND.get(name) or _BY_PLURAL.get(name)
    if found is None:
        raise KeyError(f"unknown Xero object {name!r}")
    return found


def by_category(category: str) -> XeroObject | None:
    """The object whose changes arrive under a webhook category (CONTACT, INVOICE ...)."""
    return _BY_CATEGORY.get(category.upper())


def categories() -> frozenset[str]:
    """Every webhook category the core can read back and poll."""
    return frozenset(_BY_CATEGORY)
