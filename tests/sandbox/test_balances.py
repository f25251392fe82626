"""``GET /sandbox/balances/{tenant}``: every account's balance as Xero's journals would leave it
(debit positive), from the live documents only – what the end-to-end test reads the books by."""

from __future__ import annotations

from decimal import Decimal

import httpx
from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.balances import balances


def _balances(money: Money) -> dict[str, str]:
    resp = money.api.client.get(f"/sandbox/balances/{money.api.tenant}")
    assert resp.status_code == 200, resp.text
    found: dict[str, str] = resp.json()["balances"]
    return found


def _month(money: Money) -> None:
    """Card and voucher payments, a deposit allocated and its rest refunded, a credit-note
    refund, an overpayment partly refunded, the processor's fee and its payout."""
    jane = money.contact()
    taxed = money.ok(money.api.invoice(jane, "INV-1", "100"), "Invoices")  # 100 + 10 GST
    money.pay(taxed["InvoiceID"], "60", account="093")  # by card, into clearing
    money.pay(taxed["InvoiceID"], "50", account="095")  # a voucher redeemed
    voucher = money.invoice(
        jane,
        "INV-2",
        "200",
        LineItems=[
            {"Description": "Gift voucher", "Quantity": 1, "UnitAmount": 200, "AccountCode": "095"}
        ],
    )
    money.pay(voucher["InvoiceID"], "200")
    deposit = money.prepayment(jane, "150", bank="093")
    stay = money.invoice(jane, "INV-3", "120", date="2024-03-08")
    money.ok(
        money.allocate("Prepayments", deposit["PrepaymentID"], stay["InvoiceID"], "100"),
        "Allocations",
    )
    money.ok(
        money.refund(
            "Prepayment",
            {"PrepaymentID": deposit["PrepaymentID"]},
            "50",
            account="093",
            reference="RF1",
        ),
        "Payments",
    )
    note = money.credit_note(jane, "CN-1", "30")
    money.ok(
        money.refund("CreditNote", {"CreditNoteID": note["CreditNoteID"]}, "30", reference="RF2"),
        "Payments",
    )
    over = money.overpayment(jane, "25")
    money.ok(
        money.refund(
            "Overpayment", {"OverpaymentID": over["OverpaymentID"]}, "10", reference="RF3"
        ),
        "Payments",
    )
    stripe = money.contact("Stripe", "STRIPE")
    money.ok(
        money.receipt("SPEND", stripe, "5", bank="093", account="406", Reference="PO1"),
        "BankTransactions",
    )
    money.ok(money.transfer("093", "090", "155", reference="PO1"), "BankTransfers")


def test_a_month_of_money_flows_gives_the_balances_an_accountant_expects(money: Money) -> None:
    _month(money)
    assert _balances(money) == {
        "090": "340.00",  # 200 voucher sale - 30 credit refund + 25 - 10 overpayment + 155 payout
        "095": "-150.00",  # vouchers sold 200 - redeemed 50 (a liability: a credit)
        "201": "-190.00",  # boarding 100 + 120 - credit note 30
        "406": "5.00",  # the card fee
        "610": "5.00",  # INV-3 still owes 20, less the 15 left of the overpayment
        "820": "-10.00",  # GST on INV-1
    }  # clearing 093 is at 0.00 (not listed): in 60 + 150, out 50 + 5 + 155; deposits 094 too


def test_the_balances_are_a_trial_balance_that_sums_to_zero(money: Money) -> None:
    _month(money)
    assert sum(Decimal(v) for v in _balances(money).values()) == 0


def test_drafts_and_deleted_documents_post_nothing(money: Money) -> None:
    jane = money.contact()
    money.invoice(jane, "INV-D", "70", status="DRAFT")
    paid = money.invoice(jane, "INV-1", "40")
    payment = money.pay(paid["InvoiceID"], "40")
    assert _balances(money) == {"090": "40.00", "201": "-40.00"}
    money.ok(
        money.put(f"/Payments/{payment['PaymentID']}", "Payments", {"Status": "DELETED"}),
        "Payments",
    )
    assert _balances(money) == {"201": "-40.00", "610": "40.00"}


def test_a_taxed_prepayment_refunded_in_part_takes_back_tax_in_proportion(
    money: Money, checked: Sandbox
) -> None:
    jane = money.contact()
    txn = money.receipt(
        "RECEIVE-PREPAYMENT", jane, "100", account="094", LineAmountTypes="Exclusive"
    )  # 100 to 094, 0 tax (094 has no tax)
    money.ok(txn, "BankTransactions")
    taxed = money.receipt(
        "RECEIVE-PREPAYMENT", jane, "100", account="201", LineAmountTypes="Exclusive"
    )
    pre = money.ok(taxed, "BankTransactions")  # 100 to 201 + 10 GST
    money.ok(money.refund("Prepayment", {"PrepaymentID": pre["PrepaymentID"]}, "55"), "Payments")
    found = balances(checked.org(money.api.tenant))
    assert found == {
        "090": Decimal("155.00"),
        "094": Decimal("-100.00"),
        "201": Decimal("-50.00"),
        "820": Decimal("-5.00"),
    }


def test_balances_of_an_unknown_organisation_are_a_404(client: httpx.Client) -> None:
    resp = client.get("/sandbox/balances/0f2a1c8e-4b7d-4c2e-9a51-3e6d7f8a9b0c")
    assert resp.status_code == 404
    assert "No organisation" in resp.json()["Detail"]
