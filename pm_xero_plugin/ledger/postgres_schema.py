"""The PostgreSQL ledger's schema, versioned in a ``schema_version`` table.

One database holds every practice's ledger: each table carries ``practice_id`` and every index
a practice's operations select through leads with it, so a practice's reads cost what they
would in a database of its own, whatever the fleet's size. Row ids are global (``bigserial``).
Text that is compared as a range or ordered (host ids, dates, words) is ``COLLATE "C"``: byte
order, as SQLite compares it (a locale's collation ignores punctuation, and ``'p1:' <= host_id <
'p1;'`` would no longer be the payment's parts).

Each migration is one SQL script (``MIGRATIONS[i]`` takes a database from version ``i`` to
``i + 1``; version 2 adds Xero's side of the reconciliation: webhook events, Xero's copies, the
admin's marks, an organisation's rows by id), applied with the version bump in one transaction
under a transaction-scoped advisory lock, so processes starting at once on a new database do
not both create it. A database of a newer version than this code knows raises
:class:`LedgerTooNew`, untouched. Add a new entry (never edit a released one) to change it.

Counts without a hot row: statement-level triggers (with transition tables: one insert per
statement, not per row) append signed deltas to ``counts_delta``, which only ever receives
inserts, so concurrent writers never wait on one another's counter; ``counts`` holds the folded
totals, and a reader sums both (see :mod:`pm_xero_plugin.ledger.postgres`, which folds the
deltas now and then under ``pg_try_advisory_xact_lock``). Sharded counter rows would still make
two writers of one shard wait; an append-only table never does.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from pm_xero_plugin.ledger.interface import LedgerTooNew

__all__ = ["MIGRATE_LOCK", "MIGRATIONS", "Conn", "counts_sql", "migrate"]

Conn = psycopg.Connection[tuple[Any, ...]]
"""A connection of the ledger's pool (rows as tuples)."""

MIGRATE_LOCK: Final = 0x706D786C
"""The advisory lock key migrations are applied under (``'pmxl'``)."""

_C = 'COLLATE "C"'

