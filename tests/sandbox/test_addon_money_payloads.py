"""The add-on's own payloads for the money flows (mapping's builders, as the sender sends them)
are accepted by the spec-checked sandbox, and a payout's transfer and fee leave the clearing
account at 0.00 with the bank deposit equal to the payout."""

from __future__ import annotations

from typing import Any

from support.sandbox_money import Money

from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.deposits import deposit_allocation_payload, deposit_payload
from pm_xero_plugin.mapping.payouts import payout_fee_payload, payout_transfer_payload
from pm_xero_plugin.mapping.refunds import refund_payload


def _mapping(tenant: str) -> OrgMapping:
    return OrgMapping(
        tenant_id=tenant,
        location_id="L1",
        payments={"stripe": "093", "cash": "090"},
        deposits="094",
        card_fees="406",
        payout_bank="090",
    )


def _deposit() -> dict[str, Any]:
    return {
        "id": "d1",
        "number": 12,
        "location_id": "L1",
        "client_id": "c1",
        "paid_date": "2024-02-20",
        "amount": "150.00",
        "currency": "AUD",
        "method": "stripe",
        "allocations": [{"invoice_id": "i1", "amount": "100.00"}],
        "reference": "Booking 7",
    }


def test_the_addons_deposit_allocation_and_refund_payloads_are_accepted(money: Money) -> None:
    m = _mapping(money.api.tenant)
    jane = money.contact()
    deposit = _deposit()
    txn = money.ok(
        money.put(
            "/BankTransactions", "BankTransactions", deposit_payload(deposit, m, contact_id=jane)
        ),
        "BankTransactions",
    )
    invoice = money.invoice(jane, "INV-1", "120", date="2024-03-08")
    allocation = deposit_allocation_payload(
        deposit,
        deposit["allocations"][0],
        invoice_id=invoice["InvoiceID"],
        invoice_date="2024-03-08",
    )
    path = f"/Prepayments/{txn['PrepaymentID']}/Allocations"
    money.ok(money.put(path, "Allocations", allocation), "Allocations")
    refund = {
        "id": "r1",
        "number": 3,
        "location_id": "L1",
        "client_id": "c1",
        "paid_date": "2024-03-09",
        "amount": "50.00",
        "currency": "AUD",
        "method": "stripe",
        "deposit_id": "d1",
    }
    payload = refund_payload(refund, m, source_kind="deposit", source_xero_id=txn["PrepaymentID"])
    made = money.ok(money.put("/Payments", "Payments", payload), "Payments")
    assert made["PaymentType"] == "ARPREPAYMENTPAYMENT"
    [pre] = money.api.get(f"/Prepayments/{txn['PrepaymentID']}").json()["Prepayments"]
    assert (pre["RemainingCredit"], pre["Status"]) == (0, "PAID")
    assert pre["LineItems"][0]["Description"] == "DEP12 deposit – Booking 7"


def test_a_payouts_transfer_and_fee_empty_the_clearing_account_into_the_bank(
    money: Money,
) -> None:
    m = _mapping(money.api.tenant)
    jane = money.contact()
    for number in ("INV-1", "INV-2"):
        invoice = money.invoice(jane, number, "80")
        money.pay(invoice["InvoiceID"], "80", account="093")  # card payments into clearing
    payout = {
        "id": "p1",
        "number": 7,
        "location_id": "L1",
        "method": "stripe",
        "paid_date": "2024-03-10",
        "currency": "AUD",
        "gross": "160.00",
        "fees": "4.80",
        "amount": "155.20",
        "payment_ids": ["a", "b"],
    }
    money.ok(
        money.put("/BankTransactions", "BankTransactions", payout_fee_payload(payout, m)),
        "BankTransactions",
    )
    money.ok(
        money.put("/BankTransfers", "BankTransfers", payout_transfer_payload(payout, m)),
        "BankTransfers",
    )
    found = money.api.client.get(f"/sandbox/balances/{money.api.tenant}").json()["balances"]
    assert "093" not in found  # the clearing account is back at 0.00
    assert found["090"] == "155.20"  # the bank deposit is the payout
    assert found["406"] == "4.80"
