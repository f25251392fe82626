"""The exactly-once rule for the money flows (deposits, their allocations, refunds, payouts and
their fees), judged on Xero's documents as Xero shows them (``GET`` answers' shapes, /Date()/
dates included): ours only when provably ours, a look-alike refused, a deleted one ignored, and
the id kept the one a later row needs (a deposit's PrepaymentID, a transfer's BankTransferID)."""

from __future__ import annotations

from typing import Any

import pytest

from pm_xero_plugin.xero.finders import IDENTITY, Match, Wanted, decide, judge
from pm_xero_plugin.xero.responses import element_id, parse_elements

CONTACT = "6d9a4b1e-0000-4000-8000-000000000001"
OTHER_CONTACT = "6d9a4b1e-0000-4000-8000-000000000002"
NOTE = "c0ffee00-0000-4000-8000-00000000000c"
OVER = "c0ffee00-0000-4000-8000-00000000000f"
PREPAY = "c0ffee00-0000-4000-8000-0000000000a1"
MARCH_2 = "/Date(1709337600000+0000)/"  # 2024-03-02 as Xero writes it
MARCH_3 = "/Date(1709424000000+0000)/"


def deposit_element(amount: float = 40.0) -> dict[str, Any]:
    """What ``mapping.deposits.deposit_payload`` sends for DEP12."""
    return {
        "Type": "RECEIVE-PREPAYMENT",
        "Contact": {"ContactID": CONTACT},
        "BankAccount": {"Code": "093"},
        "Date": "2024-03-02",
        "Reference": "DEP12",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": "DEP12 deposit – booking 77",
                "Quantity": 1.0,
                "UnitAmount": amount,
                "AccountCode": "094",
            }
        ],
    }


def prepayment_hit(**changes: Any) -> dict[str, Any]:
    """A RECEIVE-PREPAYMENT as ``GET /BankTransactions`` shows it (Reference not kept)."""
    hit = {
        "BankTransactionID": "b0000000-0000-4000-8000-000000000001",
        "PrepaymentID": PREPAY,
        "Type": "RECEIVE-PREPAYMENT",
        "Contact": {"ContactID": CONTACT, "Name": "Ann Lee"},
        "Date": MARCH_2,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "DEP12 deposit – booking 77", "LineAmount": 40.0}],
        "Total": 40.0,
    }
    return {**hit, **changes}


def test_a_deposit_is_ours_by_contact_amount_and_date_and_keeps_the_prepayment_id() -> None:
    wanted = Wanted(1, "DEP12", deposit_element())

    assert decide("deposit", wanted, [prepayment_hit()]) == Match(
        PREPAY, ("Contact", "Total", "Date")
    )
    for other in (
        {"Total": 41.0},
        {"Date": MARCH_3},
        {"Contact": {"ContactID": OTHER_CONTACT, "Name": "Maya Lee"}},
    ):
        assert decide("deposit", wanted, [prepayment_hit(**other)]) is None, other
    for status in ("DELETED", "VOIDED"):
        assert judge("deposit", wanted, prepayment_hit(Status=status)) is None
    # A prepayment Xero shows without its PrepaymentID cannot be allocated or refunded by the
    # id a deposit row keeps: the bank transaction's own id is never taken for it.
    assert decide("deposit", wanted, [prepayment_hit(PrepaymentID=None)]) is None


def test_a_deposit_in_doubt_edited_since_owns_its_older_version_of_our_contact_only() -> None:
    edited = Wanted(1, "DEP12", deposit_element(45.0), in_doubt=True)

    assert IDENTITY["deposit"] == ("Contact",)
    assert decide("deposit", edited, [prepayment_hit()]) == Match(
        PREPAY, ("Contact", "Date"), ("Total",)
    )
    foreign = prepayment_hit(Contact={"ContactID": OTHER_CONTACT})
    assert decide("deposit", edited, [foreign]) is None, "no clash: a reference is not unique"


