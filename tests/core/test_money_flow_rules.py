"""The money flows' rules, through the reference host: deposits, their allocations, refunds and
payouts wait for what they draw on, in Xero's order, and say why when it will not come."""

from __future__ import annotations

from typing import Any

import pytest
from support.ledger_helpers import ACCOUNTS, Practice, client, codes, invoice, payment, settings

from pm_xero_plugin.ledger import Row
from pm_xero_plugin.sync.prepare import Preparer
from pm_xero_plugin.sync.settle import BatchOutcome

MONEY_ACCOUNTS = [
    {"Code": "094", "Name": "Customer deposits", "Status": "ACTIVE", "Type": "CURRLIAB",
     "Class": "LIABILITY"},
    {"Code": "406", "Name": "Card fees", "Status": "ACTIVE", "Type": "EXPENSE",
     "Class": "EXPENSE"},
]  # fmt: skip


def money_settings(start_date: str = "2025-02-01") -> dict[str, Any]:
    raw = settings(start_date)
    for tenant in raw["account_codes"]:
        raw["account_codes"][tenant] = codes(deposits="094", card_fees="406", payout_bank="090")
    return raw


@pytest.fixture
def shop(practice: Practice) -> Practice:
    """Settings with the money flows' codes, both organisations connected, contact sync done,
    customer c1 in Xero."""
    practice.accounts.default = [*ACCOUNTS, *MONEY_ACCOUNTS]
    assert practice.host.save_plugin_settings("xero", money_settings()) == []
    practice.connect()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    return practice


def deposit(did: str, number: int, day: str, amount: str = "50.00", **extra: Any) -> dict[str, Any]:
    return {
        "id": did,
        "number": number,
        "client_id": "c1",
        "location_id": "syd",
        "paid_date": day,
        "amount": amount,
        "method": "card",
        **extra,
    }


def refund(rid: str, number: int, day: str, amount: str, **source: str) -> dict[str, Any]:
    return {
        "id": rid,
        "number": number,
        "client_id": "c1",
        "location_id": "syd",
        "paid_date": day,
        "amount": amount,
        "method": "cash",
        **source,
    }


def test_a_deposit_waits_for_its_customer_and_its_allocation_for_deposit_and_invoice(
    practice: Practice,
) -> None:
    practice.accounts.default = [*ACCOUNTS, *MONEY_ACCOUNTS]
    practice.host.save_plugin_settings("xero", money_settings())
    practice.connect()
    practice.host.start_contact_sync()
    practice.host.save_client(client("c1", 1))
    practice.host.record_deposit(deposit("d1", 1, "2025-02-03"))
    assert practice.state("deposit", "d1") == ("waiting", "contact")
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-20"))
    practice.host.record_deposit(
        {"id": "d1", "allocations": [{"invoice_id": "i1", "amount": "50.00"}]}
    )
    allocation = practice.ledger.find("deposit_allocation", "d1:i1", "T1")
    assert allocation is not None
    assert (allocation.state, allocation.gate) == ("waiting", "deposit")
    assert allocation.doc_date == "2025-02-20"  # dated as Xero dates it: the later of the two
    practice.drain()
    assert practice.state("deposit", "d1") == ("synced", None)
    assert practice.state("deposit_allocation", "d1:i1") == ("synced", None)


def test_applying_a_synced_deposit_to_an_invoice_is_no_edit_of_its_prepayment(
    shop: Practice,
) -> None:
    shop.host.record_deposit(deposit("d1", 1, "2025-02-03", amount="80.00"))
    shop.drain()
    assert shop.state("deposit", "d1") == ("synced", None)
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-20"))
    shop.host.record_deposit({"id": "d1", "allocations": [{"invoice_id": "i1", "amount": "50.00"}]})
    shop.drain()
    shop.host.create_invoice(invoice("i2", 2, "c1", "2025-02-21"))
    shop.host.record_deposit(
        {
            "id": "d1",
            "allocations": [
                {"invoice_id": "i1", "amount": "50.00"},
                {"invoice_id": "i2", "amount": "30.00"},
            ],
        }
    )
    shop.drain()
    assert shop.state("deposit", "d1") == ("synced", None)  # never failed as an edit
    assert shop.state("deposit_allocation", "d1:i1") == ("synced", None)
    assert shop.state("deposit_allocation", "d1:i2") == ("synced", None)


