"""The start-date preview counts and totals the money flows by their dates, as it does
payments: deposits taken in the window (and each one's application to an invoice, dated as
Xero dates it), refunds by the credit they come out of, payouts with their fees – and holds
those whose credit or card payments are before the start date, saying why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support.cli_practice import START, fill, settings

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin.dashboard.preview import preview
from pm_xero_plugin.dashboard.render import print_preview
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.xero.client import XeroClient

CONN = "syd"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RefHost]:
    """The CLI practice (start date 2025-02-01; invoices #1 2025-01-31, #2 2025-02-01, #3
    2025-02-10; payments p1 2025-02-03, p2 2025-02-11, p3 2025-01-31; credit note n1
    2025-02-12), plus the money flows of Sydney around the start date."""
    host = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    try:
        fill(host)
        for did, number, day, amount, applied in (
            ("d1", 1, "2025-02-02", "60.00", [("i3", "20.00")]),  # in, applied in the window
            ("d2", 2, "2025-01-20", "40.00", [("i2", "40.00")]),  # taken before: held
            ("d3", 3, "2025-02-05", "15.00", [("i1", "15.00")]),  # its invoice before: held
            ("d4", 4, "2025-01-10", "9.00", []),  # before, never applied: out
        ):
            host.record_deposit(
                {
                    "id": did,
                    "number": number,
                    "client_id": "c1",
                    "location_id": "syd",
                    "paid_date": day,
                    "amount": amount,
                    "currency": "AUD",
                    "method": "card",
                    "allocations": [{"invoice_id": i, "amount": a} for i, a in applied],
                }
            )
        for rid, number, day, amount, source in (
            ("r1", 1, "2025-02-13", "5.00", {"credit_note_id": "n1"}),
            ("r2", 2, "2025-02-14", "4.50", {"payment_id": "p2"}),
            ("r3", 3, "2025-02-15", "10.00", {"deposit_id": "d2"}),  # its deposit before: held
            ("r4", 4, "2025-01-25", "1.00", {"deposit_id": "d2"}),  # before: out
        ):
            host.record_refund(
                {
                    "id": rid,
                    "number": number,
                    "client_id": "c1",
                    "location_id": "syd",
                    "paid_date": day,
                    "amount": amount,
                    "currency": "AUD",
                    **source,
                }
            )
        for poid, number, day, payments, fees in (
            ("po1", 1, "2025-02-12", ["p2"], "0.90"),
            ("po2", 2, "2025-02-04", ["p1", "p3"], "0.00"),  # p3 before the start: held
            ("po3", 3, "2025-01-30", ["p3"], "0.05"),  # before: out
        ):
            host.record_payout(
                {
                    "id": poid,
                    "number": number,
                    "location_id": "syd",
                    "paid_date": day,
                    "currency": "AUD",
                    "payment_ids": payments,
                    "fees": fees,
                }
            )
        yield host
    finally:
        host.close()


def sydney(host: RefHost) -> dict[str, Any]:
    report = preview(None, host, date(2025, 2, 1), settings=settings({"syd": "T1", "lon": "T2"}))
    found: dict[str, Any] = next(o for o in report["organisations"] if o["tenant_id"] == "T1")
    return found


def test_the_money_flows_are_counted_and_totalled_by_their_dates(host: RefHost) -> None:
    t1 = sydney(host)

    assert t1["money_flows"] == {
        "payouts": {
            "count": 2,
            "total": "129.10",  # what reached the bank: 29.10 + 100.00
            "first_date": "2025-02-04",
            "last_date": "2025-02-12",
        },
        "deposits": {
            "count": 2,
            "total": "75.00",
            "first_date": "2025-02-02",
            "last_date": "2025-02-05",
        },
        "refunds": {
            "count": 3,
            "total": "19.50",
            "first_date": "2025-02-13",
            "last_date": "2025-02-15",
        },
    }
    kinds = t1["kinds"]
    counted = {
        kind: (kinds[kind]["count"], kinds[kind]["total"])
        for kind in (
            "deposit",
            "deposit_allocation",
            "credit_note_refund",
            "overpayment_refund",
            "deposit_refund",
            "payout_fee",
            "payout",
        )
    }
    assert counted == {
        "deposit": (2, "75.00"),
        "deposit_allocation": (1, "20.00"),  # d1 to invoice #3, dated the invoice's day
        "credit_note_refund": (1, "5.00"),
        "overpayment_refund": (1, "4.50"),
        "deposit_refund": (0, "0.00"),
        "payout_fee": (1, "0.90"),
        "payout": (1, "29.10"),
    }
    assert kinds["deposit_allocation"]["first_date"] == "2025-02-10"
    assert kinds["payout"]["already_in_xero"] is None  # no look-up asked for


def test_flows_whose_credit_or_card_payments_predate_the_start_are_held_saying_why(
    host: RefHost,
) -> None:
    held = {(h["kind"], h["gate"]): (h["count"], h["total"]) for h in sydney(host)["held"]}

    assert held == {
        ("deposit_allocation", "credit_before_start"): (1, "40.00"),
        ("deposit_allocation", "invoice_before_start"): (1, "15.00"),
        ("deposit_refund", "credit_before_start"): (1, "10.00"),
        ("payment", "invoice_before_start"): (1, "99.00"),
        ("payout", "payments"): (1, "100.00"),
    }
    reasons = {h["gate"]: h["reason"] for h in sydney(host)["held"]}
    assert "credit" in reasons["credit_before_start"]
    assert "include parent" in reasons["credit_before_start"]
    assert "clearing account" in reasons["payments"]


def test_the_text_preview_names_the_new_kinds_and_their_holds(host: RefHost) -> None:
    report = preview(None, host, date(2025, 2, 1), settings=settings({"syd": "T1"}))
    console = Console(width=100, record=True)

    print_preview(report, console=console)

    text = console.export_text()
    for line in ("deposits ", "deposit allocations ", "credit note refunds ", "payout fees "):
        assert f"\n{line}" in text, line
    assert "held: 1 payout (100.00) – settles card payments dated before the start" in text
    assert "held: 1 deposit refund (10.00)" in text
    assert "money flows: payouts 2 (129.10), deposits 2 (75.00), refunds 3 (19.50)" in text


def test_the_preview_finds_the_payouts_and_refunds_xero_already_has_by_reference(
    host: RefHost, sandbox_client: tuple[Sandbox, XeroClient]
) -> None:
    """Someone recorded payout PO1 (its transfer and its fees) and refund RF2 in Xero by hand:
    the preview says so before anything is sent (the sender's own look-ups by reference)."""
    sandbox, client = sandbox_client
    tenant = sandbox.tenant_ids[0]

    def made(endpoint: str, element: dict[str, Any]) -> str:
        key = f"k-{endpoint}-{element.get('Type') or element.get('Reference')}"
        [result] = client.send_batch(tenant, CONN, "PUT", endpoint, [element], idempotency_key=key)
        assert result.ok, result.errors
        return str(result.xero_id)

    made(
        "BankTransfers",
        {
            "FromBankAccount": {"Code": "093"},
            "ToBankAccount": {"Code": "090"},
            "Amount": 29.10,
            "Date": "2025-02-12",
            "Reference": "PO1",
        },
    )
    made(
        "BankTransactions",
        {
            "Type": "SPEND",
            "Contact": {"Name": "Stripe"},
            "BankAccount": {"Code": "093"},
            "Date": "2025-02-12",
            "Reference": "PO1",
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {"Description": "fees", "Quantity": 1.0, "UnitAmount": 0.9, "AccountCode": "406"}
            ],
        },
    )
    contact = made("Contacts", {"Name": "Ann Lee1", "ContactNumber": "C1"})
    over = made(
        "BankTransactions",
        {
            "Type": "RECEIVE-OVERPAYMENT",
            "Contact": {"ContactID": contact},
            "BankAccount": {"Code": "090"},
            "Date": "2025-02-11",
            "LineAmountTypes": "NoTax",
            "LineItems": [{"Description": "PAY2", "Quantity": 1.0, "UnitAmount": 4.5}],
        },
    )
    made(
        "Payments",
        {
            "Overpayment": {"OverpaymentID": over},
            "Account": {"Code": "090"},
            "Date": "2025-02-14",
            "Amount": 4.5,
            "Reference": "RF2",
        },
    )
    with_xero = preview(
        None,
        host,
        date(2025, 2, 1),
        client=client,
        connection_for=lambda t: CONN if t == tenant else None,
        settings=settings({"syd": tenant}),
    )

    [mine] = [o for o in with_xero["organisations"] if o["tenant_id"] == tenant]
    found = {kind: mine["kinds"][kind]["already_in_xero"] for kind in ("payout", "payout_fee")}
    assert found == {"payout": 1, "payout_fee": 1}
    assert mine["kinds"]["overpayment_refund"]["already_in_xero"] == 1
    assert mine["kinds"]["credit_note_refund"]["already_in_xero"] == 0
    assert mine["kinds"]["deposit"]["already_in_xero"] == 0
    assert (
        "Xero already has 1 payouts numbered like these: they will be linked, not duplicated; "
        "if they were entered by hand for this period, choose a later start date"
    ) in mine["warnings"]
