"""The change cursor: ``iter_history(changed_since=…)`` streams what the host stored (created or
changed) at or after a moment of its clock, from an index, whatever the records' dates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hookspecs.refhost import ManualClock, RefHost
from hookspecs.refhost.store import PracticeStore

LOCATION = {"id": "bondi", "name": "Bondi", "timezone": "Australia/Sydney", "currency": "AUD",
            "country": "AU"}  # fmt: skip
LINE = {"description": "Bath", "category": "grooming", "quantity": "1", "unit_price": "45.00",
        "tax_rate": "10"}  # fmt: skip
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def host(tmp_path: Path, clock: ManualClock) -> RefHost:
    made = RefHost(tmp_path, clock=clock, load_entrypoints=False)
    made.add_location(LOCATION)
    return made


def _invoice(host: RefHost, day: str, client: str = "c1") -> dict[str, object]:
    return host.create_invoice(
        {"location_id": "bondi", "client_id": client, "date": day, "lines": [LINE]}
    )


def test_changed_since_streams_only_what_was_stored_at_or_after_the_moment(
    host: RefHost, clock: ManualClock
) -> None:
    old = _invoice(host, "2025-01-01")
    host.save_client({"id": "c1", "location_id": "bondi", "first_name": "A", "last_name": "B"})
    clock.advance(timedelta(minutes=5))
    cursor = clock.now()
    new = _invoice(host, "2024-06-01")  # dated long ago, stored now: the cursor finds it
    clock.advance(timedelta(minutes=5))
    host.update_invoice({"id": old["id"], "reference": "edited"})
    host.save_client({"id": "c2", "location_id": "bondi", "first_name": "C", "last_name": "D"})

    changed = [r["id"] for r in host.iter_history("invoices", changed_since=cursor)]
    assert changed == [new["id"], old["id"]]  # date order, as every history stream
    assert [r["id"] for r in host.iter_history("clients", changed_since=cursor)] == ["c2"]
    # since and location still apply; every record without a cursor, as before
    assert [
        r["id"] for r in host.iter_history("invoices", "bondi", T0.date(), changed_since=cursor)
    ] == []
    assert len(list(host.iter_history("invoices"))) == 2
    assert (
        list(host.iter_history("invoices", changed_since=clock.now() + timedelta(seconds=1))) == []
    )


def test_changed_since_must_be_an_aware_moment(host: RefHost) -> None:
    with pytest.raises(TypeError, match="timezone-aware"):
        host.iter_history("invoices", changed_since=datetime(2026, 1, 1))


def test_the_change_cursor_is_answered_from_an_index(host: RefHost) -> None:
    with sqlite3.connect(host.store.path) as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM invoices WHERE changed_at >= ?", (0.0,)
            )
        )
    assert "invoices_changed" in plan


def test_a_store_made_before_the_cursor_gains_its_column(tmp_path: Path) -> None:
    path = tmp_path / "practice.db"
    with sqlite3.connect(path) as conn:
        for kind in ("clients", "invoices", "payments"):
            conn.execute(
                f"CREATE TABLE {kind} (id TEXT PRIMARY KEY, number INTEGER NOT NULL, "
                "location_id TEXT, client_id TEXT, doc_date TEXT NOT NULL, data TEXT NOT NULL)"
            )
        conn.execute(
            "CREATE TABLE credit_notes (id TEXT PRIMARY KEY, number INTEGER NOT NULL, "
            "location_id TEXT, client_id TEXT, doc_date TEXT NOT NULL, invoice_id TEXT, "
            "data TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO invoices VALUES "
            "('old', 1, 'bondi', 'c1', '2025-01-01', '{\"id\": \"old\"}')"
        )
    store = PracticeStore(path, clock=lambda: T0)
    store.insert(
        "invoices", {"id": "new", "number": 2, "location_id": "bondi", "date": "2025-01-02"}
    )
    page = store.page(
        "invoices", location_id=None, since=None, after=None, limit=10, changed_since=T0
    )
    assert [record["id"] for _, record in page] == ["new"]
    everything = store.page("invoices", location_id=None, since=None, after=None, limit=10)
    assert [record["id"] for _, record in everything] == ["old", "new"]