_V1: Final = f"""
CREATE TABLE rows (
    id BIGSERIAL PRIMARY KEY,
    practice_id TEXT {_C} NOT NULL,
    kind TEXT {_C} NOT NULL,
    host_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,            -- '' while the location has no organisation
    location_id TEXT {_C} NOT NULL,
    state TEXT {_C} NOT NULL,
    gate TEXT {_C},
    detail TEXT,
    doc_date TEXT {_C},
    number BIGINT,
    dep_contact TEXT {_C},
    dep_invoice TEXT {_C},
    dep_credit_note TEXT {_C},
    include_before_start BOOLEAN NOT NULL DEFAULT FALSE,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    operation TEXT NOT NULL DEFAULT 'create',
    pending_op TEXT,
    xero_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    worker_id TEXT {_C},
    uncertain BOOLEAN NOT NULL DEFAULT FALSE,
    attempt_key TEXT,
    message TEXT,
    field TEXT,
    hint TEXT,
    reply TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    xero_match TEXT,
    xero_name TEXT,
    dep_invoice_date TEXT {_C},
    claim_token BIGINT,
    CONSTRAINT rows_key UNIQUE (practice_id, kind, host_id, tenant_id)
);

-- The search walks it (one range per organisation, kind, state and priority, newest first by a
-- backward scan); the claim walks its smaller partial twin below.
CREATE INDEX rows_claim ON rows (practice_id, tenant_id, kind, state, priority DESC,
    doc_date NULLS FIRST, number NULLS FIRST, id);
CREATE INDEX rows_claimable ON rows (practice_id, tenant_id, kind, state, priority DESC,
    doc_date NULLS FIRST, number NULLS FIRST, id)
    WHERE state IN ('ready', 'retrying', 'sending');
CREATE INDEX rows_ids ON rows (practice_id, id);
CREATE INDEX rows_gate ON rows (practice_id, gate, tenant_id, id) WHERE state = 'waiting';
CREATE INDEX rows_dep_contact ON rows (practice_id, tenant_id, dep_contact);
CREATE INDEX rows_dep_invoice ON rows (practice_id, tenant_id, dep_invoice)
    WHERE dep_invoice IS NOT NULL;
CREATE INDEX rows_dep_credit_note ON rows (practice_id, tenant_id, dep_credit_note)
    WHERE state = 'waiting';
CREATE INDEX rows_retry ON rows (practice_id, next_at, tenant_id) WHERE state = 'retrying';
CREATE INDEX rows_sending ON rows (worker_id, practice_id, tenant_id) WHERE state = 'sending';
CREATE INDEX rows_problems ON rows (practice_id, state, id) WHERE state IN ('failed', 'rejected');
CREATE INDEX rows_live ON rows (practice_id, tenant_id, kind)
    WHERE priority > 0 AND state IN ('ready', 'retrying', 'sending');
CREATE INDEX rows_number ON rows (practice_id, number);
CREATE INDEX rows_excluded ON rows (practice_id, location_id) WHERE state = 'excluded';

CREATE TABLE counts (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    location_id TEXT {_C} NOT NULL,
    kind TEXT {_C} NOT NULL,
    state TEXT {_C} NOT NULL,
    gate TEXT {_C} NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (practice_id, tenant_id, location_id, kind, state, gate)
);

CREATE TABLE counts_delta (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    location_id TEXT {_C} NOT NULL,
    kind TEXT {_C} NOT NULL,
    state TEXT {_C} NOT NULL,
    gate TEXT {_C} NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX counts_delta_practice ON counts_delta (practice_id);
CREATE INDEX counts_state ON counts (state, practice_id, tenant_id);

CREATE FUNCTION rows_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO counts_delta
    SELECT practice_id, tenant_id, location_id, kind, state,
        CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, count(*)
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6;
    RETURN NULL;
END $$;

CREATE FUNCTION rows_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO counts_delta
    SELECT practice_id, tenant_id, location_id, kind, state, g, sum(n)
    FROM (
        SELECT practice_id, tenant_id, location_id, kind, state,
            CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END AS g, -1 AS n
        FROM old_rows
        UNION ALL
        SELECT practice_id, tenant_id, location_id, kind, state,
            CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, 1
        FROM new_rows
    ) AS moves
    GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION rows_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO counts_delta
    SELECT practice_id, tenant_id, location_id, kind, state,
        CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6;
    RETURN NULL;
END $$;

CREATE TRIGGER rows_count_insert AFTER INSERT ON rows REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rows_count_insert();
CREATE TRIGGER rows_count_update AFTER UPDATE ON rows
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rows_count_update();
CREATE TRIGGER rows_count_delete AFTER DELETE ON rows REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rows_count_delete();

CREATE TABLE attempts (
    id BIGSERIAL PRIMARY KEY,
    practice_id TEXT {_C} NOT NULL,
    row_id BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    event TEXT NOT NULL,
    request TEXT,
    status_code INTEGER,
    message TEXT
);
CREATE INDEX attempts_row ON attempts (practice_id, row_id, id);

CREATE TABLE tenants (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    connected BOOLEAN NOT NULL DEFAULT FALSE,
    connection_reason TEXT,
    codes_state TEXT NOT NULL DEFAULT 'missing',
    codes_detail TEXT,
    contact_sync TEXT NOT NULL DEFAULT 'not_started',
    data_synced_at TIMESTAMPTZ,
    PRIMARY KEY (practice_id, tenant_id)
);

-- Fairness: when each organisation was last given a claim (the server's clock); the fleet
-- serves the least recently served first. Its own table: tenants() lists what the sync knows.
CREATE TABLE tenant_turns (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    last_claim_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (practice_id, tenant_id)
);

CREATE TABLE chart_cache (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    what TEXT {_C} NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (practice_id, tenant_id, what)
);

CREATE TABLE meta (
    practice_id TEXT {_C} NOT NULL,
    key TEXT {_C} NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (practice_id, key)
);

-- Fencing tokens: ledger-wide, only ever growing (a sequence never hands out a value twice).
CREATE SEQUENCE claim_tokens;

-- Workers serve every practice: one row each, fleet-wide (see SqliteLedger.beat).
CREATE TABLE workers (
    worker_id TEXT {_C} PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    beat BIGINT NOT NULL,
    beat_at TIMESTAMPTZ
);

CREATE TABLE customer_words (
    practice_id TEXT {_C} NOT NULL,
    word TEXT {_C} NOT NULL,
    row_id BIGINT NOT NULL,
    PRIMARY KEY (practice_id, word, row_id)
);
CREATE INDEX customer_words_row ON customer_words (row_id);
"""

