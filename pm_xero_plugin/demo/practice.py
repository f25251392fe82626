"""The demo's practice as an admin sets it up: connected, and its settings chosen.

Public so that the end-to-end tests and the benchmarks set up the same practice the demo does –
locations connected through the real "Connect to Xero" redirect, account codes chosen from each
organisation's own chart of accounts, a tracking category where organisations are shared –
instead of copying the demo's private helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from pm_xero_plugin.xero.client import waiting_for_limits

if TYPE_CHECKING:
    from pm_xero_plugin.sync.runtime import XeroRuntime
    from pm_xero_plugin.xero.auth import Connection

__all__ = [
    "PREFIXES",
    "TRACKING_CATEGORY",
    "NotARedirect",
    "account_codes",
    "authorize",
    "codes_from_chart",
    "ensure_tracking_options",
    "practice_settings",
    "shared_tenants",
]

PREFIXES = {
    "client": "C",
    "invoice": "INV",
    "credit_note": "CN",
    "payment": "PAY",
    "deposit": "DEP",
    "refund": "RF",
    "payout": "PO",
}
"""Number prefixes in Xero (``INV1042``), so the add-on's documents are told from others."""

TRACKING_CATEGORY = "Location"
"""The tracking category that tells locations sharing one organisation apart."""

_REVENUE = ("REVENUE", "SALES", "OTHERINCOME")
_CATEGORY_WORDS = (
    ("boarding", "Boarding"),
    ("daycare", "Daycare"),
    ("grooming", "Grooming"),
    ("retail", "Retail"),
    ("extras", "Extras"),
)


class NotARedirect(Exception):
    """The authorize page answered something other than a redirect (``status_code`` says what)."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(f"the authorize page answered {status_code}, not a redirect")


def authorize(
    runtime: XeroRuntime, location_id: str, browser: httpx.Client, tenant: str | None = None
) -> list[Connection]:
    """ "Connect to Xero" for one location, as a browser does it: open the authorize URL (a
    sandbox consents at once, to ``tenant`` when given), follow its redirect to the callback and
    let the runtime complete the flow; returns the organisations the admin may choose from.

    :raises NotARedirect: the authorize page did not redirect.
    """
    url = runtime.connect_url(location_id)
    if tenant is not None:
        url += f"&tenant={tenant}"
    answer = browser.get(url, follow_redirects=False)
    if answer.status_code not in (302, 303) or "location" not in answer.headers:
        raise NotARedirect(answer.status_code)
    params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    return runtime.complete_connect(params)


def _pick(accounts: list[dict[str, Any]], *words: str, types: tuple[str, ...] = ()) -> str | None:
    """The code of the first active account whose name has one of ``words`` (of ``types``), else
    of the first active account of ``types``."""
    active = [a for a in accounts if a.get("Status") == "ACTIVE" and a.get("Code")]
    for word in words:
        for account in active:
            if word.lower() in str(account.get("Name", "")).lower() and (
                not types or account.get("Type") in types
            ):
                return str(account["Code"])
    if types:
        for account in active:
            if account.get("Type") in types:
                return str(account["Code"])
    return None


def _named(accounts: list[dict[str, Any]], word: str, types: tuple[str, ...]) -> str | None:
    """The code of the first active account of ``types`` whose name has ``word``, else ``None``:
    an optional code is chosen only where the chart has an account made for it."""
    for account in accounts:
        if (
            account.get("Status") == "ACTIVE"
            and account.get("Code")
            and account.get("Type") in types
            and word.lower() in str(account.get("Name", "")).lower()
        ):
            return str(account["Code"])
    return None


def _clearing(accounts: list[dict[str, Any]]) -> str | None:
    """The card processor's clearing account: a current asset taking payments ("Card
    Clearing"), which each payout empties into the bank."""
    for account in accounts:
        if (
            account.get("Status") == "ACTIVE"
            and account.get("Code")
            and account.get("Type") == "CURRENT"
            and account.get("EnablePaymentsToAccount")
            and "clearing" in str(account.get("Name", "")).lower()
        ):
            return str(account["Code"])
    return None


def _money_flow_codes(accounts: list[dict[str, Any]], bank: str) -> dict[str, Any]:
    """The optional codes of the money flows the chart has accounts for (deposits, vouchers,
    card fees, the bank payouts land in), and the payment methods drawing on them: stripe into
    the clearing account, vouchers redeemed out of the voucher liability."""
    found: dict[str, Any] = {}
    deposits = _named(accounts, "Deposit", ("CURRLIAB", "LIABILITY", "TERMLIAB"))
    vouchers = _named(accounts, "Voucher", ("CURRLIAB", "LIABILITY"))
    card_fees = _named(accounts, "Card", ("EXPENSE", "OVERHEADS"))
    clearing = _clearing(accounts)
    methods: dict[str, str] = {}
    if deposits:
        found["deposits"] = deposits
    if vouchers:
        found["vouchers"] = methods["voucher"] = vouchers
    if card_fees and clearing:
        found["card_fees"] = card_fees
        found["payout_bank"] = bank
        methods["stripe"] = clearing
    return found | {"methods": methods}


