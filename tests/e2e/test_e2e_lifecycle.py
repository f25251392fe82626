"""The practice after the back-sync: edits and voids reach Xero, records made while the add-on
was switched off are not lost, and a future start date holds data until the day comes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from support.e2e_expect import check_books, check_order, expected
from support.e2e_world import NOW, START_DATE, World

pytestmark = pytest.mark.timeout(60)


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


def test_edit_and_void_after_sync_reach_xero(world: World) -> None:
    world.set_up()
    world.drain()
    loc = world.locations[1]["id"]
    client = _client_of(world, 1)
    edited = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("40.00")]}
    )
    voided = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("25.00")]}
    )
    world.drain()
    world.host.update_invoice({"id": edited["id"], "lines": [_line("40.00"), _line("12.50")]})
    world.host.void_invoice(voided["id"])
    world.drain()

    check_books(world, expected(world, START_DATE))
    book = world.book(world.tenant_of(1))
    by_number = {i["InvoiceNumber"]: i for i in book["invoices"]}
    assert by_number[f"INV{voided['number']}"]["Status"] == "VOIDED"
    assert str(by_number[f"INV{edited['number']}"]["Total"]) in ("52.5", "52.50")


def test_records_made_while_switched_off_are_sent_when_on_again(world: World) -> None:
    world.set_up()
    world.drain()
    world.host.disable_plugin("xero")
    loc = world.locations[0]["id"]
    client = _client_of(world, 0)
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("70.00")]}
    )
    world.host.record_payment(
        {
            "location_id": loc,
            "client_id": client["id"],
            "allocations": [{"invoice_id": invoice["id"], "amount": "70.00"}],
        }
    )
    world.host.enable_plugin("xero")  # on again: the add-on catches up with the gap itself
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_future_start_date_holds_data_until_the_day(world: World) -> None:
    start = NOW.date() + timedelta(days=2)
    world.set_up(start_date=start)
    world.drain()
    client = _client_of(world, 0)
    loc = world.locations[0]["id"]
    for book in world.sandbox.inspect().values():
        assert book["invoices"] == []  # nothing before the start date, nothing yet
    world.clock.advance(timedelta(days=2))  # the start date is reached (Sydney morning)
    world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("33.00")]}
    )
    world.drain()
    exp = expected(world, start)
    assert sum(len(v) for v in exp.invoices.values()) == 1
    check_books(world, exp)
    assert date.fromisoformat(world.rows(kind="invoice")[-1].doc_date or "") >= start


def test_credit_note_against_an_invoice_is_allocated_after_both(world: World) -> None:
    world.set_up()
    world.drain()
    loc = world.locations[2]["id"]  # the location sharing the first organisation
    client = _client_of(world, 2)
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("80.00")]}
    )
    world.host.create_credit_note(
        {
            "location_id": loc,
            "client_id": client["id"],
            "invoice_id": invoice["id"],
            "lines": [_line("30.00")],
        }
    )
    world.drain()

    check_books(world, expected(world, START_DATE))
    check_order(world)
    assert any(s.path.endswith("/Allocations") for s in world.sent)
    book = world.book(world.tenant_of(2))
    (xero_invoice,) = [
        i for i in book["invoices"] if i["InvoiceNumber"] == f"INV{invoice['number']}"
    ]
    assert float(xero_invoice["AmountDue"]) == 50.0


@pytest.mark.parametrize("kind", ["payment", "allocation"])
def test_lost_answers_for_payments_and_allocations_are_adopted(world: World, kind: str) -> None:
    """Payments and allocations have no unique number in Xero: a lost answer must be found by
    look-up (Reference / the credit note's allocations), never applied twice."""
    world.set_up()
    world.drain()
    loc = world.locations[1]["id"]
    tenant = world.tenant_of(1)
    client = _client_of(world, 1)
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [_line("80.00")]}
    )
    world.drain()
    faults = world.sandbox.faults(tenant)
    if kind == "payment":
        faults.lost_response_rate = 1.0
        record = world.host.record_payment(
            {
                "location_id": loc,
                "client_id": client["id"],
                "allocations": [{"invoice_id": invoice["id"], "amount": "30.00"}],
            }
        )
    else:
        faults.script.extend(["ok"] + ["lost"] * 5)  # the credit note, then its allocation
        record = world.host.create_credit_note(
            {
                "location_id": loc,
                "client_id": client["id"],
                "invoice_id": invoice["id"],
                "lines": [_line("30.00")],
            }
        )
    world.run_worker()  # Xero applies it; every answer is lost
    faults.clear()
    (row,) = [r for r in world.rows(kind=kind) if r.host_id.startswith(record["id"])]
    assert row.state == "retrying"
    assert row.uncertain
    world.drain()

    assert world.engine.ledger.get(row.id).state == "synced"
    check_books(world, expected(world, START_DATE))
    book = world.book(tenant)
    (xero_invoice,) = [
        i for i in book["invoices"] if i["InvoiceNumber"] == f"INV{invoice['number']}"
    ]
    assert float(xero_invoice["AmountDue"]) == 50.0  # applied once