_V2: Final = f"""
-- Reconciliation (docs/reconciliation.md, "Ledger"; PostgresLedger's books operations in
-- ledger/postgres_books.py). Every table leads with practice_id, as the rows do: a practice's
-- ledger sees its own events, copies and marks only.

-- An organisation's rows of some kinds in id order, a page at a time (one range per kind).
CREATE INDEX rows_tenant ON rows (practice_id, tenant_id, kind, id);

-- Xero's webhook events, from their arrival until handled; a key already kept is never written
-- again (a retried or replayed delivery). seq: the order events received together came in.
CREATE TABLE xero_events (
    practice_id TEXT {_C} NOT NULL,
    key TEXT {_C} NOT NULL,
    seq BIGSERIAL NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    category TEXT {_C} NOT NULL,
    event_type TEXT {_C} NOT NULL,
    resource_id TEXT {_C} NOT NULL,
    event_date TEXT {_C} NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    handled_at TIMESTAMPTZ,                  -- NULL while pending
    outcome TEXT {_C},                       -- set with handled_at
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (practice_id, key)
);
CREATE INDEX xero_events_pending ON xero_events (practice_id, received_at, seq)
    WHERE handled_at IS NULL;
CREATE INDEX xero_events_outcome ON xero_events (practice_id, outcome);

-- Xero's version of each document, as last read; updated_order is updated_utc normalised
-- (UTC, microseconds): what "a newer one is never replaced by an older" compares.
CREATE TABLE xero_copies (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    kind TEXT {_C} NOT NULL,
    xero_id TEXT {_C} NOT NULL,
    summary TEXT NOT NULL,                   -- JSON
    updated_utc TEXT,
    updated_order TEXT {_C},
    read_at TIMESTAMPTZ NOT NULL,
    gone BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (practice_id, tenant_id, kind, xero_id)
);

-- An admin's (or the xero_changes setting's) decision on one difference.
CREATE TABLE books_marks (
    practice_id TEXT {_C} NOT NULL,
    tenant_id TEXT {_C} NOT NULL,
    kind TEXT {_C} NOT NULL,
    host_id TEXT {_C} NOT NULL,
    difference TEXT {_C} NOT NULL,
    action TEXT NOT NULL,
    xero_fingerprint TEXT NOT NULL,
    host_hash TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    decided_by TEXT,
    note TEXT,
    PRIMARY KEY (practice_id, tenant_id, kind, host_id, difference)
);
"""

MIGRATIONS: Final[list[str]] = [_V1, _V2]
"""``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``."""


def counts_sql(where: str = "TRUE") -> str:
    """The counts as they stand – folded totals plus the deltas since – for the rows of both
    tables matching ``where`` (columns: practice_id, tenant_id, location_id, kind, state, gate,
    n, and ``deltas``: how many delta rows went into it)."""
    return (
        "SELECT practice_id, tenant_id, location_id, kind, state, gate, sum(n)::bigint AS n, "
        "sum(d)::bigint AS deltas FROM ("
        f"SELECT practice_id, tenant_id, location_id, kind, state, gate, n, 0 AS d FROM counts "
        f"WHERE {where} UNION ALL "
        "SELECT practice_id, tenant_id, location_id, kind, state, gate, n, 1 FROM counts_delta "
        f"WHERE {where}) AS c GROUP BY 1, 2, 3, 4, 5, 6"
    )


def _version(conn: Conn) -> int:
    found = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def migrate(conn: Conn, known: int | None = None) -> int:
    """Bring the schema up to date (``known``: the newest version this code has, for tests);
    returns the version now in force. ``conn`` is in autocommit mode.

    :raises LedgerTooNew: the database carries a newer version; nothing was changed.
    """
    scripts = MIGRATIONS if known is None else MIGRATIONS[:known]
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = _version(conn)
        if version > len(scripts):
            raise LedgerTooNew(version, len(scripts))
        for script in scripts[version:]:
            conn.execute(script.encode())
            version += 1
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (%s)", (version,))
    return version
