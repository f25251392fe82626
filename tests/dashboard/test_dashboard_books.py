"""The dashboard's ``books`` section: the last reconciliation as the pass kept it – per
organisation its facts, the first open differences with their admin actions, the day totals
that differ – in the shape ``hookspecs.status`` documents; ``None`` (and a sentence) when no pass
ever ran; and the terminal dashboard's short Books block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract.test_contract_status_shape import Shape
from rich.console import Console
from support.books_sample import GENERATED_AT, clean_report, deleted_payment, sample_report
from support.pages_books import open_practice, synced_books

from hookspecs import status as contract
from pm_xero_plugin import plugin
from pm_xero_plugin.core.books import REPORT_META_KEY, BooksReport
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.dashboard.books import (
    DIFFERENCES_SHOWN,
    NEVER_RECONCILED,
    differing_days,
    section_of,
)
from pm_xero_plugin.dashboard.render import print_status
from pm_xero_plugin.dashboard.status import build


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with open_practice(tmp_path) as books:
        synced_books(books, invoices=1)
        books.drain()
        running = plugin.get_engine()
        assert running is not None
        yield running


def keep(engine: Engine, report: BooksReport) -> None:
    engine.ledger.set_meta(REPORT_META_KEY, report.to_json())


def test_never_reconciled_is_none(engine: Engine) -> None:
    status = build(engine, None)
    assert status["books"] is None
    assert Shape().problems(status, contract.SyncStatus) == []


def test_the_section_has_exactly_the_documented_shape(engine: Engine) -> None:
    keep(engine, sample_report())
    status = build(engine, None)
    shape = Shape()
    assert shape.problems(status, contract.SyncStatus) == []
    assert {"BooksStatus", "BooksOrganisation", "BooksDifference", "BooksDayTotal"} <= shape.met


def test_each_organisation_gives_its_facts_open_differences_and_differing_days(
    engine: Engine,
) -> None:
    keep(engine, sample_report())
    books = build(engine, None)["books"]
    assert books is not None
    assert (books["generated_at"], books["clean"]) == (GENERATED_AT, False)
    sydney, london = books["organisations"]
    assert {k: sydney[k] for k in ("tenant_id", "name", "checked", "read_at")} == {
        "tenant_id": "T1",
        "name": "Sydney Vets",
        "checked": 40,
        "read_at": "2025-03-03T08:59:00+00:00",
    }
    assert (sydney["calls_today"], sydney["call_budget"], sydney["events_pending"]) == (14, 1000, 2)
    assert (sydney["differences_total"], sydney["decided_total"]) == (2, 1)
    assert sydney["incomplete"] is None
    assert sydney["kinds_not_checked"] == ["payout"]
    assert sydney["differences"] == [
        {
            "key": "12:voided_in_xero",
            "row_id": 12,
            "kind": "invoice",
            "location_id": "syd",
            "day": "2025-02-10",
            "label": "INV-12 Ann Lee",
            "difference": "voided_in_xero",
            "host": "AUTHORISED, total 120.00",
            "xero": "VOIDED",
            "actions": ["books_accept"],
            "fix": "void INV-12 in Pet Manager too",
        },
        {
            "key": "15:deleted_in_xero",
            "row_id": 15,
            "kind": "payment",
            "location_id": "syd",
            "day": "2025-02-11",
            "label": "PAY-3 Ann Lee",
            "difference": "deleted_in_xero",
            "host": "paid 30.00",
            "xero": "DELETED",
            "actions": ["books_resend", "books_accept"],
            "fix": "delete the payment in Pet Manager too, or re-send it",
        },
    ], "open ones only, the decided email change is counted, not listed"
    assert [(d["day"], d["kind"]) for d in sydney["day_totals"]] == [("2025-02-10", "invoice")]
    assert sydney["day_totals_total"] == 1
    assert (london["differences"], london["day_totals"], london["differences_total"]) == ([], [], 0)


def test_the_first_twenty_are_listed_and_all_are_counted() -> None:
    report = sample_report()
    t1 = report.tenants[0]
    t1.differences = [deleted_payment(row_id=100 + n) for n in range(30)]
    t1.differences_total = 45
    books = section_of(report)
    assert books is not None
    sydney = books["organisations"][0]
    assert len(sydney["differences"]) == DIFFERENCES_SHOWN == 20
    assert sydney["differences_total"] == 45


def test_records_on_their_way_or_not_read_and_unchecked_kinds_are_no_difference() -> None:
    from pm_xero_plugin.core.books import DayTotal

    same = DayTotal("T1", "syd", "2025-02-01", "invoice", 2, "20.00", 2, "20.00")
    on_their_way = DayTotal("T1", "syd", "2025-02-02", "invoice", 3, "30.00", 2, "20.00", 1)
    not_read = DayTotal("T1", "syd", "2025-02-03", "invoice", 3, "30.00", 1, "10.00", not_read=2)
    unchecked = DayTotal("T1", "syd", "2025-02-04", "payout", 1, "99.00", 0, "0.00", checked=False)
    amount = DayTotal("T1", "syd", "2025-02-05", "invoice", 2, "20.00", 2, "19.00")
    missing = DayTotal("T1", "syd", "2025-02-06", "invoice", 3, "30.00", 1, "10.00", 1)
    zeros = DayTotal("T1", "syd", "2025-02-07", "invoice", 1, "20.0", 1, "20.00")
    assert differing_days([same, on_their_way, not_read, unchecked, amount, missing, zeros]) == [
        amount,
        missing,
    ]


def test_one_locations_dashboard_has_only_its_records(engine: Engine) -> None:
    keep(engine, sample_report())
    london = section_of(sample_report(), "lon")
    assert london is not None
    assert [o["tenant_id"] for o in london["organisations"]] == ["T2"]
    assert london["clean"] is True
    clean = section_of(clean_report())
    assert clean is not None
    assert clean["clean"] is True


def test_the_terminal_dashboard_prints_a_short_books_block(engine: Engine) -> None:
    console = Console(width=100, record=True, color_system=None)
    print_status(build(engine, None), console=console)
    assert "Books: " + NEVER_RECONCILED in " ".join(console.export_text().split())

    keep(engine, sample_report())
    console = Console(width=100, record=True, color_system=None)
    print_status(build(engine, None), console=console)
    text = " ".join(console.export_text().split())
    assert f"Books (reconciled {GENERATED_AT}): not clean" in text
    assert (
        "Sydney Vets: 40 checked, Xero read 2025-03-03T08:59:00+00:00, 14/1000 calls today, "
        "2 events pending; 2 open differences, 1 day differs"
    ) in text
    assert "12:voided_in_xero INV-12 Ann Lee: voided in Xero – void INV-12 in Pet Manager too" in (
        text
    )
    assert "London Vets: 5 checked" in text
    assert "list and act: " in text
    assert "reconcile" in text
