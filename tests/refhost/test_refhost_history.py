"""iter_history streams: lazily, in pages, oldest first, filtered by location and business date."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from hookspecs.refhost import RefHost

LOCATIONS = [
    {"id": "bondi", "name": "Bondi", "timezone": "Australia/Sydney", "currency": "AUD",
     "country": "AU"},
    {"id": "newtown", "name": "Newtown", "timezone": "Australia/Sydney", "currency": "AUD",
     "country": "AU"},
]  # fmt: skip
LINE = {"description": "Bath", "category": "grooming", "quantity": "1", "unit_price": "45.00",
        "tax_rate": "10"}  # fmt: skip


@pytest.fixture
def host(refhost: RefHost) -> RefHost:
    for loc in LOCATIONS:
        refhost.add_location(loc)
    return refhost


def _invoice(host: RefHost, location: str, day: str, client: str = "c1") -> dict[str, object]:
    return host.create_invoice(
        {"location_id": location, "client_id": client, "date": day, "lines": [LINE]}
    )


def test_history_is_an_iterator_that_reads_lazily(host: RefHost) -> None:
    host.history_page_size = 2
    for day in ("2025-01-01", "2025-01-02", "2025-01-03"):
        _invoice(host, "bondi", day)
    stream = host.iter_history("invoices")
    assert isinstance(stream, Iterator)
    assert not isinstance(stream, list | tuple)
    assert next(stream)["date"] == "2025-01-01"
    # Created after the stream started: it is still seen, so nothing was loaded up front.
    _invoice(host, "bondi", "2025-01-09")
    assert [r["date"] for r in stream] == ["2025-01-02", "2025-01-03", "2025-01-09"]


def test_history_pages_return_every_record_once_in_date_then_number_order(host: RefHost) -> None:
    host.history_page_size = 3
    # Created out of date order: numbers 1..7 do not follow the dates.
    days = ["2025-02-03", "2025-01-05", "2025-02-03", "2025-01-01", "2025-03-01", "2025-01-05",
            "2025-02-03"]  # fmt: skip
    made = [_invoice(host, "bondi", d) for d in days]
    streamed = list(host.iter_history("invoices"))
    assert len(streamed) == len(made) == len({r["id"] for r in streamed})
    keys = [(r["date"], r["number"]) for r in streamed]
    assert keys == sorted(keys)


def test_since_includes_its_own_day_and_excludes_the_day_before(host: RefHost) -> None:
    for day in ("2025-01-30", "2025-01-31", "2025-02-01"):
        _invoice(host, "bondi", day)
    since = [r["date"] for r in host.iter_history("invoices", since=date(2025, 1, 31))]
    assert since == ["2025-01-31", "2025-02-01"]


def test_payments_are_windowed_by_paid_date_and_credit_notes_by_their_date(host: RefHost) -> None:
    invoice = _invoice(host, "bondi", "2025-01-10")
    allocation = [{"invoice_id": invoice["id"], "amount": "45.00"}]
    host.record_payment({"location_id": "bondi", "client_id": "c1", "paid_date": "2025-01-09",
                         "allocations": allocation})  # fmt: skip
    late = host.record_payment({"location_id": "bondi", "client_id": "c1",
                                "paid_date": "2025-01-10", "allocations": allocation})  # fmt: skip
    host.create_credit_note({"location_id": "bondi", "client_id": "c1", "date": "2025-01-09",
                             "lines": [LINE]})  # fmt: skip
    since = date(2025, 1, 10)
    assert [p["id"] for p in host.iter_history("payments", since=since)] == [late["id"]]
    assert list(host.iter_history("credit_notes", since=since)) == []


def test_location_filter_keeps_each_sites_documents_apart(host: RefHost) -> None:
    _invoice(host, "bondi", "2025-01-01")
    _invoice(host, "newtown", "2025-01-01")
    _invoice(host, "bondi", "2025-01-02")
    assert {r["location_id"] for r in host.iter_history("invoices", "bondi")} == {"bondi"}
    assert len(list(host.iter_history("invoices", "newtown"))) == 1
    assert len(list(host.iter_history("invoices"))) == 3


def test_clients_stream_by_number_and_a_site_includes_visitors_from_elsewhere(
    host: RefHost,
) -> None:
    host.history_page_size = 2
    home = [
        host.save_client({"location_id": loc, "first_name": f"F{i}", "last_name": "L"})
        for i, loc in enumerate(["bondi", "newtown", "bondi", "newtown", "bondi"])
    ]
    visitor = home[1]  # a Newtown customer who boards at Bondi once
    _invoice(host, "bondi", "2024-06-01", client=visitor["id"])
    assert [c["number"] for c in host.iter_history("clients")] == [1, 2, 3, 4, 5]
    bondi = [c["number"] for c in host.iter_history("clients", "bondi")]
    assert bondi == [1, 2, 3, 5]
    # `since` does not apply to customers: one from before the window may pay inside it.
    assert len(list(host.iter_history("clients", since=date(2030, 1, 1)))) == 5


def test_since_must_be_a_business_date(host: RefHost) -> None:
    for wrong in ("2025-01-01", datetime(2025, 1, 1, tzinfo=UTC)):
        with pytest.raises(TypeError, match="business date"):
            host.iter_history("invoices", since=wrong)  # type: ignore[arg-type]


def test_unknown_kind_is_refused_before_iteration(host: RefHost) -> None:
    with pytest.raises(ValueError, match="unknown history kind"):
        host.iter_history("bookings")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown history kind 'pets'"):
        host.get_record("pets", "1")  # type: ignore[arg-type]


def test_plugins_may_stream_and_read_from_their_own_threads_while_the_host_writes(
    host: RefHost,
) -> None:
    host.history_page_size = 7
    for i in range(40):
        _invoice(host, "bondi", f"2025-01-{1 + i % 28:02d}")
    errors: list[BaseException] = []
    seen: list[int] = []

    def reader() -> None:
        try:
            for _ in range(5):
                records = list(host.iter_history("invoices", "bondi"))
                seen.append(len(records))
                assert host.get_record("invoices", str(records[0]["id"])) is not None
                host.settings("xero")
                host.now()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(40):
        _invoice(host, "newtown", f"2025-02-{1 + i % 28:02d}")
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    assert seen
    assert all(n == 40 for n in seen)
    assert len(list(host.iter_history("invoices"))) == 80
