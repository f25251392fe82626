"""Organisations: what a fresh Xero organisation holds before anyone syncs to it.

Each organisation starts with a chart of accounts a pet business would really have – revenue
codes per service, bank and clearing accounts, receivables, rounding, and an archived code – and
the tax rates of its region, so that account-code and tax-type rules have something to bite on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["REGIONS", "Org", "new_org"]

# region -> (currency, country, version, revenue tax, expense tax, no-tax, tax rates)
_TaxRow = tuple[str, str, str, str]  # TaxType, Name, rate, applies-to (R=revenue, E=expense, *)

REGIONS: dict[str, dict[str, Any]] = {
    "AU": {
        "currency": "AUD",
        "country": "AU",
        "timezone": "AUSEASTERNSTANDARDTIME",
        "revenue_tax": "OUTPUT",
        "expense_tax": "INPUT",
        "none_tax": "BASEXCLUDED",
        "rates": [
            ("OUTPUT", "GST on Income", "10", "R"),
            ("INPUT", "GST on Expenses", "10", "E"),
            ("EXEMPTOUTPUT", "GST Free Income", "0", "R"),
            ("EXEMPTEXPENSES", "GST Free Expenses", "0", "E"),
            ("INPUTTAXED", "Input Taxed", "0", "*"),
            ("BASEXCLUDED", "BAS Excluded", "0", "*"),
        ],
    },
    "NZ": {
        "currency": "NZD",
        "country": "NZ",
        "timezone": "NEWZEALANDSTANDARDTIME",
        "revenue_tax": "OUTPUT2",
        "expense_tax": "INPUT2",
        "none_tax": "NONE",
        "rates": [
            ("OUTPUT2", "15% GST on Income", "15", "R"),
            ("INPUT2", "15% GST on Expenses", "15", "E"),
            ("ZERORATED", "Zero Rated", "0", "R"),
            ("EXEMPTOUTPUT", "Exempt Income", "0", "R"),
            ("NONE", "No GST", "0", "*"),
        ],
    },
    "UK": {
        "currency": "GBP",
        "country": "GB",
        "timezone": "GMTSTANDARDTIME",
        "revenue_tax": "OUTPUT2",
        "expense_tax": "INPUT2",
        "none_tax": "NONE",
        "rates": [
            ("OUTPUT2", "20% (VAT on Income)", "20", "R"),
            ("INPUT2", "20% (VAT on Expenses)", "20", "E"),
            ("RROUTPUT", "5% (VAT on Income)", "5", "R"),
            ("ZERORATEDOUTPUT", "Zero Rated Income", "0", "R"),
            ("EXEMPTOUTPUT", "Exempt Income", "0", "R"),
            ("NONE", "No VAT", "0", "*"),
        ],
    },
}

# Code, Name, Type, Class, tax kind (revenue/expense/none), status, enable payments
_CHART: list[tuple[str, str, str, str, str, str, bool]] = [
    ("090", "Business Bank Account", "BANK", "ASSET", "none", "ACTIVE", False),
    ("091", "Business Savings Account", "BANK", "ASSET", "none", "ACTIVE", False),
    ("092", "Stripe Clearing", "BANK", "ASSET", "none", "ACTIVE", False),
    ("093", "Card Clearing", "CURRENT", "ASSET", "none", "ACTIVE", True),
    ("094", "Customer Deposits", "CURRLIAB", "LIABILITY", "none", "ACTIVE", False),
    ("095", "Gift Vouchers", "CURRLIAB", "LIABILITY", "none", "ACTIVE", True),
    ("200", "Sales", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("201", "Boarding", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("202", "Daycare", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("203", "Grooming", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("204", "Retail Products", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("205", "Extras", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("206", "Old Kennel Fees", "REVENUE", "REVENUE", "revenue", "ARCHIVED", False),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "revenue", "ACTIVE", False),
    ("270", "Interest Income (old)", "REVENUE", "REVENUE", "none", "ARCHIVED", False),
    ("420", "Interest Income", "OTHERINCOME", "REVENUE", "none", "ACTIVE", False),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "expense", "ACTIVE", False),
    ("400", "Advertising", "EXPENSE", "EXPENSE", "expense", "ACTIVE", False),
    ("404", "Bank Fees", "EXPENSE", "EXPENSE", "none", "ACTIVE", False),
    ("406", "Card Processing Fees", "EXPENSE", "EXPENSE", "none", "ACTIVE", False),
    ("429", "General Expenses", "EXPENSE", "EXPENSE", "expense", "ACTIVE", False),
    ("469", "Rent", "EXPENSE", "EXPENSE", "expense", "ACTIVE", False),
    ("610", "Accounts Receivable", "CURRENT", "ASSET", "none", "ACTIVE", False),
    ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "none", "ACTIVE", False),
    ("820", "GST", "CURRLIAB", "LIABILITY", "none", "ACTIVE", False),
    ("860", "Rounding", "CURRLIAB", "LIABILITY", "none", "ACTIVE", False),
    ("960", "Retained Earnings", "EQUITY", "EQUITY", "none", "ACTIVE", False),
]

_SYSTEM = {
    "610": "DEBTORS",
    "800": "CREDITORS",
    "820": "GST",
    "860": "ROUNDING",
    "960": "RETAINEDEARNINGS",
}


@dataclass
class Org:
    """Everything one organisation (tenant) stores. Documents are kept in Xero's shape."""

    tenant_id: str
    name: str
    region: str
    short_code: str
    created: datetime
    accounts: list[dict[str, Any]]
    tax_rates: list[dict[str, Any]]
    tracking_categories: list[dict[str, Any]]
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    bank_transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    overpayments: dict[str, dict[str, Any]] = field(default_factory=dict)
    prepayments: dict[str, dict[str, Any]] = field(default_factory=dict)
    bank_transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        """The organisation's base currency, from its region."""
        return str(REGIONS[self.region]["currency"])

    def next_number(self, prefix: str) -> str:
        """Xero's automatic numbering (``INV-0001``) for documents sent without a number."""
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]:04d}"

    def account(
        self, code: str | None = None, account_id: str | None = None
    ) -> dict[str, Any] | None:
        """The chart's account with this code or id, or ``None``."""
        for acc in self.accounts:
            if (code is not None and acc["Code"] == code) or (
                account_id is not None and acc["AccountID"].lower() == str(account_id).lower()
            ):
                return acc
        return None

    def tax_rate(self, tax_type: str) -> dict[str, Any] | None:
        """The tax rate with this TaxType, or ``None``."""
        return next((t for t in self.tax_rates if t["TaxType"] == tax_type), None)

    def organisation(self, locks: Any = None) -> dict[str, Any]:
        """The ``/Organisation`` record; `locks` (a `LockDates`) gives both lock dates."""
        period = getattr(locks, "period", None)
        end_of_year = getattr(locks, "end_of_year", None)
        region = REGIONS[self.region]
        return {
            "OrganisationID": self.tenant_id,
            "APIKey": "",
            "Name": self.name,
            "LegalName": self.name,
            "PaysTax": True,
            "Version": region["country"] if self.region != "UK" else "UK",
            "OrganisationType": "COMPANY",
            "BaseCurrency": region["currency"],
            "CountryCode": region["country"],
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 30 if self.region == "AU" else 31,
            "FinancialYearEndMonth": 6 if self.region == "AU" else 3,
            "SalesTaxBasis": "ACCRUALS",
            "SalesTaxPeriod": "QUARTERLY",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            **({"PeriodLockDate": period} if period else {}),
            **({"EndOfYearLockDate": end_of_year} if end_of_year else {}),
            "CreatedDateUTC": self.created,
            "OrganisationEntityType": "COMPANY",
            "Timezone": region["timezone"],
            "ShortCode": self.short_code,
            "Edition": "BUSINESS",
            "Class": "PREMIUM",
        }


