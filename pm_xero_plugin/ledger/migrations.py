"""The ledger's SQLite schema, versioned with ``PRAGMA user_version``.

Each migration is a list of statements applied in one transaction; a file is only ever moved
forward. Version 1 is the initial schema; version 2 adds live priority and contact matching;
version 3 the date of an invoice the ledger never saw; version 4 claim tokens (fencing) and
workers' beats (liveness); version 5 what the dashboard's search reads (numbers, customers'
words, the documents of a contact); version 6 Xero's side of the reconciliation (webhook
events, Xero's copies, the admin's marks, and an organisation's rows in id order).
Add a new entry (never edit a released one) to change it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

from pm_xero_plugin.ledger.interface import LedgerTooNew
from pm_xero_plugin.ledger.words import words_of_payload

__all__ = ["MIGRATIONS", "migrate"]

_V1: Final = [
    """
    CREATE TABLE rows (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        host_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,             -- '' while the location has no organisation
        location_id TEXT NOT NULL,
        state TEXT NOT NULL,
        gate TEXT,                           -- the closed gate, when waiting
        detail TEXT,                         -- a gate's specific detail (lock date, …)
        doc_date TEXT,                       -- the business date deciding the window
        number INTEGER,
        dep_contact TEXT,
        dep_invoice TEXT,
        dep_credit_note TEXT,
        include_before_start INTEGER NOT NULL DEFAULT 0,
        payload TEXT NOT NULL,
        payload_hash TEXT NOT NULL,
        operation TEXT NOT NULL DEFAULT 'create',
        pending_op TEXT,                     -- an edit that arrived while the row was in flight
        xero_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL,
        lease_until REAL,
        worker_id TEXT,
        uncertain INTEGER NOT NULL DEFAULT 0,
        attempt_key TEXT,
        message TEXT,
        field TEXT,
        hint TEXT,
        reply TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (kind, host_id, tenant_id)
    )
    """,
    "CREATE INDEX rows_claim ON rows (tenant_id, kind, state, doc_date, number, id)",
    "CREATE INDEX rows_gate ON rows (gate, tenant_id) WHERE state = 'waiting'",
    "CREATE INDEX rows_dep_contact ON rows (tenant_id, dep_contact) WHERE state = 'waiting'",
    "CREATE INDEX rows_dep_invoice ON rows (tenant_id, dep_invoice) WHERE dep_invoice IS NOT NULL",
    "CREATE INDEX rows_dep_credit_note ON rows (tenant_id, dep_credit_note) "
    "WHERE state = 'waiting'",
    "CREATE INDEX rows_retry ON rows (next_at) WHERE state = 'retrying'",
    "CREATE INDEX rows_lease ON rows (lease_until) WHERE state = 'sending'",
    "CREATE INDEX rows_problems ON rows (state, id) WHERE state IN ('failed', 'rejected')",
    """
    CREATE TABLE counts (
        tenant_id TEXT NOT NULL,
        location_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        gate TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, location_id, kind, state, gate)
    ) WITHOUT ROWID
    """,
    # The counts change in the same transaction as every state change: by these triggers for
    # updates and deletes (no code path can forget them), and for inserts by the one insert
    # method, batch-wise (a per-row insert trigger cost a third of a backfill's time).
    """
    CREATE TRIGGER rows_count_update AFTER UPDATE OF state, gate, tenant_id, location_id ON rows
    WHEN OLD.state IS NOT NEW.state OR OLD.gate IS NOT NEW.gate
        OR OLD.tenant_id IS NOT NEW.tenant_id OR OLD.location_id IS NOT NEW.location_id
    BEGIN
        UPDATE counts SET n = n - 1
        WHERE tenant_id = OLD.tenant_id AND location_id = OLD.location_id AND kind = OLD.kind
            AND state = OLD.state
            AND gate = CASE WHEN OLD.state = 'waiting' THEN coalesce(OLD.gate, '') ELSE '' END;
        INSERT INTO counts VALUES (NEW.tenant_id, NEW.location_id, NEW.kind, NEW.state,
            CASE WHEN NEW.state = 'waiting' THEN coalesce(NEW.gate, '') ELSE '' END, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER rows_count_delete AFTER DELETE ON rows BEGIN
        UPDATE counts SET n = n - 1
        WHERE tenant_id = OLD.tenant_id AND location_id = OLD.location_id AND kind = OLD.kind
            AND state = OLD.state
            AND gate = CASE WHEN OLD.state = 'waiting' THEN coalesce(OLD.gate, '') ELSE '' END;
    END
    """,
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        row_id INTEGER NOT NULL,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        request TEXT,
        status_code INTEGER,
        message TEXT
    )
    """,
    "CREATE INDEX attempts_row ON attempts (row_id, id)",
    """
    CREATE TABLE tenants (
        tenant_id TEXT PRIMARY KEY,
        connected INTEGER NOT NULL DEFAULT 0,
        connection_reason TEXT,
        codes_state TEXT NOT NULL DEFAULT 'missing',
        codes_detail TEXT,
        contact_sync TEXT NOT NULL DEFAULT 'not_started',
        data_synced_at REAL
    )
    """,
    """
    CREATE TABLE chart_cache (
        tenant_id TEXT NOT NULL,
        what TEXT NOT NULL,
        fetched_at REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant_id, what)
    )
    """,
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

_V2: Final = [
    # Live records (made through a hook while the add-on runs) are claimed before history
    # (back-sync, catch-up, contact sync): 1 = live, 0 = history. A dependency a live record
    # waits for is raised to live too, so a new payment does not wait behind the backlog for
    # its invoice. The claim index leads with it, so the claim's ORDER BY stays an index walk.
    "ALTER TABLE rows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    # A contact whose name Xero already gives to a contact that is not provably ours: the one
    # found in Xero (JSON: ContactID, Name, ContactNumber), for the admin to link or not …
    "ALTER TABLE rows ADD COLUMN xero_match TEXT",
    # … and the name an admin chose to create ours under instead (kept for later updates).
    "ALTER TABLE rows ADD COLUMN xero_name TEXT",
    "DROP INDEX rows_claim",
    "CREATE INDEX rows_claim ON rows (tenant_id, kind, state, priority DESC, doc_date, number, id)",
    "CREATE INDEX rows_live ON rows (tenant_id, kind) WHERE priority > 0 "
    "AND state IN ('ready', 'retrying', 'sending')",
]

_V3: Final = [
    # A payment or allocation whose invoice the ledger has no row for (dated before the
    # window): that invoice's date as the host gave it at intake, so the rules can later say
    # "its invoice is dated before the start date" without asking the host from the worker.
    "ALTER TABLE rows ADD COLUMN dep_invoice_date TEXT",
]

_V4: Final = [
    # Fencing: every claim takes a fresh token from a ledger-wide counter and stores it on the
    # rows it claims; a worker's later writes to those rows carry it and change nothing once
    # another claim has taken the row (Ledger.fenced).
    "ALTER TABLE rows ADD COLUMN claim_token INTEGER",
    "CREATE TABLE claim_tokens (last INTEGER NOT NULL)",
    "INSERT INTO claim_tokens VALUES (0)",
    # Liveness instead of wall-clock expiry: each worker beats (counts up its row) every
    # quarter lease on its own monotonic clock; a row in 'sending' is taken from its owner only
    # once the owner is judged gone (sync/leases.py) – no clock is compared across machines.
    # 'hostname' holds the worker's identity 'hostname|boot id|pid namespace' (leases.this_host):
    # a pid is trusted only by a judge of the same complete identity, not one of the same name.
    """
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        beat INTEGER NOT NULL,
        beat_at REAL                         -- for people: the beat counter is what is judged
    )
    """,
]

_V5: Final = [
    # The dashboard's search (SqliteLedger.search_rows). State, kind, organisation and date
    # ranges walk rows_claim (tenant_id, kind, state, priority, doc_date, number, id) one
    # (tenant, kind, state, priority) at a time – no index of their own, so the insert path
    # pays nothing for them. A number is looked up here:
    "CREATE INDEX rows_number ON rows (number)",
    # A customer's documents: every row naming the contact, in any state. It replaces the
    # partial index of waiting rows (same columns: waiting_on and the contact-wait queries
    # read this one), so an insert still writes one entry for it, not two.
    "DROP INDEX rows_dep_contact",
    "CREATE INDEX rows_dep_contact ON rows (tenant_id, dep_contact)",
    # The words of each contact row's customer (name, email: ledger/words.py), kept by the
    # ledger wherever a contact's payload is written; filled for existing contacts below.
    """
    CREATE TABLE customer_words (
        word TEXT NOT NULL,
        row_id INTEGER NOT NULL,
        PRIMARY KEY (word, row_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX customer_words_row ON customer_words (row_id)",
]


_V6: Final = [
    # Reconciliation (docs/reconciliation.md, "Ledger"; SqliteLedger's books operations in
    # ledger/sqlite_books.py). An organisation's rows of some kinds in id order, a page at a
    # time: one range of this index per kind, however many rows the organisation has.
    "CREATE INDEX rows_tenant ON rows (tenant_id, kind, id)",
    # Xero's webhook events, kept from their arrival until handled; a key already kept is
    # never written again (a retried or replayed delivery). Times as every time here: epoch
    # seconds; event_date as Xero sent it.
    """
    CREATE TABLE xero_events (
        key TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        category TEXT NOT NULL,
        event_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        event_date TEXT NOT NULL,
        received_at REAL NOT NULL,
        handled_at REAL,                     -- NULL while pending
        outcome TEXT,                        -- set with handled_at
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT
    )
    """,
    # Pending ones, oldest arrival first (then rowid: the order they came in together).
    "CREATE INDEX xero_events_pending ON xero_events (received_at) WHERE handled_at IS NULL",
    "CREATE INDEX xero_events_outcome ON xero_events (outcome)",
    # Xero's version of each document, as last read; updated_order is updated_utc normalised
    # (UTC, microseconds): what "a newer one is never replaced by an older" compares.
    """
    CREATE TABLE xero_copies (
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        xero_id TEXT NOT NULL,
        summary TEXT NOT NULL,               -- JSON
        updated_utc TEXT,
        updated_order TEXT,
        read_at REAL NOT NULL,
        gone INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, kind, xero_id)
    ) WITHOUT ROWID
    """,
    # An admin's (or the xero_changes setting's) decision on one difference.
    """
    CREATE TABLE books_marks (
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        host_id TEXT NOT NULL,
        difference TEXT NOT NULL,
        action TEXT NOT NULL,
        xero_fingerprint TEXT NOT NULL,
        host_hash TEXT NOT NULL,
        at REAL NOT NULL,
        decided_by TEXT,
        note TEXT,
        PRIMARY KEY (tenant_id, kind, host_id, difference)
    ) WITHOUT ROWID
    """,
]


def _fill_customer_words(conn: sqlite3.Connection) -> None:
    """Version 5's words for the contacts already in the ledger (Python: the same words the
    insert path computes, casefolded as SQLite's ``lower`` cannot)."""
    found = conn.execute("SELECT id, payload FROM rows WHERE kind = 'contact'")
    conn.executemany(
        "INSERT OR IGNORE INTO customer_words VALUES (?, ?)",
        ((word, row_id) for row_id, payload in found for word in words_of_payload(payload)),
    )


MIGRATIONS: Final[list[list[str]]] = [_V1, _V2, _V3, _V4, _V5, _V6]
"""``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``."""

_AFTER: Final[dict[int, Callable[[sqlite3.Connection], None]]] = {5: _fill_customer_words}
"""Work a version needs beyond its statements (run right after them, in the same transaction),
by the version it brings the file to."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the version now in force.

    Runs in ``BEGIN IMMEDIATE`` so two processes opening a new file do not both create it. A
    file already up to date is only read (no write lock: opening it does not wait for another
    process holding one). A file of a newer schema raises :class:`LedgerTooNew`, untouched.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise LedgerTooNew(version, len(MIGRATIONS))
    if version == len(MIGRATIONS):
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise LedgerTooNew(version, len(MIGRATIONS))
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
            version += 1
            if version in _AFTER:
                _AFTER[version](conn)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