def _output_tax_types(rates: list[dict[str, Any]]) -> dict[str, str]:
    """Percent (``"10"``) → the organisation's active output tax type for it."""
    active = {str(r.get("TaxType")): r for r in rates if str(r.get("Status", "ACTIVE")) == "ACTIVE"}
    tax_types: dict[str, str] = {}
    for tax_type, rate in active.items():
        if "OUTPUT" not in tax_type or rate.get("CanApplyToRevenue") is False:
            continue
        percent = str(rate.get("EffectiveRate") or rate.get("DisplayTaxRate") or "0")
        tax_types.setdefault(format(float(percent), "g"), tax_type)
    return tax_types


def account_codes(runtime: XeroRuntime, tenant_id: str) -> dict[str, Any]:
    """Account codes chosen from the organisation's own chart, the way an admin would (one
    ``account_codes`` entry of the settings). Waits for Xero's limits: a re-run soon after a run
    meets the minute it used.

    The chart is read through the add-on's cache of charts (as its settings page reads it while
    the admin chooses), so saving the settings checks the codes against it instead of reading
    it from Xero a second time: two calls of the organisation's 60 a minute.

    :raises LookupError: the chart could not be read (the add-on's log says why).
    """
    chart = runtime.engine.chart
    runtime.connection_for_any(tenant_id)  # LookupError: no connection reaches it
    with waiting_for_limits():
        accounts = chart.read(tenant_id, "accounts", refresh=True)
        rates = chart.read(tenant_id, "tax_rates", refresh=True)
    if accounts is None or rates is None:
        raise LookupError(f"could not read the chart of accounts of organisation {tenant_id}")
    return codes_from_chart(accounts, rates)


def codes_from_chart(accounts: list[dict[str, Any]], rates: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`account_codes` of a chart already read (Xero's ``Accounts`` and ``TaxRates``)."""
    default = _pick(accounts, "Sales", types=_REVENUE) or "200"
    income = {"default": default}
    for category, word in _CATEGORY_WORDS:
        income[category] = _pick(accounts, word, types=_REVENUE) or default
    bank = _pick(accounts, "Business Bank", types=("BANK",)) or "090"
    clearing = _pick(accounts, "Clearing", types=("BANK",)) or bank
    flows = _money_flow_codes(accounts, bank)
    payments = {
        "cash": bank,
        "card": clearing,
        "eftpos": clearing,
        "bank_transfer": bank,
        "stripe": clearing,
        "voucher": bank,
    }
    return {
        "income": income,
        "credit_notes": default,
        "payments": payments | flows.pop("methods"),
        "overpayments": _pick(accounts, "Accounts Receivable") or "610",
        "rounding": _pick(accounts, "Rounding") or "860",
        "tax_types": _output_tax_types(rates),
    } | flows


def shared_tenants(tenants: Mapping[str, str]) -> set[str]:
    """The organisations more than one location syncs to (``tenants``: location → tenant)."""
    values = list(tenants.values())
    return {t for t in values if values.count(t) > 1}


def practice_settings(
    locations: Sequence[Mapping[str, Any]],
    tenants: Mapping[str, str],
    codes: Mapping[str, dict[str, Any]],
    start_date: str | None,
) -> dict[str, Any]:
    """The add-on's settings for a per-location practice: each location to its organisation
    (``tenants``), told apart by a tracking option where one is shared, with the account codes
    ``codes`` (tenant → :func:`account_codes`) and ``start_date`` (ISO, ``None``: not yet)."""
    shared = shared_tenants(tenants)
    return {
        "enabled": True,
        "prefixes": dict(PREFIXES),
        "organisation_mode": "per_location",
        "locations": {
            loc["id"]: {
                "tenant_id": tenants[loc["id"]],
                "connection_enabled": True,
                "tracking_option": loc["name"] if tenants[loc["id"]] in shared else None,
            }
            for loc in locations
        },
        "tracking_category": TRACKING_CATEGORY if shared else None,
        "account_codes": dict(codes),
        "start_date": start_date,
        "rounding_tolerance": "0.02",
    }


def ensure_tracking_options(
    runtime: XeroRuntime, locations: Sequence[Mapping[str, Any]], tenants: Mapping[str, str]
) -> None:
    """Create, in each shared organisation, the tracking options naming its locations."""
    for tenant_id in shared_tenants(tenants):
        names = [loc["name"] for loc in locations if tenants[loc["id"]] == tenant_id]
        with waiting_for_limits():
            runtime.ensure_tracking_options(tenant_id, TRACKING_CATEGORY, names)