def refund_element(source: str, source_id: str, **changes: Any) -> dict[str, Any]:
    """What ``mapping.refunds.refund_payload`` sends for RF3."""
    id_field = {"CreditNote": "CreditNoteID", "Overpayment": "OverpaymentID"}.get(
        source, "PrepaymentID"
    )
    element = {
        source: {id_field: source_id},
        "Account": {"Code": "090"},
        "Date": "2024-03-02",
        "Amount": 20.0,
        "Reference": "RF3",
    }
    return {**element, **changes}


def refund_hit(source: str, source_id: str, payment_type: str, **changes: Any) -> dict[str, Any]:
    """A refund as ``GET /Payments`` shows it."""
    id_field = {"CreditNote": "CreditNoteID", "Overpayment": "OverpaymentID"}.get(
        source, "PrepaymentID"
    )
    hit = {
        "PaymentID": "a0000000-0000-4000-8000-000000000003",
        "Date": MARCH_2,
        "Amount": 20.0,
        "Reference": "RF3",
        "Status": "AUTHORISED",
        "PaymentType": payment_type,
        "Account": {"AccountID": "acc-090", "Code": "090", "Name": "Business Bank"},
        source: {id_field: source_id.upper()},  # Xero's GUID case is not ours to rely on
    }
    return {**hit, **changes}


REFUNDS = [
    ("credit_note_refund", "CreditNote", NOTE, "ARCREDITPAYMENT"),
    ("overpayment_refund", "Overpayment", OVER, "AROVERPAYMENTPAYMENT"),
    ("deposit_refund", "Prepayment", PREPAY, "ARPREPAYMENTPAYMENT"),
]


@pytest.mark.parametrize(("kind", "source", "source_id", "payment_type"), REFUNDS)
def test_a_refund_is_ours_out_of_the_same_credit_amount_date_account_and_type(
    kind: str, source: str, source_id: str, payment_type: str
) -> None:
    wanted = Wanted(1, "RF3", refund_element(source, source_id))
    hit = refund_hit(source, source_id, payment_type)

    assert decide(kind, wanted, [hit]) == Match(
        hit["PaymentID"], (source, "Amount", "Date", "Account", "Reference", "PaymentType")
    )
    look_alikes: list[dict[str, Any]] = [
        {"Amount": 19.0},
        {"Date": MARCH_3},
        {"Account": {"AccountID": "acc-091", "Code": "091"}},
        {source: {"X": "y"}},  # out of another credit (or none shown)
        {"PaymentType": "ACCRECPAYMENT"},  # a payment of an invoice under the same reference
    ]
    for other in look_alikes:
        assert decide(kind, wanted, [{**hit, **other}]) is None, other
    assert judge(kind, wanted, {**hit, "Status": "DELETED"}) is None


@pytest.mark.parametrize(("kind", "source", "source_id", "payment_type"), REFUNDS)
def test_a_refund_in_doubt_edited_since_is_ours_out_of_our_credit_only(
    kind: str, source: str, source_id: str, payment_type: str
) -> None:
    """Found again, an edited refund is our older version (the row then fails for an admin:
    Xero cannot edit one, and sent again it would pay the customer twice)."""
    edited = Wanted(1, "RF3", refund_element(source, source_id, Amount=25.0), in_doubt=True)
    hit = refund_hit(source, source_id, payment_type)

    outcome = decide(kind, edited, [hit])
    assert isinstance(outcome, Match)
    assert outcome.differs == ("Amount",)
    elsewhere = {**hit, source: {"Z": "another credit"}}
    assert decide(kind, edited, [elsewhere]) is None


def fee_element(**changes: Any) -> dict[str, Any]:
    """What ``mapping.payouts.payout_fee_payload`` sends for PO7's fees."""
    element = {
        "Type": "SPEND",
        "Contact": {"Name": "Stripe"},
        "BankAccount": {"Code": "093"},
        "Date": "2024-03-02",
        "Reference": "PO7",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": "PO7 card processing fees",
                "Quantity": 1.0,
                "UnitAmount": 3.45,
                "AccountCode": "406",
            }
        ],
    }
    return {**element, **changes}


