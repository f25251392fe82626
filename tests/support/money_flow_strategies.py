"""Payouts, deposits and refunds for the mapping tests: hand-written ones and Hypothesis
strategies within the shapes of hookspecs/records.py, and org mappings with the money flows'
account codes (deposits, vouchers, card fees, the payout bank) set."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from pm_xero_plugin.mapping.config import OrgMapping
from support.mapping_strategies import METHODS, TENANT, iso_dates, numbers, settings_dict, uuids

MONEY_FLOW_CODES = {"deposits": "094", "vouchers": "095", "card_fees": "406", "payout_bank": "090"}
"""Customer deposits, gift vouchers (the voucher method draws on it), card processing fees and
the bank payouts land in (``090``; card payments by ``stripe`` go to clearing account ``093``)."""


def money_flow_settings(*, shared: bool = False, currency: str | None = None) -> dict[str, Any]:
    """The settings of :func:`support.mapping_strategies.settings_dict` with every money-flow
    code mapped."""
    raw = settings_dict(shared=shared, currency=currency)
    org = raw["account_codes"][TENANT]
    org.update(MONEY_FLOW_CODES)
    org["payments"]["voucher"] = MONEY_FLOW_CODES["vouchers"]
    org["income"]["voucher"] = "206"  # where a voucher sold went before the voucher account
    return raw


def money_flow_mapping(*, shared: bool = False, currency: str | None = None) -> OrgMapping:
    """Sydney's mapping with every money-flow code set."""
    return OrgMapping.from_settings(
        money_flow_settings(shared=shared, currency=currency), TENANT, "loc-syd"
    )


def payout(**overrides: Any) -> dict[str, Any]:
    """Stripe payout PO7: 500.00 of card payments less 12.30 of fees, 487.70 to the bank."""
    return {
        "id": "po-7",
        "number": 7,
        "location_id": "loc-syd",
        "method": "stripe",
        "paid_date": "2025-03-10",
        "currency": "AUD",
        "gross": "500.00",
        "fees": "12.30",
        "amount": "487.70",
        "payment_ids": ["pay-1", "pay-2"],
        "refund_ids": [],
        "processor_reference": "po_1NxYz",
        "updated_at": "2025-03-10T09:00:00+11:00",
        **overrides,
    }


def deposit(**overrides: Any) -> dict[str, Any]:
    """Deposit DEP12: 100.00 by card for a stay in May, 60.00 of it applied to one invoice."""
    return {
        "id": "dep-12",
        "number": 12,
        "location_id": "loc-syd",
        "client_id": "c-1",
        "paid_date": "2025-03-01",
        "amount": "100.00",
        "currency": "AUD",
        "method": "card",
        "allocations": [{"invoice_id": "inv-1", "amount": "60.00"}],
        "reference": "Stay 4-8 May (Rex)",
        "updated_at": "2025-03-01T09:00:00+11:00",
        **overrides,
    }


REFUND_SOURCES = {
    "credit_note": "credit_note_id",
    "overpayment": "payment_id",
    "deposit": "deposit_id",
}
"""The credit a refund comes out of -> the refund's field that names it."""


def refund(source: str = "deposit", **overrides: Any) -> dict[str, Any]:
    """Refund RF3: 40.00 back by card out of one credit (``source``: a key of
    :data:`REFUND_SOURCES`)."""
    return {
        "id": "rf-3",
        "number": 3,
        "location_id": "loc-syd",
        "client_id": "c-1",
        "paid_date": "2025-03-20",
        "amount": "40.00",
        "currency": "AUD",
        "method": "card",
        REFUND_SOURCES[source]: f"{source}-1",
        "reason": "Booking cancelled",
        "updated_at": "2025-03-20T09:00:00+11:00",
        **overrides,
    }


money_flow_mappings = st.sampled_from(
    [
        money_flow_mapping(),
        money_flow_mapping(shared=True),
        money_flow_mapping(shared=True, currency="NZD"),
    ]
)


def _money(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=2)


texts = st.one_of(st.none(), st.text(max_size=300))


@st.composite
def payouts(draw: st.DrawFn, *, min_fees: str = "0") -> dict[str, Any]:
    """A payout of a card method (its clearing account is not the payout bank), fees from none
    to many, gross - fees = amount."""
    amount = draw(_money("0.01", "50000"))
    fees = draw(_money(min_fees, "900"))
    payment_ids = draw(st.lists(uuids, min_size=1, max_size=20, unique=True))
    return {
        "id": draw(uuids),
        "number": draw(numbers),
        "location_id": "loc-syd",
        "method": draw(st.sampled_from(["stripe", "card", "eftpos"])),
        "paid_date": draw(iso_dates),
        "currency": draw(st.sampled_from(["AUD", "NZD"])),
        "gross": str(amount + fees),
        "fees": str(fees),
        "amount": str(amount),
        "payment_ids": payment_ids,
        "refund_ids": draw(st.lists(uuids, max_size=3, unique=True)),
        "processor_reference": draw(texts),
        "updated_at": "2025-03-01T09:00:00+11:00",
    }


@st.composite
def deposits(draw: st.DrawFn) -> dict[str, Any]:
    """A deposit held, or applied in part or in full to 1-3 invoices."""
    allocations = draw(
        st.lists(
            st.fixed_dictionaries({"invoice_id": uuids, "amount": _money("0.01", "2000").map(str)}),
            max_size=3,
            unique_by=lambda a: a["invoice_id"],
        )
    )
    applied = sum((Decimal(a["amount"]) for a in allocations), Decimal(0))
    return {
        "id": draw(uuids),
        "number": draw(numbers),
        "location_id": "loc-syd",
        "client_id": draw(uuids),
        "paid_date": draw(iso_dates),
        "amount": str(applied + draw(_money("0.01" if not allocations else "0", "900"))),
        "currency": draw(st.sampled_from(["AUD", "aud", "NZD"])),
        "method": draw(st.sampled_from([m for m in METHODS if m != "voucher"])),
        "allocations": allocations,
        "reference": draw(texts),
        "updated_at": "2025-03-01T09:00:00+11:00",
    }


@st.composite
def refunds(draw: st.DrawFn, source: str | None = None) -> dict[str, Any]:
    """A refund out of a credit note, an overpayment or a deposit (``source``: that one)."""
    source = source or draw(st.sampled_from(sorted(REFUND_SOURCES)))
    return {
        "id": draw(uuids),
        "number": draw(numbers),
        "location_id": "loc-syd",
        "client_id": draw(uuids),
        "paid_date": draw(iso_dates),
        "amount": str(draw(_money("0.01", "5000"))),
        "currency": "AUD",
        "method": draw(st.sampled_from(METHODS)),
        REFUND_SOURCES[source]: draw(uuids),
        "reason": draw(texts),
        "updated_at": "2025-03-01T09:00:00+11:00",
    }
