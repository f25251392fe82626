"""Invoices and credit notes: numbers, accounts, tax types, tracking, currency, descriptions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from support.mapping_strategies import (
    CONTACT,
    TENANT,
    XERO_INVOICE,
    credit_note,
    invoice,
    line,
    org_mapping,
    settings_dict,
)

from pm_xero_plugin.inputs.fields import MAX_DESCRIPTION
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.documents import (
    credit_note_payload,
    invoice_payload,
    void_invoice_payload,
)


def test_invoice_is_an_authorised_accrec_with_prefixed_number_and_dates() -> None:
    payload = invoice_payload(invoice(reference="Rex & Bella"), org_mapping(), contact_id=CONTACT)
    assert payload["Type"] == "ACCREC"
    assert payload["Status"] == "AUTHORISED"
    assert payload["InvoiceNumber"] == "INV121"
    assert payload["Reference"] == "Rex & Bella"
    assert payload["Contact"] == {"ContactID": CONTACT}
    assert (payload["Date"], payload["DueDate"]) == ("2025-03-01", "2025-03-15")
    assert payload["LineAmountTypes"] == "Exclusive"
    assert "InvoiceID" not in payload


def test_update_of_a_sent_invoice_carries_its_xero_id() -> None:
    payload = invoice_payload(
        invoice(), org_mapping(), contact_id=CONTACT, xero_invoice_id=XERO_INVOICE
    )
    assert payload["InvoiceID"] == XERO_INVOICE
    assert payload["InvoiceNumber"] == "INV121"


def test_void_names_the_invoice_by_id_and_number() -> None:
    assert void_invoice_payload(XERO_INVOICE, 121, org_mapping()) == {
        "InvoiceID": XERO_INVOICE,
        "InvoiceNumber": "INV121",
        "Status": "VOIDED",
    }


def test_changed_prefix_changes_the_number_sent() -> None:
    settings = settings_dict()
    settings["prefixes"]["invoice"] = "PM-"
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    assert invoice_payload(invoice(), m, contact_id=CONTACT)["InvoiceNumber"] == "PM-121"


@pytest.mark.parametrize(
    ("category", "code"),
    [("boarding", "201"), ("grooming", "203"), ("training", "200"), ("voucher", "200")],
)
def test_line_goes_to_its_category_income_account_or_the_default(category: str, code: str) -> None:
    payload = invoice_payload(invoice(line(category)), org_mapping(), contact_id=CONTACT)
    assert payload["LineItems"][0]["AccountCode"] == code


def test_missing_default_income_account_names_the_setting() -> None:
    # The settings page refuses this (parse_settings), but a mapping asks only when it needs one.
    m = replace(org_mapping(), default_income=None)
    with pytest.raises(MappingError) as caught:
        invoice_payload(invoice(line("training")), m, contact_id=CONTACT)
    assert caught.value.field == "account_codes.income.default"
    assert "invoice INV121 line 1" in str(caught.value)


@pytest.mark.parametrize(
    ("rate", "tax_type"),
    [("10", "OUTPUT"), ("10.00", "OUTPUT"), ("0", "EXEMPTOUTPUT"), (None, "EXEMPTOUTPUT")],
)
def test_tax_type_follows_the_line_tax_rate(rate: str | None, tax_type: str) -> None:
    total = "11.00" if rate and float(rate) else "10.00"
    payload = invoice_payload(
        invoice(line(tax_rate=rate), total=total), org_mapping(), contact_id=CONTACT
    )
    assert payload["LineItems"][0]["TaxType"] == tax_type


def test_unmapped_tax_rate_is_an_error_naming_record_field_and_fix() -> None:
    with pytest.raises(MappingError) as caught:
        invoice_payload(
            invoice(line(), line(tax_rate="12.5"), total="22.25"), org_mapping(), contact_id=CONTACT
        )
    error = caught.value
    assert error.field == "account_codes.tax_types"
    assert "invoice INV121 line 2" in error.message
    assert "12.5%" in error.message
    assert "Tax types" in error.message


def test_no_tax_invoice_sends_no_tax_types() -> None:
    payload = invoice_payload(
        invoice(line(tax_rate="12.5"), line_amount_types="no_tax", total="10.00"),
        org_mapping(),
        contact_id=CONTACT,
    )
    assert payload["LineAmountTypes"] == "NoTax"
    assert "TaxType" not in payload["LineItems"][0]


def test_discount_quantity_and_unit_amount_are_sent_as_numbers() -> None:
    payload = invoice_payload(
        invoice(line(quantity="1.5", unit_price="40.00", discount_rate="10"), total="59.40"),
        org_mapping(),
        contact_id=CONTACT,
    )
    item = payload["LineItems"][0]
    assert (item["Quantity"], item["UnitAmount"], item["DiscountRate"]) == (1.5, 40.0, 10.0)


def test_zero_discount_is_left_out() -> None:
    payload = invoice_payload(invoice(line(discount_rate="0")), org_mapping(), contact_id=CONTACT)
    assert "DiscountRate" not in payload["LineItems"][0]


def test_tracking_only_where_a_tracking_category_is_configured() -> None:
    per_location = invoice_payload(invoice(), org_mapping(), contact_id=CONTACT)
    shared = invoice_payload(invoice(), org_mapping(shared=True), contact_id=CONTACT)
    assert "Tracking" not in per_location["LineItems"][0]
    assert shared["LineItems"][0]["Tracking"] == [{"Name": "Location", "Option": "Sydney"}]


def test_two_location_tabs_on_one_organisation_are_told_apart_by_tracking() -> None:
    settings = settings_dict(shared=False)
    settings["tracking_category"] = "Location"
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    line = invoice_payload(invoice(), m, contact_id=CONTACT)["LineItems"][0]
    assert line["Tracking"] == [{"Name": "Location", "Option": "Sydney"}]


def test_shared_mode_without_an_option_for_the_location_sends_no_tracking() -> None:
    m = OrgMapping.from_settings(settings_dict(shared=True), TENANT, "loc-mel")
    assert m.tracking is None
    assert "Tracking" not in invoice_payload(invoice(), m, contact_id=CONTACT)["LineItems"][0]


def test_currency_is_the_records_unless_overridden() -> None:
    record = invoice(currency="aud")
    assert invoice_payload(record, org_mapping(), contact_id=CONTACT)["CurrencyCode"] == "AUD"
    overridden = org_mapping(currency="NZD")  # the settings page takes capitals only
    assert invoice_payload(record, overridden, contact_id=CONTACT)["CurrencyCode"] == "NZD"


def test_malformed_currency_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="currency") as caught:
        invoice_payload(invoice(currency="dollars"), org_mapping(), contact_id=CONTACT)
    assert caught.value.field == "currency"


def test_long_description_is_truncated_to_xeros_maximum() -> None:
    payload = invoice_payload(
        invoice(line(description="🐕" * 5000)), org_mapping(), contact_id=CONTACT
    )
    description = payload["LineItems"][0]["Description"]
    assert len(description) == MAX_DESCRIPTION
    assert description.endswith("…")


def test_empty_description_falls_back_to_the_category() -> None:
    payload = invoice_payload(
        invoice(line("daycare", description="  ")), org_mapping(), contact_id=CONTACT
    )
    assert payload["LineItems"][0]["Description"] == "Daycare"


def test_document_without_lines_is_a_mapping_error() -> None:
    record = invoice()
    record["lines"] = []
    with pytest.raises(MappingError, match="invoice INV121 has no lines"):
        invoice_payload(record, org_mapping(), contact_id=CONTACT)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "two"), ("unit_price", "NaN"), ("discount_rate", "150"), ("tax_rate", "x")],
)
def test_bad_line_values_are_mapping_errors_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(MappingError) as caught:
        invoice_payload(invoice(line(**{field: value})), org_mapping(), contact_id=CONTACT)
    assert caught.value.field == field
    assert "invoice INV121 line 1" in caught.value.message


def test_bad_date_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        invoice_payload(invoice(due_date="15/03/2025"), org_mapping(), contact_id=CONTACT)
    assert caught.value.field == "due_date"


def test_credit_note_uses_the_credit_notes_account_for_every_line() -> None:
    payload = credit_note_payload(
        credit_note(line("boarding"), line("retail"), total="22.00"),
        org_mapping(),
        contact_id=CONTACT,
    )
    assert payload["Type"] == "ACCRECCREDIT"
    assert payload["CreditNoteNumber"] == "CN7"
    assert payload["Status"] == "AUTHORISED"
    assert payload["Reference"] == "Stay cut short"
    assert [item["AccountCode"] for item in payload["LineItems"]] == ["210", "210"]


def test_credit_note_discount_is_folded_into_one_unit_because_xero_ignores_it_there() -> None:
    payload = credit_note_payload(
        credit_note(line(quantity="3", unit_price="33.33", discount_rate="10"), total="98.99"),
        org_mapping(),
        contact_id=CONTACT,
    )
    (item,) = payload["LineItems"]
    assert "DiscountRate" not in item
    assert (item["Quantity"], item["UnitAmount"]) == (1.0, 89.99)
    assert item["Description"] == "boarding line (3 × 33.33 less 10%)"


def test_missing_credit_notes_account_names_the_setting() -> None:
    m = replace(org_mapping(), credit_notes=None)
    with pytest.raises(MappingError, match="credit note CN7") as caught:
        credit_note_payload(credit_note(), m, contact_id=CONTACT)
    assert caught.value.field == "account_codes.credit_notes"