def fee_hit(**changes: Any) -> dict[str, Any]:
    hit = {
        "BankTransactionID": "b0000000-0000-4000-8000-000000000007",
        "Type": "SPEND",
        "Contact": {"ContactID": "stripe-contact", "Name": "Stripe"},
        "BankAccount": {"AccountID": "acc-093", "Code": "093", "Name": "Card Clearing"},
        "Date": MARCH_2,
        "Reference": "PO7",
        "Status": "AUTHORISED",
        "Total": 3.45,
    }
    return {**hit, **changes}


def test_a_payouts_fees_are_ours_out_of_the_same_clearing_account_amount_and_date() -> None:
    wanted = Wanted(1, "PO7", fee_element())

    assert decide("payout_fee", wanted, [fee_hit()]) == Match(
        "b0000000-0000-4000-8000-000000000007", ("BankAccount", "Total", "Date", "Reference")
    )
    for other in (
        {"Total": 3.46},
        {"Date": MARCH_3},
        {"BankAccount": {"AccountID": "acc-090", "Code": "090"}},
    ):
        assert decide("payout_fee", wanted, [fee_hit(**other)]) is None, other
    for status in ("DELETED", "VOIDED"):
        assert judge("payout_fee", wanted, fee_hit(Status=status)) is None


def transfer_element(**changes: Any) -> dict[str, Any]:
    """What ``mapping.payouts.payout_transfer_payload`` sends for PO7."""
    element = {
        "FromBankAccount": {"Code": "093"},
        "ToBankAccount": {"Code": "090"},
        "Amount": 196.55,
        "Date": "2024-03-02",
        "Reference": "PO7",
    }
    return {**element, **changes}


def transfer_hit(**changes: Any) -> dict[str, Any]:
    hit = {
        "BankTransferID": "d0000000-0000-4000-8000-000000000007",
        "FromBankAccount": {"AccountID": "acc-093", "Code": "093", "Name": "Card Clearing"},
        "ToBankAccount": {"AccountID": "acc-090", "Code": "090", "Name": "Business Bank"},
        "Amount": 196.55,
        "Date": MARCH_2,
        "Reference": "PO7",
        "FromBankTransactionID": "b1",
        "ToBankTransactionID": "b2",
    }
    return {**hit, **changes}


def test_a_payout_is_ours_between_the_same_accounts_for_the_same_amount_and_date() -> None:
    wanted = Wanted(1, "PO7", transfer_element())

    assert decide("payout", wanted, [transfer_hit()]) == Match(
        "d0000000-0000-4000-8000-000000000007",
        ("FromBankAccount", "ToBankAccount", "Amount", "Date", "Reference"),
    )
    for other in (
        {"Amount": 196.56},
        {"Date": MARCH_3},
        {"FromBankAccount": {"Code": "090"}, "ToBankAccount": {"Code": "093"}},  # backwards
        {"ToBankAccount": {"AccountID": "acc-091", "Code": "091"}},
    ):
        assert decide("payout", wanted, [transfer_hit(**other)]) is None, other
    assert judge("payout", wanted, transfer_hit(Status="DELETED")) is None
    edited = Wanted(1, "PO7", transfer_element(Amount=200.0), in_doubt=True)
    outcome = decide("payout", edited, [transfer_hit()])
    assert isinstance(outcome, Match)
    assert outcome.differs == ("Amount",)


def test_xeros_answers_to_a_transfer_and_a_prepayment_give_the_ids_later_rows_need() -> None:
    """A created transfer is known by its BankTransferID; a RECEIVE-PREPAYMENT by the
    prepayment Xero made of it (what its allocations and refunds name), not by the bank
    transaction; a SPEND keeps its own id (its zero-GUID overpayment field says nothing)."""
    [transfer] = parse_elements("BankTransfers", {"BankTransfers": [transfer_hit()]})
    assert element_id("BankTransfers", transfer) == "d0000000-0000-4000-8000-000000000007"
    [prepayment] = parse_elements("BankTransactions", {"BankTransactions": [prepayment_hit()]})
    assert element_id("BankTransactions", prepayment) == PREPAY
    zero = "00000000-0000-0000-0000-000000000000"
    [spend] = parse_elements(
        "BankTransactions", {"BankTransactions": [fee_hit(OverpaymentID=zero)]}
    )
    assert element_id("BankTransactions", spend) == "b0000000-0000-4000-8000-000000000007"
