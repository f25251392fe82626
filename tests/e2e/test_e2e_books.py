"""Reconciliation with Xero end to end (issue 16): a bookkeeper's four changes in Xero arrive as
webhooks and are listed, each once, with the actions that fit; the admin's choices make the books
agree again; the webhook endpoint refuses what Xero did not send.

The world (:mod:`support.books_world`) is served on loopback on the real clock: the sandbox,
subscribed to the host's web front with the add-on's ``PM_XERO_WEBHOOK_KEY``, and a small practice
back-synced. ``pm-xero reconcile --json`` runs as a process on the host's data directory while the
host runs, as an operator runs it. The sandbox is read back independently (over its bookkeeper
API) to check what the add-on says and does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.books_world import BooksWorld, books_world, open_differences

from pm_xero_plugin.addon import BOOKS_WAKE_DELAY
from pm_xero_plugin.sandbox.webhooks import event_date, new_key, sign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

WEBHOOKS_WITHIN = 60.0
"""Seconds within which the bookkeeper's changes must have arrived as webhooks and been handled."""


@pytest.fixture
def world(tmp_path: Path, xero_spec_path: Path) -> Iterator[BooksWorld]:
    with books_world(tmp_path, xero_spec_path) as served:
        yield served


def rows(world: BooksWorld, tenant_id: str, kind: str) -> list[Any]:
    return [
        r
        for r in world.engine.ledger.rows_of_tenant(tenant_id, [kind], limit=100_000)
        if r.state == "synced" and r.xero_id
    ]


def xero_invoice(world: BooksWorld, tenant_id: str, xero_id: str) -> dict[str, Any]:
    [found] = world.bookkeeper("GET", tenant_id, f"Invoices/{xero_id}")["Invoices"]
    return dict(found)


def xero_payment(world: BooksWorld, tenant_id: str, xero_id: str) -> dict[str, Any]:
    [found] = world.bookkeeper("GET", tenant_id, f"Payments/{xero_id}")["Payments"]
    return dict(found)


def a_single_payment(world: BooksWorld, tenant_id: str, avoid: set[str]) -> Any:
    """A synced payment of the history paying one invoice exactly (nothing left over), on an
    invoice not among ``avoid`` (host ids)."""
    for row in rows(world, tenant_id, "payment"):
        parts = row.payload.get("allocations") or []
        invoice_id = row.host_id.split(":", 1)[-1]
        if (
            len(parts) == 1
            and Decimal(str(parts[0]["amount"])) == Decimal(str(row.payload["amount"]))
            and invoice_id not in avoid
        ):
            return row
    return None


def a_payment(world: BooksWorld, location_id: str, avoid: set[str]) -> Any:
    """A payment of one invoice in Xero: one of the history's (the practice is generated from
    today's date: one nearly always is), else one the front desk records now."""
    tenant_id = world.tenants[location_id]
    found = a_single_payment(world, tenant_id, avoid)
    if found is not None:
        return found
    invoice = world.served.new_invoice(location_id)
    paid = world.host.record_payment(
        {
            "location_id": location_id,
            "client_id": invoice["client_id"],
            "allocations": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        }
    )
    world.served.wait_for("the front desk's payment", lambda: world.served.unsettled() == 0)
    row = world.engine.ledger.find("payment", f"{paid['id']}:{invoice['id']}", tenant_id)
    assert row is not None, paid
    assert row.state == "synced", row
    return row


def front_desk(world: BooksWorld, location_id: str) -> tuple[Any, Any, Any, Any]:
    """Two invoices and a goodwill credit note for one customer, raised now and synced live;
    their rows and the customer's contact row."""
    served = world.served
    first = served.new_invoice(location_id)
    second = served.new_invoice(location_id)
    client = served.first_client(location_id)
    line = {
        "description": "Goodwill credit",
        "category": "boarding",
        "quantity": "1",
        "unit_price": "10.00",
        "tax_rate": "10",
    }
    credit = world.host.create_credit_note(
        {"location_id": location_id, "client_id": client["id"], "lines": [line]}
    )
    served.wait_for("the front desk's documents", lambda: served.unsettled() == 0)
    tenant_id = world.tenants[location_id]
    ledger = world.engine.ledger
    found = [
        ledger.find("invoice", first["id"], tenant_id),
        ledger.find("invoice", second["id"], tenant_id),
        ledger.find("credit_note", credit["id"], tenant_id),
        ledger.find("contact", client["id"], tenant_id),
    ]
    for row in found:
        assert row is not None
        assert (row.state, bool(row.xero_id)) == ("synced", True), row
    return found[0], found[1], found[2], found[3]


