"""Payments, overpayments, allocations and deletions."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from support.mapping_strategies import CONTACT, XERO_INVOICE, org_mapping

from pm_xero_plugin.mapping.config import MappingError
from pm_xero_plugin.mapping.documents import credit_note_allocation_payload
from pm_xero_plugin.mapping.payments import (
    overpayment_excess,
    overpayment_payload,
    payment_payload,
)

OTHER_INVOICE = "0e1d2c3b-4a59-4687-b7a6-958473625140"


def payment(amount: str = "150.00", method: str = "card", **overrides: Any) -> dict[str, Any]:
    return {
        "id": "pay-1",
        "number": 12,
        "location_id": "loc-syd",
        "client_id": "c-1",
        "paid_date": "2025-03-02",
        "amount": amount,
        "currency": "AUD",
        "method": method,
        "allocations": [
            {"invoice_id": "inv-1", "amount": "100.00"},
            {"invoice_id": "inv-2", "amount": "30.00"},
        ],
        "updated_at": "2025-03-02T10:00:00+11:00",
        **overrides,
    }


def test_payment_applies_one_allocation_with_the_method_account_and_reference() -> None:
    record = payment()
    assert payment_payload(
        record, record["allocations"][0], org_mapping(), invoice_id=XERO_INVOICE
    ) == {
        "Invoice": {"InvoiceID": XERO_INVOICE},
        "Account": {"Code": "092"},
        "Date": "2025-03-02",
        "Amount": 100.0,
        "Reference": "PAY12",
    }


def test_every_allocation_of_a_payment_carries_the_same_reference() -> None:
    record = payment()
    references = {
        payment_payload(record, allocation, org_mapping(), invoice_id=invoice_id)["Reference"]
        for allocation, invoice_id in zip(
            record["allocations"], [XERO_INVOICE, OTHER_INVOICE], strict=True
        )
    }
    assert references == {"PAY12"}


@pytest.mark.parametrize(
    ("method", "code"), [("cash", "090"), ("bank_transfer", "091"), ("stripe", "093")]
)
def test_payment_account_follows_the_method(method: str, code: str) -> None:
    record = payment(method=method)
    body = payment_payload(record, record["allocations"][0], org_mapping(), invoice_id=XERO_INVOICE)
    assert body["Account"] == {"Code": code}


def test_unmapped_payment_method_names_the_setting() -> None:
    mapped = org_mapping()
    unmapped = {method: code for method, code in mapped.payments.items() if method != "stripe"}
    m = replace(mapped, payments=MappingProxyType(unmapped))
    record = payment(method="stripe")
    with pytest.raises(MappingError) as caught:
        payment_payload(record, record["allocations"][0], m, invoice_id=XERO_INVOICE)
    assert caught.value.field == "account_codes.payments.stripe"
    assert "payment PAY12" in caught.value.message


@pytest.mark.parametrize("amount", ["0", "-5.00", "lots"])
def test_allocation_amount_must_be_a_positive_amount(amount: str) -> None:
    with pytest.raises(MappingError, match="payment PAY12") as caught:
        payment_payload(
            payment(),
            {"invoice_id": "inv-1", "amount": amount},
            org_mapping(),
            invoice_id=XERO_INVOICE,
        )
    assert caught.value.field == "amount"


def test_excess_is_what_the_allocations_leave() -> None:
    assert overpayment_excess(payment("150.00")) == Decimal("20.00")
    assert overpayment_excess(payment("130.00")) == Decimal("0.00")
    with pytest.raises(
        MappingError, match=re.escape("add up to 130.00, more than the 120.00")
    ) as caught:
        overpayment_excess(payment("120.00"), org_mapping())
    assert caught.value.field == "allocations"


def test_overpayment_is_a_receive_overpayment_bank_transaction() -> None:
    body = overpayment_payload(payment(), org_mapping(shared=True), contact_id=CONTACT)
    assert body == {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": CONTACT},
        "BankAccount": {"Code": "092"},
        "LineItems": [
            {
                "Description": "Overpayment on payment PAY12",
                "Quantity": 1.0,
                "UnitAmount": 20.0,
                "LineAmount": 20.0,
                "Tracking": [{"Name": "Location", "Option": "Sydney"}],
            }
        ],
        "LineAmountTypes": "NoTax",
        "Date": "2025-03-02",
        "Reference": "PAY12",
        "CurrencyCode": "AUD",
    }


def test_payment_with_no_excess_has_no_overpayment() -> None:
    with pytest.raises(MappingError, match="has no overpayment"):
        overpayment_payload(payment("130.00"), org_mapping(), contact_id=CONTACT)


def test_overpayment_lines_carry_no_account_code_as_xero_posts_them_to_receivables() -> None:
    body = overpayment_payload(payment(), org_mapping(), contact_id=CONTACT)
    assert all("AccountCode" not in line for line in body["LineItems"])


def test_credit_note_allocation_defaults_to_the_whole_credit_on_its_date() -> None:
    note = {"number": 7, "total": "55.00", "date": "2025-03-05"}
    assert credit_note_allocation_payload(note, invoice_id=XERO_INVOICE) == {
        "Invoice": {"InvoiceID": XERO_INVOICE},
        "Amount": 55.0,
        "Date": "2025-03-05",
    }
    partial = credit_note_allocation_payload(
        note, invoice_id=XERO_INVOICE, amount=Decimal("12.5"), date="2025-03-06"
    )
    assert (partial["Amount"], partial["Date"]) == (12.5, "2025-03-06")
