"""The practice generator: deterministic, fast, and as untidy as a real practice."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hookspecs.refhost import ManualClock, RefHost, document_total, generate_practice
from hookspecs.refhost.generator import PracticeSummary, live_day, simulate_days
from hookspecs.refhost.testing import RecordingPlugin

KINDS = ("clients", "invoices", "credit_notes", "payments")


def _everything(host: RefHost) -> dict[str, list[Any]]:
    return {kind: list(host.iter_history(kind)) for kind in KINDS}  # type: ignore[arg-type]


def _host(path: Path) -> RefHost:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    return RefHost(path, clock=clock, load_entrypoints=False)


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[RefHost, PracticeSummary]:
    """The default-size practice, generated once for the realism checks."""
    host = _host(tmp_path_factory.mktemp("practice"))
    summary = generate_practice(host, seed=7)
    yield host, summary
    host.close()


def test_the_default_practice_is_a_few_thousand_documents_in_under_three_seconds(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    assert summary.seconds < 3
    assert [loc["name"] for loc in host.locations()] == [
        "Bondi Beach Pet Resort",
        "Parramatta Dog Daycare",
        "Newtown Grooming Studio",
    ]
    assert summary.total("clients") == 300
    assert 1500 <= summary.total("invoices") <= 5000
    assert 1500 <= summary.total("payments") <= 5000
    for kind in KINDS:
        assert summary.total(kind) == len(list(host.iter_history(kind)))  # type: ignore[arg-type]
        assert set(summary.counts[kind]) == {"bondi-beach", "parramatta", "newtown"}


def test_same_seed_same_records_other_seed_other_records(tmp_path: Path) -> None:
    small = {"clients": 40, "start": date(2025, 1, 1), "end": date(2025, 3, 31)}
    a, b, c = _host(tmp_path / "a"), _host(tmp_path / "b"), _host(tmp_path / "c")
    first = generate_practice(a, seed=3, **small)  # type: ignore[arg-type]
    assert generate_practice(b, seed=3, **small) == first  # type: ignore[arg-type]
    generate_practice(c, seed=4, **small)  # type: ignore[arg-type]
    assert _everything(a) == _everything(b)
    assert _everything(a)["invoices"] != _everything(c)["invoices"]
    for host in (a, b, c):
        host.close()


def test_firing_hooks_stores_the_same_records_and_tells_plugins_in_date_order(
    tmp_path: Path,
) -> None:
    small = {"clients": 30, "start": date(2025, 1, 1), "end": date(2025, 2, 28)}
    quiet, loud = _host(tmp_path / "quiet"), _host(tmp_path / "loud")
    rec = RecordingPlugin()
    loud.register(rec, name="rec")
    generate_practice(quiet, seed=11, **small)  # type: ignore[arg-type]
    summary = generate_practice(loud, seed=11, fire_hooks=True, **small)  # type: ignore[arg-type]
    assert _everything(quiet) == _everything(loud)
    assert len(rec.named("on_invoice_created")) == summary.total("invoices")
    assert len(rec.named("on_payment_recorded")) == summary.total("payments")
    assert len(rec.named("on_invoice_voided")) == summary.total("voided")
    seen: set[str] = set()
    dates: list[str] = []
    for hook, kwargs in rec.calls:
        if hook == "on_client_saved":
            seen.add(kwargs["client"]["id"])
        elif hook == "on_invoice_created":
            assert kwargs["invoice"]["client_id"] in seen  # the customer came first
            dates.append(kwargs["invoice"]["date"])
    assert dates == sorted(dates)
    quiet.close()
    loud.close()


def test_totals_are_consistent_with_lines(practice: tuple[RefHost, PracticeSummary]) -> None:
    host, _ = practice
    for kind in ("invoices", "credit_notes"):
        for doc in host.iter_history(kind):  # type: ignore[arg-type]
            assert doc["total"] == document_total(doc["lines"], doc["line_amount_types"])
            assert Decimal(doc["total"]) > 0


def _assert_nothing_overpays_an_invoice(host: RefHost) -> None:
    applied: dict[str, Decimal] = defaultdict(Decimal)
    for payment in host.iter_history("payments"):
        for a in payment["allocations"]:
            applied[a["invoice_id"]] += Decimal(a["amount"])
    for cn in host.iter_history("credit_notes"):
        if cn.get("invoice_id"):
            applied[cn["invoice_id"]] += Decimal(cn["total"])
    for invoice_id, amount in applied.items():
        invoice = host.get_record("invoices", invoice_id)
        assert invoice is not None
        assert amount <= Decimal(invoice["total"])


def test_money_never_exceeds_what_an_invoice_is_owed_and_overpayments_exist(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    _assert_nothing_overpays_an_invoice(host)
    applied: dict[str, Decimal] = defaultdict(Decimal)
    overpaid = split = 0
    for payment in host.iter_history("payments"):
        allocated = sum((Decimal(a["amount"]) for a in payment["allocations"]), Decimal(0))
        assert Decimal(payment["amount"]) >= allocated
        overpaid += Decimal(payment["amount"]) > allocated
        split += len(payment["allocations"]) > 1
        for a in payment["allocations"]:
            applied[a["invoice_id"]] += Decimal(a["amount"])
            assert Decimal(a["amount"]) > 0
    credited = [cn for cn in host.iter_history("credit_notes") if cn.get("invoice_id")]
    for cn in credited:
        applied[cn["invoice_id"]] += Decimal(cn["total"])
    invoices = {i["id"]: i for i in host.iter_history("invoices")}
    for invoice_id, amount in applied.items():
        assert amount <= Decimal(invoices[invoice_id]["total"])
        assert invoices[invoice_id]["status"] != "voided"
    assert overpaid == summary.total("overpayments") >= 5
    assert split >= 20
    assert len(credited) >= 5
    unpaid = [i for i in invoices.values() if i["id"] not in applied and i["status"] == "open"]
    partly = [i for i in invoices.values() if 0 < applied.get(i["id"], 0) < Decimal(i["total"])]
    assert unpaid
    assert partly
    assert sum(i["status"] == "voided" for i in invoices.values()) == summary.total("voided") > 0


def test_payments_come_on_or_after_their_invoice_sometimes_weeks_later(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, _ = practice
    invoices = {i["id"]: i for i in host.iter_history("invoices")}
    lags = Counter()
    for payment in host.iter_history("payments"):
        for a in payment["allocations"]:
            lag = date.fromisoformat(payment["paid_date"]) - date.fromisoformat(
                invoices[a["invoice_id"]]["date"]
            )
            assert lag.days >= 0
            lags["same day" if lag.days == 0 else "week" if lag.days <= 7 else "later"] += 1
    assert lags["same day"] > lags["week"] > 0
    assert lags["later"] > 0
    methods = {p["method"] for p in host.iter_history("payments")}
    assert {"cash", "card", "eftpos", "bank_transfer", "stripe"} <= methods


def test_customers_are_realistic_and_some_use_two_sites(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, summary = practice
    clients = {c["id"]: c for c in host.iter_history("clients")}
    assert [c["number"] for c in clients.values()] == list(range(1, 301))
    assert all(c["first_name"] and c["last_name"] for c in clients.values())
    assert {c.get("customer_type") for c in clients.values()} >= {"standard", "vip", "breeder"}
    assert any(c.get("email") is None for c in clients.values())
    assert sum("@example." in (c.get("email") or "") for c in clients.values()) > 250
    away = {
        i["client_id"]
        for i in host.iter_history("invoices")
        if clients[i["client_id"]]["location_id"] != i["location_id"]
    }
    assert len(away) == summary.total("multi_location_clients") >= 10


def test_lines_cover_the_categories_taxes_discounts_and_both_price_treatments(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, _ = practice
    lines = [(i, ln) for i in host.iter_history("invoices") for ln in i["lines"]]
    assert {ln["category"] for _, ln in lines} >= {
        "boarding", "daycare", "grooming", "retail", "extras", "training"
    }  # fmt: skip
    assert {ln["tax_rate"] for _, ln in lines} == {"10", "0"}
    assert any(ln.get("discount_rate") for _, ln in lines)
    assert {ln.get("area_type") for _, ln in lines} >= {"Luxury suite", "Cattery"}
    treatments = Counter(i["line_amount_types"] for i in host.iter_history("invoices"))
    assert treatments["inclusive"] > 5 * treatments["exclusive"] > 0


def test_numbers_are_business_wide_sequences_rising_with_the_date(
    practice: tuple[RefHost, PracticeSummary],
) -> None:
    host, _ = practice
    for kind in ("invoices", "credit_notes", "payments"):
        records = list(host.iter_history(kind))  # type: ignore[arg-type]
        numbers = [r["number"] for r in records]
        assert numbers == list(range(1, len(records) + 1))  # date order is number order


def test_a_second_generation_continues_the_hosts_sequences(tmp_path: Path) -> None:
    host = _host(tmp_path)
    small = {"clients": 10, "start": date(2025, 1, 1), "end": date(2025, 1, 31)}
    first = generate_practice(host, seed=1, **small)  # type: ignore[arg-type]
    generate_practice(host, seed=2, **small)  # type: ignore[arg-type]
    numbers = [c["number"] for c in host.iter_history("clients")]
    assert numbers == list(range(1, 21))
    assert len(host.locations()) == 3
    assert first.total("clients") == 10
    host.close()


def test_more_locations_on_request_and_at_least_one_is_required(tmp_path: Path) -> None:
    host = _host(tmp_path)
    generate_practice(host, locations=10, clients=20, start=date(2025, 1, 1), end=date(2025, 1, 7))
    ids = [loc["id"] for loc in host.locations()]
    assert len(ids) == len(set(ids)) == 10
    assert {loc["country"] for loc in host.locations()} == {"AU"}
    with pytest.raises(ValueError, match=r"at least one location"):
        generate_practice(host, locations=0)
    host.close()


def test_simulated_days_fire_hooks_with_host_numbers_and_the_clock_following(
    tmp_path: Path,
) -> None:
    def run(path: Path) -> tuple[RefHost, RecordingPlugin, PracticeSummary]:
        host = _host(path)
        generate_practice(host, seed=5, clients=60, start=date(2025, 10, 1), end=date(2025, 12, 31))
        rec = RecordingPlugin()
        host.register(rec, name="rec")
        host.start()
        summary = simulate_days(host, date(2026, 1, 1), date(2026, 1, 14), seed=9)
        return host, rec, summary

    host, rec, summary = run(tmp_path / "one")
    other, _, same = run(tmp_path / "two")
    assert summary == same
    assert _everything(host) == _everything(other)
    assert host.today("bondi-beach") == date(2026, 1, 14)
    assert len(rec.named("on_invoice_created")) == summary.total("invoices") > 20
    assert len(rec.named("on_payment_recorded")) == summary.total("payments") > 10
    new = [i for i in host.iter_history("invoices", since=date(2026, 1, 1))]
    assert len(new) == summary.total("invoices")
    assert all(i["updated_at"].startswith(i["date"]) for i in new if i["status"] == "open")
    hooks = {name for name, _ in rec.calls}
    assert {"on_client_saved", "on_invoice_created", "on_payment_recorded"} <= hooks
    payments = list(host.iter_history("payments", since=date(2026, 1, 1)))
    assert any(len(p["allocations"]) > 1 for p in payments)
    _assert_nothing_overpays_an_invoice(host)
    host.stop()
    other.stop()


def test_live_day_needs_a_practice(refhost: RefHost) -> None:
    with pytest.raises(ValueError, match="no locations"):
        live_day(refhost, date(2026, 1, 1), random.Random(0))


def test_living_through_days_in_several_calls_makes_new_ids_each_day_and_the_same_records(
    tmp_path: Path,
) -> None:
    """A demo run again with a later ``--today`` each time lives through the days in between
    in one call per run: the third run used to repeat the second's ids (one stream per call)."""

    def practice(path: Path) -> RefHost:
        host = _host(path)
        generate_practice(host, seed=7, clients=40, start=date(2025, 12, 1), end=date(2025, 12, 31))
        return host

    split, whole = practice(tmp_path / "split"), practice(tmp_path / "whole")
    for first, last in ((1, 1), (2, 11), (12, 14), (15, 15)):
        simulate_days(split, date(2026, 1, first), date(2026, 1, last), seed=8)
    simulate_days(whole, date(2026, 1, 1), date(2026, 1, 15), seed=8)

    made = _everything(split)
    for kind, records in made.items():
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), f"{kind}: an id made twice"
    assert len(list(split.iter_history("invoices", since=date(2026, 1, 1)))) > 15
    assert made == _everything(whole), "how the span is split does not change the practice"
    split.close()
    whole.close()


