"""Fault tests on the sandbox clock: each pins the outcome by reading the sandbox back and the
ledger – nothing lost, nothing duplicated, the other organisation unaffected."""

from __future__ import annotations

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def _api_writes(world: World, tenant: str) -> int:
    return sum(1 for s in world.sent if s.tenant == tenant and s.method in ("PUT", "POST"))


def _retried(world: World, tenant: str) -> list[int]:
    """Rows of ``tenant`` that needed more than one attempt."""
    return [r.id for r in world.rows(tenant_id=tenant) if r.attempts > 1]


def test_5xx_and_offline_back_off_without_loss_or_duplicates(world: World) -> None:
    world.set_up()
    first, second = world.tenant_of(0), world.tenant_of(1)
    faults = world.sandbox.faults(first)
    faults.script.extend(["503", "offline", "500", "502", "504"] * 3)
    faults.error_rate = 0.3
    world.drain()
    faults.clear()

    check_books(world, expected(world, START_DATE))
    assert _retried(world, first), "the faults never reached a batch"
    assert _retried(world, second) == []  # the healthy organisation never waited
    statuses = {r["status"] for r in world.sandbox.requests if r["tenant"] == first}
    assert {500, 502, 503, 504} <= statuses


@pytest.mark.parametrize("outcome", ["timeout", "lost"])
def test_timeouts_before_and_after_commit_never_duplicate(world: World, outcome: str) -> None:
    """``timeout``: Xero wrote nothing; ``lost``: Xero committed and the answer was lost. Both
    exhaust the client's same-key retries of the first batch, so the next attempt must look the
    rows up in Xero first: lost ones are adopted (never re-sent), timed-out ones sent once more."""
    world.set_up()
    first = world.tenant_of(0)
    faults = world.sandbox.faults(first)
    if outcome == "timeout":
        faults.timeout_rate = 1.0
    else:
        faults.lost_response_rate = 1.0
    world.run_worker()  # every write of this round and its same-key retries: no answer
    assert world.open_rows(first)
    in_round = {r["idempotency_key"] for r in world.sandbox.requests if r["outcome"] == outcome}
    faults.clear()
    faults.script.extend([outcome, "ok"] * 10)  # and a few more, answered on the same-key retry
    world.drain()

    check_books(world, expected(world, START_DATE))
    hung = [r for r in world.sandbox.requests if r["outcome"] == outcome]
    assert len(hung) >= 5
    requests = list(world.sandbox.requests)
    first_hung = next(i for i, r in enumerate(requests) if r["outcome"] == outcome)
    lookups = [
        r
        for r in requests[first_hung:]
        if r["tenant"] == first
        and r["method"] == "GET"
        and r["path"].rsplit("/", 1)[-1] not in _SETTINGS_READS
    ]
    assert lookups, "rows in doubt were not looked up in Xero before going again"
    keys = world.attempts_by_number(first)
    in_doubt = {n for n, k in keys.items() if k & in_round}
    assert in_doubt
    resent = {n for n in in_doubt if len(keys[n]) > 1}
    if outcome == "lost":
        assert resent == set(), "a committed create was sent again instead of adopted"
    else:
        assert resent == in_doubt, "a create that never reached Xero was not sent again"
    assert [r for r in world.engine.ledger.counts() if r["state"] == "failed"] == []


_SETTINGS_READS = {"Accounts", "TaxRates", "TrackingCategories", "Organisation"}


def test_lookup_refused_by_429_keeps_a_lost_create_in_doubt(world: World) -> None:
    """A create whose answer was lost is looked up before going again; when Xero answers that
    look-up with 429 the row must stay "in doubt" – a plain re-send would double the money in
    Xero (an overpayment has no unique number to stop it)."""
    world.set_up()
    world.drain()
    first = world.tenant_of(0)
    client = next(c for c in world.host.iter_history("clients", world.locations[0]["id"]))
    world.host.record_payment(
        {
            "location_id": world.locations[0]["id"],
            "client_id": client["id"],
            "amount": "12.34",
            "method": "cash",
            "allocations": [],
        }
    )
    faults = world.sandbox.faults(first)
    faults.lost_response_rate = 1.0
    world.run_worker()  # Xero stores it; every answer is lost
    faults.clear()
    (row,) = [r for r in world.rows(kind="overpayment") if r.state != "synced"]
    assert row.state == "retrying"
    assert row.uncertain

    faults.script.append("429")  # the look-up itself is refused
    world.time.advance(world.next_wait())
    world.run_worker(max_seconds=1.0)
    assert world.engine.ledger.get(row.id).uncertain, "the 429 made Xero's copy forgotten"

    world.time.advance(61)
    world.drain(max_seconds=1.0)
    check_books(world, expected(world, START_DATE))
    assert world.engine.ledger.get(row.id).state == "synced"


