"""What a new sandbox organisation starts with: an Australian chart of accounts and tax rates.

Codes and names follow the default chart Xero gives a new AU organisation and its Demo Company
(090 bank, 200 Sales, 260 Other Revenue, 310 COGS, 630 Inventory, 860 Rounding ...). TaxType
`NONE` is not one of an AU org's own rates (AU uses BASEXCLUDED); it is included because NZ,
UK and global orgs have it and plugins commonly map untaxed lines to it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# (Code, Name, Type, TaxType, extra fields)
ACCOUNTS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    (
        "090",
        "Business Bank Account",
        "BANK",
        "BASEXCLUDED",
        {"BankAccountNumber": "062-000 1234 5678", "BankAccountType": "BANK"},
    ),
    (
        "091",
        "Business Savings Account",
        "BANK",
        "BASEXCLUDED",
        {"BankAccountNumber": "062-000 8765 4321", "BankAccountType": "BANK"},
    ),
    (
        "200",
        "Sales",
        "REVENUE",
        "OUTPUT",
        {"Description": "Income from any normal business activity"},
    ),
    ("260", "Other Revenue", "REVENUE", "OUTPUT", {}),
    ("270", "Interest Income", "REVENUE", "EXEMPTOUTPUT", {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT", {}),
    ("400", "Advertising", "EXPENSE", "INPUT", {}),
    ("404", "Bank Fees", "EXPENSE", "EXEMPTEXPENSES", {}),
    ("408", "Cleaning", "EXPENSE", "INPUT", {}),
    ("412", "Consulting & Accounting", "EXPENSE", "INPUT", {}),
    ("429", "General Expenses", "EXPENSE", "INPUT", {}),
    ("433", "Insurance", "EXPENSE", "INPUT", {}),
    ("461", "Printing & Stationery", "EXPENSE", "INPUT", {}),
    ("485", "Subscriptions", "EXPENSE", "INPUT", {}),
    ("493", "Travel - National", "EXPENSE", "INPUT", {}),
    ("610", "Accounts Receivable", "CURRENT", "BASEXCLUDED", {"SystemAccount": "DEBTORS"}),
    ("620", "Prepayments", "CURRENT", "BASEXCLUDED", {}),
    ("630", "Inventory", "INVENTORY", "BASEXCLUDED", {}),
    ("710", "Office Equipment", "FIXED", "INPUT", {}),
    ("800", "Accounts Payable", "CURRLIAB", "BASEXCLUDED", {"SystemAccount": "CREDITORS"}),
    ("820", "GST", "CURRLIAB", "BASEXCLUDED", {"SystemAccount": "GST"}),
    ("840", "Historical Adjustment", "CURRLIAB", "BASEXCLUDED", {"SystemAccount": "HISTORICAL"}),
    ("860", "Rounding", "CURRLIAB", "BASEXCLUDED", {"SystemAccount": "ROUNDING"}),
    (
        "877",
        "Tracking Transfers",
        "CURRLIAB",
        "BASEXCLUDED",
        {"SystemAccount": "TRACKINGTRANSFERS"},
    ),
    ("880", "Owner A Drawings", "EQUITY", "BASEXCLUDED", {}),
    (
        "960",
        "Retained Earnings",
        "EQUITY",
        "BASEXCLUDED",
        {"SystemAccount": "RETAINEDEARNINGS"},
    ),
    ("970", "Owner A Funds Introduced", "EQUITY", "BASEXCLUDED", {}),
]

ACCOUNT_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "FIXED": "ASSET",
    "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "DEPRECIATN": "EXPENSE",
}

# (TaxType, Name, rate %, ReportTaxType, applies to: revenue, expenses, assets, liabilities, equity)
TAX_RATES: list[tuple[str, str, str, str, tuple[bool, bool, bool, bool, bool]]] = [
    ("OUTPUT", "GST on Income", "10", "OUTPUT", (True, False, True, True, True)),
    ("INPUT", "GST on Expenses", "10", "INPUT", (False, True, True, True, True)),
    (
        "CAPEXINPUT",
        "GST on Capital",
        "10",
        "CAPITALEXPENSESINPUT",
        (False, False, True, False, False),
    ),
    ("EXEMPTOUTPUT", "GST Free Income", "0", "EXEMPTOUTPUT", (True, False, True, True, True)),
    ("EXEMPTEXPENSES", "GST Free Expenses", "0", "EXEMPTEXPENSES", (False, True, True, True, True)),
    ("EXEMPTEXPORT", "GST Free Exports", "0", "EXEMPTEXPORT", (True, False, False, False, False)),
    ("INPUTTAXED", "Input Taxed", "0", "INPUTTAXED", (True, True, True, True, True)),
    ("BASEXCLUDED", "BAS Excluded", "0", "BASEXCLUDED", (True, True, True, True, True)),
    ("GSTONIMPORTS", "GST on Imports", "0", "GSTONIMPORTS", (False, False, False, True, False)),
    ("NONE", "No GST", "0", "NONE", (True, True, True, True, True)),
]


def account_records() -> list[dict[str, Any]]:
    """The default accounts as records (without ids and timestamps, which the store adds)."""
    records = []
    for code, name, kind, tax_type, extra in ACCOUNTS:
        record: dict[str, Any] = {
            "Code": code,
            "Name": name,
            "Type": kind,
            "Status": "ACTIVE",
            "TaxType": tax_type,
            # Bank accounts take payments by nature; Xero's flag is for other accounts.
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": kind == "EXPENSE",
            "Class": ACCOUNT_CLASS[kind],
            "ReportingCode": "",
            "HasAttachments": False,
            "AddToWatchlist": False,
        }
        if kind == "BANK":
            record["CurrencyCode"] = "AUD"
        record.update(extra)
        records.append(record)
    return records


def tax_rate_records() -> list[dict[str, Any]]:
    """The default tax rates as records."""
    records = []
    for tax_type, name, rate, report, applies in TAX_RATES:
        revenue, expenses, assets, liabilities, equity = applies
        records.append(
            {
                "Name": name,
                "TaxType": tax_type,
                "ReportTaxType": report,
                "CanApplyToAssets": assets,
                "CanApplyToEquity": equity,
                "CanApplyToExpenses": expenses,
                "CanApplyToLiabilities": liabilities,
                "CanApplyToRevenue": revenue,
                "DisplayTaxRate": Decimal(rate),
                "EffectiveRate": Decimal(rate),
                "Status": "ACTIVE",
                "TaxComponents": [
                    {
                        "Name": "GST",
                        "Rate": Decimal(rate),
                        "IsCompound": False,
                        "IsNonRecoverable": False,
                    }
                ],
            }
        )
    return records
