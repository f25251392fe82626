"""The generated practice's money flows: card payouts that add up, deposits applied to the stays
they were taken for, refunds out of a credit that has the money, vouchers never spent beyond what
was sold – seeded, and leaving every other record as it was."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hookspecs.refhost import ManualClock, RefHost, generate_practice, simulate_days
from hookspecs.refhost.generator import PracticeSummary
from hookspecs.refhost.money import card_fee
from hookspecs.refhost.money_flows import business_days_before
from hookspecs.refhost.testing import RecordingPlugin

KINDS = ("clients", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds")
END = date(2025, 12, 31)


def _host(path: Path) -> RefHost:
    return RefHost(
        path, clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), load_entrypoints=False
    )


def _everything(host: RefHost) -> dict[str, list[Any]]:
    return {kind: list(host.iter_history(kind)) for kind in KINDS}  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[RefHost, PracticeSummary]:
    """A year of the default practice with its money flows, generated once."""
    host = _host(tmp_path_factory.mktemp("flows"))
    summary = generate_practice(host, seed=7, start=date(2025, 1, 1), end=END, money_flows=True)
    yield host, summary
    host.close()


def test_without_money_flows_a_practice_has_none(tmp_path: Path) -> None:
    host = _host(tmp_path)
    summary = generate_practice(host, seed=3, clients=40, start=date(2025, 1, 1), end=END)
    for kind in ("payouts", "deposits", "refunds"):
        assert list(host.iter_history(kind)) == []  # type: ignore[arg-type]
        assert summary.total(kind) == 0
    assert {p["method"] for p in host.iter_history("payments")} <= {
        "cash", "card", "eftpos", "bank_transfer", "stripe"
    }  # fmt: skip
    host.close()


def test_the_flows_leave_every_other_records_content_as_it_was(tmp_path: Path) -> None:
    small = {"clients": 80, "start": date(2025, 1, 1), "end": date(2025, 6, 30), "seed": 5}
    plain, rich = _host(tmp_path / "plain"), _host(tmp_path / "rich")
    generate_practice(plain, **small)  # type: ignore[arg-type]
    generate_practice(rich, money_flows=True, **small)  # type: ignore[arg-type]
    assert list(plain.iter_history("clients")) == list(rich.iter_history("clients"))

    def unnumbered(host: RefHost, kind: str) -> dict[str, dict[str, Any]]:
        return {r["id"]: {**r, "number": 0} for r in host.iter_history(kind)}  # type: ignore[arg-type]

    for kind in ("invoices", "credit_notes"):
        before, after = unnumbered(plain, kind), unnumbered(rich, kind)
        assert all(after[i] == r for i, r in before.items()), kind
    before, after = unnumbered(plain, "payments"), unnumbered(rich, "payments")
    changed = [i for i, p in before.items() if after[i] != p]
    for payment_id in changed:  # only what a deposit or voucher paid instead, less
        assert Decimal(after[payment_id]["amount"]) < Decimal(before[payment_id]["amount"])
        assert {**after[payment_id], "amount": 0, "allocations": 0} == {
            **before[payment_id], "amount": 0, "allocations": 0
        }  # fmt: skip
    plain.close()
    rich.close()


def test_the_same_seed_gives_the_same_flows_and_firing_hooks_tells_each_one(
    tmp_path: Path,
) -> None:
    small = {"clients": 60, "start": date(2025, 1, 1), "end": date(2025, 5, 31), "seed": 9}
    quiet, loud = _host(tmp_path / "quiet"), _host(tmp_path / "loud")
    rec = RecordingPlugin()
    loud.register(rec, name="rec")
    first = generate_practice(quiet, money_flows=True, **small)  # type: ignore[arg-type]
    second = generate_practice(loud, money_flows=True, fire_hooks=True, **small)  # type: ignore[arg-type]
    assert first == second
    assert _everything(quiet) == _everything(loud)
    assert len(rec.named("on_payout_recorded")) == first.total("payouts") > 0
    assert len(rec.named("on_refund_recorded")) == first.total("refunds") > 0
    told = rec.named("on_deposit_recorded")
    assert len({c["deposit"]["id"] for c in told}) == first.total("deposits") > 0
    applied = first.total("deposits_applied") + first.total("deposits_forfeited")
    assert len(told) == first.total("deposits") + applied  # taken, then again when applied
    dates = [c["deposit"]["paid_date"] for c in told if not c["deposit"]["allocations"]]
    assert dates == sorted(dates)
    numbers = [d["number"] for d in quiet.iter_history("deposits")]
    assert numbers == list(range(1, len(numbers) + 1))  # number order is date order
    quiet.close()
    loud.close()


def test_payouts_settle_the_card_payments_less_refunds_and_fees(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    payments = {p["id"]: p for p in host.iter_history("payments")}
    refunds = {r["id"]: r for r in host.iter_history("refunds")}
    settled: set[str] = set()
    payouts = list(host.iter_history("payouts"))
    assert (
        len(payouts) == summary.total("payouts") > 100
    )  # up to twice a week at three sites, a year
    for payout in payouts:
        assert date.fromisoformat(payout["paid_date"]).weekday() in (1, 4)
        cut = business_days_before(date.fromisoformat(payout["paid_date"]), 2).isoformat()
        paid = [payments[i] for i in payout["payment_ids"]]
        netted = [refunds[i] for i in payout["refund_ids"]]
        for record in paid + netted:
            assert (record["method"], record["location_id"]) == ("stripe", payout["location_id"])
            assert record["paid_date"] <= cut
            assert record["id"] not in settled, "settled twice"
            settled.add(record["id"])
        gross = sum((Decimal(p["amount"]) for p in paid), Decimal(0)) - sum(
            (Decimal(r["amount"]) for r in netted), Decimal(0)
        )
        fees = sum((card_fee(Decimal(p["amount"])) for p in paid), Decimal(0))
        assert (Decimal(payout["gross"]), Decimal(payout["fees"])) == (gross, fees)
        assert Decimal(payout["amount"]) == gross - fees > 0
        assert payout["processor_reference"].startswith("po_")
    assert any(p["refund_ids"] for p in payouts)
    late = business_days_before(END, 4).isoformat()
    card = [r for r in [*payments.values(), *refunds.values()] if r["method"] == "stripe"]
    assert card
    assert all(r["id"] in settled for r in card if r["paid_date"] < late)
    assert not any(r["method"] == "stripe" for r in refunds.values() if r["id"] not in settled
                   and r["paid_date"] < late)  # fmt: skip


def test_deposits_are_taken_weeks_before_the_stay_and_applied_refunded_or_kept(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    invoices = {i["id"]: i for i in host.iter_history("invoices")}
    deposits = list(host.iter_history("deposits"))
    refunded = {r["deposit_id"]: r for r in host.iter_history("refunds") if r.get("deposit_id")}
    kept = 0
    for deposit in deposits:
        assert deposit["method"] in ("card", "eftpos", "bank_transfer")  # never the clearing one
        assert deposit["reference"].startswith("Booking ")
        if deposit["id"] in refunded:
            assert deposit["allocations"] == []
            refund = refunded[deposit["id"]]
            assert Decimal(refund["amount"]) <= Decimal(deposit["amount"])
            assert refund["method"] == deposit["method"]
            assert refund["paid_date"] > deposit["paid_date"]
            continue
        [allocation] = deposit["allocations"]
        invoice = invoices[allocation["invoice_id"]]
        assert (invoice["client_id"], invoice["location_id"]) == (
            deposit["client_id"], deposit["location_id"]
        )  # fmt: skip
        assert Decimal(allocation["amount"]) <= Decimal(deposit["amount"])
        assert invoice["status"] != "voided"
        lag = (date.fromisoformat(invoice["date"]) - date.fromisoformat(deposit["paid_date"])).days
        if invoice["lines"][0]["description"].startswith("Cancellation fee"):
            kept += 1
            assert invoice["total"] == allocation["amount"] == deposit["amount"]
            assert lag >= 3
        else:
            assert 7 <= lag <= 28
    assert kept == summary.total("deposits_forfeited") > 0
    assert len(refunded) == summary.total("deposit_refunds") > 0
    assert len(deposits) - len(refunded) - kept == summary.total("deposits_applied") > 20


def test_no_invoice_is_paid_more_than_its_total_counting_deposits_and_vouchers(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, _ = practice
    applied: dict[str, Decimal] = defaultdict(Decimal)
    for kind in ("payments", "deposits"):
        for record in host.iter_history(kind):  # type: ignore[arg-type]
            for a in record["allocations"]:
                applied[a["invoice_id"]] += Decimal(a["amount"])
    for cn in host.iter_history("credit_notes"):
        if cn.get("invoice_id"):
            applied[cn["invoice_id"]] += Decimal(cn["total"])
    invoices = {i["id"]: i for i in host.iter_history("invoices")}
    for invoice_id, amount in applied.items():
        assert amount <= Decimal(invoices[invoice_id]["total"])


def test_refunds_come_out_of_one_credit_that_holds_the_money(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    credit_notes = {c["id"]: c for c in host.iter_history("credit_notes")}
    payments = {p["id"]: p for p in host.iter_history("payments")}
    kinds: dict[str, int] = defaultdict(int)
    for refund in host.iter_history("refunds"):
        sources = [k for k in ("credit_note_id", "payment_id", "deposit_id") if refund.get(k)]
        assert len(sources) == 1
        kinds[sources[0]] += 1
        amount = Decimal(refund["amount"])
        assert amount > 0
        if refund.get("credit_note_id"):
            credit = credit_notes[refund["credit_note_id"]]
            assert credit["invoice_id"] is None  # a credit applied to an invoice has no money
            assert amount <= Decimal(credit["total"])
            assert refund["paid_date"] >= credit["date"]
        elif refund.get("payment_id"):
            payment = payments[refund["payment_id"]]
            allocated = sum((Decimal(a["amount"]) for a in payment["allocations"]), Decimal(0))
            assert amount <= Decimal(payment["amount"]) - allocated
            assert refund["method"] == payment["method"] != "stripe"
        else:
            assert refund["method"] != "stripe"  # the only card refunds are netted off payouts
    assert kinds["credit_note_id"] == summary.total("credit_note_refunds") > 0
    assert kinds["payment_id"] == summary.total("overpayment_refunds") > 0
    assert any(r["method"] == "stripe" for r in host.iter_history("refunds"))


def test_vouchers_are_sold_free_of_gst_and_never_spent_beyond_what_was_sold(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    moves: dict[str, list[tuple[str, int, Decimal]]] = defaultdict(list)
    for invoice in host.iter_history("invoices"):
        for line in invoice["lines"]:
            if line["category"] == "voucher":
                assert line["tax_rate"] == "0"
                moves[invoice["location_id"]].append(
                    (invoice["date"], 0, Decimal(line["unit_price"]))
                )
    for payment in host.iter_history("payments"):
        if payment["method"] == "voucher":
            moves[payment["location_id"]].append(
                (payment["paid_date"], 1, -Decimal(payment["amount"]))
            )
    assert sum(1 for m in moves.values() for x in m if x[1] == 0) == summary.total("vouchers_sold")
    assert summary.total("vouchers_redeemed") > 5
    for location, history in moves.items():
        balance = Decimal(0)
        for _, _, amount in sorted(history):
            balance += amount
            assert balance >= 0, f"{location}: a voucher spent before it was sold"
    assert any(sum(x[2] for x in m) > 0 for m in moves.values())  # some are still unspent


def test_live_days_carry_on_paying_out_and_applying_what_the_history_left_waiting(
    tmp_path: Path,
) -> None:
    host = _host(tmp_path)
    generate_practice(host, seed=4, clients=80, start=date(2025, 10, 1), end=END, money_flows=True)
    rec = RecordingPlugin()
    host.register(rec, name="rec")
    host.start()
    summary = simulate_days(host, date(2026, 1, 1), date(2026, 1, 31), seed=2, money_flows=True)
    assert len(rec.named("on_payout_recorded")) == summary.total("payouts") >= 8
    assert len(rec.named("on_refund_recorded")) == summary.total("refunds") > 0
    assert summary.total("deposits") > 0
    assert any(c["deposit"]["allocations"] for c in rec.named("on_deposit_recorded"))
    settled: list[str] = []
    for payout in host.iter_history("payouts"):
        settled += payout["payment_ids"]
    assert len(settled) == len(set(settled)), "a card payment paid out twice"
    history_cards = [
        p["id"] for p in host.iter_history("payments")
        if p["method"] == "stripe" and "2025-12-24" <= p["paid_date"] <= "2025-12-31"
    ]  # fmt: skip
    assert history_cards
    assert set(history_cards) <= set(settled)  # the history's last week, paid out live
    spent = sum(
        (Decimal(p["amount"]) for p in host.iter_history("payments") if p["method"] == "voucher"),
        Decimal(0),
    )
    sold = sum(
        (Decimal(ln["unit_price"]) for i in host.iter_history("invoices") for ln in i["lines"]
         if ln["category"] == "voucher"),
        Decimal(0),
    )  # fmt: skip
    assert spent <= sold
    again = _host(tmp_path / "again")
    generate_practice(again, seed=4, clients=80, start=date(2025, 10, 1), end=END, money_flows=True)
    assert (
        simulate_days(again, date(2026, 1, 1), date(2026, 1, 31), seed=2, money_flows=True)
        == summary
    )
    assert _everything(again) == _everything(host)
    host.stop()
    again.close()