def test_the_same_seed_again_on_one_host_adds_history_instead_of_clashing_on_ids(
    tmp_path: Path,
) -> None:
    """A script run twice on one data dir (the README's example) must work, deterministically."""
    small = {"clients": 10, "start": date(2025, 1, 1), "end": date(2025, 1, 31)}
    host, twin = _host(tmp_path / "a"), _host(tmp_path / "b")
    for practice in (host, twin):
        generate_practice(practice, seed=1, **small)  # type: ignore[arg-type]
        generate_practice(practice, seed=1, **small)  # type: ignore[arg-type]
    clients = list(host.iter_history("clients"))
    assert [c["number"] for c in clients] == list(range(1, 21))
    assert len({c["id"] for c in clients}) == 20
    assert [c["id"] for c in twin.iter_history("clients")] == [c["id"] for c in clients]
    host.close()
    twin.close()


def test_history_ends_on_the_host_clocks_date_by_default(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    host = RefHost(tmp_path, clock=clock, load_entrypoints=False)
    generate_practice(host, seed=2, clients=10)
    dates = [i["date"] for i in host.iter_history("invoices")]  # type: ignore[arg-type]
    assert dates
    assert max(dates) <= "2025-03-01"
    assert min(dates) >= "2023-03-01"
    host.close()


def test_living_through_the_same_days_again_makes_new_records_not_repeated_ids(
    tmp_path: Path,
) -> None:
    """The README's example run twice on one data dir simulates the same week twice."""
    host = _host(tmp_path)
    generate_practice(host, seed=7, clients=20, start=date(2025, 12, 1), end=date(2025, 12, 31))
    once = simulate_days(host, date(2026, 1, 1), date(2026, 1, 7), seed=2, advance_clock=False)
    twice = simulate_days(host, date(2026, 1, 1), date(2026, 1, 7), seed=2, advance_clock=False)
    assert once.total("invoices") > 0
    assert twice.total("invoices") > 0
    ids = [r["id"] for r in host.iter_history("invoices", since=date(2026, 1, 1))]
    assert len(ids) == len(set(ids)) == once.total("invoices") + twice.total("invoices")
    host.close()
