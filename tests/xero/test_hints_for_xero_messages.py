"""Xero's messages that look alike but mean different things get different treatment: a
contact-number clash is not a name clash, and both lock dates hold a document as waiting with
the date Xero named."""

from __future__ import annotations

import pytest

from pm_xero_plugin.xero.hints import diagnose

NUMBER_CLASH = (
    "The contact number C42 is already assigned to another contact. The contact number must be "
    "unique across all contacts."
)
NAME_CLASH = (
    "The contact name Jane Pawson (C42) is already assigned to another contact. The contact "
    "name must be unique across all active contacts."
)


def test_a_contact_number_clash_links_to_xeros_contact_and_is_not_called_a_name_clash() -> None:
    number, name = diagnose(NUMBER_CLASH), diagnose(NAME_CLASH)
    assert number.duplicate_number
    assert "contact number" in number.hint
    assert "name" not in number.hint.split("contact number")[0]
    assert not name.duplicate_number
    assert "already has this name" in name.hint
    assert number.hint != name.hint


@pytest.mark.parametrize(
    ("message", "date", "who"),
    [
        (
            "The document date cannot be before the period lock date, currently set at 30-Nov-2018",
            "30-Nov-2018",
            "except advisers",
        ),
        (
            "The document date cannot be before the end of year lock date, currently set at "
            "31-Jul-2013",
            "31-Jul-2013",
            "advisers included",
        ),
        (
            "The payment date cannot be before the end of year lock date, currently set at "
            "30-Jun-2024",
            "30-Jun-2024",
            "advisers included",
        ),
    ],
)
def test_both_lock_dates_hold_the_document_waiting_with_the_date_xero_named(
    message: str, date: str, who: str
) -> None:
    diagnosis = diagnose(message)
    assert diagnosis.gate == "lock_date"
    assert not diagnosis.transient
    assert date in diagnosis.hint
    assert who in diagnosis.hint


EXCEEDS = "Payment amount exceeds the amount outstanding on this document"


def test_a_refund_exceeding_its_credit_is_told_about_the_credit_not_an_invoice() -> None:
    """Xero says "exceeds the amount outstanding" of a refund too: the credit note, overpayment
    or deposit it comes out of has less left, which the invoice payment's hint would misname."""
    invoice = diagnose(EXCEEDS)
    assert "owing on the invoice" in invoice.hint
    for kind, credit in (
        ("credit_note_refund", "credit note"),
        ("overpayment_refund", "overpayment"),
        ("deposit_refund", "deposit"),
    ):
        refund = diagnose(EXCEEDS, kind)
        assert f"less credit left on the {credit} than this refund" in refund.hint
        assert "invoice" in refund.hint.split("than this refund")[1]  # applied to an invoice
        assert not refund.transient
    assert diagnose(EXCEEDS, "payment") == invoice


@pytest.mark.parametrize("kind", [None, "allocation", "deposit_allocation"])
def test_an_allocation_exceeding_what_is_left_says_the_credit_was_used_by_hand(
    kind: str | None,
) -> None:
    remaining = "The amount being allocated exceeds the remaining credit on this document"
    diagnosis = diagnose(remaining, kind)
    assert "less left to apply than this allocation" in diagnosis.hint
    assert "a deposit" in diagnosis.hint
    outstanding = "The amount being allocated exceeds the amount outstanding on the invoice"
    assert diagnose(outstanding, kind) == diagnosis


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("The FromBankAccount must be a bank account or have payments enabled", "payout"),
        ("From and To bank accounts cannot be the same", None),
        ("A valid BankAccount must be specified", "payout_fee"),
        ("Payments are not enabled for this account", "payout"),
        # the sandbox's words, as Xero's
        ("The FromBankAccount and ToBankAccount must be different accounts.", None),
        (
            "Account code '093' is not a bank account. FromBankAccount must be a bank account, "
            "or a current asset account with payments enabled.",
            "payout",
        ),
        ("A valid ToBankAccount must be specified", None),
    ],
)
def test_a_payouts_refused_accounts_point_to_the_clearing_and_payout_bank_codes(
    message: str, kind: str | None
) -> None:
    hint = diagnose(message, kind).hint
    assert "clearing account" in hint
    assert "Enable payments to this account" in hint
    assert "payout_bank" in hint