def test_an_allocation_taken_off_a_deposit_before_it_is_sent_is_excluded(shop: Practice) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-20"))
    shop.host.record_deposit(
        deposit("d1", 1, "2025-02-03", allocations=[{"invoice_id": "i1", "amount": "50.00"}])
    )
    shop.host.record_deposit({"id": "d1", "allocations": []})
    assert shop.state("deposit_allocation", "d1:i1") == ("excluded", None)


def test_a_deposit_before_the_start_date_holds_its_allocation_with_the_ways_out(
    shop: Practice,
) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    shop.host.record_deposit(
        deposit("d0", 1, "2025-01-20", allocations=[{"invoice_id": "i1", "amount": "50.00"}])
    )
    shop.drain()
    assert shop.state("deposit", "d0") == ("waiting", "before_start_date")
    row = shop.ledger.find("deposit_allocation", "d0:i1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "credit_before_start")
    assert row.detail == "its deposit is dated 2025-01-20, before the start date 2025-02-01"
    shop.engine.include_parent_invoice(row.id)  # the admin sends the deposit too
    shop.drain()
    assert shop.state("deposit", "d0") == ("synced", None)
    assert shop.state("deposit_allocation", "d0:i1") == ("synced", None)


def test_a_credit_note_refund_waits_for_its_credit_note(shop: Practice) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_credit_note(
        {"id": "cn1", "number": 1, "client_id": "c1", "location_id": "syd",
         "date": "2025-02-05", "lines": [{"description": "goodwill", "category": "boarding",
                                          "quantity": "1", "unit_price": "30.00"}]}
    )  # fmt: skip
    shop.host.record_refund(refund("r1", 1, "2025-02-06", "30.00", credit_note_id="cn1"))
    shop.host.save_plugin_settings("xero", money_settings())
    row = shop.ledger.find("credit_note_refund", "r1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "credit_note")
    shop.drain()
    assert shop.state("credit_note_refund", "r1") == ("synced", None)


def test_an_overpayment_refund_waits_for_the_overpayment_it_comes_out_of(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(
        payment("p1", 1, "c1", "2025-02-05", [("i1", "110.00")], amount="150.00")
    )
    shop.host.record_refund(refund("r1", 1, "2025-02-07", "40.00", payment_id="p1"))
    row = shop.ledger.find("overpayment_refund", "r1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "overpayment")
    shop.drain()
    assert shop.state("overpayment", "p1") == ("synced", None)
    assert shop.state("overpayment_refund", "r1") == ("synced", None)


def test_a_refund_of_a_deposit_missing_from_the_ledger_is_read_from_the_host(
    shop: Practice,
) -> None:
    shop.host.store.insert(
        "deposits", {**deposit("d0", 7, "2025-01-10"), "allocations": [], "currency": "AUD",
                     "updated_at": "2025-01-10T10:00:00+11:00"}
    )  # fmt: skip  # the hook never came
    shop.host.record_refund(refund("r1", 1, "2025-02-07", "50.00", deposit_id="d0"))
    assert shop.state("deposit", "d0") == ("waiting", "before_start_date")
    row = shop.ledger.find("deposit_refund", "r1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "credit_before_start")


# -- payouts -------------------------------------------------------------------------------------


def card_payment(pid: str, number: int, invoice_id: str, day: str, amount: str) -> dict[str, Any]:
    return payment(pid, number, "c1", day, [(invoice_id, amount)], method="stripe")


def payout(
    poid: str, number: int, day: str, payment_ids: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "id": poid,
        "number": number,
        "location_id": "syd",
        "paid_date": day,
        "payment_ids": payment_ids,
        "method": "stripe",
        **extra,
    }


def prepare(shop: Practice, kind: str, host_id: str) -> tuple[list[Any], BatchOutcome]:
    """Claim one row and prepare it as the sender would."""
    now = shop.host.now()
    rows: list[Row] = [
        r for r in shop.ledger.claim("T1", kind, worker_id="w", now=now) if r.host_id == host_id
    ]
    assert rows, f"{kind} {host_id} was not ready"
    preparer = Preparer(shop.ledger, lambda: shop.host.settings("xero"))
    outcome = BatchOutcome()
    return preparer.prepare("T1", kind, rows, outcome), outcome


def test_a_payout_without_fees_is_one_transfer_and_with_fees_a_spend_too(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1"]))
    shop.host.record_payout(payout("po2", 2, "2025-02-07", ["p1"], fees="2.23"))
    assert shop.ledger.find("payout_fee", "po1", "T1") is None
    assert shop.ledger.find("payout", "po1", "T1") is not None
    assert shop.ledger.find("payout_fee", "po2", "T1") is not None


def test_a_payout_waits_for_its_card_payments_and_goes_once_they_are_in_xero(
    shop: Practice,
) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.create_invoice(invoice("i2", 2, "c1", "2025-02-05"))
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    shop.host.record_payment(card_payment("p2", 2, "i2", "2025-02-05", "110.00"))
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1", "p2"], fees="4.45"))
    prepared, outcome = prepare(shop, "payout", "po1")
    assert prepared == []
    assert outcome.waiting == 1
    row = shop.ledger.find("payout", "po1", "T1")
    assert row is not None
    assert (row.state, row.gate, row.detail) == ("waiting", "payments", None)  # on their way
    for kind in ("contact", "invoice", "payment"):
        for claimed in shop.ledger.claim("T1", kind, worker_id="w", now=shop.host.now()):
            shop.ledger.mark_sent([claimed.id], f"k{claimed.id}")
            shop.ledger.mark_synced(claimed.id, f"X-{claimed.host_id}")
    assert shop.state("payout", "po1") == ("ready", None)  # reopened as its payments settled
    [transfer], _ = prepare(shop, "payout", "po1")
    assert transfer.element["FromBankAccount"] == {"Code": "092"}  # the stripe clearing account
    assert transfer.element["ToBankAccount"] == {"Code": "090"}
    assert transfer.element["Amount"] == 215.55
    assert transfer.dedupe_key == "PO1"
    [fee], _ = prepare(shop, "payout_fee", "po1")
    assert fee.element["BankAccount"] == {"Code": "092"}
    assert fee.element["LineItems"][0]["AccountCode"] == "406"


def test_a_payout_whose_sums_do_not_add_up_fails_in_numbers(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    shop.drain()
    shop.host.record_payout(
        payout("po1", 1, "2025-02-07", ["p1"], gross="112.00", fees="2.00", amount="110.00")
    )
    prepared, outcome = prepare(shop, "payout", "po1")
    assert prepared == []
    assert outcome.failed == 1
    row = shop.ledger.find("payout", "po1", "T1")
    assert row is not None
    assert row.state == "failed"
    assert row.message is not None
    assert "payments total 110.00" in row.message
    assert "gross is 112.00" in row.message


def test_a_payout_of_a_payment_paid_by_another_method_is_refused(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(payment("p1", 1, "c1", "2025-02-05", [("i1", "110.00")]))  # card
    shop.drain()
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1"]))
    _, outcome = prepare(shop, "payout", "po1")
    row = shop.ledger.find("payout", "po1", "T1")
    assert row is not None
    assert outcome.failed == 1
    assert row.message is not None
    assert "payment 1 (card)" in row.message


def test_a_payout_of_a_payment_before_the_start_date_names_it_and_include_sends_it(
    shop: Practice,
) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-01"))
    shop.host.record_payment(card_payment("p0", 1, "i1", "2025-01-31", "110.00"))
    shop.drain()
    assert shop.state("payment", "p0:i1") == ("waiting", "before_start_date")
    shop.host.record_payout(payout("po1", 1, "2025-02-03", ["p0"]))
    _, outcome = prepare(shop, "payout", "po1")
    assert outcome.waiting == 1
    row = shop.ledger.find("payout", "po1", "T1")
    assert row is not None
    assert row.detail is not None
    assert "payment 1 (before the start date) will not reach Xero by itself" in row.detail
    assert any(p.id == row.id for p in shop.ledger.problems())  # listed for the admin
    shop.engine.include_parent_invoice(row.id)
    shop.drain()
    assert shop.state("payment", "p0:i1") == ("synced", None)
    assert shop.state("payout", "po1") == ("synced", None)


# -- what a fresh-eyes review found ----------------------------------------------------------------


def stored(shop: Practice, kind: str, record: dict[str, Any]) -> None:
    """A record the host stored whose hook never reached the add-on."""
    shop.host.store.insert(
        kind, {"currency": "AUD", "updated_at": "2025-02-10T10:00:00+11:00", **record}
    )


def test_a_reconciliation_finds_deposits_and_refunds_whose_hooks_were_lost(shop: Practice) -> None:
    shop.host.backfill()
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    allocations = [{"invoice_id": "i1", "amount": "50.00"}]
    stored(shop, "deposits", {**deposit("d1", 1, "2025-02-03"), "allocations": allocations})
    stored(shop, "deposits", {**deposit("d2", 2, "2025-02-04"), "allocations": []})
    stored(shop, "refunds", refund("r1", 1, "2025-02-05", "50.00", deposit_id="d2"))
    shop.engine.reconcile(full=True)
    shop.drain()
    for kind, host_id in (
        ("deposit", "d1"),
        ("deposit_allocation", "d1:i1"),
        ("deposit", "d2"),
        ("deposit_refund", "r1"),
    ):
        assert shop.state(kind, host_id) == ("synced", None), (kind, host_id)


def test_a_back_sync_finds_a_deposit_before_the_start_applied_inside_the_window(
    shop: Practice,
) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    shop.host.create_invoice(invoice("i0", 2, "c1", "2025-01-25"))
    stored(
        shop,
        "deposits",
        {
            **deposit("d0", 1, "2025-01-20"),
            "allocations": [{"invoice_id": "i1", "amount": "50.00"}],
        },
    )
    stored(
        shop,
        "deposits",
        {
            **deposit("d9", 2, "2025-01-05"),
            "allocations": [{"invoice_id": "i0", "amount": "50.00"}],
        },
    )  # the earlier books' business: before the window, and so is its invoice
    shop.host.backfill()
    shop.drain()
    assert shop.state("deposit_allocation", "d0:i1") == ("waiting", "credit_before_start")
    assert shop.ledger.find("deposit", "d9", "T1") is None


def test_a_payout_does_not_wait_for_a_part_taken_off_its_payment(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.create_invoice(invoice("i2", 2, "c1", "2025-02-05"))
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    first = shop.host.store.get("payments", "p1")
    assert first is not None
    moved = [{"invoice_id": "i2", "amount": "110.00"}]  # the host moved it to the other invoice
    shop.engine.record_payment({**first, "allocations": moved})
    shop.host.save_plugin_settings("xero", money_settings())
    assert shop.state("payment", "p1:i1") == ("excluded", None)
    shop.drain()
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1"], fees="2.23"))
    [transfer], _ = prepare(shop, "payout", "po1")
    assert transfer.element["Amount"] == 107.77


def test_a_refund_moved_to_another_credit_is_one_refund_not_two(shop: Practice) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(
        payment("p1", 1, "c1", "2025-02-05", [("i1", "110.00")], amount="150.00")
    )
    shop.host.record_deposit(deposit("d1", 1, "2025-02-05"))
    shop.host.record_refund(refund("r1", 1, "2025-02-07", "40.00", payment_id="p1"))
    corrected = refund("r1", 1, "2025-02-07", "40.00", deposit_id="d1")
    shop.engine.record_refund(
        {**shop.host.store.get("refunds", "r1"), **corrected, "payment_id": None}
    )
    shop.host.save_plugin_settings("xero", money_settings())
    shop.drain()
    assert shop.state("overpayment_refund", "r1") == ("excluded", None)
    assert shop.state("deposit_refund", "r1") == ("synced", None)


def test_a_payout_whose_fees_went_sends_no_fee_spend(shop: Practice) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1"], fees="2.00"))
    record = shop.host.store.get("payouts", "po1")
    assert record is not None
    shop.engine.record_payout({**record, "fees": "0.00", "amount": "110.00"})
    assert shop.state("payout_fee", "po1") == ("excluded", None)


def test_a_refund_of_a_payment_that_left_nothing_over_says_so(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(payment("p1", 1, "c1", "2025-02-05", [("i1", "110.00")]))
    shop.host.record_refund(refund("r1", 1, "2025-02-07", "40.00", payment_id="p1"))
    row = shop.ledger.find("overpayment_refund", "r1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "overpayment")
    assert row.detail is not None
    assert "left nothing over" in row.detail
    assert any(p.id == row.id for p in shop.ledger.problems())


def test_a_refund_of_another_organisations_credit_note_says_so(shop: Practice) -> None:
    shop.host.save_client(client("c2", 2, location="lon"))
    shop.host.create_credit_note(
        {"id": "cn9", "number": 9, "client_id": "c2", "location_id": "lon",
         "date": "2025-02-05", "lines": [{"description": "goodwill", "category": "boarding",
                                          "quantity": "1", "unit_price": "30.00"}]}
    )  # fmt: skip
    shop.host.record_refund(refund("r1", 1, "2025-02-07", "30.00", credit_note_id="cn9"))
    row = shop.ledger.find("credit_note_refund", "r1", "T1")
    assert row is not None
    assert row.gate == "credit_note"
    assert row.detail is not None
    assert "another Xero organisation" in row.detail


def test_an_allocation_put_back_on_a_deposit_goes_after_all(shop: Practice) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-20"))
    applied = [{"invoice_id": "i1", "amount": "50.00"}]
    shop.host.record_deposit(deposit("d1", 1, "2025-02-03", allocations=applied))
    shop.host.record_deposit({"id": "d1", "allocations": []})
    assert shop.state("deposit_allocation", "d1:i1") == ("excluded", None)
    shop.host.record_deposit({"id": "d1", "allocations": applied})
    shop.host.save_plugin_settings("xero", money_settings())
    shop.drain()
    assert shop.state("deposit_allocation", "d1:i1") == ("synced", None)


def test_an_admins_exclusion_of_an_allocation_stands_when_the_deposit_comes_again(
    shop: Practice,
) -> None:
    shop.host.save_plugin_settings("xero", {**money_settings(), "enabled": False})
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-20"))
    applied = [{"invoice_id": "i1", "amount": "50.00"}]
    shop.host.record_deposit(deposit("d1", 1, "2025-02-03", allocations=applied))
    row = shop.ledger.find("deposit_allocation", "d1:i1", "T1")
    assert row is not None
    shop.engine.exclude(row.id)
    shop.host.record_deposit({"id": "d1", "allocations": applied, "reference": "moved"})
    assert shop.state("deposit_allocation", "d1:i1") == ("excluded", None)


def test_the_periodic_pass_looks_again_at_payouts_waiting_for_payments(shop: Practice) -> None:
    shop.host.create_invoice(invoice("i1", 1, "c1", "2025-02-05"))
    shop.host.record_payment(card_payment("p1", 1, "i1", "2025-02-05", "110.00"))
    shop.drain()
    shop.host.record_payout(payout("po1", 1, "2025-02-07", ["p1"]))
    row = shop.ledger.find("payout", "po1", "T1")
    assert row is not None
    shop.ledger.mark_waiting(row.id, "payments", None)  # a wake-up lost between two machines
    shop.engine.reconcile()
    assert shop.state("payout", "po1") == ("ready", None)
