"""What a new sandbox organisation starts with, by region: its chart of accounts, tax rates and
Organisation settings. "AU" (the default) and "UK" are modelled.

AU: codes and names follow the default chart Xero gives a new AU organisation and its Demo
Company (090 bank, 200 Sales, 260 Other Revenue, 310 COGS, 630 Inventory, 860 Rounding ...).
TaxType `NONE` is not one of an AU org's own rates (AU uses BASEXCLUDED); it is included because
NZ, UK and global orgs have it and plugins commonly map untaxed lines to it.

UK: see UK_ACCOUNTS and UK_TAX_RATES for what is and is not verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# (Code, Name, Type, TaxType, extra fields)
AccountRow = tuple[str, str, str, str, dict[str, Any]]
# (TaxType, Name, rate %, ReportTaxType, applies to: revenue, expenses, assets, liabilities, equity)
TaxRateRow = tuple[str, str, str, str, tuple[bool, bool, bool, bool, bool]]

ACCOUNTS: list[AccountRow] = [  # AU
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
TAX_RATES: list[TaxRateRow] = [  # AU
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


# ---- United Kingdom ---------------------------------------------------------------------------
# The chart a new UK organisation gets, written from memory of Xero's UK default chart and UK
# Demo Company; NOT checked against a real new UK org. Most likely right: the codes it shares
# with the AU chart (090 bank, 200 Sales, 260 Other Revenue, 310 COGS, 610/800 debtors and
# creditors, 630 Inventory, 820 VAT, 840, 860 Rounding, 877, 960) and their system accounts; the
# VAT control account's SystemAccount is "GST" because the API has no "VAT" system account type.
# UNVERIFIED: the other codes and names, the account Types (UK charts use SALES, OVERHEADS and
# DEPRECIATN where AU uses REVENUE and EXPENSE), each account's default TaxType and the bank
# account number format. A real new UK org has more accounts (payroll, accumulated
# depreciation, currency gains, credit cards ...) than listed here.
UK_ACCOUNTS: list[AccountRow] = [
    (
        "090",
        "Business Bank Account",
        "BANK",
        "NONE",
        {"BankAccountNumber": "20-00-00 12345678", "BankAccountType": "BANK"},
    ),
    (
        "200",
        "Sales",
        "SALES",
        "OUTPUT2",
        {"Description": "Income from any normal business activity"},
    ),
    ("260", "Other Revenue", "SALES", "OUTPUT2", {}),
    ("270", "Interest Income", "OTHERINCOME", "EXEMPTOUTPUT", {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2", {}),
    ("320", "Direct Wages", "DIRECTCOSTS", "NONE", {}),
    ("400", "Advertising", "OVERHEADS", "INPUT2", {}),
    ("401", "Audit & Accountancy fees", "OVERHEADS", "INPUT2", {}),
    ("404", "Bank Fees", "OVERHEADS", "EXEMPTINPUT", {}),
    ("408", "Cleaning", "OVERHEADS", "INPUT2", {}),
    ("412", "Consulting", "OVERHEADS", "INPUT2", {}),
    ("416", "Depreciation", "DEPRECIATN", "NONE", {}),
    ("425", "Postage, Freight & Courier", "OVERHEADS", "INPUT2", {}),
    ("429", "General Expenses", "OVERHEADS", "INPUT2", {}),
    ("433", "Insurance", "OVERHEADS", "EXEMPTINPUT", {}),
    ("437", "Interest Paid", "OVERHEADS", "EXEMPTINPUT", {}),
    ("445", "Light, Power, Heating", "OVERHEADS", "INPUT2", {}),
    ("461", "Printing & Stationery", "OVERHEADS", "INPUT2", {}),
    ("469", "Rent", "OVERHEADS", "INPUT2", {}),
    ("477", "Salaries", "OVERHEADS", "NONE", {}),
    ("485", "Subscriptions", "OVERHEADS", "INPUT2", {}),
    ("489", "Telephone & Internet", "OVERHEADS", "INPUT2", {}),
    ("493", "Travel - National", "OVERHEADS", "INPUT2", {}),
    ("494", "Travel - International", "OVERHEADS", "ZERORATEDINPUT", {}),
    ("500", "Corporation Tax", "OVERHEADS", "NONE", {}),
    ("610", "Accounts Receivable", "CURRENT", "NONE", {"SystemAccount": "DEBTORS"}),
    ("620", "Prepayments", "CURRENT", "NONE", {}),
    ("630", "Inventory", "INVENTORY", "NONE", {}),
    ("710", "Office Equipment", "FIXED", "INPUT2", {}),
    ("720", "Computer Equipment", "FIXED", "INPUT2", {}),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", {"SystemAccount": "CREDITORS"}),
    (
        "801",
        "Unpaid Expense Claims",
        "CURRLIAB",
        "NONE",
        {"SystemAccount": "UNPAIDEXPCLM"},
    ),
    ("820", "VAT", "CURRLIAB", "NONE", {"SystemAccount": "GST"}),
    ("825", "PAYE Payable", "CURRLIAB", "NONE", {}),
    ("835", "Directors' Loan Account", "CURRLIAB", "NONE", {}),
    ("840", "Historical Adjustment", "CURRLIAB", "NONE", {"SystemAccount": "HISTORICAL"}),
    ("850", "Suspense", "CURRLIAB", "NONE", {}),
    ("860", "Rounding", "CURRLIAB", "NONE", {"SystemAccount": "ROUNDING"}),
    (
        "877",
        "Tracking Transfers",
        "CURRLIAB",
        "NONE",
        {"SystemAccount": "TRACKINGTRANSFERS"},
    ),
    ("900", "Loan", "TERMLIAB", "NONE", {}),
    ("950", "Capital - x,000 Ordinary Shares", "EQUITY", "NONE", {}),
    (
        "960",
        "Retained Earnings",
        "EQUITY",
        "NONE",
        {"SystemAccount": "RETAINEDEARNINGS"},
    ),
]

# The UK rates Xero's documentation lists as a UK org's defaults (TaxType, rate, Name are from
# there), less the historical 17.5% and 15% rates (CAPEXINPUT, CAPEXOUTPUT, CAPEXSR*, SR*) and
# the reverse-charge rates ECACQUISITIONS and REVERSECHARGES: on those Xero posts the VAT both
# ways, which the sandbox's "TaxAmount = line amount x EffectiveRate" does not model. The
# ReportTaxTypes follow the UK list of Xero's ReportTaxType documentation (zero-rated rates
# reporting as OUTPUT/INPUT is an inference); the CanApplyTo* flags mirror the AU seed's
# pattern (income rates not on expense accounts and vice versa) and are UNVERIFIED, as are the
# post-Brexit postponed-import and domestic-reverse-charge rates a new UK org may also have.
UK_TAX_RATES: list[TaxRateRow] = [
    ("OUTPUT2", "20% (VAT on Income)", "20", "OUTPUT", (True, False, True, True, True)),
    ("RROUTPUT", "5% (VAT on Income)", "5", "OUTPUT", (True, False, True, True, True)),
    ("ZERORATEDOUTPUT", "Zero Rated Income", "0", "OUTPUT", (True, False, True, True, True)),
    ("EXEMPTOUTPUT", "Exempt Income", "0", "EXEMPTOUTPUT", (True, False, True, True, True)),
    ("INPUT2", "20% (VAT on Expenses)", "20", "INPUT", (False, True, True, True, True)),
    ("RRINPUT", "5% (VAT on Expenses)", "5", "INPUT", (False, True, True, True, True)),
    ("ZERORATEDINPUT", "Zero Rated Expenses", "0", "INPUT", (False, True, True, True, True)),
    ("EXEMPTINPUT", "Exempt Expenses", "0", "EXEMPTINPUT", (False, True, True, True, True)),
    (
        "CAPEXINPUT2",
        "20% (VAT on Capital Purchases)",
        "20",
        "CAPITALEXPENSESINPUT",
        (False, False, True, False, False),
    ),
    (
        "CAPEXOUTPUT2",
        "20% (VAT on Capital Sales)",
        "20",
        "CAPITALSALESOUTPUT",
        (False, False, True, False, False),
    ),
    (
        "ECZROUTPUT",
        "Zero Rated EC Goods Income",
        "0",
        "ECOUTPUT",
        (True, False, False, False, False),
    ),
    (
        "ECZROUTPUTSERVICES",
        "Zero Rated EC Services",
        "0",
        "ECOUTPUTSERVICES",
        (True, False, False, False, False),
    ),
    ("ECZRINPUT", "Zero Rated EC Expenses", "0", "ECINPUT", (False, True, True, False, False)),
    ("GSTONIMPORTS", "VAT on Imports", "0", "GSTONIMPORTS", (False, False, False, True, False)),
    ("NONE", "No VAT", "0", "NONE", (True, True, True, True, True)),
]


@dataclass(frozen=True)
class Region:
    """What differs between organisations of different Xero versions (regions)."""

    code: str
    base_currency: str
    country_code: str
    version: str
    timezone: str  # Xero's Windows-style id (organisation.TIMEZONES maps it to an IANA zone)
    tax_component: str  # the TaxComponents[].Name of every rate
    financial_year_end: tuple[int, int]  # (day, month)
    sales_tax_basis: str
    sales_tax_period: str
    accounts: list[AccountRow]
    tax_rates: list[TaxRateRow]

    @property
    def default_name(self) -> str:
        return f"Sandbox Company ({self.code})"


REGIONS: dict[str, Region] = {
    "AU": Region(
        code="AU",
        base_currency="AUD",
        country_code="AU",
        version="AU",
        timezone="AUSEASTERNSTANDARDTIME",
        tax_component="GST",
        financial_year_end=(30, 6),
        sales_tax_basis="ACCRUALS",
        sales_tax_period="QUARTERLY1",
        accounts=ACCOUNTS,
        tax_rates=TAX_RATES,
    ),
    # A new UK org's year end and VAT scheme are chosen at sign-up; 31 March, the accrual scheme
    # and quarterly returns are the sandbox's picks (values from Xero's UK lists).
    "UK": Region(
        code="UK",
        base_currency="GBP",
        country_code="GB",
        version="UK",
        timezone="GMTSTANDARDTIME",
        tax_component="VAT",
        financial_year_end=(31, 3),
        sales_tax_basis="ACCRUAL",
        sales_tax_period="QUARTERLY",
        accounts=UK_ACCOUNTS,
        tax_rates=UK_TAX_RATES,
    ),
}


def region(code: str) -> Region:
    """The region of that code (case-insensitive); ValueError for one the sandbox lacks."""
    found = REGIONS.get(str(code).strip().upper())
    if found is None:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, not {code!r}")
    return found


def account_records(region_code: str = "AU") -> list[dict[str, Any]]:
    """The default accounts as records (without ids and timestamps, which the store adds)."""
    settings = region(region_code)
    records = []
    for code, name, kind, tax_type, extra in settings.accounts:
        record: dict[str, Any] = {
            "Code": code,
            "Name": name,
            "Type": kind,
            "Status": "ACTIVE",
            "TaxType": tax_type,
            # Bank accounts take payments by nature; Xero's flag is for other accounts.
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": kind in ("EXPENSE", "OVERHEADS"),
            "Class": ACCOUNT_CLASS[kind],
            "ReportingCode": "",
            "HasAttachments": False,
            "AddToWatchlist": False,
        }
        if kind == "BANK":
            record["CurrencyCode"] = settings.base_currency
        record.update(extra)
        records.append(record)
    return records


def tax_rate_records(region_code: str = "AU") -> list[dict[str, Any]]:
    """The default tax rates as records."""
    settings = region(region_code)
    records = []
    for tax_type, name, rate, report, applies in settings.tax_rates:
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
                        "Name": settings.tax_component,
                        "Rate": Decimal(rate),
                        "IsCompound": False,
                        "IsNonRecoverable": False,
                    }
                ],
            }
        )
    return records
