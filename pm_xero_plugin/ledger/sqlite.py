"""The ledger on SQLite: the embedded default, one file in the host's data directory.

Durability: WAL journal with ``synchronous=FULL``, so a committed transaction is on disk when
``commit`` returns (``NORMAL`` in WAL mode may lose the last transactions on power loss, and a hook
that returned has told the host "recorded"). Measured on this project's CI box a WAL commit with
FULL costs ~0.2 ms, well within a hook's budget. One transaction per enqueue (and per backfill
batch, with its checkpoint), ``BEGIN IMMEDIATE`` for every write so two processes never deadlock
upgrading a read lock. One connection per :class:`SqliteLedger`, shared by the host's threads under
a re-entrant lock (SQLite serialises writers anyway).
"""

from __future__ import annotations

import json
import operator
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.ledger.columns import DEP_COLUMN as _DEP_COLUMN
from pm_xero_plugin.ledger.columns import FACT_COLUMNS as _FACT_COLUMNS
from pm_xero_plugin.ledger.columns import MAX_TEXT as _MAX_TEXT
from pm_xero_plugin.ledger.columns import ROW_COLUMNS as _ROW_COLUMNS
from pm_xero_plugin.ledger.columns import UPDATABLE as _UPDATABLE
from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerBusyHere, LedgerUnreadable
from pm_xero_plugin.ledger.migrations import migrate
from pm_xero_plugin.ledger.sqlite_books import SqliteBooks
from pm_xero_plugin.ledger.sqlite_search import search_keys, sort_key
from pm_xero_plugin.ledger.states import (
    ACTIVE_STATES,
    ADMIN_GATES,
    INITIAL_STATES,
    KINDS,
    IllegalTransition,
    allowed_from,
)
from pm_xero_plugin.ledger.types import (
    LIVE,
    ClaimLost,
    ClaimOwner,
    Facts,
    NewRow,
    Parent,
    Row,
    RowKey,
    RowPage,
    RowQuery,
    TenantRecord,
)
from pm_xero_plugin.ledger.words import words_of_payload
from pm_xero_plugin.private_files import private_file

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.interface import Dependants, Ledger

__all__ = ["SATISFIED_SQL", "Facts", "NewRow", "Row", "SqliteLedger", "TenantRecord"]


_LONG_WAIT_MS = 30_000
"""How long a write waits for another process's write lock by default (the worker, jobs)."""

_BUSY_CODES = frozenset({5, 6})
"""SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock."""

_CONDITION_CODES = frozenset({3, 5, 6, 7, 8, 9, 10, 13, 14, 15})
"""SQLite's codes for a condition of the disk or of other processes (permission, busy, locked,
out of memory, read-only, interrupted, I/O error, full, cannot open, lock protocol): the file
may be fine once it passes. Any other database error at opening means the file is no ledger."""


class _Busy(LedgerBusy, sqlite3.OperationalError):
    """:class:`LedgerBusy` that is also SQLite's own "database is locked" (what already catches
    SQLite's errors – the CLI's one-line messages, say – still does)."""


class _BusyHere(LedgerBusyHere, sqlite3.OperationalError):
    """:class:`LedgerBusyHere` (another thread of this process holds the ledger) that is also
    SQLite's "database is locked", as :class:`_Busy`."""


class _Unreadable(LedgerUnreadable, sqlite3.DatabaseError):
    """:class:`LedgerUnreadable` that is also the SQLite error it came from (likewise)."""


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether an error met opening the file says it is not a readable ledger (damaged,
    truncated, garbage, another program's database) rather than a passing condition."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return type(exc) is sqlite3.DatabaseError
    return code & 0xFF not in _CONDITION_CODES


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _in(column: str, values: Collection[str]) -> tuple[str, list[Any]]:
    """``column IN (?, …)`` and its parameters (``0`` – nothing – for no values)."""
    if not values:
        return "0", []
    return f"{column} IN ({','.join('?' * len(values))})", [str(v) for v in values]


def _also(where: str, params: list[Any], **equal: str | None) -> tuple[str, list[Any]]:
    """``where`` narrowed by ``column = value`` for each value given (``None``: not narrowed)."""
    for column, value in equal.items():
        if value is not None:
            where += f" AND {column} = ?"
            params = [*params, value]
    return where, params


def _cap(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text)} characters, cut]"


_OWNER = "coalesce(rows.worker_id, '')"
"""Who holds a row in ``sending`` (``''``: nobody recorded, a row set there by hand)."""

_COUNT_KEY = operator.itemgetter(2, 3, 0, 4, 5)
"""(tenant, location, kind, state, gate) of an insert's parameters: its ``counts`` key."""

_DOCUMENT_KINDS = tuple(k for k in KINDS if k != "contact")
"""Every kind but contacts: the first of them to reach Xero locks the start date."""

"""The column a row names the parent of a kind in (what it waits for)."""

SATISFIED_SQL = (
    "(CASE WHEN kind IN ('credit_note', 'invoice') THEN state = 'synced' "
    "OR (xero_id IS NOT NULL AND state IN ('excluded', 'failed')) "
    "ELSE xero_id IS NOT NULL OR state = 'synced' END)"
)
"""``pm_xero_plugin.core.rules.dependency_satisfied`` as SQL over a row's columns, for
:meth:`SqliteLedger.raise_priority` (which climbs a live record's dependencies in the database).
The rule is defined in core; ``tests/core/test_dependency_rule.py`` pins that this agrees."""


