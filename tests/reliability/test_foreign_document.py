"""A document already in Xero under our number is adopted only when it is provably ours.

Someone typed an invoice by hand in Xero for another customer and gave it the number the host's
next invoice carries. The host's invoice must then fail with both sides shown and the ways out –
never be linked to that other customer's invoice (its payment would then land on the wrong
customer, or fail) – whether the add-on learns of the clash from Xero's refusal of the number or
from looking the number up first (an earlier send of it went out with its answer lost).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.reliability_practice import Prepared, frozen_clock, make_sandbox, prepare
from support.reliability_runner import Running, running

from hookspecs.refhost import RefHost

SEED = 4242
TODAY = date(2025, 8, 1)


def _an_invoice_in_the_window(prepared: Prepared) -> tuple[str, dict[str, Any]]:
    host = RefHost(prepared.root, load_entrypoints=False)
    try:
        for loc, tenant in sorted(prepared.tenants.items()):
            for inv in host.iter_history("invoices", loc):
                paid = any(
                    a["invoice_id"] == inv["id"]
                    for p in host.iter_history("payments", loc)
                    for a in p["allocations"]
                )
                if (
                    date.fromisoformat(inv["date"]) >= prepared.start_date
                    and inv.get("status") != "voided"
                    and paid
                ):
                    return tenant, dict(inv)
    finally:
        host.close()
    raise AssertionError("the practice has no paid invoice in the window")


def _plant_foreign_invoice(run: Running, tenant: str, number: str) -> dict[str, Any]:
    """What an admin typing in Xero would make: a contact without our number, and an invoice
    for it under ``number`` (13.57, dated before ours)."""
    client = run.runtime.client
    connection = run.runtime.connection_for_any(tenant)
    [contact] = client.send_batch(
        tenant, connection, "PUT", "Contacts", [{"Name": "Maya Lee"}], idempotency_key="plant-c"
    )
    assert contact.ok, contact.errors
    accounts = client.accounts(tenant, connection)
    sales = next(str(a["Code"]) for a in accounts if a.get("Name") == "Sales")
    [invoice] = client.send_batch(
        tenant,
        connection,
        "PUT",
        "Invoices",
        [
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": contact.xero_id},
                "Date": "2025-03-02",
                "DueDate": "2025-03-16",
                "InvoiceNumber": number,
                "LineAmountTypes": "NoTax",
                "Status": "AUTHORISED",
                "LineItems": [
                    {
                        "Description": "Hand-typed",
                        "Quantity": 1.0,
                        "UnitAmount": 13.57,
                        "AccountCode": sales,
                    }
                ],
            }
        ],
        idempotency_key="plant-i",
    )
    assert invoice.ok, invoice.errors
    return {"InvoiceID": invoice.xero_id, "ContactID": contact.xero_id}


class LoseAnswerTo(httpx.BaseTransport):
    """The sandbox, except that the answers to the first request creating ``number`` (and to
    the client's own retries of it) are lost after Xero handled it, as on a read timeout: the
    row's outcome is unknown, so its next attempt looks it up first."""

    def __init__(self, inner: httpx.BaseTransport, number: str | None) -> None:
        self.inner = inner
        self.number = number
        self.lose = 5  # XeroClient's tries per request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = request.content.decode() if request.method == "PUT" else ""
        if self.number and f'"InvoiceNumber": "{self.number}"' in body.replace('":"', '": "'):
            self.lose -= 1
            if not self.lose:
                self.number = None
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.mark.parametrize("in_doubt", [False, True], ids=["refused-number", "answer-lost"])
def test_a_foreign_invoice_under_our_number_fails_ours_with_both_sides_never_links(
    tmp_path: Path, in_doubt: bool
) -> None:
    sandbox = make_sandbox(orgs=1, seed=SEED)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 50,
            locations=1,
            clients=12,
            days=60,
            window_days=40,
            clock=clock,
        )
    tenant, ours = _an_invoice_in_the_window(prepared)
    number = f"INV{ours['number']}"
    transport = LoseAnswerTo(sandbox.transport(), None)
    with running(prepared, sandbox, server.url, clock, transport=transport) as run:
        ledger = run.engine.ledger
        foreign = _plant_foreign_invoice(run, tenant, number)
        if in_doubt:
            transport.number = number
        row = ledger.find("invoice", ours["id"], tenant)
        assert row is not None
        for _ in range(6):
            run.run_once()
            run.vt.advance(300.0)
        row = ledger.get(row.id)
        assert row is not None
        assert row.xero_id != foreign["InvoiceID"], "linked to another customer's invoice"
        assert row.state == "failed", (row.state, row.message)
        message = row.message or ""
        assert f"invoice {number} is already in Xero for Maya Lee (13.57, 2025-03-02)" in message
        assert f"{Decimal(ours['total']):.2f}, {ours['date']})" in message
        assert "; ours is for " in message
        assert "prefix" in (row.hint or "")
        assert "void" in (row.hint or "")
        payments = [
            r for r in ledger.find_rows(kind="payment", limit=None)[0] if ours["id"] in r.host_id
        ]
        assert payments
        for payment in payments:
            assert payment.state != "synced"
            assert payment.xero_id is None
    books = sandbox.inspect()[tenant]
    assert [i["InvoiceNumber"] for i in books["invoices"]].count(number) == 1
