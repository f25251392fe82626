"""What the demo counts as due: a payout waiting for card payments the start date holds is held
by the start date (not due, never a stalled wait), one whose payments are on their way is due."""

from __future__ import annotations

from typing import Any

from support.ledger_fixtures import clock, practice
from support.ledger_helpers import ACCOUNTS, Practice, client, codes, invoice, payment, settings

from pm_xero_plugin.demo.progress import PAYMENTS_BEFORE_START, ledger_counts, tally
from pm_xero_plugin.sync.prepare import Preparer
from pm_xero_plugin.sync.settle import BatchOutcome

__all__ = ["clock", "practice"]

FEES = {"Code": "406", "Name": "Card fees", "Status": "ACTIVE", "Type": "EXPENSE",
        "Class": "EXPENSE"}  # fmt: skip


def _shop(practice: Practice) -> Practice:
    practice.accounts.default = [*ACCOUNTS, FEES]
    raw = settings("2025-02-01")
    for tenant in raw["account_codes"]:
        raw["account_codes"][tenant] = codes(card_fees="406", payout_bank="090")
    assert practice.host.save_plugin_settings("xero", raw) == []
    practice.connect()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    return practice


def _payout(poid: str, number: int, day: str, payment_ids: list[str]) -> dict[str, Any]:
    return {"id": poid, "number": number, "location_id": "syd", "paid_date": day,
            "payment_ids": payment_ids, "method": "stripe", "gross": "110.00", "fees": "2.23",
            "amount": "107.77"}  # fmt: skip


def _prepare_payouts(shop: Practice) -> None:
    """What the sender does with the ready payouts before it sends them: check their payments."""
    rows = shop.ledger.claim("T1", "payout", worker_id="w", now=shop.host.now())
    assert rows
    Preparer(shop.ledger, lambda: shop.host.settings("xero")).prepare(
        "T1", "payout", rows, BatchOutcome()
    )


def _payout_gates(practice: Practice) -> dict[str | None, int]:
    found: dict[str | None, int] = {}
    for group in ledger_counts(practice.ledger):
        if group["kind"] == "payout" and group["state"] == "waiting":
            found[group.get("gate")] = found.get(group.get("gate"), 0) + group["n"]
    return found


def test_a_payout_behind_a_card_payment_before_the_start_is_held_by_the_start_date(
    practice: Practice,
) -> None:
    shop = _shop(practice)
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-01"))
    shop.host.record_payment(
        payment("p0", 1, "c1", "2025-01-31", [("i1", "110.00")], method="stripe")
    )
    shop.drain()
    shop.host.record_payout(_payout("po1", 1, "2025-02-03", ["p0"]))
    _prepare_payouts(shop)
    assert _payout_gates(shop) == {PAYMENTS_BEFORE_START: 1}
    found = tally(ledger_counts(shop.ledger), ("payout",))
    assert found.total == 0, "held by the admin's start date: not due"
    assert sum(g["n"] for g in ledger_counts(shop.ledger)) == sum(
        g["n"] for g in shop.ledger.counts()
    )  # moved between gates, none lost


def test_a_payout_whose_card_payments_are_on_their_way_is_due(practice: Practice) -> None:
    shop = _shop(practice)
    shop.host.record_payout(_payout("po1", 1, "2025-02-10", ["p-later"]))
    _prepare_payouts(shop)
    assert PAYMENTS_BEFORE_START not in _payout_gates(shop)
    assert tally(ledger_counts(shop.ledger), ("payout",)).total == 1
