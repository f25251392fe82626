"""The reference host's own database: one SQLite file holding the practice and plugin settings.

Every record is kept whole as JSON (exactly what the host's caller gave it, so a test can store a
deliberately odd record and watch a plugin cope), next to the few columns the host queries by.
One connection behind a re-entrant lock serves every thread: plugins call the host from their own
threads, and a lock is simpler to reason about than a connection per thread that nobody closes.
WAL mode lets other processes (``sqlite3`` in a terminal, a demo's dashboard) read meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

__all__ = ["KINDS", "Kind", "PracticeStore", "SortKey"]

Kind = Literal["clients", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds"]
KINDS: Final[tuple[Kind, ...]] = (
    "clients", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds"
)  # fmt: skip

SortKey = tuple[str, int, str]
"""Where a history page ends: (document date, number, id). Clients use an empty date."""

_DATE_FIELD: Final[dict[Kind, str | None]] = {
    "clients": None,
    "invoices": "date",
    "credit_notes": "date",
    "payments": "paid_date",
    "payouts": "paid_date",
    "deposits": "paid_date",
    "refunds": "paid_date",
}

_ALLOCATED: Final[dict[Kind, str]] = {
    "payments": "payment_allocations",
    "deposits": "deposit_allocations",
}
"""The kinds whose ``allocations`` are indexed (what an invoice is still owed), and where."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS locations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS invoices (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS credit_notes (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, invoice_id TEXT, data TEXT NOT NULL,
    changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS payment_allocations (
    payment_id TEXT NOT NULL, invoice_id TEXT NOT NULL, amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payouts (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deposits (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deposit_allocations (
    payment_id TEXT NOT NULL, invoice_id TEXT NOT NULL, amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL, location_id TEXT, client_id TEXT,
    doc_date TEXT NOT NULL, data TEXT NOT NULL, changed_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS plugin_settings (
    plugin TEXT PRIMARY KEY, data TEXT NOT NULL, saved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plugin_state (
    plugin TEXT PRIMARY KEY, enabled INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_order ON clients (number, id);
CREATE INDEX IF NOT EXISTS clients_loc ON clients (location_id, number, id);
CREATE INDEX IF NOT EXISTS invoices_order ON invoices (doc_date, number, id);
CREATE INDEX IF NOT EXISTS invoices_loc ON invoices (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS invoices_client ON invoices (location_id, client_id);
CREATE INDEX IF NOT EXISTS credit_notes_order ON credit_notes (doc_date, number, id);
CREATE INDEX IF NOT EXISTS credit_notes_loc ON credit_notes (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS credit_notes_invoice ON credit_notes (invoice_id);
CREATE INDEX IF NOT EXISTS payments_order ON payments (doc_date, number, id);
CREATE INDEX IF NOT EXISTS payments_loc ON payments (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS payments_client ON payments (location_id, client_id);
CREATE INDEX IF NOT EXISTS allocations_invoice ON payment_allocations (invoice_id);
CREATE INDEX IF NOT EXISTS payouts_order ON payouts (doc_date, number, id);
CREATE INDEX IF NOT EXISTS payouts_loc ON payouts (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS deposits_order ON deposits (doc_date, number, id);
CREATE INDEX IF NOT EXISTS deposits_loc ON deposits (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS deposits_client ON deposits (location_id, client_id);
CREATE INDEX IF NOT EXISTS deposit_allocations_invoice ON deposit_allocations (invoice_id);
CREATE INDEX IF NOT EXISTS refunds_order ON refunds (doc_date, number, id);
CREATE INDEX IF NOT EXISTS refunds_loc ON refunds (location_id, doc_date, number, id);
CREATE INDEX IF NOT EXISTS refunds_client ON refunds (location_id, client_id);
"""

_CHANGED_INDEX = "CREATE INDEX IF NOT EXISTS {kind}_changed ON {kind} (changed_at)"
"""The change cursor's index (``iter_history(changed_since=…)``): made after :func:`_migrate`, which
adds the column to a store written before it existed."""


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _columns(kind: Kind, record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The indexed columns of a record, tolerant of a malformed record (it is stored anyway)."""
    number = record.get("number")
    sort_number = number if isinstance(number, int) and not isinstance(number, bool) else 0
    date_field = _DATE_FIELD[kind]
    doc_date = (_text(record.get(date_field)) or "") if date_field else ""
    client_id = None if kind == "clients" else _text(record.get("client_id"))
    base = (
        str(record["id"]),
        sort_number,
        _text(record.get("location_id")),
        client_id,
        doc_date,
    )
    if kind == "credit_notes":
        return (*base, _text(record.get("invoice_id")), _dumps(record))
    return (*base, _dumps(record))


def _insert_sql(kind: Kind, conflict: str) -> str:
    cols = "id, number, location_id, client_id, doc_date"
    if kind == "credit_notes":
        cols += ", invoice_id"
    marks = ", ".join("?" for _ in cols.split(","))
    return f"INSERT {conflict} INTO {kind} ({cols}, data, changed_at) VALUES ({marks}, ?, ?)"


def _migrate(conn: sqlite3.Connection) -> None:
    """Give a store made before the change cursor its ``changed_at`` column (0: stored before
    anyone asked; a plugin's first reconciliation reads everything anyway) and its index."""
    for kind in KINDS:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({kind})")}
        if "changed_at" not in columns:
            conn.execute(f"ALTER TABLE {kind} ADD COLUMN changed_at REAL NOT NULL DEFAULT 0")
        conn.execute(_CHANGED_INDEX.format(kind=kind))


class PracticeStore:
    """SQLite persistence for :class:`~hookspecs.refhost.RefHost`. Every method is thread-safe."""

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        """The host's clock: each stored record's ``changed_at`` (the change cursor) is read
        from it."""
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        with self._conn() as conn:
            conn.executescript(_SCHEMA)
            _migrate(conn)

    # -- connection ------------------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """The shared connection, held under the lock; opened again if :meth:`close` ran."""
        with self._lock:
            if self._connection is None:
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=5000")
                self._connection = conn
            yield self._connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; commits on success, rolls back on any error."""
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection (the store can be opened again)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- locations -------------------------------------------------------------------------------

    def add_location(self, location: Mapping[str, Any]) -> None:
        """Store a new location."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO locations (id, data) VALUES (?, ?)", (location["id"], _dumps(location))
            )

    def locations(self) -> list[dict[str, Any]]:
        """The locations, in the order they were added."""
        with self._conn() as conn:
            rows = conn.execute("SELECT data FROM locations ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    # -- records ---------------------------------------------------------------------------------

    def insert(self, kind: Kind, record: Mapping[str, Any], *, replace: bool = False) -> None:
        """Store one record; ``replace`` overwrites a record with the same id (an update)."""
        self.insert_many(kind, [record], replace=replace)

    def insert_many(
        self, kind: Kind, records: Iterable[Mapping[str, Any]], *, replace: bool = False
    ) -> int:
        """Store many records in one transaction (the practice generator's fast path)."""
        rows = [(_columns(kind, r), r) for r in records]
        with self.transaction() as conn:
            # Read inside the write transaction: a reader whose cursor is a moment before this
            # commit finds these records (stored at or after it) on its next pass.
            changed_at = self._clock().timestamp()
            sql = _insert_sql(kind, "OR REPLACE" if replace else "")
            conn.executemany(sql, [(*cols, changed_at) for cols, _ in rows])
            table = _ALLOCATED.get(kind)
            if table is not None:
                ids = [(cols[0],) for cols, _ in rows]
                conn.executemany(f"DELETE FROM {table} WHERE payment_id = ?", ids)
                conn.executemany(
                    f"INSERT INTO {table} (payment_id, invoice_id, amount) VALUES (?, ?, ?)",
                    [
                        (cols[0], str(a["invoice_id"]), str(a["amount"]))
                        for cols, r in rows
                        for a in _allocations(r)
                    ],
                )
        return len(rows)

    def exists(self, kind: Kind, record_id: str) -> bool:
        """Whether a record of ``kind`` with this id is stored."""
        with self._conn() as conn:
            row = conn.execute(f"SELECT 1 FROM {kind} WHERE id = ?", (record_id,)).fetchone()
        return row is not None

    def get(self, kind: Kind, record_id: str) -> dict[str, Any] | None:
        """The stored record of ``kind`` with this id, or ``None``."""
        with self._conn() as conn:
            row = conn.execute(f"SELECT data FROM {kind} WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def max_number(self, kind: Kind) -> int:
        """The highest number given to a ``kind`` so far (0 for none): the next continues it."""
        with self._conn() as conn:
            row = conn.execute(f"SELECT COALESCE(MAX(number), 0) FROM {kind}").fetchone()
        return int(row[0])

    def count(self, kind: Kind, location_id: str | None = None) -> int:
        """How many records of ``kind`` there are (at one location, if given)."""
        with self._conn() as conn:
            if location_id is None:
                row = conn.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()
            else:
                row = conn.execute(
                    f"SELECT COUNT(*) FROM {kind} WHERE location_id = ?", (location_id,)
                ).fetchone()
        return int(row[0])

    def page(
        self,
        kind: Kind,
        *,
        location_id: str | None,
        since: date | None,
        after: SortKey | None,
        limit: int,
        changed_since: datetime | None = None,
    ) -> list[tuple[SortKey, dict[str, Any]]]:
        """One page of history in (date, number, id) order, strictly after the key ``after``.

        Keyset paging (not OFFSET, not one long-lived cursor): each page is a short indexed query,
        so a plugin that takes minutes over a backfill holds no read transaction open meanwhile.
        ``changed_since``: only records stored at or after that moment (the ``changed_at`` index).
        """
        where: list[str] = []
        params: list[Any] = []
        if changed_since is not None:
            where.append("changed_at >= ?")
            params.append(changed_since.timestamp())
        if location_id is not None:
            if kind == "clients":
                # A location's customers: those created there and those who have dealt with it.
                where.append(
                    "(location_id = ? OR id IN (SELECT client_id FROM invoices WHERE location_id"
                    " = ? UNION SELECT client_id FROM credit_notes WHERE location_id = ?"
                    " UNION SELECT client_id FROM payments WHERE location_id = ?"
                    " UNION SELECT client_id FROM deposits WHERE location_id = ?"
                    " UNION SELECT client_id FROM refunds WHERE location_id = ?))"
                )
                params += [location_id] * 6
            else:
                where.append("location_id = ?")
                params.append(location_id)
        if since is not None and kind != "clients":
            where.append("doc_date >= ?")
            params.append(since.isoformat())
        if after is not None:
            where.append("(doc_date, number, id) > (?, ?, ?)")
            params += list(after)
        sql = f"SELECT doc_date, number, id, data FROM {kind}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY doc_date, number, id LIMIT ?"
        params.append(limit)
        with self._conn() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [((r[0], r[1], r[2]), dict(json.loads(r[3]))) for r in rows]

    def clients_of(self, location_id: str) -> list[dict[str, Any]]:
        """Every customer whose home is ``location_id``, by number (for the live simulator)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT data FROM clients WHERE location_id = ? ORDER BY number, id",
                (location_id,),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def outstanding(self, location_id: str, before: date) -> list[tuple[dict[str, Any], Decimal]]:
        """Open invoices of a location dated before ``before``, each with what is still owed.

        Owed = total − payment and deposit allocations − credit notes against it; only positive
        balances.
        """
        with self._conn() as conn:
            invoices = conn.execute(
                "SELECT id, data FROM invoices WHERE location_id = ? AND doc_date < ?"
                " ORDER BY doc_date, number, id",
                (location_id, before.isoformat()),
            ).fetchall()
            paid = dict(
                conn.execute(
                    "SELECT a.invoice_id, GROUP_CONCAT(a.amount, ' ') FROM (SELECT invoice_id,"
                    " amount FROM payment_allocations UNION ALL SELECT invoice_id, amount FROM"
                    " deposit_allocations) a JOIN invoices i ON i.id = a.invoice_id"
                    " WHERE i.location_id = ? GROUP BY a.invoice_id",
                    (location_id,),
                ).fetchall()
            )
            credited = dict(
                conn.execute(
                    "SELECT invoice_id, GROUP_CONCAT(json_extract(data, '$.total'), ' ')"
                    " FROM credit_notes WHERE location_id = ? AND invoice_id IS NOT NULL"
                    " GROUP BY invoice_id",
                    (location_id,),
                ).fetchall()
            )
        result: list[tuple[dict[str, Any], Decimal]] = []
        for invoice_id, data in invoices:
            invoice = json.loads(data)
            if invoice.get("status") == "voided":
                continue
            owed = Decimal(str(invoice.get("total", "0")))
            for joined in (paid.get(invoice_id), credited.get(invoice_id)):
                if joined:
                    owed -= sum((Decimal(x) for x in joined.split(" ")), Decimal(0))
            if owed > 0:
                result.append((invoice, owed))
        return result

    def by_field(
        self, kind: Kind, location_id: str, name: str, value: str, since: date | None = None
    ) -> list[dict[str, Any]]:
        """A location's records of ``kind`` whose top-level ``name`` is ``value`` (dated on or
        after ``since``), in history order: the live simulator's "today's card payments"."""
        sql = (
            f"SELECT data FROM {kind} WHERE location_id = ? AND json_extract(data, ?) = ?"
            " AND doc_date >= ? ORDER BY doc_date, number, id"
        )
        params = (location_id, f"$.{name}", value, since.isoformat() if since else "")
        with self._conn() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def invoices_selling(self, location_id: str, category: str) -> list[dict[str, Any]]:
        """A location's invoices with a line of ``category`` (gift vouchers sold)."""
        sql = (
            "SELECT data FROM invoices WHERE location_id = ? AND EXISTS (SELECT 1 FROM"
            " json_each(data, '$.lines') WHERE json_extract(value, '$.category') = ?)"
            " ORDER BY doc_date, number, id"
        )
        with self._conn() as conn:
            rows = conn.execute(sql, (location_id, category)).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    # -- plugin settings and switches ------------------------------------------------------------

    def plugin_settings(self, plugin: str) -> dict[str, Any]:
        """The plugin's saved settings (a fresh copy; ``{}`` before any are saved)."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT data FROM plugin_settings WHERE plugin = ?", (plugin,)
            ).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def save_plugin_settings(self, plugin: str, settings: Mapping[str, Any], saved_at: str) -> None:
        """Save the plugin's settings, replacing what was saved before."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO plugin_settings (plugin, data, saved_at) VALUES (?, ?, ?)"
                " ON CONFLICT (plugin) DO UPDATE SET data = excluded.data,"
                " saved_at = excluded.saved_at",
                (plugin, _dumps(settings), saved_at),
            )

    def plugin_enabled(self, plugin: str) -> bool | None:
        """The admin's switch for ``plugin``; ``None`` when the admin never touched it."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT enabled FROM plugin_state WHERE plugin = ?", (plugin,)
            ).fetchone()
        return None if row is None else bool(row[0])

    def set_plugin_enabled(self, plugin: str, enabled: bool) -> None:
        """Record whether the plugin is switched on."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO plugin_state (plugin, enabled) VALUES (?, ?)"
                " ON CONFLICT (plugin) DO UPDATE SET enabled = excluded.enabled",
                (plugin, int(enabled)),
            )


def _allocations(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A payment's or deposit's well-formed allocations (a malformed one is stored; bad parts
    skipped)."""
    allocations = record.get("allocations")
    if not isinstance(allocations, list):
        return []
    return [
        a for a in allocations if isinstance(a, Mapping) and "invoice_id" in a and "amount" in a
    ]
