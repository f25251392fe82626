"""Payouts, deposits and refunds in the reference host: stored, streamed, fetched, and told to
plugins (``on_payout_recorded`` / ``on_deposit_recorded`` / ``on_refund_recorded``) naming their
practice, in one-practice and many-practice mode alike."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from hookspecs import hookimpl
from hookspecs.refhost import ManualClock, RefFleet, RefHost
from hookspecs.refhost.testing import RecordingPlugin

BONDI = {"id": "bondi", "name": "Bondi", "timezone": "Australia/Sydney", "currency": "AUD",
         "country": "AU"}  # fmt: skip
NEWTOWN = {**BONDI, "id": "newtown", "name": "Newtown"}
LINE = {"description": "Boarding – standard kennel", "category": "boarding", "quantity": "2",
        "unit_price": "60.00", "tax_rate": "10"}  # fmt: skip


@pytest.fixture
def host(refhost: RefHost) -> RefHost:
    refhost.add_location(BONDI)
    refhost.add_location(NEWTOWN)
    return refhost


@pytest.fixture
def rec(host: RefHost) -> RecordingPlugin:
    plugin = RecordingPlugin()
    host.register(plugin, name="rec")
    return plugin


class Scoped:
    """A plugin naming ``practice_id``: it hears which practice each money record is for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    @hookimpl
    def on_payout_recorded(self, payout: dict[str, Any], practice_id: str | None) -> None:
        self.calls.append(("payout", payout["id"], practice_id))

    @hookimpl
    def on_deposit_recorded(self, deposit: dict[str, Any], practice_id: str | None) -> None:
        self.calls.append(("deposit", deposit["id"], practice_id))

    @hookimpl
    def on_refund_recorded(self, refund: dict[str, Any], practice_id: str | None) -> None:
        self.calls.append(("refund", refund["id"], practice_id))


def _card_payment(host: RefHost, amount: str, day: str = "2025-02-24") -> dict[str, Any]:
    return host.record_payment(
        {"location_id": "bondi", "client_id": "c1", "paid_date": day, "amount": amount,
         "method": "stripe", "allocations": []}
    )  # fmt: skip


def test_a_payout_is_stored_numbered_and_its_gross_and_amount_follow_its_payments(
    host: RefHost, rec: RecordingPlugin
) -> None:
    a, b = _card_payment(host, "120.00"), _card_payment(host, "80.00")
    refund = host.record_refund(
        {"location_id": "bondi", "client_id": "c1", "amount": "20.00", "method": "stripe",
         "credit_note_id": "cn1", "paid_date": "2025-02-25"}
    )  # fmt: skip
    payout = host.record_payout(
        {"location_id": "bondi", "paid_date": "2025-02-27", "fees": "4.10",
         "payment_ids": [a["id"], b["id"]], "refund_ids": [refund["id"]]}
    )  # fmt: skip
    assert payout["number"] == 1
    assert (payout["method"], payout["currency"]) == ("stripe", "AUD")
    assert (payout["gross"], payout["fees"], payout["amount"]) == ("180.00", "4.10", "175.90")
    assert rec.named("on_payout_recorded") == [{"payout": payout}]
    assert host.get_record("payouts", payout["id"]) == payout
    assert list(host.iter_history("payouts")) == [payout]


def test_a_payout_keeps_the_numbers_the_processor_gave(host: RefHost) -> None:
    payment = _card_payment(host, "100.00")
    payout = host.record_payout(
        {"location_id": "bondi", "payment_ids": [payment["id"]], "gross": "100.00",
         "fees": "2.05", "amount": "97.95", "processor_reference": "po_1Nx"}
    )  # fmt: skip
    assert (payout["gross"], payout["amount"]) == ("100.00", "97.95")
    assert payout["processor_reference"] == "po_1Nx"
    assert payout["paid_date"] == host.today("bondi").isoformat()


def test_a_deposit_recorded_again_with_its_allocation_is_one_record_told_twice(
    host: RefHost, rec: RecordingPlugin, refhost_clock: ManualClock
) -> None:
    deposit = host.record_deposit(
        {"location_id": "bondi", "client_id": "c1", "paid_date": "2025-02-01", "amount": "50.00",
         "method": "eftpos", "reference": "Booking 2025-02-20"}
    )  # fmt: skip
    assert (deposit["number"], deposit["allocations"]) == (1, [])
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c1", "lines": [LINE]})
    refhost_clock.advance(timedelta(minutes=5))
    applied = host.record_deposit(
        {"id": deposit["id"], "allocations": [{"invoice_id": invoice["id"], "amount": "50.00"}]}
    )
    assert applied["number"] == 1
    assert applied["paid_date"] == "2025-02-01"
    assert applied["updated_at"] > deposit["updated_at"]
    assert [c["deposit"] for c in rec.named("on_deposit_recorded")] == [deposit, applied]
    assert list(host.iter_history("deposits")) == [applied]
    # What the invoice is still owed counts the deposit applied to it.
    owed = dict((i["id"], o) for i, o in host.store.outstanding("bondi", date(2025, 3, 2)))
    assert str(owed[invoice["id"]]) == "70.00"


