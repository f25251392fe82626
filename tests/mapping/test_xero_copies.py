"""Xero's elements summarised as the reconciliation compares them (docs/reconciliation.md,
"Xero copy summaries"): the same shape from a read and from a write's answer."""

from __future__ import annotations

import pytest

from pm_xero_plugin.mapping.xero_copies import summarise

INVOICE = {
    "InvoiceID": "AAAA0000-0000-0000-0000-000000000001",
    "InvoiceNumber": "INV12",
    "Type": "ACCREC",
    "Contact": {"ContactID": "CCCC0000-0000-0000-0000-000000000001", "Name": "Ann Lee"},
    "Date": "/Date(1740787200000+0000)/",
    "Status": "AUTHORISED",
    "Total": 120.0,
    "AmountPaid": 40.1,
    "AmountCredited": 20,
    "AmountDue": 59.9,
    "Payments": [
        {"PaymentID": "PPPP0000-0000-0000-0000-000000000001", "Amount": 40.1},
    ],
    "CreditNotes": [
        {"CreditNoteID": "NNNN0000-0000-0000-0000-000000000001", "AppliedAmount": 15},
        {"CreditNoteID": "NNNN0000-0000-0000-0000-000000000001", "AppliedAmount": 5},
    ],
    "UpdatedDateUTC": "/Date(1740820412345+0000)/",
}


def test_an_invoice_keeps_its_amounts_as_two_place_strings_and_its_ids_lower_case() -> None:
    summary, updated = summarise("invoice", INVOICE)

    assert summary == {
        "number": "INV12",
        "contact_id": "cccc0000-0000-0000-0000-000000000001",
        "date": "2025-03-01",
        "status": "AUTHORISED",
        "total": "120.00",
        "amount_paid": "40.10",
        "amount_credited": "20.00",
        "amount_due": "59.90",
        "payments": {"pppp0000-0000-0000-0000-000000000001": "40.10"},
        "credits": {"nnnn0000-0000-0000-0000-000000000001": "20.00"},
        "overpayments": {},
        "prepayments": {},
    }
    assert updated == "2025-03-01T09:13:32.345+00:00"


def test_a_contact_with_a_blank_email_has_none_and_the_zero_id_is_not_a_merge() -> None:
    summary, updated = summarise(
        "contact",
        {
            "ContactID": "x",
            "Name": "Ann Lee (C1)",
            "EmailAddress": "  ",
            "ContactNumber": "C1",
            "ContactStatus": "ARCHIVED",
            "MergedToContactID": "00000000-0000-0000-0000-000000000000",
        },
    )

    assert summary == {
        "name": "Ann Lee (C1)",
        "email": None,
        "number": "C1",
        "status": "ARCHIVED",
        "merged_to": None,
    }
    assert updated is None


def test_a_credit_note_sums_its_allocations_per_invoice() -> None:
    summary, _ = summarise(
        "credit_note",
        {
            "CreditNoteNumber": "CN3",
            "Contact": {"ContactID": "C-1"},
            "Date": "2025-02-12T00:00:00",
            "Status": "PAID",
            "Total": 10,
            "RemainingCredit": 0,
            "Allocations": [
                {"Invoice": {"InvoiceID": "I-9"}, "Amount": 6},
                {"Invoice": {"InvoiceID": "I-9"}, "Amount": 4},
            ],
        },
    )

    assert summary["allocations"] == {"i-9": "10.00"}
    assert (summary["date"], summary["remaining"], summary["contact_id"]) == (
        "2025-02-12",
        "0.00",
        "c-1",
    )


def test_a_payment_on_a_credit_note_names_no_invoice() -> None:
    summary, _ = summarise(
        "payment",
        {
            "PaymentID": "P-1",
            "CreditNote": {"CreditNoteID": "N-1"},
            "Amount": 5,
            "Date": "/Date(1740787200000+0000)/",
            "Status": "DELETED",
            "Reference": "RF1",
            "PaymentType": "ARCREDITPAYMENT",
        },
    )

    assert summary == {
        "invoice_id": None,
        "amount": "5.00",
        "date": "2025-03-01",
        "status": "DELETED",
        "reference": "RF1",
        "payment_type": "ARCREDITPAYMENT",
    }


def test_an_overpayment_keeps_its_remaining_credit_and_allocations() -> None:
    summary, _ = summarise(
        "overpayment",
        {
            "OverpaymentID": "O-1",
            "Contact": {"ContactID": "C-1"},
            "Date": "2025-02-11",
            "Status": "AUTHORISED",
            "Total": 4.5,
            "RemainingCredit": 4.5,
            "Allocations": [],
        },
    )

    assert summary == {
        "contact_id": "c-1",
        "date": "2025-02-11",
        "status": "AUTHORISED",
        "total": "4.50",
        "remaining": "4.50",
        "allocations": {},
    }


def test_a_kind_not_read_back_is_refused() -> None:
    with pytest.raises(ValueError, match="deposit"):
        summarise("deposit", {})
