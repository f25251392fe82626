"""A payment recorded again without one of its allocations: the part that is gone never reaches
Xero, and one that already did is shown for the admin to delete there."""

from __future__ import annotations

from typing import Any

from support.ledger_helpers import Practice, client, invoice, payment


def _without_second_allocation(practice: Practice) -> dict[str, Any]:
    stored = practice.host.get_record("payments", "p1")
    assert stored is not None
    changed = dict(stored)
    changed["allocations"] = [a for a in stored["allocations"] if a["invoice_id"] == "i1"]
    changed["amount"] = "110.00"
    return changed


def _practice_with_a_split_payment(practice: Practice) -> None:
    practice.setup()
    practice.host.start_contact_sync(None)
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    practice.host.create_invoice(invoice("i2", 2, "c1", "2025-03-01"))
    practice.host.record_payment(
        payment("p1", 1, "c1", "2025-03-02", [("i1", "110.00"), ("i2", "110.00")], amount="220.00")
    )


def test_an_allocation_removed_before_it_was_sent_is_excluded(practice: Practice) -> None:
    _practice_with_a_split_payment(practice)
    assert practice.ledger.find("payment", "p1:i2", "T1") is not None

    practice.host.fire("on_payment_recorded", payment=_without_second_allocation(practice))

    assert practice.state("payment", "p1:i2")[0] == "excluded"
    assert practice.state("payment", "p1:i1")[0] != "excluded"


def test_an_allocation_removed_after_it_reached_xero_asks_the_admin_to_delete_it(
    practice: Practice,
) -> None:
    _practice_with_a_split_payment(practice)
    practice.drain()
    assert practice.state("payment", "p1:i2")[0] == "synced"

    practice.host.fire("on_payment_recorded", payment=_without_second_allocation(practice))

    row = practice.ledger.find("payment", "p1:i2", "T1")
    assert row is not None
    assert row.state == "failed"
    assert row.hint is not None
    assert "delete it in Xero" in row.hint