def delivered_resources(world: BooksWorld) -> set[str]:
    """The documents the sandbox's delivered webhooks told of (read from the bodies it sent)."""
    return {
        event["resourceId"]
        for d in list(world.sandbox.webhooks.deliveries)
        if d.state == "delivered"
        for event in json.loads(d.body)["events"]
    }


def listed_in(report: str | None) -> set[tuple[str, str, str]]:
    """A kept report's open differences as (kind, host id, difference)."""
    if report is None:
        return set()
    return {
        (d["kind"], d["host_id"], d["difference"]) for d in open_differences(json.loads(report))
    }


def wait_until(what: str, check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting {seconds:.0f} s for {what}"
        time.sleep(0.1)


def test_a_bookkeepers_four_changes_arrive_as_webhooks_are_listed_once_each_and_decided_clean(
    world: BooksWorld,
) -> None:
    """The issue's journey, then forged, unsigned and replayed deliveries on the books as they
    end (see :func:`refused_calls_change_nothing`)."""
    location_id, tenant_id = next(iter(world.tenants.items()))
    voided, credited, credit_note, contact = front_desk(world, location_id)
    payment = a_payment(world, location_id, {voided.host_id, credited.host_id})
    paid_invoice = world.engine.ledger.find("invoice", payment.host_id.split(":", 1)[-1], tenant_id)

    code, first = world.reconcile()
    assert (code, first["clean"], open_differences(first)) == (0, True, [])
    assert {t["tenant_id"] for t in first["tenants"]} == set(world.tenants.values())
    assert all(t["checked"] > 0 and t["read_at"] for t in first["tenants"])

    # -- in Xero, a bookkeeper --------------------------------------------------------------
    events_before = world.event_counts()
    world.bookkeeper("POST", tenant_id, f"Invoices/{voided.xero_id}", {"Status": "VOIDED"})
    world.bookkeeper("POST", tenant_id, f"Payments/{payment.xero_id}", {"Status": "DELETED"})
    world.bookkeeper(
        "POST", tenant_id, f"Contacts/{contact.xero_id}", {"EmailAddress": "new@bookkeeper.test"}
    )
    remaining = Decimal(
        str(xero_credit_note(world, tenant_id, credit_note.xero_id)["RemainingCredit"])
    )
    assert remaining > 0
    allocation = {
        "Allocations": [
            {
                "Invoice": {"InvoiceID": credited.xero_id},
                "Amount": float(remaining),
                "Date": datetime.now(UTC).date().isoformat(),
            }
        ]
    }
    world.bookkeeper("PUT", tenant_id, f"CreditNotes/{credit_note.xero_id}/Allocations", allocation)

    # five documents changed (the voided invoice, the paid one, the contact, the credit note and
    # the invoice it went to): Xero's webhooks tell of each within the minute, the add-on keeps
    # and handles them on its job thread, and the report it keeps lists the four differences –
    # from the webhooks alone: no read of Xero was asked for
    changed = {voided.xero_id, paid_invoice.xero_id, contact.xero_id}
    changed |= {credit_note.xero_id, credited.xero_id}
    expected = {
        ("invoice", voided.host_id, "voided_in_xero"),
        ("payment", payment.host_id, "deleted_in_xero"),
        ("contact", contact.host_id, "details_changed"),
        ("credit_note", credit_note.host_id, "allocated_in_xero"),
    }
    wait_until(
        "the webhooks to arrive and be handled",
        lambda: (
            changed <= delivered_resources(world)
            and world.event_counts()["pending"] == 0
            and listed_in(world.kept_report()) == expected
        ),
        WEBHOOKS_WITHIN,
    )
    assert world.event_counts()["handled"] >= events_before["handled"] + len(changed)
    assert all(d["state"] == "delivered" for d in world.deliveries())

    # the operator's reconciliation (with a read of what changed in Xero) says the same
    code, found = world.reconcile()
    assert (code, found["clean"]) == (1, False)
    listed = {(d["kind"], d["host_id"], d["difference"]): d for d in open_differences(found)}
    assert set(listed) == expected, json.dumps(open_differences(found), indent=1)
    actions = {key[2]: tuple(d["actions"]) for key, d in listed.items()}
    assert actions["voided_in_xero"] == ("accept",)
    assert actions["deleted_in_xero"] == ("resend", "accept"), "re-sending first"
    assert actions["details_changed"] == ("resend", "accept")
    assert actions["allocated_in_xero"] == ("accept",)
    keys = {key[2]: d["key"] for key, d in listed.items()}

    # -- the admin decides ------------------------------------------------------------------
    code, decided = world.reconcile(
        "--no-read",
        "--accept",
        keys["voided_in_xero"],
        "--resend",
        keys["deleted_in_xero"],
        "--accept",
        keys["details_changed"],
        "--accept",
        keys["allocated_in_xero"],
    )
    assert open_differences(decided) == []
    assert code == 0, "the re-sent payment is on its way (pending), the rest decided"
    served = world.served
    served.wait_for("the re-sent payment", lambda: served.unsettled() == 0)
    resent = world.engine.ledger.find("payment", payment.host_id, tenant_id)
    assert resent.state == "synced"
    assert resent.xero_id not in (None, payment.xero_id), "created again: a new Xero payment"

    # Xero, read back: the payment exists again, exactly once, and the old one stays deleted
    on_invoice = xero_invoice(world, tenant_id, paid_invoice.xero_id)["Payments"]
    assert [p["PaymentID"].lower() for p in on_invoice] == [resent.xero_id.lower()]
    assert xero_payment(world, tenant_id, payment.xero_id)["Status"] == "DELETED"
    assert Decimal(str(xero_payment(world, tenant_id, resent.xero_id)["Amount"])) == Decimal(
        str(payment.payload["amount"])
    )

    def clean() -> bool:
        return world.event_counts()["pending"] == 0

    wait_until("the re-sent payment's webhooks", clean, WEBHOOKS_WITHIN)
    code, last = world.reconcile()
    assert (code, last["clean"], open_differences(last)) == (0, True, [])
    decisions = {d["difference"]: d["decided"] for t in last["tenants"] for d in t["differences"]}
    assert decisions == {
        "voided_in_xero": "accepted",
        "details_changed": "accepted",
        "allocated_in_xero": "accepted",
    }, "the re-sent payment is no difference any more; the accepted ones stay listed as decided"

    # -- anyone else on the network ----------------------------------------------------------
    refused_calls_change_nothing(world)


def xero_credit_note(world: BooksWorld, tenant_id: str, xero_id: str) -> dict[str, Any]:
    [found] = world.bookkeeper("GET", tenant_id, f"CreditNotes/{xero_id}")["CreditNotes"]
    return dict(found)


def refused_calls_change_nothing(world: BooksWorld) -> None:
    """Forged, unsigned and replayed deliveries over HTTP: refused (or, a replay within the
    window, 200 and nothing new), the events kept and the report unchanged."""
    delivered = [d for d in world.sandbox.webhooks.deliveries if d.count]
    captured = delivered[-1]
    events_before, report_before = world.event_counts(), world.kept_report()

    forged = world.post_webhook(captured.body, sign(captured.body, new_key()))
    unsigned = world.post_webhook(captured.body, None)
    replayed = world.post_webhook(captured.body, captured.signature)
    old = _old_delivery(captured.body, world.webhook_key)
    assert (forged.status_code, forged.content) == (401, b"")
    assert (unsigned.status_code, unsigned.content) == (401, b"")
    assert (replayed.status_code, replayed.content) == (200, b"")
    assert world.post_webhook(*old).status_code == 401
    # a forged body with an event nobody kept: refused and not kept either
    fresh = _fresh_delivery(captured.body)
    assert world.post_webhook(fresh, sign(fresh, new_key())).status_code == 401

    time.sleep(BOOKS_WAKE_DELAY + 0.5)  # a pass woken by any of them would have run by now
    assert world.event_counts() == events_before
    assert world.kept_report() == report_before


def _old_delivery(body: bytes, key: str) -> tuple[bytes, str]:
    """A genuine delivery captured days ago (its events' dates 50 hours back), signed
    with the real key: what someone who recorded the traffic could play again."""
    payload = json.loads(body)
    then = datetime.now(UTC) - timedelta(hours=50)
    for event in payload["events"]:
        event["eventDateUtc"] = event_date(then)
    old = json.dumps(payload, separators=(",", ":")).encode()
    return old, sign(old, key)


def _fresh_delivery(body: bytes) -> bytes:
    payload = json.loads(body)
    for event in payload["events"]:
        event["eventDateUtc"] = event_date(datetime.now(UTC))
    return json.dumps(payload, separators=(",", ":")).encode()