class SqliteLedger(SqliteBooks):
    """The durable queue and record of what reached Xero.

    :param path: the database file (created, and migrated, on first use).
    :param clock: the host clock; timestamps in the ledger (``updated_at``, lease and retry times
        passed in by callers) are on it.
    :param dependants: what a settled row means for the rows waiting on it, decided above the
        ledger (:class:`pm_xero_plugin.core.gates.DependantGates`) and applied in the settling
        transaction; without it settling moves only the row itself (enough for a ledger opened
        to read, or to migrate).

    Xero's side of the reconciliation (webhook events, Xero's copies, the admin's marks, an
    organisation's rows by id) is :class:`~pm_xero_plugin.ledger.sqlite_books.SqliteBooks`.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] | None = None,
        dependants: Dependants | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._dependants = dependants
        self._lock = threading.RLock()
        self._depth = 0
        self._fence = threading.local()
        private_file(self.path)  # 0600 before SQLite opens it: its -wal/-shm take its mode
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(f"PRAGMA busy_timeout={_LONG_WAIT_MS}")
            self.schema_version = migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if _damaged(exc):
                raise _Unreadable(
                    f"{self.path} is not a ledger this add-on can read ({exc})"
                ) from exc
            raise
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the ledger is unusable afterwards)."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[None]:
        """One write transaction (re-entrant: nested calls join the outer one).

        ``timeout`` (seconds) bounds both waits a write can meet – this process's lock, held by
        another of its threads, and SQLite's busy wait for another process's write lock – and
        raises :class:`LedgerBusy` past it; ``None`` waits as long as the connection's
        ``busy_timeout`` (30 s), as the worker and background jobs do."""
        started = time.monotonic()
        if timeout is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise _BusyHere(
                f"database is locked: the ledger stayed busy in this process (another of its "
                f"threads writing) for more than {timeout:g} s"
            )
        try:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._begin(timeout, started)
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._roll_back()
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise
        finally:
            self._lock.release()

    def _roll_back(self) -> None:
        """Roll back what a failed transaction left open, if anything: after some errors
        (``database or disk is full``, an I/O error) SQLite has already rolled back, and a
        ``ROLLBACK`` then would raise ``cannot rollback - no transaction is active`` in place of
        the error that says what is wrong (the health would say so instead of "disk full")."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _begin(self, timeout: float | None, started: float) -> None:
        """``BEGIN IMMEDIATE``, waiting for another process's write lock at most what is left of
        ``timeout`` (the connection's long wait is put back at once)."""
        if timeout is None:
            self._conn.execute("BEGIN IMMEDIATE")
            return
        left_ms = max(int((timeout - (time.monotonic() - started)) * 1000), 0)
        self._conn.execute(f"PRAGMA busy_timeout={left_ms}")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY_CODES:
                raise _Busy(
                    f"database is locked: another process held the ledger's write lock for more "
                    f"than {timeout:g} s"
                ) from exc
            raise
        finally:
            self._conn.execute(f"PRAGMA busy_timeout={_LONG_WAIT_MS}")

    def _now(self) -> float:
        return self._clock().timestamp()

    # -- fencing ----------------------------------------------------------------------------------

    @contextmanager
    def fenced(self, claims: Mapping[int, int]) -> Iterator[None]:
        """Within this block, on this thread, every write to a row of ``claims`` (row id ->
        the claim token it was claimed with) must still hold that token; one that does not
        raises :class:`ClaimLost` and changes nothing (its transaction rolls back).

        Per thread: the worker's sending threads each hold their own batch, and the host's
        threads (hooks, an admin's action) write unfenced meanwhile.
        """
        outer: dict[int, int] = getattr(self._fence, "claims", {})
        self._fence.claims = {**outer, **claims}
        try:
            yield
        finally:
            self._fence.claims = outer

    def _held(self, row_ids: Iterable[int]) -> dict[int, int]:
        """Which of ``row_ids`` this thread writes under a fence, with the token it holds."""
        claims: dict[int, int] = getattr(self._fence, "claims", {})
        if not claims:
            return {}
        return {i: claims[i] for i in row_ids if i in claims}

    def _lost(self, held: Mapping[int, int]) -> dict[int, int | None]:
        """Of the fenced rows ``held``, those whose claim token is no longer the one held (read
        inside the writing transaction, so the check and the write are one step)."""
        if not held:
            return {}
        ids = list(held)
        marks = ",".join("?" * len(ids))
        current = dict(
            self._conn.execute(f"SELECT id, claim_token FROM rows WHERE id IN ({marks})", ids)
        )
        return {i: current.get(i) for i in ids if current.get(i) != held[i]}

    def _check_fence(self, row_ids: Iterable[int]) -> None:
        """Raise :class:`ClaimLost` when this thread writes a row whose claim it lost."""
        held = self._held(row_ids)
        for row_id, current in self._lost(held).items():
            raise ClaimLost(row_id, held[row_id], current)

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- reading --------------------------------------------------------------------------------

    @staticmethod
    def _row(r: Sequence[Any]) -> Row:
        return Row(
            id=r[0],
            kind=r[1],
            host_id=r[2],
            tenant_id=r[3],
            location_id=r[4],
            state=r[5],
            gate=r[6],
            detail=r[7],
            doc_date=r[8],
            number=r[9],
            dep_contact=r[10],
            dep_invoice=r[11],
            dep_credit_note=r[12],
            include_before_start=bool(r[13]),
            payload=json.loads(r[14]),
            payload_hash=r[15],
            operation=r[16],
            pending_op=r[17],
            xero_id=r[18],
            attempts=r[19],
            next_at=_dt(r[20]),
            lease_until=_dt(r[21]),
            uncertain=bool(r[22]),
            message=r[23],
            field=r[24],
            hint=r[25],
            updated_at=_dt(r[26]),
            priority=r[27],
            xero_match=json.loads(r[28]) if r[28] else None,
            xero_name=r[29],
            dep_invoice_date=r[30],
            claim_token=r[31],
            recorded_at=_dt(r[32]),
        )

    @staticmethod
    def _facts(r: Sequence[Any]) -> Facts:
        return Facts(
            id=r[0],
            kind=r[1],
            host_id=r[2],
            tenant_id=r[3],
            location_id=r[4],
            state=r[5],
            gate=r[6],
            doc_date=r[7],
            dep_contact=r[8],
            dep_invoice=r[9],
            dep_credit_note=r[10],
            include_before_start=bool(r[11]),
            xero_id=r[12],
            payload_hash=r[13],
            operation=r[14],
            number=r[15],
            dep_invoice_date=r[16],
        )

    def get(self, row_id: int) -> Row | None:
        """One row by id, or ``None``."""
        found = self._q(f"SELECT {_ROW_COLUMNS} FROM rows WHERE id = ?", (row_id,))
        return self._row(found[0]) if found else None

    def find(self, kind: str, host_id: str, tenant_id: str) -> Row | None:
        """The row of one host record in one organisation, or ``None``."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE kind = ? AND host_id = ? AND tenant_id = ?",
            (kind, host_id, tenant_id),
        )
        return self._row(found[0]) if found else None

    def payment_parts(self, payment_id: str) -> list[Row]:
        """Every row made from one host payment: one per allocation (``"<id>:<invoice>"``) and
        its overpayment (``"<id>"``), in every organisation (a key range: indexed)."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE (kind = 'payment' AND host_id >= ? AND "
            "host_id < ?) OR (kind = 'overpayment' AND host_id = ?) ORDER BY id",
            (f"{payment_id}:", f"{payment_id};", payment_id),
        )
        return [self._row(r) for r in found]

    def rows_for_prefix(self, kind: str, prefix: str) -> list[Row]:
        """Every organisation's rows of ``kind`` whose host id starts with ``prefix`` (a key
        range on the unique index)."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE kind = ? AND host_id >= ? "
            "AND host_id < ? ORDER BY id",
            (kind, prefix, _after(prefix)),
        )
        return [self._row(r) for r in found]

    def rows_for(self, kind: str, host_id: str) -> list[Row]:
        """Every organisation's row of one host record."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE kind = ? AND host_id = ? ORDER BY id",
            (kind, host_id),
        )
        return [self._row(r) for r in found]

    def facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Facts]:
        """Batch look-up of ``(kind, host_id, tenant_id)`` keys: one query per 300 keys."""
        wanted = list(dict.fromkeys(keys))
        out: dict[tuple[str, str, str], Facts] = {}
        for start in range(0, len(wanted), 300):
            chunk = wanted[start : start + 300]
            clause = " OR ".join(["(kind = ? AND host_id = ? AND tenant_id = ?)"] * len(chunk))
            params = [part for key in chunk for part in key]
            for r in self._q(f"SELECT {_FACT_COLUMNS} FROM rows WHERE {clause}", params):
                f = self._facts(r)
                out[(f.kind, f.host_id, f.tenant_id)] = f
        return out

    def _facts_page(
        self, where: str, params: Sequence[Any], after_id: int, limit: int
    ) -> list[Facts]:
        """Rows matching a condition, by id, one page at a time (keyset: ``id > after_id``)."""
        found = self._q(
            f"SELECT {_FACT_COLUMNS} FROM rows WHERE ({where}) AND id > ? ORDER BY id LIMIT ?",
            [*params, after_id, limit],
        )
        return [self._facts(r) for r in found]

    def waiting_behind(
        self,
        gates: Collection[str],
        *,
        tenant_id: str | None = None,
        location_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows waiting behind one of ``gates`` (of one organisation and/or location), by id."""
        where, params = _in("gate", gates)
        where = f"state = 'waiting' AND {where}"
        where, params = _also(where, params, tenant_id=tenant_id, location_id=location_id)
        return self._facts_page(where, params, after_id, limit)

    def on_their_way(
        self,
        gates: Collection[str],
        *,
        tenant_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows cleared to go (ready, retrying) or waiting behind one of ``gates``, by id."""
        where, params = _in("gate", gates)
        where = f"(state IN ('ready', 'retrying') OR (state = 'waiting' AND {where}))"
        where, params = _also(where, params, tenant_id=tenant_id)
        return self._facts_page(where, params, after_id, limit)

    def waiting_on(
        self,
        parent_kind: str,
        host_id: str,
        tenant_id: str,
        gates: Collection[str],
        *,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows waiting behind one of ``gates`` for one parent (a contact, invoice or credit
        note of the organisation), by id."""
        where, params = _in("gate", gates)
        where = (
            f"state = 'waiting' AND {where} AND tenant_id = ? AND {_DEP_COLUMN[parent_kind]} = ?"
        )
        return self._facts_page(where, [*params, tenant_id, host_id], after_id, limit)

    def cleared_against(
        self,
        parent_kind: str,
        host_id: str,
        tenant_id: str,
        kinds: Collection[str],
        *,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows of ``kinds`` cleared to go (ready, retrying) that name this parent, by id."""
        where, params = _in("kind", kinds)
        where = (
            f"state IN ('ready', 'retrying') AND {where} AND tenant_id = ? "
            f"AND {_DEP_COLUMN[parent_kind]} = ?"
        )
        return self._facts_page(where, [*params, tenant_id, host_id], after_id, limit)

    def invoice_with_dependants(
        self, invoice_id: str, tenant_id: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[Facts]:
        """An invoice and the rows that name it, while still on their way (waiting, ready,
        retrying), by id."""
        where = (
            "state IN ('waiting', 'ready', 'retrying') AND tenant_id = ? "
            "AND ((kind = 'invoice' AND host_id = ?) OR dep_invoice = ?)"
        )
        return self._facts_page(where, [tenant_id, invoice_id, invoice_id], after_id, limit)

    def retryable(
        self,
        gates: Collection[str],
        *,
        kind: str | None = None,
        tenant_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Failed rows and rows waiting behind one of ``gates`` (of a kind and/or an
        organisation), by id: what an admin's "retry all" sends again."""
        where, params = _in("gate", gates)
        where = f"(state = 'failed' OR (state = 'waiting' AND {where}))"
        where, params = _also(where, params, kind=kind, tenant_id=tenant_id)
        return self._facts_page(where, params, after_id, limit)

    def in_xero_against(self, invoice_id: str, tenant_id: str, kinds: Collection[str]) -> bool:
        """Whether a row of ``kinds`` naming this invoice (a payment, an allocation) is in Xero:
        Xero will then refuse to edit or void the invoice."""
        where, params = _in("kind", kinds)
        where = (
            f"tenant_id = ? AND dep_invoice = ? AND {where} "
            "AND (state = 'synced' OR xero_id IS NOT NULL)"
        )
        return bool(self._facts_page(where, [tenant_id, invoice_id, *params], 0, 1))

    def found_in_xero(self, kind: str, host_ids: Iterable[str], tenant_id: str) -> set[str]:
        """Which of these records were *found* in Xero, not created by this ledger: linked to
        an existing number, matched by contact number, or linked by an admin. What hangs off
        them (a payment of such an invoice) may be in Xero already too – an earlier
        connection, a rebuilt ledger – so it is looked up before it is created."""
        wanted = list(dict.fromkeys(host_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in self._q(
                    "SELECT host_id FROM rows WHERE kind = ? AND tenant_id = ? "
                    f"AND host_id IN ({marks}) AND reply IS NOT NULL AND json_valid(reply) "
                    "AND (json_extract(reply, '$.linked_existing') "
                    "OR json_extract(reply, '$.matched') IS NOT NULL "
                    "OR json_extract(reply, '$.linked_by_admin'))",
                    [kind, tenant_id, *chunk],
                )
            )
        return found

    def xero_id(self, kind: str, host_id: str, tenant_id: str) -> str | None:
        """The Xero id of a record in one organisation (a document's contact, a payment's
        invoice), or ``None`` when Xero does not have it (or it was resolved by hand)."""
        found = self._q(
            "SELECT xero_id FROM rows WHERE kind = ? AND host_id = ? AND tenant_id = ?",
            (kind, host_id, tenant_id),
        )
        return found[0][0] if found else None

    def dep(self, kind: str, host_id: str, tenant_id: str) -> Parent | None:
        """What the rules read of one row others depend on, or ``None`` when there is none."""
        found = self._q(
            "SELECT kind, state, gate, xero_id, doc_date, include_before_start FROM rows "
            "WHERE kind = ? AND host_id = ? AND tenant_id = ?",
            (kind, host_id, tenant_id),
        )
        if not found:
            return None
        kind_, state, gate, xero_id, doc_date, include = found[0]
        return Parent(kind_, state, gate, xero_id, doc_date, bool(include))

    def dep_facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Parent]:
        """:meth:`dep` for many keys: only the columns the rules read, one ``host_id IN (…)``
        query per (kind, tenant) and up to 500 ids, on the unique (kind, host_id, tenant_id)
        index. A backfill batch's dependencies, several times cheaper than :meth:`facts`."""
        groups: dict[tuple[str, str], list[str]] = {}
        for kind, host_id, tenant_id in dict.fromkeys(keys):
            groups.setdefault((kind, tenant_id), []).append(host_id)
        out: dict[tuple[str, str, str], Parent] = {}
        for (kind, tenant_id), host_ids in groups.items():
            for start in range(0, len(host_ids), 500):
                chunk = host_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for host_id, state, gate, xero_id, doc_date, include in self._q(
                    "SELECT host_id, state, gate, xero_id, doc_date, include_before_start "
                    f"FROM rows WHERE kind = ? AND tenant_id = ? AND host_id IN ({marks})",
                    [kind, tenant_id, *chunk],
                ):
                    out[(kind, host_id, tenant_id)] = Parent(
                        kind, state, gate, xero_id, doc_date, bool(include)
                    )
        return out

    # -- inserting and generic moves ------------------------------------------------------------

    def insert(self, rows: Sequence[NewRow]) -> None:
        """Insert new rows (in the caller's transaction, or one of its own).

        A key (kind, host id, tenant) that exists already fails the whole transaction
        (``sqlite3.IntegrityError``): callers look up, then insert, inside one transaction. The
        counts are added here, one upsert per (tenant, location, kind, state, gate) of the batch,
        rather than by a per-row trigger: that trigger was a third of a backfill's time.
        """
        self._insert(rows, "")

    def insert_new(self, rows: Sequence[NewRow]) -> list[bool]:
        """Insert the rows whose key (kind, host id, tenant) is not in the ledger yet; leave the
        others untouched. Returns, per row, whether it was inserted.

        Lets a first-time backfill write a batch without looking its keys up first (that look-up
        found nothing for almost every row): ``INSERT … ON CONFLICT DO NOTHING``, and only when
        fewer rows went in than were given, one query for the keys that did (new rows get ids
        above the largest before the insert: ``id`` is the rowid, without AUTOINCREMENT).
        """
        if not rows:
            return []
        with self.transaction():
            top = self._conn.execute("SELECT coalesce(max(id), 0) FROM rows").fetchone()[0]
            added = self._insert(rows, " ON CONFLICT DO NOTHING", after_id=top)
        if added is None:
            return [True] * len(rows)
        return [(r.kind, r.host_id, r.tenant_id) in added for r in rows]

    def _insert(
        self, rows: Sequence[NewRow], on_conflict: str, after_id: int | None = None
    ) -> set[tuple[str, str, str]] | None:
        """The insert and its counts. With ``after_id`` (for ``ON CONFLICT DO NOTHING``) and
        some rows left out: returns the keys that went in; ``None`` when every row did."""
        if not rows:
            return None
        now = self._now()
        for r in rows:
            if r.state not in INITIAL_STATES:
                raise IllegalTransition(None, None, r.state)
        with self.transaction():
            params = [
                (
                    r.kind,
                    r.host_id,
                    r.tenant_id,
                    r.location_id,
                    r.state,
                    r.gate if r.state == "waiting" else None,
                    r.detail,
                    r.doc_date,
                    r.number,
                    r.dep_contact,
                    r.dep_invoice,
                    r.dep_credit_note,
                    int(r.include_before_start),
                    r.payload,
                    r.payload_hash,
                    _cap(r.message),
                    r.field,
                    now,
                    now,
                    r.priority,
                    r.dep_invoice_date,
                )
                for r in rows
            ]
            cursor = self._conn.executemany(
                "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, gate, detail, "
                "doc_date, number, dep_contact, dep_invoice, dep_credit_note, "
                "include_before_start, payload, payload_hash, message, field, created_at, "
                "updated_at, priority, dep_invoice_date) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" + on_conflict,
                params,
            )
            keys: set[tuple[str, str, str]] | None = None
            if after_id is not None and cursor.rowcount != len(rows):
                keys = {
                    (k, h, t)
                    for k, h, t in self._conn.execute(
                        "SELECT kind, host_id, tenant_id FROM rows WHERE id > ?", (after_id,)
                    )
                }
                params = [p for p in params if (p[0], p[1], p[2]) in keys]
                if not params:
                    return keys
            self._index_new_contacts(params)
            # (tenant, location, kind, state, gate) per row, counted in C; the gate is already
            # None unless waiting, and counts key a missing gate as ''.
            added: Counter[tuple[Any, ...]] = Counter()
            for (tenant, location, kind, state, gate), n in Counter(
                map(_COUNT_KEY, params)
            ).items():
                added[(tenant, location, kind, state, gate or "")] += n
            self._conn.executemany(
                "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET n = n + excluded.n",
                [(*key, n) for key, n in added.items()],
            )
        return keys

    def _index_new_contacts(self, params: Sequence[tuple[Any, ...]]) -> None:
        """The customer words of the contact rows just inserted (``params`` as the insert's):
        nothing at all for a batch of documents, the insert path's common case."""
        contacts = [(p[1], p[2], p[13]) for p in params if p[0] == "contact"]
        for start in range(0, len(contacts), 300):
            chunk = contacts[start : start + 300]
            clause = " OR ".join(["(host_id = ? AND tenant_id = ?)"] * len(chunk))
            ids = dict(
                ((h, t), i)
                for i, h, t in self._conn.execute(
                    f"SELECT id, host_id, tenant_id FROM rows WHERE kind = 'contact' "
                    f"AND ({clause})",
                    [part for h, t, _ in chunk for part in (h, t)],
                )
            )
            self._conn.executemany(
                "INSERT OR IGNORE INTO customer_words VALUES (?, ?)",
                [
                    (word, ids[(h, t)])
                    for h, t, payload in chunk
                    if (h, t) in ids
                    for word in words_of_payload(payload)
                ],
            )

    def _reindex_contacts(self, row_ids: Sequence[int]) -> None:
        """A payload was written: the customer words of those of ``row_ids`` that are contacts
        follow it (in the writing transaction)."""
        for start in range(0, len(row_ids), 500):
            chunk = list(row_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found = self._conn.execute(
                f"SELECT id, payload FROM rows WHERE id IN ({marks}) AND kind = 'contact'", chunk
            ).fetchall()
            if not found:
                continue
            self._conn.executemany(
                "DELETE FROM customer_words WHERE row_id = ?", [(i,) for i, _ in found]
            )
            self._conn.executemany(
                "INSERT OR IGNORE INTO customer_words VALUES (?, ?)",
                [(w, i) for i, payload in found for w in words_of_payload(payload)],
            )

    def transition(self, row_id: int, target: str, **changes: Any) -> None:
        """Move one row to ``target`` (checked against its current state), setting ``changes``.

        :raises IllegalTransition: the row is missing or its state does not allow the move.
        """
        self.transition_many([row_id], target, **changes)

    def transition_many(self, row_ids: Sequence[int], target: str, **changes: Any) -> None:
        """:meth:`transition` for several rows, all or nothing."""
        if not row_ids:
            return
        sources = allowed_from(target)
        bad = set(changes) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        if target != "waiting":
            changes.setdefault("gate", None)
            changes.setdefault("detail", None)
        if target != "sending":
            changes.setdefault("lease_until", None)
        if target != "retrying":
            changes.setdefault("next_at", None)
        columns = ["state = ?", "updated_at = ?"] + [f"{c} = ?" for c in changes]
        params: list[Any] = [target, self._now(), *changes.values()]
        marks = ",".join("?" * len(sources))
        with self.transaction():
            self._check_fence(row_ids)
            for start in range(0, len(row_ids), 500):
                chunk = list(row_ids[start : start + 500])
                ids = ",".join("?" * len(chunk))
                cur = self._conn.execute(
                    f"UPDATE rows SET {', '.join(columns)} "
                    f"WHERE id IN ({ids}) AND state IN ({marks})",
                    [*params, *chunk, *sorted(sources)],
                )
                if cur.rowcount != len(set(chunk)):
                    self._refuse(chunk, target, sources)
            if "payload" in changes:
                self._reindex_contacts(row_ids)

    def _refuse(self, ids: Sequence[int], target: str, sources: frozenset[str]) -> None:
        marks = ",".join("?" * len(ids))
        found = dict(self._conn.execute(f"SELECT id, state FROM rows WHERE id IN ({marks})", ids))
        for row_id in ids:
            if found.get(row_id) not in sources:
                raise IllegalTransition(row_id, found.get(row_id), target)
        raise IllegalTransition(None, None, target)  # pragma: no cover - duplicate ids

    def set_fields(self, row_id: int, **changes: Any) -> None:
        """Change a row's data without changing its state (payload of a rejected row, …)."""
        bad = set(changes) - _UPDATABLE - {"state"}
        if bad or "state" in changes:
            raise ValueError(f"not updatable here: {sorted(bad | ({'state'} & set(changes)))}")
        columns = ", ".join(f"{c} = ?" for c in changes)
        with self.transaction():
            self._check_fence([row_id])
            self._conn.execute(
                f"UPDATE rows SET {columns}, updated_at = ? WHERE id = ?",
                [*changes.values(), self._now(), row_id],
            )
            if "payload" in changes:
                self._reindex_contacts([row_id])

    # -- the worker's side ----------------------------------------------------------------------

    def tenants_with_ready_work(
        self, now: datetime, *, take_from: Collection[str] = ()
    ) -> list[str]:
        """Organisations with something to claim now (ready, retry due, or held by an owner
        in ``take_from``).

        Time-based gates (a future start date reached) are the engine's: the worker's loop
        calls ``Engine.tick`` before it looks here.
        """
        moment = now.timestamp()
        # Three queries, each forced onto its own small partial index: left to itself SQLite
        # serves DISTINCT/UNION from the claim index in tenant order, a scan of every row
        # (200 ms at a million rows).
        found = self._q(
            "SELECT DISTINCT tenant_id FROM counts WHERE state = 'ready' AND n > 0 "
            "AND tenant_id != ''"
        )
        found += self._q(
            "SELECT DISTINCT tenant_id FROM rows INDEXED BY rows_retry "
            "WHERE state = 'retrying' AND next_at <= ?",
            (moment,),
        )
        if take_from:
            owned, owners = _in(_OWNER, take_from)
            found += self._q(
                "SELECT DISTINCT tenant_id FROM rows INDEXED BY rows_lease "
                f"WHERE state = 'sending' AND {owned}",
                owners,
            )
        return sorted({t for (t,) in found if t})

    def claim(
        self,
        tenant_id: str,
        kind: str,
        *,
        limit: int = 50,
        lease_seconds: int = 120,
        worker_id: str,
        now: datetime,
        take_from: Collection[str] = (),
    ) -> list[Row]:
        """Atomically lease up to ``limit`` rows of one kind and tenant to ``worker_id``.

        Order: rows held by an owner judged gone (``take_from``; never ``worker_id`` itself)
        first – they are the oldest work –, then retries that are due, then ready rows, each
        live before history (``priority``), then by business date and number. A row whose
        earlier attempt went out with an unknown outcome comes back with ``uncertain=True``.
        """
        moment = now.timestamp()
        order = "ORDER BY priority DESC, doc_date, number, id LIMIT ?"
        base = "SELECT id FROM rows WHERE tenant_id = ? AND kind = ? AND state = "
        owned, owners = _in(_OWNER, set(take_from) - {worker_id})
        with self.transaction():
            ids: list[int] = []
            for sql, extra in (
                (base + f"'sending' AND {owned} ", owners),
                (base + "'retrying' AND next_at <= ? ", [moment]),
                (base + "'ready' ", []),
            ):
                if len(ids) >= limit:
                    break
                found = self._conn.execute(
                    sql + order, [tenant_id, kind, *extra, limit - len(ids)]
                ).fetchall()
                ids.extend(r[0] for r in found)
            if not ids:
                return []
            (token,) = self._conn.execute(
                "UPDATE claim_tokens SET last = last + 1 RETURNING last"
            ).fetchone()
            marks = ",".join("?" * len(ids))
            self._conn.execute(
                f"UPDATE rows SET state = 'sending', lease_until = ?, worker_id = ?, "
                f"claim_token = ?, next_at = NULL, updated_at = ? WHERE id IN ({marks})",
                [moment + lease_seconds, worker_id, token, self._now(), *ids],
            )
            found = self._conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM rows WHERE id IN ({marks}) "
                "ORDER BY priority DESC, doc_date, number, id",
                ids,
            ).fetchall()
        return [self._row(r) for r in found]

    def claim_next(
        self,
        tenant_id: str,
        kinds: Sequence[str],
        *,
        limit_for: Callable[[str], int],
        lease_seconds: int = 120,
        worker_id: str,
        now: datetime,
        take_from: Collection[str] = (),
    ) -> tuple[str, list[Row]]:
        """Claim one organisation's next batch: live work first, then history, each in
        ``kinds`` order (contacts, invoices, …, as :data:`pm_xero_plugin.xero.kinds.SEND_ORDER`).

        Without this a new payment waits until the back-sync has sent every remaining invoice
        of its organisation, because kinds are claimed in order. Live rows (``priority``) of
        a later kind may go before history of an earlier one without breaking the order
        contact → invoice → payment: a row is only ready once what it depends on is in Xero
        (the rules' dependency gates), and what a live row depends on is raised to live when
        it is recorded (:meth:`raise_priority`). Returns ``("", [])`` when nothing is due.
        """
        moment = now.timestamp()
        owned, owners = _in(_OWNER, set(take_from) - {worker_id})
        live = {
            kind
            for (kind,) in self._q(
                "SELECT DISTINCT kind FROM rows WHERE tenant_id = ? AND priority > 0 "
                "AND state IN ('ready', 'retrying', 'sending') AND (state = 'ready' "
                "OR (state = 'retrying' AND next_at <= ?) "
                f"OR (state = 'sending' AND {owned}))",
                (tenant_id, moment, *owners),
            )
        }
        order = [k for k in kinds if k in live] + [k for k in kinds if k not in live]
        for kind in order:
            rows = self.claim(
                tenant_id,
                kind,
                limit=limit_for(kind),
                lease_seconds=lease_seconds,
                worker_id=worker_id,
                now=now,
                take_from=take_from,
            )
            if rows:
                return kind, rows
        return "", []

    def has_live_work(
        self, tenant_id: str, now: datetime, *, take_from: Collection[str] = ()
    ) -> bool:
        """Whether a live row of the organisation is due now (the worker lets it use the part
        of the minute budget it keeps from history: see ``Worker``)."""
        moment = now.timestamp()
        owned, owners = _in(_OWNER, take_from)
        return bool(
            self._q(
                "SELECT 1 FROM rows WHERE tenant_id = ? AND priority > 0 "
                "AND state IN ('ready', 'retrying', 'sending') AND (state = 'ready' "
                "OR (state = 'retrying' AND next_at <= ?) "
                f"OR (state = 'sending' AND {owned})) LIMIT 1",
                (tenant_id, moment, *owners),
            )
        )

    # -- workers' liveness ---------------------------------------------------------------------

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """``worker_id`` is alive: count one beat on its row (made on its first beat), and
        renew the claims it holds (their ``lease_until``, which only says so: no claim is
        judged by a clock – see :meth:`claim_owners`)."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO workers (worker_id, hostname, pid, beat, beat_at) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (worker_id) DO UPDATE SET "
                "beat = beat + 1, hostname = excluded.hostname, pid = excluded.pid, "
                "beat_at = excluded.beat_at",
                (worker_id, hostname, pid, self._now()),
            )
            self._conn.execute(
                "UPDATE rows INDEXED BY rows_lease SET lease_until = ? "
                "WHERE state = 'sending' AND worker_id = ?",
                (lease_until.timestamp(), worker_id),
            )

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending``, with what its worker row says (host, pid, beat
        counter), or ``None`` for an owner without one (rows claimed before schema v4)."""
        found = self._q(
            f"SELECT DISTINCT {_OWNER}, w.hostname, w.pid, w.beat FROM rows INDEXED BY rows_lease "
            "LEFT JOIN workers w USING (worker_id) WHERE rows.state = 'sending'"
        )
        return [ClaimOwner(o, host, pid, beat) for o, host, pid, beat in found]

    def retire_worker(self, worker_id: str) -> None:
        """A worker stopped: forget its row, unless it still holds claims (a batch that did not
        finish in time: the row keeps telling whether its process lives)."""
        with self.transaction():
            self._conn.execute(
                "DELETE FROM workers WHERE worker_id = ? AND NOT EXISTS (SELECT 1 FROM rows "
                "INDEXED BY rows_lease WHERE state = 'sending' AND worker_id = ?)",
                (worker_id, worker_id),
            )

    def raise_priority(self, keys: Iterable[tuple[str, str, str]]) -> int:
        """Make these rows (and, transitively, what they depend on) live, unless their dependants
        may already go (``core.rules.dependency_satisfied``: an invoice with a queued edit rises).

        A live record's dependencies inherit its priority: a new payment to an invoice still in
        the back-sync's queue would otherwise wait for that queue, however it is claimed.
        Returns how many rows were raised.
        """
        wanted = list(dict.fromkeys(keys))
        raised = 0
        with self.transaction():
            for _ in range(3):  # payment/allocation -> invoice/credit note -> contact
                if not wanted:
                    break
                following: list[tuple[str, str, str]] = []
                for start in range(0, len(wanted), 300):
                    chunk = wanted[start : start + 300]
                    clause = " OR ".join(
                        ["(kind = ? AND host_id = ? AND tenant_id = ?)"] * len(chunk)
                    )
                    params = [part for key in chunk for part in key]
                    found = self._conn.execute(
                        "SELECT id, tenant_id, dep_contact, dep_invoice, dep_credit_note "
                        f"FROM rows WHERE ({clause}) AND priority = 0 "
                        f"AND NOT {SATISFIED_SQL} "
                        "AND state IN ('waiting', 'ready', 'retrying', 'sending')",
                        params,
                    ).fetchall()
                    if not found:
                        continue
                    ids = [r[0] for r in found]
                    marks = ",".join("?" * len(ids))
                    self._conn.execute(
                        f"UPDATE rows SET priority = {LIVE} WHERE id IN ({marks})", ids
                    )
                    raised += len(ids)
                    for _, tenant, contact, invoice, note in found:
                        if contact:
                            following.append(("contact", contact, tenant))
                        if invoice:
                            following.append(("invoice", invoice, tenant))
                        if note:
                            following.append(("credit_note", note, tenant))
                wanted = list(dict.fromkeys(following))
        return raised

    def mark_sent(
        self,
        row_ids: Sequence[int],
        attempt_key: str,
        requests: Mapping[int, str] | None = None,
    ) -> None:
        """Durably note "a request for these rows is going out now, outcome unknown".

        Called before the HTTP request: after a crash the rows come back ``uncertain`` and the
        worker looks them up in Xero instead of creating them again. Counts one attempt.
        ``requests``: per row, what goes to Xero for it (its element of the request body, JSON),
        kept – capped – in the row's history as what was sent; without it the history says
        only the attempt's key.
        """
        if not row_ids:
            return
        now = self._now()
        with self.transaction():
            self._check_fence(row_ids)
            for row_id in row_ids:
                cur = self._conn.execute(
                    "UPDATE rows SET uncertain = 1, attempt_key = ?, attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ? AND state = 'sending'",
                    (attempt_key, now, row_id),
                )
                if cur.rowcount != 1:
                    self._refuse([row_id], "sending", frozenset({"sending"}))
            sent = requests or {}
            self._conn.executemany(
                "INSERT INTO attempts (row_id, at, event, request) VALUES (?, ?, 'sent', ?)",
                [
                    (row_id, now, _cap(sent.get(row_id)) or f"attempt {attempt_key}")
                    for row_id in row_ids
                ],
            )

    def mark_synced(
        self,
        row_id: int,
        xero_id: str | None,
        reply: Mapping[str, Any] | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        """Xero has the record: store its id, and in the same transaction let the
        :class:`~pm_xero_plugin.ledger.interface.Dependants` promote what waited for it (a
        contact's documents, an invoice's payments and credit-note allocations)."""
        with self.transaction():
            found = self._conn.execute(
                "SELECT kind, host_id, tenant_id, pending_op FROM rows WHERE id = ?",
                (row_id,),
            ).fetchone()
            if found is None:
                raise IllegalTransition(row_id, None, "synced")
            kind, host_id, tenant_id, pending_op = found
            reply_text = _cap(json.dumps(reply, default=str)) if reply is not None else None
            if pending_op:
                # An edit arrived while this row was in flight: what was sent is stale.
                self.transition(
                    row_id,
                    "ready",
                    xero_id=xero_id,
                    operation=pending_op,
                    pending_op=None,
                    uncertain=0,
                    reply=reply_text,
                    message=None,
                )
            else:
                self.transition(
                    row_id,
                    "synced",
                    xero_id=xero_id,
                    pending_op=None,
                    uncertain=0,
                    reply=reply_text,
                    message=None,
                    field=None,
                    hint=None,
                )
            self._log(row_id, "synced", None, status_code, f"Xero id {xero_id}")
            if kind in _DOCUMENT_KINDS:
                self._conn.execute(
                    "INSERT INTO tenants (tenant_id) VALUES (?) ON CONFLICT DO NOTHING",
                    (tenant_id,),
                )
                self._conn.execute(
                    "UPDATE tenants SET data_synced_at = ? "
                    "WHERE tenant_id = ? AND data_synced_at IS NULL",
                    (self._now(), tenant_id),
                )
                self._conn.execute(
                    "INSERT INTO meta SELECT 'locked_start_date', value FROM meta "
                    "WHERE key = 'start_date' ON CONFLICT DO NOTHING"
                )
            if self._dependants is not None:
                self._dependants.synced(self, kind, host_id, tenant_id)

    def mark_retrying(
        self,
        row_id: int,
        next_at: datetime,
        message: str,
        *,
        outcome_known: bool = False,
        status_code: int | None = None,
    ) -> None:
        """A transient failure: try again at ``next_at``. ``outcome_known=True`` (a 429, a refused
        connection) clears ``uncertain``; otherwise it stays as it was."""
        changes: dict[str, Any] = {"next_at": next_at.timestamp(), "message": _cap(message)}
        if outcome_known:
            changes["uncertain"] = 0
        with self.transaction():
            self.transition(row_id, "retrying", **changes)
            self._log(row_id, "retrying", None, status_code, message)

    def mark_failed(
        self,
        row_id: int,
        message: str,
        field: str | None = None,
        hint: str | None = None,
        reply: Mapping[str, Any] | None = None,
        *,
        status_code: int | None = None,
        outcome_known: bool = True,
    ) -> None:
        """Xero refused it (or it cannot be sent): an admin has to act. Shown on the dashboard.

        ``outcome_known=False``: nothing was sent this time (the row could not be mapped), so an
        earlier attempt's doubt stays – an admin's retry then looks in Xero before sending.
        """
        with self.transaction():
            found = self._conn.execute(
                "SELECT kind, host_id, tenant_id FROM rows WHERE id = ?", (row_id,)
            ).fetchone()
            self.transition(
                row_id,
                "failed",
                message=_cap(message),
                field=field,
                hint=hint,
                reply=_cap(json.dumps(reply, default=str)) if reply is not None else None,
                **({"uncertain": 0} if outcome_known else {}),
            )
            self._log(row_id, "failed", None, status_code, message)
            if found and self._dependants is not None:
                self._dependants.stopped(self, found[0], found[1], found[2])

    def mark_waiting(self, row_id: int, gate: str, detail: str | None) -> None:
        """Hold a row behind a gate the worker learned from Xero (``lock_date``, …). It opens on
        an admin retry (or :meth:`reopen_gate`)."""
        with self.transaction():
            self.transition(row_id, "waiting", gate=gate, detail=detail, uncertain=0)
            self._log(row_id, "waiting", None, None, detail or gate)

    def hold_contact(self, row_id: int, message: str, match: Mapping[str, Any] | None) -> None:
        """Xero gives this contact's name to a contact that is not provably ours: hold it for
        an admin (link it to ``match``, or create ours under a distinct name), keep what Xero
        said, and (through the :class:`~pm_xero_plugin.ledger.interface.Dependants`) tell the
        documents waiting for it why."""
        with self.transaction():
            found = self._conn.execute(
                "SELECT host_id, tenant_id FROM rows WHERE id = ?", (row_id,)
            ).fetchone()
            self.transition(
                row_id,
                "waiting",
                gate="contact_name_taken",
                detail=_cap(message),
                uncertain=0,
                xero_match=json.dumps(dict(match), default=str) if match else None,
            )
            self._log(row_id, "waiting", None, None, message)
            if found and self._dependants is not None:
                self._dependants.stopped(self, "contact", found[0], found[1])

    def describe_contact_wait(self, host_id: str, tenant_id: str, detail: str | None) -> int:
        """Set what the rows waiting for this contact (behind the ``contact`` gate) say about
        it: why it is not coming, or ``None`` when it is on its way. Returns how many."""
        with self.transaction():
            return int(
                self._conn.execute(
                    "UPDATE rows SET detail = ? WHERE state = 'waiting' AND gate = 'contact' "
                    "AND tenant_id = ? AND dep_contact = ?",
                    (detail, tenant_id, host_id),
                ).rowcount
            )

    def contact_conflicts(
        self, location_id: str | None = None, limit: int = 200
    ) -> list[tuple[Row, int]]:
        """Contacts held because Xero gives their name to a contact that is not ours, each
        with how many documents wait for it (newest first, capped; both indexed)."""
        extra = " AND location_id = ?" if location_id else ""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE state = 'waiting' "
            f"AND gate = 'contact_name_taken'{extra} ORDER BY id DESC LIMIT ?",
            [*([location_id] if location_id else []), limit],
        )
        out = []
        for r in found:
            row = self._row(r)
            waiting = self._q(
                "SELECT count(*) FROM rows WHERE tenant_id = ? AND dep_contact = ? "
                "AND state = 'waiting'",
                (row.tenant_id, row.host_id),
            )[0][0]
            out.append((row, int(waiting)))
        return out

    def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back (ready again) without counting an attempt. Under
        :meth:`fenced`, rows whose claim was lost are left as they are (not an error: a worker
        giving back what it holds gives back only what it still holds)."""
        with self.transaction():
            lost = self._lost(self._held(row_ids))
            self._conn.executemany(
                "UPDATE rows SET state = 'ready', lease_until = NULL, worker_id = NULL, "
                "updated_at = ? WHERE id = ? AND state = 'sending'",
                [(self._now(), row_id) for row_id in row_ids if row_id not in lost],
            )

    def assign_tenant(self, location_id: str, tenant_id: str) -> int:
        """Give rows recorded before their location had an organisation to that organisation.

        A row whose key already exists in the organisation (a contact met at two locations) is
        left behind and excluded as a duplicate. Returns how many rows moved.
        """
        with self.transaction():
            moved = self._conn.execute(
                "UPDATE OR IGNORE rows SET tenant_id = ?, updated_at = ? "
                "WHERE tenant_id = '' AND location_id = ? AND state != 'rejected'",
                (tenant_id, self._now(), location_id),
            ).rowcount
            left = [
                r[0]
                for r in self._conn.execute(
                    "SELECT id FROM rows WHERE tenant_id = '' AND location_id = ? "
                    "AND state IN ('waiting', 'ready', 'retrying', 'failed')",
                    (location_id,),
                )
            ]
            self.transition_many(
                left, "excluded", detail=f"duplicate of the same record in {tenant_id}"
            )
        return int(moved)

    def rehome(self, location_id: str, old_tenant: str, new_tenant: str) -> int:
        """A location now syncs to another organisation (nothing of it had reached the old
        one): its unsent rows move with it. A row whose key the new organisation already has (a
        contact met at another location) is excluded as a duplicate. Returns how many moved."""
        unsent = "('waiting', 'ready', 'retrying', 'failed')"
        with self.transaction():
            moved = self._conn.execute(
                "UPDATE OR IGNORE rows SET tenant_id = ?, updated_at = ? "
                f"WHERE tenant_id = ? AND location_id = ? AND state IN {unsent}",
                (new_tenant, self._now(), old_tenant, location_id),
            ).rowcount
            left = [
                r[0]
                for r in self._conn.execute(
                    f"SELECT id FROM rows WHERE tenant_id = ? AND location_id = ? "
                    f"AND state IN {unsent}",
                    (old_tenant, location_id),
                )
            ]
            self.transition_many(
                left, "excluded", detail=f"duplicate of the same record in {new_tenant}"
            )
        return int(moved)

    def reopen_gate(self, gate: str, tenant_id: str | None = None) -> int:
        """Make every row waiting behind an external gate ready again; returns how many."""
        where = "state = 'waiting' AND gate = ?" + (" AND tenant_id = ?" if tenant_id else "")
        params = [gate, tenant_id] if tenant_id else [gate]
        ids = [r[0] for r in self._q(f"SELECT id FROM rows WHERE {where}", params)]
        self.transition_many(ids, "ready")
        return len(ids)

    # -- contact sync ---------------------------------------------------------------------------

    def active_contacts(self, tenant_id: str) -> int:
        """Contacts of the organisation still on their way to Xero (held for an admin's
        decision does not count: it must not hold every other customer's documents)."""
        marks = ",".join("?" * len(ACTIVE_STATES))
        held = ",".join("?" * len(ADMIN_GATES))
        found = self._q(
            f"SELECT coalesce(sum(n), 0) FROM counts WHERE tenant_id = ? AND kind = 'contact' "
            f"AND state IN ({marks}) AND NOT (state = 'waiting' AND gate IN ({held}))",
            (tenant_id, *ACTIVE_STATES, *ADMIN_GATES),
        )
        return int(found[0][0])

    # -- tenants, meta, chart cache -------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantRecord:
        """One organisation's sync state (a fresh record for one the ledger has not seen)."""
        found = self._q(
            "SELECT tenant_id, connected, connection_reason, codes_state, codes_detail, "
            "contact_sync, data_synced_at FROM tenants WHERE tenant_id = ?",
            (tenant_id,),
        )
        if not found:
            return TenantRecord(tenant_id, False, None, "missing", None, "not_started", None)
        t = found[0]
        return TenantRecord(t[0], bool(t[1]), t[2], t[3], t[4], t[5], _dt(t[6]))

    def tenants(self) -> list[TenantRecord]:
        """Every organisation the ledger knows, in one query (it is on the hot path)."""
        found = self._q(
            "SELECT tenant_id, connected, connection_reason, codes_state, codes_detail, "
            "contact_sync, data_synced_at FROM tenants ORDER BY tenant_id"
        )
        return [TenantRecord(t[0], bool(t[1]), t[2], t[3], t[4], t[5], _dt(t[6])) for t in found]

    def set_tenant(self, tenant_id: str, **changes: Any) -> None:
        """Record an organisation (and change its sync state: ``connected``, ``codes_state`` …)."""
        allowed = {"connected", "connection_reason", "codes_state", "codes_detail", "contact_sync"}
        if set(changes) - allowed:
            raise ValueError(f"not a tenant field: {sorted(set(changes) - allowed)}")
        with self.transaction():
            self._conn.execute(
                "INSERT INTO tenants (tenant_id) VALUES (?) ON CONFLICT DO NOTHING", (tenant_id,)
            )
            if changes:
                columns = ", ".join(f"{c} = ?" for c in changes)
                self._conn.execute(
                    f"UPDATE tenants SET {columns} WHERE tenant_id = ?",
                    [*changes.values(), tenant_id],
                )

    def data_synced(self) -> bool:
        """Whether any document reached Xero in any organisation (locks the start date)."""
        return bool(self._q("SELECT 1 FROM tenants WHERE data_synced_at IS NOT NULL LIMIT 1"))

    def meta(self, key: str) -> str | None:
        """A ledger-wide value (the start date in force, a backfill checkpoint …)."""
        found = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return found[0][0] if found else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a ledger-wide value (``None`` removes it)."""
        with self.transaction():
            if value is None:
                self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._conn.execute(
                    "INSERT INTO meta VALUES (?, ?) "
                    "ON CONFLICT DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def cached_chart(
        self, tenant_id: str, what: str
    ) -> tuple[datetime, list[dict[str, Any]]] | None:
        """A cached part of an organisation's chart and when it was read, or ``None``."""
        found = self._q(
            "SELECT fetched_at, body FROM chart_cache WHERE tenant_id = ? AND what = ?",
            (tenant_id, what),
        )
        if not found:
            return None
        moment = _dt(found[0][0])
        assert moment is not None
        return moment, json.loads(found[0][1])

    def store_chart(self, tenant_id: str, what: str, body: list[dict[str, Any]]) -> None:
        """Cache one part of an organisation's chart (``accounts``, ``tax_rates`` …), timed now."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO chart_cache VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "fetched_at = excluded.fetched_at, body = excluded.body",
                (tenant_id, what, self._now(), json.dumps(body, default=str)),
            )

    # -- dashboard ------------------------------------------------------------------------------

    def counts(
        self, tenant_id: str | None = None, location_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Counts by organisation, location, kind, state (and gate, for waiting rows).

        Read from the ``counts`` table the triggers keep, so it costs the same at a million rows.
        """
        where = ["n > 0"]
        params: list[Any] = []
        if tenant_id is not None:
            where.append("tenant_id = ?")
            params.append(tenant_id)
        if location_id is not None:
            where.append("location_id = ?")
            params.append(location_id)
        found = self._q(
            "SELECT tenant_id, location_id, kind, state, gate, n FROM counts WHERE "
            + " AND ".join(where)
            + " ORDER BY 1, 2, 3, 4, 5",
            params,
        )
        return [
            {"tenant_id": t, "location_id": loc, "kind": k, "state": s, "gate": g or None, "n": n}
            for t, loc, k, s, g, n in found
        ]

    def problems(self, location_id: str | None = None, limit: int = 200) -> list[Row]:
        """Failed and rejected rows, payments held because their invoice is before the start
        date, and dependants of a parent that will never be sent by itself: what the dashboard
        lists one by one (indexed, newest first, capped).

        Each list is read as index ranges already in id order – one per state, or per gate and
        organisation (``rows_gate`` ends in the row id) – merged here, so 20,000 rows held behind
        a lock date cost what 200 do (one ``gate IN (…) ORDER BY id`` sorted them all)."""
        loc = " AND location_id = ?" if location_id else ""
        at: list[Any] = [location_id] if location_id else []
        failed: list[int] = []
        for state in ("failed", "rejected"):  # the partial index must see its own condition
            failed += self._newest_ids(
                "SELECT id FROM rows INDEXED BY rows_problems WHERE state IN ('failed', "
                f"'rejected') AND state = '{state}'{loc} ORDER BY id DESC LIMIT ?",
                [at],
                limit,
            )
        failed = sorted(failed, reverse=True)[:limit]
        waiting = (
            f"SELECT id FROM rows INDEXED BY rows_gate WHERE state = 'waiting' AND gate = ? "
            f"AND tenant_id = ?{loc}"
        )
        held = self._newest_ids(
            waiting + " ORDER BY id DESC LIMIT ?",
            self._waiting_groups(
                (
                    "invoice_before_start",
                    "credit_before_start",
                    "lock_date",
                    "contact_name_taken",
                    "xero_changed",
                ),
                at,
            ),
            limit,
        )
        # Payments and allocations whose invoice or credit note will never be sent by itself
        # (rejected, failed, excluded): their wait says so (core.gates.describe_parent_wait).
        orphaned = self._newest_ids(
            waiting + " AND detail IS NOT NULL ORDER BY id DESC LIMIT ?",
            self._waiting_groups(
                ("invoice", "credit_note", "deposit", "overpayment", "payments"), at
            ),
            limit,
        )
        rows = {r.id: r for r in self._rows_by_id([*failed, *held, *orphaned])}
        return [rows[i] for i in (*failed, *held, *orphaned) if i in rows]

    def _waiting_groups(self, gates: Sequence[str], at: list[Any]) -> list[list[Any]]:
        """``[gate, tenant, *at]`` for each gate and organisation with rows waiting there (from
        the counts; ``at``: the location, when narrowed to one)."""
        marks = ",".join("?" * len(gates))
        loc = " AND location_id = ?" if at else ""
        found = self._q(
            f"SELECT DISTINCT gate, tenant_id FROM counts WHERE state = 'waiting' AND n > 0 "
            f"AND gate IN ({marks}){loc}",
            [*gates, *at],
        )
        return [[gate, tenant, *at] for gate, tenant in found]

    def _newest_ids(self, sql: str, groups: Iterable[Sequence[Any]], limit: int) -> list[int]:
        """The newest ``limit`` ids over ``groups`` (``sql`` run per group, each one index range
        read in id order), newest first."""
        ids: list[int] = []
        for params in groups:
            ids += [r[0] for r in self._q(sql, [*params, limit])]
        return sorted(ids, reverse=True)[:limit]

    def find_rows(
        self,
        *,
        states: Sequence[str] = (),
        held_gates: Sequence[str] = (),
        kind: str | None = None,
        location_id: str | None = None,
        search: str | None = None,
        limit: int | None = 200,
    ) -> tuple[list[Row], int]:
        """Rows for the dashboard's filtered list (``pm-xero status --state/--kind/--search``),
        newest first, and how many match in all. A row matches when its state is in ``states``
        or it waits at one of ``held_gates``; ``search`` is a case-insensitive substring of its
        host id, number, Xero id, message, reason (``detail``), hint or what it sends (a
        customer's name, a reference). An admin's query, not
        the hot path: it may scan."""
        where: list[str] = []
        params: list[Any] = []
        either = []
        if states:
            either.append(f"state IN ({','.join('?' * len(states))})")
            params += list(states)
        if held_gates:
            either.append(f"(state = 'waiting' AND gate IN ({','.join('?' * len(held_gates))}))")
            params += list(held_gates)
        if either:
            where.append("(" + " OR ".join(either) + ")")
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if location_id is not None:
            where.append("location_id = ?")
            params.append(location_id)
        if search:
            where.append(
                "instr(lower(coalesce(host_id, '') || ' ' || coalesce(CAST(number AS TEXT), '')"
                " || ' ' || coalesce(xero_id, '') || ' ' || coalesce(message, '') || ' ' ||"
                " coalesce(detail, '') || ' ' || coalesce(hint, '') || ' ' || payload),"
                " lower(?)) > 0"
            )
            params.append(search)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = int(self._q(f"SELECT count(*) FROM rows{clause}", params)[0][0])
        cap = " LIMIT ?" if limit is not None else ""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows{clause} ORDER BY id DESC{cap}",
            [*params, limit] if limit is not None else params,
        )
        return [self._row(r) for r in found], total

    def search_rows(
        self, query: RowQuery, *, after: RowKey | None = None, limit: int = 50
    ) -> RowPage:
        """One page of the dashboard's search (see :mod:`.sqlite_search`): the rows matching
        every filter of ``query``, after ``after`` in :class:`RowKey` order, at most ``limit``;
        each filter an index range scan, whatever the ledger's size."""
        limit = max(1, limit)
        found = search_keys(self._q, query, after, limit)
        shown = found.keys[:limit]
        rows = self._rows_by_id([k.id for k in shown])
        rows.sort(key=lambda r: sort_key(RowKey(r.doc_date, r.number, r.id)), reverse=True)
        return RowPage(
            rows=rows,
            next_after=shown[-1] if len(found.keys) > limit else None,
            total=found.total,
            capped=found.capped,
        )

    def _rows_by_id(self, ids: Sequence[int]) -> list[Row]:
        if not ids:
            return []
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(list(ids))],
        )
        return [self._row(r) for r in found]

    def last_reply(self, row_id: int) -> dict[str, Any] | None:
        """What Xero last answered for a row, as the ledger kept it (``ok``, ``errors``,
        ``warnings`` …), or ``None``."""
        found = self._q("SELECT reply FROM rows WHERE id = ?", (row_id,))
        if not found or not found[0][0]:
            return None
        try:
            reply = json.loads(found[0][0])
        except ValueError:
            return {"text": found[0][0]}
        return reply if isinstance(reply, dict) else {"reply": reply}

    def excluded_reasons(self, location_id: str | None = None) -> list[dict[str, Any]]:
        """Why rows are excluded, counted per location, organisation, kind and reason (the
        ``detail`` every exclusion records: "voided before it reached Xero", "excluded by an
        admin", a duplicate …) – for the dashboard's "why excluded" lines."""
        extra = " AND location_id = ?" if location_id else ""
        found = self._q(
            "SELECT location_id, tenant_id, kind, coalesce(detail, ''), count(*) FROM rows "
            f"WHERE state = 'excluded'{extra} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 5 DESC, 4",
            [location_id] if location_id else [],
        )
        return [
            {"location_id": r[0], "tenant_id": r[1], "kind": r[2], "reason": r[3], "n": r[4]}
            for r in found
        ]

    def max_row_id(self) -> int:
        """The newest row's id (0 when empty): with :meth:`row_ids_after`, "what did this add"."""
        return int(self._q("SELECT coalesce(max(id), 0) FROM rows")[0][0])

    def row_ids_after(self, row_id: int) -> list[int]:
        """Ids of the rows created after ``row_id``."""
        return [r[0] for r in self._q("SELECT id FROM rows WHERE id > ? ORDER BY id", (row_id,))]

    def settled_among(self, row_ids: Iterable[int]) -> set[int]:
        """Which of these rows reached an end state (synced, failed, excluded or rejected)."""
        wanted = list(row_ids)
        settled: set[int] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            settled.update(
                r[0]
                for r in self._q(
                    f"SELECT id FROM rows WHERE id IN ({marks}) "
                    "AND state IN ('synced', 'failed', 'excluded', 'rejected')",
                    chunk,
                )
            )
        return settled

    def log(self, row_id: int) -> list[dict[str, Any]]:
        """What was sent for a row and what Xero replied, oldest first."""
        found = self._q(
            "SELECT at, event, request, status_code, message FROM attempts WHERE row_id = ? "
            "ORDER BY id",
            (row_id,),
        )
        return [
            {"at": _dt(at), "event": e, "request": req, "status_code": code, "message": msg}
            for at, e, req, code, msg in found
        ]

    def add_log(self, row_id: int, event: str, message: str | None) -> None:
        """Add a line to a row's history (an admin's action, an edit while in flight …)."""
        with self.transaction():
            self._check_fence([row_id])
            self._log(row_id, event, None, None, message)

    def _log(
        self, row_id: int, event: str, request: str | None, code: int | None, msg: str | None
    ) -> None:
        self._conn.execute(
            "INSERT INTO attempts (row_id, at, event, request, status_code, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row_id, self._now(), event, request, code, _cap(msg)),
        )


def _implements_the_interface(ledger: SqliteLedger) -> Ledger:
    """Never called: mypy proves here that :class:`SqliteLedger` is a :class:`Ledger`."""
    return ledger


def _after(prefix: str) -> str:
    """The first text after every text starting with ``prefix`` (the end of its key range)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