def test_a_refund_is_stored_with_its_own_sequence_and_told(
    host: RefHost, rec: RecordingPlugin
) -> None:
    first = host.record_refund(
        {"location_id": "bondi", "client_id": "c1", "amount": "50.00", "deposit_id": "d1"}
    )
    second = host.record_refund(
        {"location_id": "newtown", "client_id": "c2", "amount": "10.00", "payment_id": "p1",
         "method": "bank_transfer", "reason": "Overpaid"}
    )  # fmt: skip
    assert [first["number"], second["number"]] == [1, 2]
    assert first["method"] == "cash"
    assert [c["refund"] for c in rec.named("on_refund_recorded")] == [first, second]
    assert list(host.iter_history("refunds", location_id="newtown")) == [second]
    assert host.get_record("refunds", first["id"]) == first


def test_money_records_stream_by_location_date_and_change(
    host: RefHost, refhost_clock: ManualClock
) -> None:
    early = host.record_deposit(
        {"location_id": "bondi", "client_id": "c1", "paid_date": "2025-01-10", "amount": "50.00"}
    )
    late = host.record_deposit(
        {"location_id": "bondi", "client_id": "c1", "paid_date": "2025-02-10", "amount": "80.00"}
    )
    host.record_deposit(
        {"location_id": "newtown", "client_id": "c2", "paid_date": "2025-02-11", "amount": "90.00"}
    )
    assert list(host.iter_history("deposits", "bondi", since=date(2025, 2, 1))) == [late]
    refhost_clock.advance(timedelta(hours=1))
    moment = refhost_clock.now()
    changed = host.record_deposit({"id": early["id"], "reference": "Booking moved"})
    assert list(host.iter_history("deposits", changed_since=moment)) == [changed]


def test_a_customer_with_only_a_deposit_or_refund_at_a_site_is_one_of_its_clients(
    host: RefHost,
) -> None:
    mia = host.save_client({"location_id": "bondi", "first_name": "Mia", "last_name": "Nguyen"})
    leo = host.save_client({"location_id": "bondi", "first_name": "Leo", "last_name": "Park"})
    host.record_deposit({"location_id": "newtown", "client_id": mia["id"], "amount": "50.00"})
    host.record_refund({"location_id": "newtown", "client_id": leo["id"], "amount": "5.00"})
    assert {c["id"] for c in host.iter_history("clients", "newtown")} == {mia["id"], leo["id"]}


def test_a_plugin_naming_practice_id_hears_the_hosts_practice(host: RefHost) -> None:
    scoped = Scoped()
    host.register(scoped, name="scoped")
    deposit = host.record_deposit({"location_id": "bondi", "client_id": "c1", "amount": "5.00"})
    refund = host.record_refund({"location_id": "bondi", "client_id": "c1", "amount": "5.00"})
    payout = host.record_payout({"location_id": "bondi"})
    assert scoped.calls == [
        ("deposit", deposit["id"], "practice-1"),
        ("refund", refund["id"], "practice-1"),
        ("payout", payout["id"], "practice-1"),
    ]


def test_each_practice_of_a_fleet_keeps_and_tells_its_own_money_records(
    tmp_path: Path, refhost_clock: ManualClock
) -> None:
    fleet = RefFleet(tmp_path / "fleet", clock=refhost_clock, load_entrypoints=False)
    north, south = fleet.add_practice("north"), fleet.add_practice("south")
    scoped, rec = Scoped(), RecordingPlugin()
    fleet.register(scoped, name="scoped")
    fleet.register(rec, name="rec")
    with fleet:
        for practice in (north, south):
            practice.add_location(BONDI)
        deposit = north.record_deposit({"location_id": "bondi", "client_id": "c", "amount": "9"})
        refund = south.record_refund({"location_id": "bondi", "client_id": "c", "amount": "3"})
        payout = south.record_payout({"location_id": "bondi"})
        assert scoped.calls == [
            ("deposit", deposit["id"], "north"),
            ("refund", refund["id"], "south"),
            ("payout", payout["id"], "south"),
        ]
        assert len(rec.named("on_deposit_recorded")) == 1  # a plugin without practice_id hears too
        assert list(north.iter_history("deposits")) == [deposit]
        assert list(south.iter_history("deposits")) == []
        assert south.get_record("payouts", payout["id"]) == payout
        assert north.get_record("refunds", refund["id"]) is None


def test_an_unknown_history_kind_is_refused_naming_the_money_kinds(host: RefHost) -> None:
    with pytest.raises(ValueError, match="payouts, deposits, refunds"):
        host.iter_history("vouchers")  # type: ignore[arg-type]
