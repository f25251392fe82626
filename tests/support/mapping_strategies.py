"""Hypothesis strategies for host records within the shapes of hookspecs/records.py.

The records vary what matters to the payloads: many lines, discounts, the three line-amount
kinds, zero-tax and untaxed lines, unicode names and descriptions, payments split over several
invoices and payments that leave an overpayment. Totals are the host's own: Xero's per-line
total shifted by up to the tolerance, so that some documents need a rounding line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

from hypothesis import strategies as st

from hookspecs.records import PaymentMethod, RevenueCategory
from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.money import TaxLine, expected_total

CATEGORIES = get_args(RevenueCategory)
METHODS = get_args(PaymentMethod)
TAX_RATES = ["10", "10.00", "0", None, "15"]

TENANT = "8c7d6e2a-1f3b-4c5d-9e8f-0a1b2c3d4e5f"


# --- hand-written records for the example tests ---

CONTACT = "2f9d8c1e-4b3a-4d2c-8e1f-6a5b4c3d2e1f"
XERO_INVOICE = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"


def line(category: str = "boarding", **overrides: Any) -> dict[str, Any]:
    return {
        "description": f"{category} line",
        "category": category,
        "quantity": "1",
        "unit_price": "10.00",
        "tax_rate": "10",
        **overrides,
    }


def invoice(*lines: dict[str, Any], total: str = "11.00", **overrides: Any) -> dict[str, Any]:
    return {
        "id": "inv-1",
        "number": 121,
        "location_id": "loc-syd",
        "client_id": "c-1",
        "date": "2025-03-01",
        "due_date": "2025-03-15",
        "currency": "AUD",
        "line_amount_types": "exclusive",
        "status": "open",
        "lines": list(lines) or [line()],
        "total": total,
        "updated_at": "2025-03-01T09:00:00+11:00",
        **overrides,
    }


def credit_note(*lines: dict[str, Any], total: str = "11.00", **overrides: Any) -> dict[str, Any]:
    record = invoice(*lines, total=total, number=7, reason="Stay cut short", **overrides)
    for key in ("due_date", "status"):
        record.pop(key)
    return record


def settings_dict(*, shared: bool = False, currency: str | None = None) -> dict[str, Any]:
    """The plugin settings (README "Settings") for one organisation and two locations."""
    return {
        "enabled": True,
        "prefixes": {"client": "C", "invoice": "INV", "credit_note": "CN", "payment": "PAY"},
        "organisation_mode": "shared" if shared else "per_location",
        "locations": {
            "loc-syd": {
                "tenant_id": TENANT,
                "connection_enabled": True,
                "tracking_option": "Sydney",
            },
            "loc-mel": {"tenant_id": TENANT, "connection_enabled": True},
        },
        "tracking_category": "Location" if shared else None,
        "account_codes": {
            TENANT: {
                "income": {
                    "default": "200",
                    "boarding": "201",
                    "daycare": "202",
                    "grooming": "203",
                    "retail": "204",
                    "extras": "205",
                },
                "credit_notes": "210",
                "payments": {
                    "cash": "090",
                    "card": "092",
                    "eftpos": "092",
                    "bank_transfer": "091",
                    "stripe": "093",
                    "voucher": "094",
                },
                "overpayments": "610",
                "rounding": "860",
                "tax_types": {"10": "OUTPUT", "15": "OUTPUT2", "0": "EXEMPTOUTPUT"},
            }
        },
        "start_date": "2024-02-01",
        "rounding_tolerance": "0.02",
        "currency": currency,
    }


def org_mapping(*, shared: bool = False, currency: str | None = None) -> OrgMapping:
    return OrgMapping.from_settings(
        settings_dict(shared=shared, currency=currency), TENANT, "loc-syd"
    )


mappings = st.sampled_from(
    [org_mapping(), org_mapping(shared=True), org_mapping(shared=True, currency="NZD")]
)
uuids = st.uuids().map(str)
numbers = st.integers(min_value=1, max_value=9_999_999)
names = st.text(min_size=0, max_size=40)
iso_dates = st.dates().map(lambda d: d.isoformat())


def _money(low: str, high: str) -> st.SearchStrategy[str]:
    return st.decimals(Decimal(low), Decimal(high), places=2).map(str)


lines = st.fixed_dictionaries(
    {
        "description": st.text(max_size=80),
        "category": st.sampled_from(CATEGORIES),
        "quantity": st.decimals(Decimal("0.25"), Decimal("40"), places=2).map(str),
        # Up to 4 decimals, as the host may price (Xero keeps them with unitdp=4).
        "unit_price": st.one_of(
            _money("0", "999.99"),
            st.decimals(Decimal("0"), Decimal("99.9999"), places=4).map(str),
        ),
    },
    optional={
        "discount_rate": st.one_of(st.none(), st.sampled_from(["0", "5", "10", "12.5", "100"])),
        "tax_rate": st.sampled_from(TAX_RATES),
        "area_type": st.one_of(st.none(), st.text(max_size=20)),
    },
)


def _tax_line(line: dict[str, Any]) -> TaxLine:
    return TaxLine(
        Decimal(line["quantity"]),
        Decimal(line["unit_price"]),
        Decimal(line.get("discount_rate") or "0"),
        Decimal(line.get("tax_rate") or "0"),
    )


@st.composite
def _document(draw: st.DrawFn, *, credit: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(["exclusive", "inclusive", "no_tax"]))
    doc_lines = draw(st.lists(lines, min_size=1, max_size=25))
    # Credit-note discounts are folded into the unit amount line by line: the total is the same.
    total = expected_total([_tax_line(line) for line in doc_lines], kind)
    total += draw(st.sampled_from([Decimal("0"), Decimal("0.01"), Decimal("-0.02")]))
    record: dict[str, Any] = {
        "id": draw(uuids),
        "number": draw(numbers),
        "location_id": "loc-syd",
        "client_id": draw(uuids),
        "date": draw(iso_dates),
        "currency": draw(st.sampled_from(["AUD", "aud", "NZD", "GBP"])),
        "line_amount_types": kind,
        "lines": doc_lines,
        "total": str(total),
        "updated_at": "2025-03-01T09:00:00+11:00",
    }
    if credit:
        record["invoice_id"] = draw(st.one_of(st.none(), uuids))
        record["reason"] = draw(st.one_of(st.none(), st.text(max_size=300)))
    else:
        record["due_date"] = draw(iso_dates)
        record["status"] = "open"
        record["reference"] = draw(st.one_of(st.none(), st.text(max_size=60)))
    return record


invoices = _document(credit=False)
credit_notes = _document(credit=True)

clients = st.fixed_dictionaries(
    {
        "id": uuids,
        "number": numbers,
        "location_id": st.just("loc-syd"),
        "first_name": names,
        "last_name": names,
        "updated_at": st.just("2025-03-01T09:00:00+11:00"),
    },
    optional={
        "email": st.one_of(st.none(), st.emails().map(str), st.text(max_size=30)),
        "phone": st.one_of(st.none(), st.text(max_size=60)),
        "address": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    key: st.text(max_size=600)
                    for key in ("line1", "line2", "city", "region", "postcode", "country")
                },
            ),
        ),
        "customer_type": st.one_of(st.none(), st.sampled_from(["vip", "staff", "standard"])),
    },
)


@st.composite
def payments(draw: st.DrawFn, *, min_excess: str = "0") -> dict[str, Any]:
    """A payment over 1–5 invoices, possibly with money left over (an overpayment)."""
    allocations = draw(
        st.lists(
            st.fixed_dictionaries({"invoice_id": uuids, "amount": _money("0.01", "5000")}),
            min_size=1,
            max_size=5,
        )
    )
    allocated = sum((Decimal(item["amount"]) for item in allocations), Decimal(0))
    excess = draw(st.decimals(Decimal(min_excess), Decimal("500"), places=2))
    return {
        "id": draw(uuids),
        "number": draw(numbers),
        "location_id": "loc-syd",
        "client_id": draw(uuids),
        "paid_date": draw(iso_dates),
        "amount": str(allocated + excess),
        "currency": draw(st.sampled_from(["AUD", "NZD"])),
        "method": draw(st.sampled_from(METHODS)),
        "allocations": allocations,
        "updated_at": "2025-03-01T09:00:00+11:00",
    }
