"""The SQLite backend's own promises, beyond the contract (tests/ledger/contract): its schema
and migrations, its counts table agreeing with its rows, and queries that use indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.migrations import MIGRATIONS


def test_the_counts_table_is_a_group_by_over_the_rows(ledger: SqliteLedger) -> None:
    ledger.insert([new_row(host_id=f"i{n}") for n in range(5)])
    ledger.insert([new_row(host_id="w", state="waiting", gate="contact")])
    rows = ledger.claim("T1", "invoice", limit=2, worker_id="w1", now=START)
    ledger.mark_sent([r.id for r in rows], "key")
    ledger.mark_synced(rows[0].id, "X1")
    ledger.mark_failed(rows[1].id, "Invoice # must be unique.")
    raw = ledger._q("SELECT state, count(*) FROM rows GROUP BY state")
    assert {s: n for s, n in raw} == {"ready": 3, "synced": 1, "failed": 1, "waiting": 1}
    counted = {c["state"]: c["n"] for c in ledger.counts()}
    assert counted == {s: n for s, n in raw}


def test_the_schema_is_versioned_and_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    SqliteLedger(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again = SqliteLedger(path)
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_a_file_from_a_newer_plugin_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteLedger(path)


def test_dashboard_queries_use_indexes_not_table_scans(ledger: SqliteLedger) -> None:
    for sql in (
        "SELECT id FROM rows WHERE state IN ('failed', 'rejected') ORDER BY id DESC LIMIT 5",
        "SELECT id FROM rows WHERE state = 'waiting' AND gate IN ('invoice_before_start') "
        "ORDER BY id DESC LIMIT 5",
        "SELECT id FROM rows WHERE tenant_id = 'T1' AND kind = 'invoice' AND state = 'ready' "
        "ORDER BY doc_date, number, id LIMIT 50",
        "SELECT tenant_id FROM rows WHERE state = 'retrying' AND next_at <= 0",
        "SELECT tenant_id FROM rows WHERE state = 'sending' AND lease_until <= 0",
    ):
        steps = [str(r[3]) for r in ledger._q("EXPLAIN QUERY PLAN " + sql)]
        assert any(s.startswith("SEARCH rows USING") for s in steps), (sql, steps)
        assert not any(s.startswith("SCAN rows") for s in steps), (sql, steps)


def _vm_steps(ledger: SqliteLedger, call: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in thousands) a call costs: a table scan shows."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    ledger._conn.set_progress_handler(tick, 1000)
    try:
        call()
    finally:
        ledger._conn.set_progress_handler(None, 1000)
    return steps[0]


def test_worker_polls_and_the_dashboard_do_not_scan_the_ledger(ledger: SqliteLedger) -> None:
    states = ["synced"] * 6 + ["failed", "retrying", "waiting", "ready"]
    with ledger.transaction():
        ledger._conn.executemany(
            "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, gate, payload, "
            "payload_hash, created_at, updated_at, next_at, lease_until) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    "invoice",
                    f"h{i}",
                    f"T{i % 3}",
                    "syd",
                    states[i % 10],
                    "contact" if states[i % 10] == "waiting" else None,
                    "{}",
                    "h",
                    0,
                    0,
                    4e9 if states[i % 10] == "retrying" else None,
                    None,
                )
                for i in range(30_000)
            ],
        )
    full_scan = _vm_steps(
        ledger, lambda: ledger._q("SELECT count(*) FROM rows WHERE payload_hash = 'x'")
    )
    assert full_scan > 50
    assert _vm_steps(ledger, lambda: ledger.tenants_with_ready_work(START)) < full_scan / 10
    assert _vm_steps(ledger, lambda: ledger.counts()) < full_scan / 10
    assert _vm_steps(ledger, lambda: ledger.problems(limit=200)) < full_scan / 2
    claim = _vm_steps(ledger, lambda: ledger.claim("T1", "invoice", worker_id="w", now=START))
    assert claim < full_scan / 3  # it writes 50 rows and their indexes; a scan reads all
