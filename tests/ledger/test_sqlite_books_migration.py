"""Schema v6 on a ledger written by v5: its rows are paged by organisation, and Xero's side of
the reconciliation (events, copies, marks) starts empty; the pending events and an
organisation's rows are read through their indexes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.migrations import MIGRATIONS


def test_a_v5_ledger_gets_xero_side_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(str(path), isolation_level=None)
    for statement in [s for version in MIGRATIONS[:5] for s in version]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    now = time.time()
    conn.execute(
        "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, payload, payload_hash, "
        "created_at, updated_at) VALUES ('invoice', 'i1', 'T1', 'syd', 'synced', '{}', 'h', ?, ?)",
        (now, now),
    )
    conn.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.schema_version == 6
        assert [r.host_id for r in ledger.rows_of_tenant("T1", ["invoice"])] == ["i1"]
        assert ledger.xero_event_counts() == {"pending": 0, "handled": 0}
        assert ledger.xero_copies("T1", "invoice") == {}
        assert ledger.books_marks() == []
    finally:
        ledger.close()


def test_pending_events_and_an_organisations_rows_are_read_through_their_indexes(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    try:
        conn = sqlite3.connect(str(tmp_path / "ledger.sqlite3"))
        pending = conn.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM xero_events WHERE handled_at IS NULL "
            "ORDER BY received_at, rowid LIMIT 5"
        ).fetchall()
        page = conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM rows WHERE tenant_id = 'T1' AND kind = 'invoice' "
            "AND id > 5 ORDER BY id LIMIT 5"
        ).fetchall()
        conn.close()
    finally:
        ledger.close()
    assert any("xero_events_pending" in str(step) for step in pending)
    assert not any("TEMP B-TREE" in str(step) for step in pending)
    assert any("rows_tenant" in str(step) for step in page)
    assert not any("TEMP B-TREE" in str(step) for step in page)
