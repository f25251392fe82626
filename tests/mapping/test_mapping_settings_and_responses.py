"""OrgMapping from the plugin settings, and reading Xero's answers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from marshmallow import ValidationError
from support.mapping_strategies import TENANT, settings_dict

from pm_xero_plugin.mapping.config import MappingError, OrgMapping, Tracking
from pm_xero_plugin.xero.responses import parse_elements


def test_settings_are_flattened_for_one_organisation() -> None:
    m = OrgMapping.from_settings(settings_dict(), TENANT, "loc-syd")
    assert m.default_income == "200"
    assert m.income["grooming"] == "203"
    assert "default" not in m.income
    assert m.payments["cash"] == "090"
    assert (m.credit_notes, m.overpayments, m.rounding) == ("210", "610", "860")
    assert m.rounding_tolerance == Decimal("0.02")
    assert m.tracking is None
    assert m.currency is None


def test_shared_mode_tracking_comes_from_the_location() -> None:
    m = OrgMapping.from_settings(settings_dict(shared=True), TENANT, "loc-syd")
    assert m.tracking == Tracking("Location", "Sydney")


def test_tax_rate_keys_are_canonical() -> None:
    settings = settings_dict()
    settings["account_codes"][TENANT]["tax_types"] = {"10.0": "OUTPUT", "0.00": "EXEMPTOUTPUT"}
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    assert dict(m.tax_types) == {"10": "OUTPUT", "0": "EXEMPTOUTPUT"}


def test_organisation_without_account_codes_is_an_error() -> None:
    with pytest.raises(MappingError, match="no account codes") as caught:
        OrgMapping.from_settings(settings_dict(), "another-tenant", "loc-syd")
    assert caught.value.field == "account_codes"


@pytest.mark.parametrize(("field", "value"), [("rounding_tolerance", "-1"), ("currency", "AU")])
def test_malformed_options_are_errors(field: str, value: str) -> None:
    with pytest.raises(MappingError) as caught:
        OrgMapping.from_settings({**settings_dict(), field: value}, TENANT, "loc-syd")
    assert caught.value.field == field


def test_mapping_cannot_change_once_built() -> None:
    m = OrgMapping.from_settings(settings_dict(), TENANT, "loc-syd")
    with pytest.raises(TypeError):
        m.payments["cash"] = "999"  # type: ignore[index]


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
