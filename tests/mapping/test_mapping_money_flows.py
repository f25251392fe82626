"""Deposits, refunds, card payouts and gift vouchers become the Xero payloads an accountant
would post by hand: the right accounts, amounts, dates and references, and a missing account
code named so the admin can set it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.mapping_strategies import (
    CONTACT,
    TENANT,
    XERO_INVOICE,
    credit_note,
    invoice,
    line,
    org_mapping,
)
from support.money_flow_strategies import (
    deposit,
    money_flow_mapping,
    money_flow_settings,
    payout,
    refund,
)

from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.deposits import (
    deposit_allocation_payload,
    deposit_number,
    deposit_payload,
)
from pm_xero_plugin.mapping.documents import credit_note_payload, invoice_payload
from pm_xero_plugin.mapping.payouts import (
    payout_fee_payload,
    payout_number,
    payout_transfer_payload,
)
from pm_xero_plugin.mapping.refunds import refund_number, refund_payload, refund_source

PREPAYMENT = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"


def without(setting: str) -> OrgMapping:
    """The money-flow mapping with one code unset."""
    raw = money_flow_settings()
    raw["account_codes"][TENANT].pop(setting)
    return OrgMapping.from_settings(raw, TENANT, "loc-syd")


# --- deposits ---------------------------------------------------------------------------------


def test_a_deposit_is_a_prepayment_into_its_methods_account_coded_to_the_deposit_liability() -> (
    None
):
    assert deposit_payload(deposit(), money_flow_mapping(), contact_id=CONTACT) == {
        "Type": "RECEIVE-PREPAYMENT",
        "Contact": {"ContactID": CONTACT},
        "BankAccount": {"Code": "092"},  # card
        "LineItems": [
            {
                "Description": "DEP12 deposit – Stay 4-8 May (Rex)",
                "Quantity": 1.0,
                "UnitAmount": 100.0,
                "LineAmount": 100.0,
                "AccountCode": "094",
            }
        ],
        "LineAmountTypes": "NoTax",
        "Date": "2025-03-01",
        "Reference": "DEP12",
        "CurrencyCode": "AUD",
    }


def test_a_deposit_without_a_booking_is_described_by_its_number_and_tracked_when_shared() -> None:
    payload = deposit_payload(
        deposit(reference=None, method="cash", currency="nzd"),
        money_flow_mapping(shared=True),
        contact_id=CONTACT,
    )
    assert payload["BankAccount"] == {"Code": "090"}
    assert payload["CurrencyCode"] == "NZD"
    (item,) = payload["LineItems"]
    assert item["Description"] == "DEP12 deposit"
    assert item["Tracking"] == [{"Name": "Location", "Option": "Sydney"}]


def test_a_deposit_without_the_deposit_account_names_the_setting() -> None:
    with pytest.raises(MappingError) as caught:
        deposit_payload(deposit(), without("deposits"), contact_id=CONTACT)
    assert caught.value.field == "account_codes.deposits"
    assert str(caught.value).startswith(
        f"deposit DEP12: no account code is set for customer deposits "
        f"(account_codes.{TENANT}.deposits)"
    )


def test_a_deposit_of_nothing_is_refused() -> None:
    with pytest.raises(
        MappingError, match=re.escape("deposit DEP12: amount 0.00 must be more than zero")
    ):
        deposit_payload(deposit(amount="0"), money_flow_mapping(), contact_id=CONTACT)


@pytest.mark.parametrize(
    ("invoice_date", "expected"),
    [("2025-05-04", "2025-05-04"), ("2025-02-20", "2025-03-01"), ("2025-03-01", "2025-03-01")],
)
def test_a_deposit_allocation_is_dated_the_later_of_the_deposit_and_the_invoice(
    invoice_date: str, expected: str
) -> None:
    held = deposit()
    assert deposit_allocation_payload(
        held, held["allocations"][0], invoice_id=XERO_INVOICE, invoice_date=invoice_date
    ) == {"Invoice": {"InvoiceID": XERO_INVOICE}, "Amount": 60.0, "Date": expected}


def test_a_deposit_allocation_of_nothing_or_with_a_bad_invoice_date_is_refused() -> None:
    held = deposit()
    with pytest.raises(
        MappingError, match=re.escape("allocations.amount 0.00 must be more than zero")
    ):
        deposit_allocation_payload(
            held,
            {"invoice_id": "inv-1", "amount": "0.00"},
            invoice_id=XERO_INVOICE,
            invoice_date="2025-05-04",
        )
    with pytest.raises(MappingError, match="invoice date '4/5/2025' is not a YYYY-MM-DD date"):
        deposit_allocation_payload(
            held, held["allocations"][0], invoice_id=XERO_INVOICE, invoice_date="4/5/2025"
        )


def test_a_deposit_allocation_to_an_invoice_of_unknown_date_is_dated_the_deposits_day() -> None:
    held = deposit()
    payload = deposit_allocation_payload(held, held["allocations"][0], invoice_id=XERO_INVOICE)
    assert payload["Date"] == "2025-03-01"


def test_money_flow_numbers_carry_their_prefixes() -> None:
    assert deposit_number(deposit(), Prefixes()) == "DEP12"
    assert refund_number(refund(), Prefixes()) == "RF3"
    assert payout_number(payout(), Prefixes()) == "PO7"
    mine = Prefixes(deposit="D-", refund="R-", payout="SP")
    assert (deposit_number(deposit(), mine), refund_number(refund(), mine)) == ("D-12", "R-3")
    assert payout_number(payout(number=70), mine) == "SP70"


# --- refunds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "element"),
    [
        ("credit_note", {"CreditNote": {"CreditNoteID": PREPAYMENT}}),
        ("overpayment", {"Overpayment": {"OverpaymentID": PREPAYMENT}}),
        ("deposit", {"Prepayment": {"PrepaymentID": PREPAYMENT}}),
    ],
)
def test_a_refund_is_a_payment_out_of_its_credit_from_its_methods_account(
    source: Any, element: dict[str, Any]
) -> None:
    given = refund(source, method="bank_transfer")
    assert refund_source(given) == (source, f"{source}-1")
    assert refund_payload(
        given, money_flow_mapping(), source_kind=source, source_xero_id=PREPAYMENT
    ) == {
        **element,
        "Account": {"Code": "091"},
        "Date": "2025-03-20",
        "Amount": 40.0,
        "Reference": "RF3",
    }


def test_a_refund_sent_against_another_kind_of_credit_is_refused() -> None:
    with pytest.raises(MappingError, match="refund RF3 comes out of a deposit, not a credit note"):
        refund_payload(
            refund("deposit"),
            money_flow_mapping(),
            source_kind="credit_note",
            source_xero_id=PREPAYMENT,
        )


@pytest.mark.parametrize(
    ("record", "has"),
    [
        (refund(deposit_id=None), "none of them"),
        (refund(credit_note_id="cn-1"), "credit_note_id, deposit_id"),
    ],
)
def test_a_refund_out_of_no_credit_or_two_says_so(record: dict[str, Any], has: str) -> None:
    with pytest.raises(MappingError, match="a refund comes out of exactly one credit") as caught:
        refund_source(record)
    assert f"(it has {has})" in str(caught.value)


def test_a_refund_by_an_unmapped_method_names_the_payment_setting() -> None:
    m = money_flow_mapping()
    unmapped = OrgMapping(**{**vars(m), "payments": {}})
    with pytest.raises(MappingError) as caught:
        refund_payload(refund(), unmapped, source_kind="deposit", source_xero_id=PREPAYMENT)
    assert caught.value.field == "account_codes.payments.card"


# --- payouts ----------------------------------------------------------------------------------


def test_a_payout_moves_what_reached_the_bank_out_of_the_clearing_account() -> None:
    assert payout_transfer_payload(payout(), money_flow_mapping()) == {
        "FromBankAccount": {"Code": "093"},  # stripe's clearing account
        "ToBankAccount": {"Code": "090"},
        "Amount": 487.7,
        "Date": "2025-03-10",
        "Reference": "PO7",
    }


def test_a_payouts_fees_are_spent_from_the_clearing_account_to_the_processor() -> None:
    assert payout_fee_payload(payout(), money_flow_mapping()) == {
        "Type": "SPEND",
        "Contact": {"Name": "Stripe"},
        "BankAccount": {"Code": "093"},
        "LineItems": [
            {
                "Description": "PO7 card processing fees (Stripe po_1NxYz)",
                "Quantity": 1.0,
                "UnitAmount": 12.3,
                "LineAmount": 12.3,
                "AccountCode": "406",
            }
        ],
        "LineAmountTypes": "NoTax",
        "Date": "2025-03-10",
        "Reference": "PO7",
        "CurrencyCode": "AUD",
    }


def test_the_transfer_and_the_fees_together_empty_the_clearing_account_of_the_gross() -> None:
    m = money_flow_mapping()
    moved = payout_transfer_payload(payout(), m)["Amount"]
    spent = payout_fee_payload(payout(), m)["LineItems"][0]["LineAmount"]
    assert round(moved + spent, 2) == 500.00


def test_another_processors_fees_go_to_a_card_processor_contact_tracked_when_shared() -> None:
    payload = payout_fee_payload(
        payout(method="card", processor_reference=None), money_flow_mapping(shared=True)
    )
    assert payload["Contact"] == {"Name": "Card processor"}
    assert payload["BankAccount"] == {"Code": "092"}
    (item,) = payload["LineItems"]
    assert item["Description"] == "PO7 card processing fees"
    assert item["Tracking"] == [{"Name": "Location", "Option": "Sydney"}]


@pytest.mark.parametrize(
    ("build", "setting", "what"),
    [
        (payout_transfer_payload, "payout_bank", "card payouts"),
        (payout_fee_payload, "card_fees", "card processing fees"),
    ],
)
def test_a_payout_without_its_account_names_the_setting(
    build: Any, setting: str, what: str
) -> None:
    with pytest.raises(MappingError) as caught:
        build(payout(), without(setting))
    assert caught.value.field == f"account_codes.{setting}"
    assert str(caught.value).startswith(
        f"payout PO7: no account code is set for {what} (account_codes.{TENANT}.{setting})"
    )


def test_a_payout_into_its_own_clearing_account_is_refused() -> None:
    with pytest.raises(MappingError, match="clearing account and the payout bank are both '090'"):
        payout_transfer_payload(payout(method="cash"), money_flow_mapping())


@pytest.mark.parametrize("build", [payout_transfer_payload, payout_fee_payload])
def test_a_payout_that_does_not_add_up_is_refused_with_the_numbers(build: Any) -> None:
    with pytest.raises(MappingError) as caught:
        build(payout(amount="487.00"), money_flow_mapping())
    assert caught.value.field == "amount"
    assert str(caught.value) == (
        "payout PO7: gross 500.00 less fees 12.30 is 487.70, not the 487.00 paid out; "
        "correct the payout in Pet Manager"
    )


def test_a_payout_without_fees_has_no_fee_spend() -> None:
    free = payout(fees="0.00", amount="500.00")
    assert payout_transfer_payload(free, money_flow_mapping())["Amount"] == 500.0
    with pytest.raises(MappingError, match="payout PO7 has no fees to record"):
        payout_fee_payload(free, money_flow_mapping())


# --- gift vouchers ----------------------------------------------------------------------------


def _accounts(payload: dict[str, Any]) -> list[str]:
    return [item["AccountCode"] for item in payload["LineItems"]]


def test_a_voucher_sold_is_owed_to_the_customer_not_earned() -> None:
    sale = invoice(line("boarding"), line("voucher", tax_rate="0"), total="21.00")
    sold = invoice_payload(sale, money_flow_mapping(), contact_id=CONTACT)
    assert _accounts(sold) == ["201", "095"]
    before = invoice_payload(sale, without("vouchers"), contact_id=CONTACT)
    assert _accounts(before) == ["201", "206"]  # its income mapping, as before vouchers were set
    assert _accounts(invoice_payload(sale, org_mapping(), contact_id=CONTACT)) == ["201", "200"]


def test_a_voucher_credited_back_comes_off_the_voucher_liability() -> None:
    note = credit_note(line("grooming"), line("voucher", tax_rate="0"), total="21.00")
    assert _accounts(credit_note_payload(note, money_flow_mapping(), contact_id=CONTACT)) == [
        "210",
        "095",
    ]
    assert _accounts(credit_note_payload(note, without("vouchers"), contact_id=CONTACT)) == [
        "210",
        "210",
    ]
