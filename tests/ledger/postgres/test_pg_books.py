"""Xero's side of the PostgreSQL ledger in a fleet's database: each practice sees its own events,
copies and marks only (the same keys in two practices are two things), a database of version 1
is brought forward with its rows, and what PostgreSQL's ``text`` cannot hold still lands."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import postgres_books
from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_schema import MIGRATIONS, migrate
from pm_xero_plugin.ledger.postgres_store import PgStore
from pm_xero_plugin.ledger.types import BooksMark, XeroCopy, XeroEvent


def _event(key: str) -> XeroEvent:
    return XeroEvent(key, "T1", "INVOICE", "UPDATE", "r1", "2025-03-01T09:00:00", START)


def _copy(total: str, updated: str = "2025-03-01T09:00:00") -> XeroCopy:
    return XeroCopy("T1", "invoice", "x1", {"total": total}, updated, START)


def _mark(action: str) -> BooksMark:
    return BooksMark("T1", "invoice", "i1", "amount_changed", action, "f", "h", START)


def test_a_practice_sees_only_its_own_events(p1: PostgresLedger, p2: PostgresLedger) -> None:
    assert p1.add_xero_events([_event("e1"), _event("e2")]) == [True, True]
    assert p2.add_xero_events([_event("e1")]) == [True]  # the same key in another practice
    p2.finish_xero_events(["e1", "e2"], "read", START)
    p2.fail_xero_events(["e2"], "not p2's")
    assert [(e.key, e.handled_at, e.attempts) for e in p1.pending_xero_events()] == [
        ("e1", None, 0),
        ("e2", None, 0),
    ]
    assert p1.xero_event_counts() == {"pending": 2, "handled": 0}
    assert p2.xero_event_counts() == {"pending": 0, "handled": 1, "read": 1}


def test_a_practice_sees_only_its_own_copies_and_marks(
    p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.store_xero_copies([_copy("10.00", "2025-03-01T09:05:00")])
    p2.store_xero_copies([_copy("20.00", "2025-03-01T09:00:00")])  # older, but not p1's copy
    assert p1.xero_copies("T1", "invoice")["x1"].summary == {"total": "10.00"}
    assert p2.xero_copies("T1", "invoice", ["x1"])["x1"].summary == {"total": "20.00"}
    p1.set_books_mark(_mark("accepted"))
    p2.set_books_mark(_mark("resent"))
    p2.clear_books_mark("T1", "invoice", "i1", "amount_changed")
    assert [m.action for m in p1.books_marks()] == ["accepted"]
    assert p2.books_marks() == []


def test_a_practice_pages_only_its_own_rows(p1: PostgresLedger, p2: PostgresLedger) -> None:
    p2.insert([new_row(host_id=f"i{i}") for i in range(5)])
    p1.insert([new_row(host_id="i1"), new_row(host_id="i2")])
    p2.insert([new_row(host_id=f"j{i}") for i in range(5)])
    assert [r.host_id for r in p1.rows_of_tenant("T1", ["invoice"], limit=3)] == ["i1", "i2"]


def test_text_postgresql_cannot_hold_still_lands(p1: PostgresLedger) -> None:
    """A NUL in a summary stays exactly (JSON escapes it); in plain text it becomes U+FFFD."""
    p1.store_xero_copies([XeroCopy("T1", "contact", "c1", {"name": "Ann\x00Lee"}, None, START)])
    assert p1.xero_copies("T1", "contact")["c1"].summary == {"name": "Ann\x00Lee"}
    p1.add_xero_events([_event("e1")])
    p1.fail_xero_events(["e1"], "bad\x00reply")
    assert p1.pending_xero_events()[0].error == "bad\ufffdreply"


def test_a_batch_bigger_than_a_statement_goes_in_whole(
    p1: PostgresLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_books, "_CHUNK", 100)  # 10,000 in use: the same, slower
    copies = [
        XeroCopy("T1", "invoice", f"x{i}", {"total": "1.00"}, None, START) for i in range(250)
    ]
    p1.store_xero_copies(copies)
    events = [
        XeroEvent(f"e{i:03d}", "T1", "INVOICE", "UPDATE", "r", "2025-03-01T09:00:00", START)
        for i in range(250)
    ]
    assert all(p1.add_xero_events(events))
    assert p1.add_xero_events(events) == [False] * 250
    assert len(p1.xero_copies("T1", "invoice")) == 250
    assert len(p1.xero_copies("T1", "invoice", [f"x{i}" for i in range(0, 250, 2)])) == 125
    p1.finish_xero_events([e.key for e in events[:240]], "read", START)
    assert [e.key for e in p1.pending_xero_events()] == [f"e{i}" for i in range(240, 250)]


def test_a_version_1_database_gets_xero_side_with_its_rows_kept(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, known=1) == 1
        conn.execute(
            "INSERT INTO rows (practice_id, kind, host_id, tenant_id, location_id, state, "
            "payload, payload_hash, created_at, updated_at) VALUES ('p1', 'invoice', 'i1', 'T1', "
            "'syd', 'synced', '{}', 'h', %s, %s)",
            (START, START),
        )
    store = PgStore.open(pg_url, max_size=2)
    try:
        assert store.schema_version == len(MIGRATIONS) == 2
        led = store.ledger("p1", clock=lambda: START)
        assert [r.host_id for r in led.rows_of_tenant("T1", ["invoice"])] == ["i1"]
        led.add_xero_events([_event("e1")])
        led.finish_xero_events(["e1"], "own", START + timedelta(seconds=1))
        assert led.xero_event_counts() == {"pending": 0, "handled": 1, "own": 1}
    finally:
        store.close()
