"""Reading Xero's answers: the response schemas the client reads every batch's elements with
(ids, amounts as Decimal, dates without a zone shift, every message), new fields ignored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from pm_xero_plugin.xero.responses import element_id, parse_elements, validation_messages


def test_invoice_answer_loads_ids_amounts_status_and_errors() -> None:
    body = {
        "Id": "x",
        "Status": "OK",
        "Invoices": [
            {
                "InvoiceID": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
                "InvoiceNumber": "INV121",
                "Status": "AUTHORISED",
                "Total": 104.56,
                "AmountDue": 104.56,
                "AmountPaid": 0.0,
                "Date": "/Date(1740787200000+0000)/",
                "UpdatedDateUTC": "/Date(1740822000000+0000)/",
                "StatusAttributeString": "OK",
                "SomethingNew": {"Xero": "adds fields"},
            },
            {
                "InvoiceNumber": "INV122",
                "StatusAttributeString": "ERROR",
                "ValidationErrors": [
                    {"Message": "Account code '999' is not a valid code for this document."},
                    {"Message": "Invoice # must be unique."},
                ],
                "Warnings": [{"Message": "Only AUTHORISED invoices may have SentToContact"}],
            },
        ],
    }
    ok, failed = parse_elements("Invoices", body)
    assert ok["invoice_id"] == "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
    assert ok["total"] == Decimal("104.56")
    assert ok["amount_paid"] == Decimal("0.0")
    assert ok["date"] == date(2025, 3, 1)
    assert ok["updated_date_utc"] == datetime(2025, 3, 1, 9, 40, tzinfo=UTC)
    assert ok["validation_errors"] == []
    assert failed["status_attribute_string"] == "ERROR"
    assert failed["validation_errors"] == [
        "Account code '999' is not a valid code for this document.",
        "Invoice # must be unique.",
    ]
    assert failed["warnings"] == ["Only AUTHORISED invoices may have SentToContact"]
    assert failed["invoice_id"] is None


@pytest.mark.parametrize(
    ("collection", "element", "expected"),
    [
        (
            "Contacts",
            {
                "ContactID": "c",
                "ContactNumber": "C42",
                "Name": "Jane (C42)",
                "ContactStatus": "ACTIVE",
            },
            {"contact_id": "c", "contact_number": "C42", "contact_status": "ACTIVE"},
        ),
        ("CreditNotes", {"CreditNoteID": "n", "CreditNoteNumber": "CN7"}, {"credit_note_id": "n"}),
        (
            "Payments",
            {"PaymentID": "p", "Reference": "PAY12", "Amount": 30.1, "Invoice": {"InvoiceID": "i"}},
            {
                "payment_id": "p",
                "amount": Decimal("30.1"),
                "invoice": {"invoice_id": "i", "invoice_number": None},
            },
        ),
        (
            "BankTransactions",
            {"BankTransactionID": "b", "OverpaymentID": "o", "Type": "RECEIVE-OVERPAYMENT"},
            {"bank_transaction_id": "b", "overpayment_id": "o"},
        ),
        (
            "Allocations",
            {"AllocationID": "a", "Amount": 5},
            {"allocation_id": "a", "amount": Decimal(5)},
        ),
    ],
)
def test_each_collection_loads_the_fields_the_worker_needs(
    collection: str, element: dict[str, object], expected: dict[str, object]
) -> None:
    (loaded,) = parse_elements(collection, {collection: [element]})
    assert {key: loaded[key] for key in expected} == expected


def test_a_malformed_answer_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        parse_elements("Invoices", {"Invoices": [{"Date": "yesterday"}]})


def test_the_id_kept_is_the_documents_and_a_bank_transaction_keeps_its_overpayment() -> None:
    (over,) = parse_elements(
        "BankTransactions", {"BankTransactions": [{"BankTransactionID": "b", "OverpaymentID": "o"}]}
    )
    (plain,) = parse_elements(
        "BankTransactions", {"BankTransactions": [{"BankTransactionID": "b"}]}
    )
    (refused,) = parse_elements(
        "Invoices", {"Invoices": [{"InvoiceID": "00000000-0000-0000-0000-000000000000"}]}
    )
    assert element_id("BankTransactions", over) == "o"
    assert element_id("BankTransactions", plain) == "b"
    assert element_id("Invoices", refused) is None


def test_a_refused_requests_messages_never_crash_on_an_odd_element() -> None:
    assert validation_messages({"ValidationErrors": [{"Message": "Bad"}, {"Message": ""}]}) == [
        "Bad"
    ]
    assert validation_messages({"ValidationErrors": "not a list"}) == []
