"""One sandbox organisation (tenant): its records, the indexes Xero keeps unique, its views."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from xerobridge.sandboxes.xero import seed
from xerobridge.sandboxes.xero.dates import iso_utc
from xerobridge.sandboxes.xero.ids import IdSource

logger = logging.getLogger(__name__)

# Resource (URL segment and envelope name) -> the record's id field.
ID_FIELDS: dict[str, str] = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Payments": "PaymentID",
    "BankTransactions": "BankTransactionID",
    "BankTransfers": "BankTransferID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
    "TrackingCategories": "TrackingCategoryID",
}

# Xero's Timezone names (Organisation.Timezone) for the zones the sandbox can be set to.
TIMEZONES: dict[str, str] = {
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "GMTSTANDARDTIME": "Europe/London",
    "EASTERNSTANDARDTIME": "America/New_York",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "UTC": "UTC",
}

Listener = Callable[["Organisation", str, dict[str, Any], bool], None]


@dataclass
class Organisation:
    """A tenant's data. Records are stored with Python values (Decimal, date, datetime)."""

    tenant_id: str
    name: str
    short_code: str
    created: datetime
    ids: IdSource
    base_currency: str = "AUD"
    country_code: str = "AU"
    version: str = "AU"
    timezone: str = "AUSEASTERNSTANDARDTIME"
    # Which Xero version's chart of accounts, tax rates and tax settings it starts with (see
    # seed.REGIONS); the currency, country, version and timezone above are set apart from it.
    region: str = "AU"
    listeners: list[Listener] = field(default_factory=list)
    records: dict[str, dict[str, dict[str, Any]]] = field(init=False)
    _unique: dict[str, dict[str, str]] = field(init=False)
    _keys: dict[tuple[str, str], str] = field(init=False)
    _counters: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.records = {kind: {} for kind in ID_FIELDS}
        self._unique = {
            "contact_number": {},
            "contact_name": {},
            "item_code": {},
            "invoice_number": {},
            "credit_note_number": {},
            "account_code": {},
        }
        self._keys = {}
        self._counters = {"INV": 0, "CN": 0}
        self.region = seed.region(self.region).code
        for account in seed.account_records(self.region):
            self.insert("Accounts", account, self.created, notify=False)
        for rate in seed.tax_rate_records(self.region):
            self.records["TaxRates"][rate["TaxType"]] = rate

    # ---- time -------------------------------------------------------------------------------

    def today(self, now: datetime) -> date:
        """Today in the organisation's timezone: Xero's default for an omitted document date."""
        return now.astimezone(ZoneInfo(TIMEZONES.get(self.timezone, "UTC"))).date()

    # ---- storage ----------------------------------------------------------------------------

    def all(self, kind: str) -> list[dict[str, Any]]:
        return list(self.records[kind].values())

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        if kind == "TaxRates":
            return self.records[kind].get(record_id.upper())
        return self.records[kind].get(record_id.lower())

    def insert(
        self, kind: str, record: dict[str, Any], now: datetime, *, notify: bool = True
    ) -> dict[str, Any]:
        """Store a new record: give it an id and UpdatedDateUTC, index it, tell the listeners."""
        id_field = ID_FIELDS[kind]
        # A new dict so the id comes first, as in Xero's answers; callers use the return value.
        record = {id_field: self.ids.guid(), **record, "UpdatedDateUTC": now}
        self.records[kind][record[id_field]] = record
        self._index(kind, record)
        if notify:
            self._notify(kind, record, created=True)
        return record

    def touch(self, kind: str, record: dict[str, Any], now: datetime) -> None:
        """Mark a changed record: UpdatedDateUTC moves, indexes follow, listeners hear of it."""
        record["UpdatedDateUTC"] = now
        self._index(kind, record)
        self._notify(kind, record, created=False)

    def remove(self, kind: str, record_id: str) -> dict[str, Any] | None:
        """Delete a record outright (only Items are deleted this way in Xero)."""
        record = self.records[kind].pop(record_id.lower(), None)
        if record is not None:
            for (index, owner), key in list(self._keys.items()):
                if owner == record_id.lower():
                    del self._keys[(index, owner)]
                    if self._unique[index].get(key) == owner:
                        del self._unique[index][key]
        return record

    def next_number(self, prefix: str) -> str:
        """Xero's automatic numbering (INV-0001, CN-0001), skipping numbers already taken."""
        index = "invoice_number" if prefix == "INV" else "credit_note_number"
        while True:
            self._counters[prefix] += 1
            number = f"{prefix}-{self._counters[prefix]:04d}"
            if number.lower() not in self._unique[index]:
                return number

    def _notify(self, kind: str, record: dict[str, Any], *, created: bool) -> None:
        for listener in self.listeners:
            listener(self, kind, record, created)

    # ---- unique keys ------------------------------------------------------------------------
    # Xero compares these case-insensitively (its store collates that way: "ABC" and "abc"
    # collide as Item codes), while `where Name=="x"` is case-sensitive (pyxero#172).

    def _index(self, kind: str, record: dict[str, Any]) -> None:
        record_id = record[ID_FIELDS[kind]]
        keys: dict[str, str | None] = {}
        if kind == "Contacts":
            keys["contact_number"] = record.get("ContactNumber") or None
            active = record.get("ContactStatus", "ACTIVE") == "ACTIVE"
            keys["contact_name"] = record.get("Name") if active else None
        elif kind == "Items":
            keys["item_code"] = record.get("Code")
        elif kind == "Invoices":
            # Only sales invoice numbers are unique; numbers of deleted and voided invoices stay
            # taken (P11).
            sales = record.get("Type") == "ACCREC"
            keys["invoice_number"] = record.get("InvoiceNumber") if sales else None
        elif kind == "CreditNotes":
            sales = record.get("Type") == "ACCRECCREDIT"
            keys["credit_note_number"] = record.get("CreditNoteNumber") if sales else None
        elif kind == "Accounts":
            keys["account_code"] = record.get("Code") if record.get("Status") != "DELETED" else None
        for index, key in keys.items():
            table = self._unique[index]
            previous = self._keys.pop((index, record_id), None)
            if previous is not None and table.get(previous) == record_id:
                del table[previous]
            if key:
                table[_fold(key)] = record_id
                self._keys[(index, record_id)] = _fold(key)

    def _lookup(self, index: str, kind: str, key: object) -> dict[str, Any] | None:
        if not isinstance(key, str) or not key:
            return None
        record_id = self._unique[index].get(_fold(key))
        return self.records[kind].get(record_id) if record_id else None

    def contact_by_number(self, number: object) -> dict[str, Any] | None:
        return self._lookup("contact_number", "Contacts", number)

    def active_contact_by_name(self, name: object) -> dict[str, Any] | None:
        return self._lookup("contact_name", "Contacts", name)

    def contact_by_any_name(self, name: object) -> dict[str, Any] | None:
        """An active contact of that name, else an archived one (invoices then refuse it)."""
        found = self.active_contact_by_name(name)
        if found or not isinstance(name, str):
            return found
        folded = _fold(name)
        for contact in self.records["Contacts"].values():
            if _fold(contact.get("Name") or "") == folded:
                return contact
        return None

    def item_by_code(self, code: object) -> dict[str, Any] | None:
        return self._lookup("item_code", "Items", code)

    def sales_invoice_by_number(self, number: object) -> dict[str, Any] | None:
        return self._lookup("invoice_number", "Invoices", number)

    def sales_credit_note_by_number(self, number: object) -> dict[str, Any] | None:
        return self._lookup("credit_note_number", "CreditNotes", number)

    def account_by_code(self, code: object) -> dict[str, Any] | None:
        return self._lookup("account_code", "Accounts", code)

    def account_by_ref(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        """An account named by AccountID or Code, as Payments and BankTransactions allow."""
        if ref.get("AccountID"):
            return self.get("Accounts", str(ref["AccountID"]))
        return self.account_by_code(ref.get("Code"))

    def tax_rate(self, tax_type: object) -> dict[str, Any] | None:
        if not isinstance(tax_type, str):
            return None
        return self.records["TaxRates"].get(tax_type.upper())

    # ---- views ------------------------------------------------------------------------------

    def organisation_record(self) -> dict[str, Any]:
        """The Organisation resource (GET /Organisation)."""
        settings = seed.region(self.region)
        year_end_day, year_end_month = settings.financial_year_end
        return {
            "OrganisationID": self.tenant_id,
            "APIKey": self.tenant_id.replace("-", "").upper()[:30],
            "Name": self.name,
            "LegalName": self.name,
            "PaysTax": True,
            "Version": self.version,
            "OrganisationType": "COMPANY",
            "BaseCurrency": self.base_currency,
            "CountryCode": self.country_code,
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": year_end_day,
            "FinancialYearEndMonth": year_end_month,
            "SalesTaxBasis": settings.sales_tax_basis,
            "SalesTaxPeriod": settings.sales_tax_period,
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "CreatedDateUTC": self.created,
            "OrganisationEntityType": "COMPANY",
            "Timezone": self.timezone,
            "ShortCode": self.short_code,
            "Edition": "BUSINESS",
            "Class": "STANDARD",
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
        }

    def contact_summary(self, contact_id: str | None) -> dict[str, Any]:
        contact = self.get("Contacts", contact_id) if contact_id else None
        if contact is None:
            return {}
        summary: dict[str, Any] = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        if contact.get("ContactNumber"):
            summary["ContactNumber"] = contact["ContactNumber"]
        summary.update(
            {
                "Addresses": [],
                "Phones": [],
                "ContactGroups": [],
                "ContactPersons": [],
                "HasValidationErrors": False,
            }
        )
        return summary

    def account_summary(self, account_id: str | None) -> dict[str, Any]:
        account = self.get("Accounts", account_id) if account_id else None
        if account is None:
            return {}
        return {"AccountID": account["AccountID"], "Code": account["Code"], "Name": account["Name"]}

    def document_summary(self, kind: str, record_id: str) -> dict[str, Any]:
        """The short form of an invoice or credit note embedded in payments and allocations."""
        doc = self.get(kind, record_id)
        if doc is None:
            return {}
        keys = (
            ["Type", "InvoiceID", "InvoiceNumber", "Reference", "Status", "Date", "Total"]
            if kind == "Invoices"
            else ["Type", "CreditNoteID", "CreditNoteNumber", "Reference", "Status", "Date"]
        )
        summary = {k: doc[k] for k in keys if doc.get(k) is not None}
        summary["Contact"] = self.contact_summary(doc.get("_contact_id"))
        if kind == "Invoices":
            summary.update(
                {
                    "AmountDue": doc["AmountDue"],
                    "AmountPaid": doc["AmountPaid"],
                    "CurrencyCode": doc["CurrencyCode"],
                    "HasErrors": False,
                    "IsDiscounted": False,
                }
            )
        else:
            summary["RemainingCredit"] = doc["RemainingCredit"]
            summary["CurrencyCode"] = doc["CurrencyCode"]
        summary["LineItems"] = []
        return summary

    def view(self, kind: str, record: dict[str, Any], *, lines: bool = True) -> dict[str, Any]:
        """A record as the API shows it: references expanded, Python values (see wire.render)."""
        if kind == "TrackingCategories":
            # The spec's TrackingCategory has no UpdatedDateUTC; deleted options are not shown.
            return {
                "TrackingCategoryID": record["TrackingCategoryID"],
                "Name": record["Name"],
                "Status": record["Status"],
                "Options": [dict(o) for o in record["Options"] if o["Status"] != "DELETED"],
            }
        out = copy.copy(record)
        if kind in ("Invoices", "CreditNotes", "Payments") and "UpdatedDateUTC" in record:
            out["UpdatedDateUTCString"] = iso_utc(record["UpdatedDateUTC"])
        if kind in ("Invoices", "CreditNotes", "BankTransactions"):
            out["Contact"] = self.contact_summary(record.get("_contact_id"))
            if not lines:
                out["LineItems"] = []
        if kind == "Invoices":
            out["Payments"] = self._payment_summaries(record)
            out["CreditNotes"] = [
                self._allocation_on_invoice(a)
                for a in record.get("_allocations", [])
                if not a.get("IsDeleted")
            ]
        if kind == "CreditNotes":
            out["Payments"] = self._payment_summaries(record)
            out["Allocations"] = [
                {
                    "AllocationID": a["AllocationID"],
                    "Amount": a["Amount"],
                    "Date": a["Date"],
                    "Invoice": self.document_summary("Invoices", a["InvoiceID"]),
                    "IsDeleted": a.get("IsDeleted", False),
                }
                for a in record.get("_allocations", [])
                if not a.get("IsDeleted")
            ]
        if kind == "BankTransactions":
            out["BankAccount"] = self.account_summary(record.get("_bank_account_id"))
        if kind == "BankTransfers":
            # The spec's BankTransfer has no UpdatedDateUTC; the sandbox keeps one for
            # If-Modified-Since.
            out.pop("UpdatedDateUTC", None)
            out["FromBankAccount"] = self.account_summary(record.get("_from_account_id"))
            out["ToBankAccount"] = self.account_summary(record.get("_to_account_id"))
        if kind == "Payments":
            out["Account"] = self.account_summary(record.get("_account_id"))
            target_kind, target_id = record["_target"]
            key = "Invoice" if target_kind == "Invoices" else "CreditNote"
            out[key] = self.document_summary(target_kind, target_id)
        return out

    def _payment_summaries(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        summaries = []
        for payment_id in record.get("_payment_ids", []):
            payment = self.records["Payments"][payment_id]
            if payment["Status"] == "DELETED":
                continue
            summaries.append(
                {
                    "PaymentID": payment_id,
                    "Date": payment["Date"],
                    "Amount": payment["Amount"],
                    "Reference": payment.get("Reference", ""),
                    "CurrencyRate": payment.get("CurrencyRate", Decimal(1)),
                    "HasAccount": False,
                    "HasValidationErrors": False,
                }
            )
        return summaries

    def _allocation_on_invoice(self, allocation: dict[str, Any]) -> dict[str, Any]:
        credit_note = self.records["CreditNotes"].get(allocation["CreditNoteID"], {})
        return {
            "CreditNoteID": allocation["CreditNoteID"],
            "CreditNoteNumber": credit_note.get("CreditNoteNumber"),
            "AppliedAmount": allocation["Amount"],
            "Date": allocation["Date"],
            "Total": credit_note.get("Total"),
            "LineItems": [],
        }

    def counts(self) -> dict[str, int]:
        return {kind: len(records) for kind, records in self.records.items()}


def _fold(key: str | None) -> str:
    return (key or "").strip().casefold()
