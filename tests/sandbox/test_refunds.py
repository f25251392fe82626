"""Refunds: payments out of a credit note, an overpayment or a prepayment (ARCREDITPAYMENT,
AROVERPAYMENTPAYMENT, ARPREPAYMENTPAYMENT), never more than is left of the credit."""

from __future__ import annotations

from datetime import date

from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox


def test_a_credit_note_refund_is_a_credit_payment_that_uses_up_the_credit(money: Money) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    made = money.ok(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "30"), "Payments"
    )
    assert made["PaymentType"] == "ARCREDITPAYMENT"
    assert made["CreditNote"]["CreditNoteNumber"] == "CN-1"
    assert made["Account"]["Code"] == "090"
    after = money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]
    assert (after["RemainingCredit"], after["Status"]) == (50, "AUTHORISED")
    assert [p["PaymentID"] for p in after["Payments"]] == [made["PaymentID"]]
    money.ok(
        money.refund("CreditNote", {"CreditNoteNumber": "CN-1"}, "50", reference="RF2"), "Payments"
    )
    paid = money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]
    assert (paid["RemainingCredit"], paid["Status"]) == (0, "PAID")


def test_a_refund_cannot_exceed_what_is_left_of_the_credit(money: Money) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    over = money.overpayment(jane, "40")
    pre = money.prepayment(jane, "25")
    for field, ref, amount in (
        ("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "80.01"),
        ("Overpayment", {"OverpaymentID": over["OverpaymentID"]}, "40.01"),
        ("Prepayment", {"PrepaymentID": pre["PrepaymentID"]}, "25.01"),
    ):
        assert money.errors(money.refund(field, ref, amount), "Payments") == [
            "Payment amount exceeds the amount outstanding on this document"
        ]
    assert money.api.get("/Payments").json()["Payments"] == []


def test_a_refund_cannot_take_what_an_allocation_already_used(money: Money) -> None:
    jane = money.contact()
    inv = money.invoice(jane, "INV-1", "70")
    pre = money.prepayment(jane, "100")
    money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "70"), "Allocations"
    )
    ref = {"PrepaymentID": pre["PrepaymentID"]}
    assert money.errors(money.refund("Prepayment", ref, "31"), "Payments") == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    made = money.ok(money.refund("Prepayment", ref, "30"), "Payments")
    assert made["PaymentType"] == "ARPREPAYMENTPAYMENT"
    after = money.api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"][0]
    assert (after["RemainingCredit"], after["Status"]) == (0, "PAID")
    assert [p["Amount"] for p in after["Payments"]] == [30]


def test_an_overpayment_refund_is_an_overpayment_payment_out_of_the_account(
    money: Money,
) -> None:
    jane = money.contact()
    over = money.overpayment(jane, "40", bank="093")
    ref = {"OverpaymentID": over["OverpaymentID"]}
    made = money.ok(money.refund("Overpayment", ref, "15", account="093"), "Payments")
    assert (made["PaymentType"], made["Account"]["Code"]) == ("AROVERPAYMENTPAYMENT", "093")
    assert made["Overpayment"]["OverpaymentID"] == over["OverpaymentID"]
    after = money.api.get(f"/Overpayments/{over['OverpaymentID']}").json()["Overpayments"][0]
    assert after["RemainingCredit"] == 25
    assert [p["PaymentID"] for p in after["Payments"]] == [made["PaymentID"]]


def test_refunds_are_found_by_reference(money: Money) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    pre = money.prepayment(jane, "25")
    money.ok(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "5", reference="RF3"),
        "Payments",
    )
    money.ok(
        money.refund("Prepayment", {"PrepaymentID": pre["PrepaymentID"]}, "5", reference="RF4"),
        "Payments",
    )
    found = money.api.get("/Payments", where='Reference=="RF3"').json()["Payments"]
    assert [(p["Reference"], p["PaymentType"]) for p in found] == [("RF3", "ARCREDITPAYMENT")]


def test_a_refund_needs_an_authorised_credit_and_an_account_that_takes_payments(
    money: Money,
) -> None:
    jane = money.contact()
    draft = money.credit_note(jane, "CN-D", "80", status="DRAFT")
    assert money.errors(
        money.refund("CreditNote", {"CreditNoteID": draft["CreditNoteID"]}, "5"), "Payments"
    ) == ["Payments can only be made against Authorised documents"]
    assert money.errors(
        money.refund("Prepayment", {"PrepaymentID": "9d0b3c52-1c3f-4bd4-a1a4-0a5d0e8b1a11"}, "5"),
        "Payments",
    ) == ["Prepayment could not be found"]
    note = money.credit_note(jane, "CN-1", "80")
    assert money.errors(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "5", account="200"),
        "Payments",
    ) == ["Account code '200' is not a bank account and does not allow payments."]


def test_deleting_a_refund_gives_the_credit_back(money: Money) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    made = money.ok(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "80"), "Payments"
    )
    assert money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]["Status"] == "PAID"
    gone = money.ok(
        money.put(f"/Payments/{made['PaymentID']}", "Payments", {"Status": "DELETED"}),
        "Payments",
    )
    assert gone["Status"] == "DELETED"
    after = money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]
    assert (after["RemainingCredit"], after["Status"], after["Payments"]) == (80, "AUTHORISED", [])
    again = money.put(f"/Payments/{made['PaymentID']}", "Payments", {"Status": "DELETED"})
    money.ok(again, "Payments")  # deleting twice is harmless
    assert money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]["RemainingCredit"] == 80


def test_a_refund_in_a_locked_period_is_refused(money: Money, checked: Sandbox) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    checked.faults(money.api.tenant).lock_date = date(2024, 3, 2)
    assert money.errors(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "5"), "Payments"
    ) == ["The payment date cannot be before the period lock date, currently set at 02-Mar-2024"]
    after = money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]
    assert after["RemainingCredit"] == 80


def test_a_refund_replayed_with_its_idempotency_key_is_paid_once(
    money: Money, checked: Sandbox
) -> None:
    jane = money.contact()
    pre = money.prepayment(jane, "25")
    ref = {"PrepaymentID": pre["PrepaymentID"]}
    key = {"Idempotency-Key": "rf1"}
    first = money.refund("Prepayment", ref, "10", headers=key)
    again = money.refund("Prepayment", ref, "10", headers=key)
    assert again.headers["X-Sandbox-Replay"] == "true"
    assert again.json() == first.json()
    assert len(checked.org(money.api.tenant).payments) == 1
    after = money.api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"][0]
    assert after["RemainingCredit"] == 15


def test_a_refund_dated_in_a_period_locked_since_cannot_be_deleted(
    money: Money, checked: Sandbox
) -> None:
    jane = money.contact()
    note = money.credit_note(jane, "CN-1", "80")
    made = money.ok(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "30"), "Payments"
    )
    checked.faults(money.api.tenant).lock_date = date(2024, 3, 2)
    resp = money.put(f"/Payments/{made['PaymentID']}", "Payments", {"Status": "DELETED"})
    assert money.errors(resp, "Payments") == [
        "The payment date cannot be before the period lock date, currently set at 02-Mar-2024"
    ]
    assert money.api.get("/CreditNotes/CN-1").json()["CreditNotes"][0]["RemainingCredit"] == 50