def test_lost_answers_during_contact_sync_are_adopted(world: World) -> None:
    world.connect_all()
    settings = world.make_settings(None)
    world.save_settings(settings)
    first = world.tenant_of(0)
    faults = world.sandbox.faults(first)
    faults.script.append("ok")  # the read of our contacts already in Xero (match before create)
    faults.lost_response_rate = 1.0
    world.host.start_contact_sync(None)
    world.run_worker()  # Xero creates the contacts; every answer is lost
    faults.clear()
    in_doubt = [r for r in world.rows(tenant_id=first, kind="contact") if r.uncertain]
    assert in_doubt
    world.drain()
    assert all(world.engine.ledger.get(r.id).state == "synced" for r in in_doubt)

    world.save_settings(dict(settings, start_date=START_DATE.isoformat()))
    world.host.backfill(None, None)
    world.drain()
    check_books(world, expected(world, START_DATE))
    assert not world.rows(state="failed")


def test_a_void_whose_answer_was_lost_is_found_voided_not_refused(world: World) -> None:
    """Xero voided the invoice and the answer was lost: a second void would be refused (``not of
    valid status for modification``) and the row failed though the books are right. The void in
    doubt reads the invoice first and is done."""
    world.set_up()
    world.drain()
    first = world.tenant_of(0)
    loc = world.locations[0]["id"]
    client = next(iter(world.host.iter_history("clients", loc)))
    line = {"description": "Night", "category": "boarding", "quantity": "1",
            "unit_price": "25.00", "tax_rate": "10"}  # fmt: skip
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [line]}
    )
    world.drain()
    world.host.void_invoice(invoice["id"])
    faults = world.sandbox.faults(first)
    faults.lost_response_rate = 1.0
    world.run_worker()  # Xero voids it; every answer is lost
    faults.clear()
    (row,) = [r for r in world.rows(kind="invoice") if r.host_id == invoice["id"]]
    assert row.state == "retrying"
    assert row.uncertain

    world.time.advance(world.next_wait())
    world.drain()
    row = world.engine.ledger.get(row.id)
    assert row.state == "synced", row.message
    book = world.book(first)
    (in_xero,) = [i for i in book["invoices"] if i["InvoiceNumber"] == f"INV{invoice['number']}"]
    assert in_xero["Status"] == "VOIDED"
    check_books(world, expected(world, START_DATE))


def test_an_edit_made_while_a_create_was_in_doubt_is_adopted_then_sent_as_an_update(
    world: World,
) -> None:
    """Xero created the invoice and the answer was lost; staff then changed its total before
    the retry. The copy Xero has under our number is for our contact, so it is ours (not a
    clash pointing the admin at voiding our own invoice): adopted, then the edit goes out as an
    update, and the payment of the new total follows it."""
    world.set_up()
    world.drain()
    first = world.tenant_of(0)
    loc = world.locations[0]["id"]
    client = next(iter(world.host.iter_history("clients", loc)))
    line = {"description": "Night", "category": "boarding", "quantity": "1",
            "unit_price": "40.00", "tax_rate": "10"}  # fmt: skip
    invoice = world.host.create_invoice(
        {"location_id": loc, "client_id": client["id"], "lines": [line]}
    )
    faults = world.sandbox.faults(first)
    faults.lost_response_rate = 1.0
    world.run_worker()  # Xero creates it; every answer is lost
    faults.clear()
    (row,) = [r for r in world.rows(kind="invoice") if r.host_id == invoice["id"]]
    assert row.uncertain
    assert row.state == "retrying"

    world.host.update_invoice(
        {"id": invoice["id"], "lines": [line, dict(line, unit_price="12.50")]}
    )
    world.host.record_payment(
        {
            "location_id": loc,
            "client_id": client["id"],
            "allocations": [{"invoice_id": invoice["id"], "amount": "52.50"}],
        }
    )
    world.time.advance(world.next_wait())
    world.drain()

    row = world.engine.ledger.get(row.id)
    assert row.state == "synced", row.message
    number = f"INV{invoice['number']}"
    book = world.book(first)
    (in_xero,) = [i for i in book["invoices"] if i["InvoiceNumber"] == number]
    assert in_xero["InvoiceID"] == row.xero_id
    assert str(in_xero["Total"]) in ("52.5", "52.50")
    assert not world.rows(state="failed")
    (payment,) = [r for r in world.rows(kind="payment") if r.host_id.endswith(invoice["id"])]
    assert payment.state == "synced", payment.message
    paid = [p for p in book["payments"] if p["Invoice"]["InvoiceID"] == row.xero_id]
    assert [str(p["Amount"]) for p in paid] in (["52.5"], ["52.50"])
    history = " ".join(str(e.get("message")) for e in world.engine.ledger.log(row.id))
    assert "ours by Contact" in history
    assert "differs in Total" in history
    check_books(world, expected(world, START_DATE))
