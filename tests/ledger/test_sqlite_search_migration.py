"""Schema v5 on a ledger written by v4: the customers already there are found by name."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from pm_xero_plugin.ledger import RowQuery, SqliteLedger
from pm_xero_plugin.ledger.migrations import MIGRATIONS


def test_a_v4_ledger_gets_the_words_of_its_contacts(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(str(path), isolation_level=None)
    for statement in [s for version in MIGRATIONS[:4] for s in version]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    payload = json.dumps({"id": "c1", "first_name": "Oliver", "last_name": "King"})
    now = time.time()
    conn.execute(
        "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, payload, payload_hash, "
        "created_at, updated_at) VALUES ('contact', 'c1', 'T1', 'syd', 'synced', ?, 'h', ?, ?)",
        (payload, now, now),
    )
    conn.execute(
        "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, payload, payload_hash, "
        "dep_contact, doc_date, number, created_at, updated_at) VALUES ('invoice', 'i1', 'T1', "
        "'syd', 'synced', '{}', 'h', 'c1', '2025-02-01', 5, ?, ?)",
        (now, now),
    )
    conn.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.schema_version == len(MIGRATIONS)
        found = ledger.search_rows(RowQuery(customer="king oli")).rows
        assert sorted(r.host_id for r in found) == ["c1", "i1"]
        assert [r.host_id for r in ledger.search_rows(RowQuery(number=5)).rows] == ["i1"]
    finally:
        ledger.close()
