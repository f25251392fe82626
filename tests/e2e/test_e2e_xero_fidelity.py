"""The add-on against the parts of Xero a stand-in most often gets wrong (issue 10), now
mirrored by the sandbox: a contact number Xero already has, the end-of-year lock date (which
stops advisers too), overpayments Xero keeps no Reference on, 2-decimal unit amounts, and the
date Xero gives a credit note's allocation."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import NOW, START_DATE, World

pytestmark = pytest.mark.timeout(90)


def _line(price: str) -> dict[str, Any]:
    return {
        "description": "Boarding night",
        "category": "boarding",
        "quantity": "1",
        "unit_price": price,
        "tax_rate": "10",
    }


def _client_of(world: World, index: int) -> dict[str, Any]:
    home = world.locations[index]["id"]
    return dict(next(c for c in world.host.iter_history("clients", home)))


def test_a_contact_xero_already_has_under_our_number_is_linked_never_duplicated(
    world: World,
) -> None:
    world.connect_all()
    first = world.tenant_of(0)
    client = _client_of(world, 0)
    number = f"C{client['number']}"
    runtime = world.runtime
    key = runtime.connection_for_any(first)
    # An earlier install created this customer; Xero refuses a second contact with its number.
    (made,) = runtime.client.send_batch(
        first,
        key,
        "PUT",
        "Contacts",
        [{"Name": "Pawson household (old install)", "ContactNumber": number}],
        idempotency_key="old-install-1",
    )
    assert made.ok
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()

    (row,) = [r for r in world.rows(tenant_id=first, kind="contact") if r.host_id == client["id"]]
    assert row.state == "synced"
    assert row.xero_id == made.xero_id
    contacts = world.book(first)["contacts"]
    assert [c["ContactID"] for c in contacts if c.get("ContactNumber") == number] == [made.xero_id]
    assert not world.rows(state="failed")


def test_end_of_year_lock_holds_documents_waiting_with_its_date_even_for_an_adviser(
    world: World,
) -> None:
    world.set_up(backfill=False)
    first, second = world.tenant_of(0), world.tenant_of(1)
    faults = world.sandbox.faults(first)
    faults.adviser = True  # the connecting user is the practice's adviser …
    faults.lock_date = date(2025, 2, 10)  # … whom the period lock does not stop,
    year_end = date(2025, 1, 20)
    faults.end_of_year_lock_date = year_end  # but the end-of-year lock does.

    world.host.backfill(None, None)
    world.drain()

    held = world.rows(state="waiting", gate="lock_date")
    assert held
    assert not world.rows(state="failed")
    for row in held:
        assert row.tenant_id == first
        assert row.doc_date is not None
        assert date.fromisoformat(row.doc_date) <= year_end
        assert "end of year lock date, currently set at 20-Jan-2025" in str(row.detail)
    invoices = [r for r in world.rows(tenant_id=first, state="synced") if r.kind == "invoice"]
    assert any(
        date(2025, 1, 20) < date.fromisoformat(str(r.doc_date)) <= faults.lock_date
        for r in invoices
    ), "an adviser's documents inside the period lock were held"
    assert not [r for r in world.rows(tenant_id=second) if r.gate == "lock_date"]
    assert "20-Jan-2025" in json.dumps(world.host.sync_status(None))

    faults.end_of_year_lock_date = None  # the adviser moves the lock in Xero …
    faults.lock_date = None
    world.engine.retry()  # … and the admin presses retry
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_an_overpayment_in_doubt_is_found_by_contact_line_and_amount_and_never_duplicated(
    world: World,
) -> None:
    world.set_up()
    world.drain()
    first = world.tenant_of(0)
    client = _client_of(world, 0)
    payment = world.host.record_payment(
        {
            "location_id": world.locations[0]["id"],
            "client_id": client["id"],
            "amount": "42.10",
            "method": "cash",
            "allocations": [],
        }
    )
    faults = world.sandbox.faults(first)
    faults.lost_response_rate = 1.0
    world.run_worker()  # Xero stores the overpayment; every answer is lost
    faults.clear()
    (row,) = [r for r in world.rows(kind="overpayment") if r.host_id.startswith(payment["id"])]
    assert row.state == "retrying"
    assert row.uncertain
    looked_up = len(world.sandbox.requests)
    world.drain()

    assert world.engine.ledger.get(row.id).state == "synced"
    overpayments = [
        b
        for b in world.book(first)["bank_transactions"]
        if b.get("Type") == "RECEIVE-OVERPAYMENT" and float(b["Total"]) == 42.10
    ]
    assert len(overpayments) == 1
    assert "Reference" not in overpayments[0]
    assert world.engine.ledger.get(row.id).xero_id == overpayments[0]["OverpaymentID"]
    later = list(world.sandbox.requests)[looked_up:]
    assert any(
        r["method"] == "GET" and r["path"].endswith("/BankTransactions") and "Contact" in r["query"]
        for r in later
    ), "the overpayment was not looked for by its contact"
    check_books(world, expected(world, START_DATE))


def test_unit_amounts_are_sent_with_two_decimals_and_xeros_totals_match_the_hosts(
    world: World,
) -> None:
    """Xero keeps 2 decimals on UnitAmount unless asked for 4: the add-on sends 2 (host prices
    have 2) and never needs ``unitdp=4`` – the totals Xero computes equal the host's."""
    world.set_up()
    world.drain()
    units = [
        Decimal(str(line["UnitAmount"]))
        for sent in world.sent
        if sent.method in ("PUT", "POST") and isinstance(sent.body, dict)
        for items in sent.body.values()
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict)
        for line in item.get("LineItems") or []
        if "UnitAmount" in line
    ]
    assert units
    assert all(u == u.quantize(Decimal("0.01")) for u in units)
    assert not any("unitdp" in r["query"].lower() for r in world.sandbox.requests)
    check_books(world, expected(world, START_DATE))  # every total as the host has it


def test_a_credit_note_is_allocated_on_the_date_xero_gives_it_the_later_documents(
    world: World,
) -> None:
    world.set_up()
    world.drain()
    loc = world.locations[1]["id"]
    tenant = world.tenant_of(1)
    client = _client_of(world, 1)
    today = NOW.date()
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("80.00")]}
    )
    note = world.host.create_credit_note(
        {
            "location_id": loc,
            "client_id": client["id"],
            "invoice_id": invoice["id"],
            "date": (date.fromisoformat(invoice["date"]) - timedelta(days=2)).isoformat(),
            "lines": [_line("30.00")],
        }
    )
    assert note["date"] < invoice["date"] <= today.isoformat()  # a back-dated refund
    world.drain()

    (sent,) = [s for s in world.sent if s.path.endswith("/Allocations") and s.tenant == tenant]
    assert sent.body["Allocations"][0]["Date"] == invoice["date"]  # not the credit note's
    (xero_note,) = [
        n
        for n in world.book(tenant)["credit_notes"]
        if n["CreditNoteNumber"] == f"CN{note['number']}"
    ]
    assert xero_note["Allocations"][0]["DateString"].startswith(invoice["date"])
    check_books(world, expected(world, START_DATE))