def _tax_rates(region: str) -> list[dict[str, Any]]:
    rows: list[_TaxRow] = REGIONS[region]["rates"]
    out = []
    for tax_type, name, rate, applies in rows:
        r = Decimal(rate)
        out.append(
            {
                "Name": name,
                "TaxType": tax_type,
                "ReportTaxType": "OUTPUT"
                if applies == "R"
                else "INPUT"
                if applies == "E"
                else "NONE",
                # Income rates stay off expense accounts and vice versa; balance-sheet accounts
                # (rounding, clearing) take any rate, as in Xero.
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": applies != "R",
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": applies != "E",
                "DisplayTaxRate": r,
                "EffectiveRate": r,
                "Status": "ACTIVE",
                "TaxComponents": [
                    {
                        "Name": name.split(" on ")[0],
                        "Rate": r,
                        "IsCompound": False,
                        "IsNonRecoverable": False,
                    }
                ],
            }
        )
    return out


def new_org(name: str, region: str, tenant_id: str, created: datetime) -> Org:
    """A freshly created organisation with its region's chart of accounts and tax rates."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {sorted(REGIONS)}")
    info = REGIONS[region]
    accounts = []
    for code, acc_name, typ, cls, tax_kind, status, enable_pay in _CHART:
        tax_type = info[f"{tax_kind}_tax"]
        acc: dict[str, Any] = {
            "AccountID": str(uuid.uuid5(uuid.UUID(tenant_id), code)),
            "Code": code,
            "Name": acc_name,
            "Status": status,
            "Type": typ,
            "TaxType": tax_type,
            "Class": cls,
            "EnablePaymentsToAccount": enable_pay,
            "ShowInExpenseClaims": False,
            "ReportingCode": cls[:3],
            "HasAttachments": False,
            "UpdatedDateUTC": created,
            "AddToWatchlist": False,
        }
        if typ == "BANK":
            acc["BankAccountType"] = "BANK"
            acc["CurrencyCode"] = info["currency"]
            acc["BankAccountNumber"] = f"0620{code}0000{tenant_id[:4]}"
        if code in _SYSTEM:
            acc["SystemAccount"] = _SYSTEM[code]
        accounts.append(acc)
    location_id = str(uuid.uuid5(uuid.UUID(tenant_id), "tracking:Location"))
    tracking = [
        {
            "TrackingCategoryID": location_id,
            "Name": "Location",
            "Status": "ACTIVE",
            "Options": [
                {
                    "TrackingOptionID": str(uuid.uuid5(uuid.UUID(tenant_id), f"option:{opt}")),
                    "Name": opt,
                    "Status": "ACTIVE",
                }
                for opt in ("Main Street", "Riverside", "Hilltop")
            ],
        }
    ]
    return Org(
        tenant_id=tenant_id,
        name=name,
        region=region,
        short_code="!" + tenant_id.replace("-", "")[:5],
        created=created,
        accounts=accounts,
        tax_rates=_tax_rates(region),
        tracking_categories=tracking,
    )
