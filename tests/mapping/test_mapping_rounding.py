"""Xero's per-line rounding, and the rounding line that reconciles it with the host's total."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.mapping_strategies import (
    CONTACT,
    TENANT,
    credit_note,
    invoice,
    line,
    org_mapping,
    settings_dict,
)

from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.documents import credit_note_payload, invoice_payload
from pm_xero_plugin.mapping.money import TaxLine, expected_total, line_amount, line_tax

D = Decimal


def test_line_amount_rounds_quantity_price_and_discount_half_up() -> None:
    assert line_amount(TaxLine(D("3"), D("33.33"), D("5"))) == D("94.99")  # 94.9905
    assert line_amount(TaxLine(D("1"), D("0.05"), D("50"))) == D("0.03")  # 0.025 → up
    assert line_amount(TaxLine(D("1.5"), D("10.01"))) == D("15.02")  # 15.015 → up


def test_exclusive_tax_is_rounded_per_line() -> None:
    lines = [TaxLine(D("1"), D("0.05"), tax_rate=D("10"))] * 3  # 0.005 tax each → 0.01 each
    assert line_tax(lines[0], "Exclusive") == D("0.01")
    assert expected_total(lines, "exclusive") == D("0.18")  # not 0.165 → 0.17 on the total


def test_inclusive_tax_is_carved_out_and_does_not_move_the_total() -> None:
    taxed = TaxLine(D("1"), D("11.00"), tax_rate=D("10"))
    assert line_tax(taxed, "Inclusive") == D("1.00")
    assert expected_total([taxed, taxed], "Inclusive") == D("22.00")


def test_no_tax_total_is_the_sum_of_line_amounts() -> None:
    lines = [TaxLine(D("2"), D("5.55"), tax_rate=D("10")), TaxLine(D("1"), D("1.00"))]
    assert line_tax(lines[0], "NoTax") == D("0.00")
    assert expected_total(lines, "no_tax") == D("12.10")


def test_unknown_line_amount_types_is_refused() -> None:
    with pytest.raises(ValueError, match="exclusive, inclusive or no_tax"):
        expected_total([], "gross")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(D("0.25"), D("20"), places=2),
            st.decimals(D("0"), D("500"), places=2),
            st.sampled_from([D("0"), D("10"), D("15")]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_exclusive_total_is_lines_plus_per_line_tax(rows: list[tuple[Decimal, ...]]) -> None:
    lines = [TaxLine(q, u, tax_rate=r) for q, u, r in rows]
    by_hand = sum(((q * u).quantize(D("0.01"), "ROUND_HALF_UP") for q, u, _ in rows), D(0)) + sum(
        (
            ((q * u).quantize(D("0.01"), "ROUND_HALF_UP") * r / 100).quantize(
                D("0.01"), "ROUND_HALF_UP"
            )
            for q, u, r in rows
        ),
        D(0),
    )
    assert expected_total(lines, "Exclusive") == by_hand


def _cents_lines() -> list[dict[str, str]]:
    """Three lines of 0.05 at 10 %: Xero totals 0.18, a host rounding once says 0.17."""
    return [line(unit_price="0.05") for _ in range(3)]


def test_exact_total_needs_no_rounding_line() -> None:
    payload = invoice_payload(
        invoice(*_cents_lines(), total="0.18"), org_mapping(), contact_id=CONTACT
    )
    assert [item["Description"] for item in payload["LineItems"]] == ["boarding line"] * 3


def test_difference_within_tolerance_adds_a_rounding_line() -> None:
    payload = invoice_payload(
        invoice(*_cents_lines(), total="0.17"), org_mapping(shared=True), contact_id=CONTACT
    )
    assert payload["LineItems"][-1] == {
        "Description": "Rounding",
        "Quantity": 1.0,
        "UnitAmount": -0.01,
        "AccountCode": "860",
        "TaxType": "EXEMPTOUTPUT",
        "Tracking": [{"Name": "Location", "Option": "Sydney"}],
    }


def test_rounding_line_brings_xeros_total_to_the_hosts() -> None:
    record = invoice(*_cents_lines(), total="0.20")
    payload = invoice_payload(record, org_mapping(), contact_id=CONTACT)
    lines = [
        TaxLine(D(str(item["Quantity"])), D(str(item["UnitAmount"])), tax_rate=D(rate))
        for item, rate in zip(payload["LineItems"], ["10", "10", "10", "0"], strict=True)
    ]
    assert expected_total(lines, "Exclusive") == D("0.20")


def test_rounding_line_uses_the_configured_rounding_tax_type() -> None:
    settings = settings_dict()
    settings["account_codes"][TENANT]["tax_types"]["rounding"] = "BASEXCLUDED"
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    payload = invoice_payload(invoice(*_cents_lines(), total="0.17"), m, contact_id=CONTACT)
    assert payload["LineItems"][-1]["TaxType"] == "BASEXCLUDED"


def test_rounding_on_a_no_tax_document_has_no_tax_type() -> None:
    record = invoice(line(unit_price="0.05"), line_amount_types="no_tax", total="0.06")
    payload = invoice_payload(record, org_mapping(), contact_id=CONTACT)
    assert payload["LineItems"][-1]["UnitAmount"] == 0.01
    assert "TaxType" not in payload["LineItems"][-1]


def test_difference_beyond_tolerance_is_an_error_with_both_totals() -> None:
    with pytest.raises(MappingError) as caught:
        invoice_payload(invoice(*_cents_lines(), total="0.21"), org_mapping(), contact_id=CONTACT)
    error = caught.value
    assert error.field == "total"
    assert "invoice INV121" in error.message
    assert "0.21" in error.message
    assert "0.18" in error.message
    assert "rounding tolerance 0.02" in error.message


def test_tolerance_is_configurable() -> None:
    settings = settings_dict()
    settings["rounding_tolerance"] = "0.05"
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    payload = invoice_payload(invoice(*_cents_lines(), total="0.23"), m, contact_id=CONTACT)
    assert payload["LineItems"][-1]["UnitAmount"] == 0.05
    strict = OrgMapping.from_settings({**settings, "rounding_tolerance": "0"}, TENANT, "loc-syd")
    with pytest.raises(MappingError, match="rounding tolerance 0"):
        invoice_payload(invoice(*_cents_lines(), total="0.17"), strict, contact_id=CONTACT)


def test_rounding_without_a_rounding_account_names_the_setting() -> None:
    m = replace(org_mapping(), rounding=None)
    invoice_payload(invoice(*_cents_lines(), total="0.18"), m, contact_id=CONTACT)  # not needed
    with pytest.raises(MappingError) as caught:
        invoice_payload(invoice(*_cents_lines(), total="0.17"), m, contact_id=CONTACT)
    assert caught.value.field == "account_codes.rounding"


def test_rounding_without_a_zero_tax_type_names_the_setting() -> None:
    settings = settings_dict()
    del settings["account_codes"][TENANT]["tax_types"]["0"]
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    with pytest.raises(MappingError, match="zero-rated") as caught:
        invoice_payload(invoice(*_cents_lines(), total="0.17"), m, contact_id=CONTACT)
    assert caught.value.field == "account_codes.tax_types"


def test_credit_notes_get_a_rounding_line_too() -> None:
    payload = credit_note_payload(
        credit_note(*_cents_lines(), total="0.17"), org_mapping(), contact_id=CONTACT
    )
    assert payload["LineItems"][-1]["Description"] == "Rounding"
    assert payload["LineItems"][-1]["UnitAmount"] == -0.01
