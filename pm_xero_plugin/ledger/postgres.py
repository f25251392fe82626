"""The ledger on PostgreSQL: one practice's view of a fleet's ledger database.

:class:`PostgresLedger` is the :class:`~pm_xero_plugin.ledger.interface.Ledger` of one practice
in a :class:`~pm_xero_plugin.ledger.postgres_store.PgStore`: every read and write names its
``practice_id`` (each index it selects through leads with it), so no operation of one practice
can read or move another's rows. Its semantics are :class:`SqliteLedger`'s, operation by
operation – the same state machine, claim order, fencing and counts – and the contract suite in
``tests/ledger/contract`` runs against both unchanged. What differs is how it holds up with
many workers on many machines:

* **Claims** lock what they take with ``FOR UPDATE SKIP LOCKED``, in one statement: two
  workers claiming one organisation at once each get different rows, and neither waits for the
  other. Every claim takes its fencing token from a sequence (ledger-wide, only grows), and
  notes the organisation's turn (``tenant_turns``) so the fleet serves the least recently
  served first (measured: a claim and release amid 10M rows costs what it does amid 10,000,
  ``bench/bench_claim_pg.py``).
* **Rows read inside a transaction** are read ``FOR UPDATE`` (SQLite's single writer gives a
  transaction that for free): a settle's promotion of what waited, an intake's look-up then
  write, a fenced write's token check – no other connection changes the row in between.
* **Counts** are kept without a hot row: statement triggers append signed deltas to
  ``counts_delta`` (insert-only: writers never wait on one another's counter), and a reader
  sums the folded ``counts`` and the deltas. When a read meets more than :data:`FOLD_AT`
  deltas, it folds them into ``counts`` in a short transaction of its own under
  ``pg_try_advisory_xact_lock`` (another process folding already: skipped), so reads stay a few
  hundred rows however busy the practice is. See :mod:`.postgres_schema`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Protocol

from pm_xero_plugin.ledger.columns import DEP_COLUMN as _DEP_COLUMN
from pm_xero_plugin.ledger.columns import FACT_COLUMNS as _FACT_COLUMNS
from pm_xero_plugin.ledger.columns import MAX_TEXT as _MAX_TEXT
from pm_xero_plugin.ledger.columns import ROW_COLUMNS as _ROW_COLUMNS
from pm_xero_plugin.ledger.columns import UPDATABLE as _UPDATABLE
from pm_xero_plugin.ledger.interface import LedgerUnavailable
from pm_xero_plugin.ledger.postgres_books import PostgresBooks
from pm_xero_plugin.ledger.postgres_schema import Conn, counts_sql
from pm_xero_plugin.ledger.postgres_search import search_keys
from pm_xero_plugin.ledger.sqlite import SATISFIED_SQL
from pm_xero_plugin.ledger.sqlite_search import sort_key
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

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.interface import Dependants, Ledger

__all__ = ["FOLD_AT", "FOLD_LOCK", "Connections", "Fence", "PostgresLedger"]

FOLD_AT: Final = 500
"""Delta rows a count read may meet before it folds them into ``counts``."""

FOLD_LOCK: Final = 0x706D7863
"""First key of the advisory lock a practice's counts are folded under (``'pmxc'``)."""

CONTACTS_LOCK = 0x706D7873
"""First key of the advisory lock under which an organisation's contacts settle (``'pmxs'``).

Whether an organisation's contact sync is finished is decided inside the transaction that
settles one of its contacts, from how many are still on their way (core's
``finish_contact_sync_if_done``). Under READ COMMITTED two workers settling its last two contacts
at once would each count the other's as still sending, and neither would finish it: its
documents would wait behind ``contact_sync`` for ever. SQLite's single writer never meets this;
here a contact's settling transaction first takes this lock for its organisation, so the second
one counts after the first has committed."""

_BOOLEAN = frozenset({"include_before_start", "uncertain", "connected"})
"""Columns SQLite keeps as 0/1 and callers may pass as ints: booleans here."""

_CLAIM_ORDER = "ORDER BY priority DESC, doc_date NULLS FIRST, number NULLS FIRST, id"
"""SQLite's claim order (``priority DESC, doc_date, number, id``: NULL before any value)."""

_OWNER = "coalesce(worker_id, '')"
_DOCUMENT_KINDS = tuple(k for k in KINDS if k != "contact")
_TENANT_COLUMNS = (
    "tenant_id, connected, connection_reason, codes_state, codes_detail, contact_sync, "
    "data_synced_at"
)


class Fence(threading.local):
    """The claims a thread writes under (``Ledger.fenced``), row id -> claim token: one per
    store, shared by every practice's view (one worker thread, one fence)."""

    claims: dict[int, int]

    def __init__(self) -> None:
        self.claims = {}


class Connections(Protocol):
    """What a ledger view needs of its store (:class:`~.postgres_store.PgStore`): the thread's
    transactions, connections to read on, and the thread's fence."""

    schema_version: int
    fence: Fence

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside a transaction."""
        ...

    def transaction(self, timeout: float | None = None) -> AbstractContextManager[Conn]:
        """A transaction on this thread's connection (nested calls join it)."""
        ...

    def reading(self) -> AbstractContextManager[Conn]:
        """A connection to read on (the thread's transaction's, or a pooled one)."""
        ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """One statement in this thread's transaction, or on its own: (rows, rowcount)."""
        ...

    def aside(self) -> AbstractContextManager[Conn | None]:
        """A pooled connection outside this thread's transaction (``None``: none free now)."""
        ...


def _text(text: str) -> str:
    """``text`` as PostgreSQL keeps it: a NUL (which no ``text`` may hold) shown as U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _cap(text: str | None) -> str | None:
    if text is None:
        return None
    text = _text(text)
    if len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text)} characters, cut]"


def _value(column: str, value: Any) -> Any:
    """A value as PostgreSQL's column takes it (an int for a boolean, an enum's value)."""
    if value is None:
        return None
    if column in _BOOLEAN:
        return bool(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return _text(value)
    return value


def _in(column: str, values: Collection[str]) -> tuple[str, list[Any]]:
    """``column = ANY(…)`` and its parameter (``FALSE`` – nothing – for no values)."""
    if not values:
        return "FALSE", []
    return f"{column} = ANY(%s::text[])", [[str(v) for v in values]]


def _also(where: str, params: list[Any], **equal: str | None) -> tuple[str, list[Any]]:
    for column, value in equal.items():
        if value is not None:
            where += f" AND {column} = %s"
            params = [*params, value]
    return where, params


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
        next_at=r[20],
        lease_until=r[21],
        uncertain=bool(r[22]),
        message=r[23],
        field=r[24],
        hint=r[25],
        updated_at=r[26],
        priority=r[27],
        xero_match=json.loads(r[28]) if r[28] else None,
        xero_name=r[29],
        dep_invoice_date=r[30],
        claim_token=r[31],
        recorded_at=r[32],
    )


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


def _claim_key(row: Row) -> tuple[int, bool, str, bool, int, int]:
    """The claim order in Python (NULL first, as SQLite)."""
    return (
        -row.priority,
        row.doc_date is not None,
        row.doc_date or "",
        row.number is not None,
        row.number or 0,
        row.id,
    )


def _found(reply: str) -> bool:
    """Whether a kept reply says the record was found in Xero, not created (as SQLite's
    ``json_extract`` reads it: a reply that is not JSON says nothing)."""
    try:
        parsed = json.loads(reply)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    return bool(
        parsed.get("linked_existing")
        or parsed.get("matched") is not None
        or parsed.get("linked_by_admin")
    )


class PostgresLedger(PostgresBooks):
    """One practice's ledger in a :class:`~.postgres_store.PgStore` (see the module's docstring).

    :param store: the fleet's ledger database.
    :param practice_id: the practice every operation is scoped to.
    :param clock: the host clock (``updated_at``, history times).
    :param dependants: what a settled row means for the rows waiting on it (as
        :class:`~pm_xero_plugin.ledger.sqlite.SqliteLedger`'s).

    Xero's side of the reconciliation (webhook events, Xero's copies, the admin's marks, an
    organisation's rows by id) is :class:`~pm_xero_plugin.ledger.postgres_books.PostgresBooks`.
    """

    def __init__(
        self,
        store: Connections,
        practice_id: str,
        *,
        clock: Callable[[], datetime],
        dependants: Dependants | None = None,
    ) -> None:
        self.store = store
        self.practice_id = practice_id
        self._p = practice_id
        self._clock = clock
        self._dependants = dependants
        self.schema_version = store.schema_version

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to close: the view shares its store's pool (closed with the store)."""

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[None]:
        """One write transaction (re-entrant per thread, across every view of the store).

        ``timeout`` bounds the wait for a connection and for each lock; past it
        :class:`~pm_xero_plugin.ledger.interface.LedgerBusy` is raised and nothing is written.
        """
        with self.store.transaction(timeout):
            yield

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        with self.store.transaction() as conn:
            yield conn

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def _now(self) -> datetime:
        return self._clock()

    def _held_(self, of: str = "") -> str:
        """``FOR UPDATE`` when reading rows inside a transaction: what a transaction reads of
        its rows before it writes them stays as read until it commits (SQLite's one writer at
        a time gives that; READ COMMITTED alone would let another connection change a row
        between the read and the write). Claims skip such rows (``SKIP LOCKED``)."""
        return f" FOR UPDATE{of}" if self.store.in_transaction else ""

    # -- fencing --------------------------------------------------------------------------------

    @contextmanager
    def fenced(self, claims: Mapping[int, int]) -> Iterator[None]:
        """Within this block, on this thread, every write to a row of ``claims`` must still hold
        its claim token, or it raises :class:`ClaimLost` and changes nothing (shared by every
        practice's view of the store: one worker thread, one fence)."""
        fence = self.store.fence
        outer = fence.claims
        fence.claims = {**outer, **claims}
        try:
            yield
        finally:
            fence.claims = outer

    def _held(self, row_ids: Iterable[int]) -> dict[int, int]:
        claims = self.store.fence.claims
        if not claims:
            return {}
        return {i: claims[i] for i in row_ids if i in claims}

    def _lost(self, conn: Conn, held: Mapping[int, int]) -> dict[int, int | None]:
        """Of the fenced rows ``held``, those whose token is no longer the one held (read and
        locked in the writing transaction: no claim between the check and the write)."""
        if not held:
            return {}
        ids = sorted(held)
        current: dict[int, int | None] = dict(
            conn.execute(
                "SELECT id, claim_token FROM rows WHERE practice_id = %s "
                "AND id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                (self._p, ids),
            ).fetchall()
        )
        return {i: current.get(i) for i in ids if current.get(i) != held[i]}

    def _check_fence(self, conn: Conn, row_ids: Iterable[int]) -> None:
        held = self._held(row_ids)
        for row_id, current in self._lost(conn, held).items():
            raise ClaimLost(row_id, held[row_id], current)

    # -- reading --------------------------------------------------------------------------------

    def get(self, row_id: int) -> Row | None:
        """One row by id, or ``None``."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE id = %s AND practice_id = %s{self._held_()}",
            (row_id, self._p),
        )
        return _row(found[0]) if found else None

    def find(self, kind: str, host_id: str, tenant_id: str) -> Row | None:
        """The row of one host record in one organisation, or ``None``."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND kind = %s "
            f"AND host_id = %s AND tenant_id = %s{self._held_()}",
            (self._p, kind, host_id, tenant_id),
        )
        return _row(found[0]) if found else None

    def payment_parts(self, payment_id: str) -> list[Row]:
        """Every row made from one host payment (its allocations and its overpayment)."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND ((kind = 'payment' "
            "AND host_id >= %s AND host_id < %s) OR (kind = 'overpayment' AND host_id = %s)) "
            "ORDER BY id",
            (self._p, f"{payment_id}:", f"{payment_id};", payment_id),
        )
        return [_row(r) for r in found]

    def rows_for_prefix(self, kind: str, prefix: str) -> list[Row]:
        """Every organisation's rows of ``kind`` whose host id starts with ``prefix`` (a key
        range on the unique index)."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND kind = %s "
            "AND host_id >= %s AND host_id < %s ORDER BY id",
            (self._p, kind, prefix, _after(prefix)),
        )
        return [_row(r) for r in found]

    def rows_for(self, kind: str, host_id: str) -> list[Row]:
        """Every organisation's row of one host record."""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND kind = %s "
            "AND host_id = %s ORDER BY id",
            (self._p, kind, host_id),
        )
        return [_row(r) for r in found]

    def _by_keys(
        self, columns: str, keys: Sequence[tuple[str, str, str]], *, lock: bool = False
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows of these (kind, host_id, tenant_id) keys, 1,000 a query."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            found += self._q(
                f"SELECT {columns} FROM unnest(%s::text[], %s::text[], %s::text[]) "
                "AS k(kind, host_id, tenant_id) JOIN rows r ON r.practice_id = %s "
                "AND r.kind = k.kind AND r.host_id = k.host_id AND r.tenant_id = k.tenant_id"
                + (self._held_(" OF r") if lock else ""),
                (
                    [k[0] for k in chunk],
                    [k[1] for k in chunk],
                    [k[2] for k in chunk],
                    self._p,
                ),
            )
        return found

    def facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Facts]:
        """Batch look-up of ``(kind, host_id, tenant_id)`` keys (one query per 1,000)."""
        columns = ", ".join(f"r.{c.strip()}" for c in _FACT_COLUMNS.split(","))
        out: dict[tuple[str, str, str], Facts] = {}
        for r in self._by_keys(columns, list(dict.fromkeys(keys)), lock=True):
            f = _facts(r)
            out[(f.kind, f.host_id, f.tenant_id)] = f
        return out

    def _facts_page(
        self, where: str, params: Sequence[Any], after_id: int, limit: int
    ) -> list[Facts]:
        found = self._q(
            f"SELECT {_FACT_COLUMNS} FROM rows WHERE practice_id = %s AND ({where}) "
            f"AND id > %s ORDER BY id LIMIT %s{self._held_()}",
            [self._p, *params, after_id, limit],
        )
        return [_facts(r) for r in found]

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
        """Rows waiting behind one of ``gates`` for one parent, by id."""
        where, params = _in("gate", gates)
        where = (
            f"state = 'waiting' AND {where} AND tenant_id = %s AND {_DEP_COLUMN[parent_kind]} = %s"
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
            f"state IN ('ready', 'retrying') AND {where} AND tenant_id = %s "
            f"AND {_DEP_COLUMN[parent_kind]} = %s"
        )
        return self._facts_page(where, [*params, tenant_id, host_id], after_id, limit)

    def invoice_with_dependants(
        self, invoice_id: str, tenant_id: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[Facts]:
        """An invoice and the rows that name it, while still on their way, by id."""
        where = (
            "state IN ('waiting', 'ready', 'retrying') AND tenant_id = %s "
            "AND ((kind = 'invoice' AND host_id = %s) OR dep_invoice = %s)"
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
        """Failed rows and rows waiting behind one of ``gates``, by id."""
        where, params = _in("gate", gates)
        where = f"(state = 'failed' OR (state = 'waiting' AND {where}))"
        where, params = _also(where, params, kind=kind, tenant_id=tenant_id)
        return self._facts_page(where, params, after_id, limit)

    def in_xero_against(self, invoice_id: str, tenant_id: str, kinds: Collection[str]) -> bool:
        """Whether a row of ``kinds`` naming this invoice is in Xero."""
        where, params = _in("kind", kinds)
        where = (
            f"tenant_id = %s AND dep_invoice = %s AND {where} "
            "AND (state = 'synced' OR xero_id IS NOT NULL)"
        )
        return bool(self._facts_page(where, [tenant_id, invoice_id, *params], 0, 1))

    def found_in_xero(self, kind: str, host_ids: Iterable[str], tenant_id: str) -> set[str]:
        """Which of these records were *found* in Xero (linked, matched, linked by an admin),
        not created by this ledger. The kept reply is read here: it may have been cut (not
        JSON any more), which says nothing, as SQLite's ``json_valid`` has it."""
        wanted = list(dict.fromkeys(host_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            for host_id, reply in self._q(
                "SELECT host_id, reply FROM rows WHERE practice_id = %s AND kind = %s "
                "AND tenant_id = %s AND host_id = ANY(%s::text[]) AND reply IS NOT NULL "
                "AND (reply LIKE '%%linked_existing%%' OR reply LIKE '%%\"matched\"%%' "
                "OR reply LIKE '%%linked_by_admin%%')",
                (self._p, kind, tenant_id, chunk),
            ):
                if _found(reply):
                    found.add(host_id)
        return found

    def xero_id(self, kind: str, host_id: str, tenant_id: str) -> str | None:
        """The Xero id of a record in one organisation, or ``None``."""
        found = self._q(
            "SELECT xero_id FROM rows WHERE practice_id = %s AND kind = %s AND host_id = %s "
            "AND tenant_id = %s",
            (self._p, kind, host_id, tenant_id),
        )
        return found[0][0] if found else None

    def dep(self, kind: str, host_id: str, tenant_id: str) -> Parent | None:
        """What the rules read of one row others depend on, or ``None`` when there is none."""
        found = self._q(
            "SELECT kind, state, gate, xero_id, doc_date, include_before_start FROM rows "
            "WHERE practice_id = %s AND kind = %s AND host_id = %s AND tenant_id = %s",
            (self._p, kind, host_id, tenant_id),
        )
        if not found:
            return None
        kind_, state, gate, xero_id, doc_date, include = found[0]
        return Parent(kind_, state, gate, xero_id, doc_date, bool(include))

    def dep_facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Parent]:
        """:meth:`dep` for many keys: one query per 1,000 keys, on the unique key's index."""
        out: dict[tuple[str, str, str], Parent] = {}
        for kind, host_id, tenant_id, state, gate, xero_id, doc_date, include in self._by_keys(
            "r.kind, r.host_id, r.tenant_id, r.state, r.gate, r.xero_id, r.doc_date, "
            "r.include_before_start",
            list(dict.fromkeys(keys)),
        ):
            out[(kind, host_id, tenant_id)] = Parent(
                kind, state, gate, xero_id, doc_date, bool(include)
            )
        return out

    # -- inserting and generic moves ------------------------------------------------------------

    def insert(self, rows: Sequence[NewRow]) -> None:
        """Insert new rows (in the caller's transaction, or one of its own); a key that exists
        fails the whole transaction (psycopg's ``UniqueViolation``). Counted by the insert
        trigger, once per statement."""
        self._insert(rows, "")

    def insert_new(self, rows: Sequence[NewRow]) -> list[bool]:
        """Insert the rows whose key is not in the ledger yet (``ON CONFLICT DO NOTHING``);
        returns, per row, whether it was inserted."""
        if not rows:
            return []
        added = self._insert(rows, " ON CONFLICT ON CONSTRAINT rows_key DO NOTHING")
        return [(r.kind, r.host_id, r.tenant_id) in added for r in rows]

    def _insert(self, rows: Sequence[NewRow], on_conflict: str) -> set[tuple[str, str, str]]:
        """One ``INSERT … SELECT FROM unnest(…)`` for the batch; returns the keys that went in."""
        if not rows:
            return set()
        for r in rows:
            if r.state not in INITIAL_STATES:
                raise IllegalTransition(None, None, r.state)
        now = self._now()
        columns: list[list[Any]] = [
            [r.kind for r in rows],
            [r.host_id for r in rows],
            [r.tenant_id for r in rows],
            [r.location_id for r in rows],
            [str(r.state) for r in rows],
            [r.gate if r.state == "waiting" else None for r in rows],
            [r.detail for r in rows],
            [r.doc_date for r in rows],
            [r.number for r in rows],
            [r.dep_contact for r in rows],
            [r.dep_invoice for r in rows],
            [r.dep_credit_note for r in rows],
            [bool(r.include_before_start) for r in rows],
            [_text(r.payload) for r in rows],
            [r.payload_hash for r in rows],
            [_cap(r.message) for r in rows],
            [r.field for r in rows],
            [r.priority for r in rows],
            [r.dep_invoice_date for r in rows],
        ]
        types = (
            ["text"] * 8 + ["bigint"] + ["text"] * 3 + ["boolean"] + ["text"] * 4 + ["smallint"]
        ) + ["text"]
        unnest = ", ".join(f"%s::{t}[]" for t in types)
        with self._tx() as conn:
            found = conn.execute(
                "INSERT INTO rows (practice_id, kind, host_id, tenant_id, location_id, state, "
                "gate, detail, doc_date, number, dep_contact, dep_invoice, dep_credit_note, "
                "include_before_start, payload, payload_hash, message, field, priority, "
                "dep_invoice_date, created_at, updated_at) "
                f"SELECT %s, u.*, %s, %s FROM unnest({unnest}) AS u{on_conflict} "
                "RETURNING id, kind, host_id, tenant_id",
                [self._p, now, now, *columns],
            ).fetchall()
            contacts = {(h, t): i for i, k, h, t in found if k == "contact"}
            if contacts:
                words = [
                    (word, contacts[(r.host_id, r.tenant_id)])
                    for r in rows
                    if r.kind == "contact" and (r.host_id, r.tenant_id) in contacts
                    for word in words_of_payload(r.payload)
                ]
                self._add_words(conn, words)
        return {(k, h, t) for _, k, h, t in found}

    def _add_words(self, conn: Conn, words: Sequence[tuple[str, int]]) -> None:
        if words:
            conn.execute(
                "INSERT INTO customer_words (practice_id, word, row_id) "
                "SELECT %s, * FROM unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING",
                (self._p, [w for w, _ in words], [i for _, i in words]),
            )

    def _reindex_contacts(self, conn: Conn, row_ids: Sequence[int]) -> None:
        """A payload was written: the customer words of the contacts among ``row_ids`` follow."""
        found = conn.execute(
            "SELECT id, payload FROM rows WHERE practice_id = %s AND id = ANY(%s::bigint[]) "
            "AND kind = 'contact'",
            (self._p, list(row_ids)),
        ).fetchall()
        if not found:
            return
        conn.execute(
            "DELETE FROM customer_words WHERE row_id = ANY(%s::bigint[])", ([i for i, _ in found],)
        )
        self._add_words(conn, [(w, i) for i, payload in found for w in words_of_payload(payload)])

    def transition(self, row_id: int, target: str, **changes: Any) -> None:
        """Move one row to ``target`` (checked against its current state), setting ``changes``.

        :raises IllegalTransition: the row is missing or its state does not allow the move.
        """
        self.transition_many([row_id], target, **changes)

    def transition_many(self, row_ids: Sequence[int], target: str, **changes: Any) -> None:
        """:meth:`transition` for several rows, all or nothing."""
        if not row_ids:
            return
        target = str(target.value if isinstance(target, Enum) else target)
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
        columns = ["state = %s", "updated_at = %s"] + [f"{c} = %s" for c in changes]
        params: list[Any] = [target, self._now(), *(_value(c, v) for c, v in changes.items())]
        ids = list(row_ids)
        with self._tx() as conn:
            self._check_fence(conn, ids)
            cur = conn.execute(
                f"UPDATE rows SET {', '.join(columns)} WHERE practice_id = %s "
                "AND id = ANY(%s::bigint[]) AND state = ANY(%s::text[])",
                [*params, self._p, ids, sorted(sources)],
            )
            if cur.rowcount != len(set(ids)):
                self._refuse(conn, ids, target, sources)
            if "payload" in changes:
                self._reindex_contacts(conn, ids)

    def _refuse(self, conn: Conn, ids: Sequence[int], target: str, sources: frozenset[str]) -> None:
        """Raise :class:`IllegalTransition` for the first of ``ids`` that may not move (the
        transaction then rolls back whatever moved)."""
        found: dict[int, str] = dict(
            conn.execute(
                "SELECT id, state FROM rows WHERE practice_id = %s AND id = ANY(%s::bigint[])",
                (self._p, list(ids)),
            ).fetchall()
        )
        for row_id in ids:
            if found.get(row_id) not in sources:
                raise IllegalTransition(row_id, found.get(row_id), target)
        raise IllegalTransition(None, None, target)  # pragma: no cover - duplicate ids

    def set_fields(self, row_id: int, **changes: Any) -> None:
        """Change a row's data without changing its state (payload of a rejected row, …)."""
        bad = set(changes) - _UPDATABLE - {"state"}
        if bad or "state" in changes:
            raise ValueError(f"not updatable here: {sorted(bad | ({'state'} & set(changes)))}")
        columns = ", ".join(f"{c} = %s" for c in changes)
        with self._tx() as conn:
            self._check_fence(conn, [row_id])
            conn.execute(
                f"UPDATE rows SET {columns}, updated_at = %s WHERE id = %s AND practice_id = %s",
                [*(_value(c, v) for c, v in changes.items()), self._now(), row_id, self._p],
            )
            if "payload" in changes:
                self._reindex_contacts(conn, [row_id])

    # -- the worker's side ----------------------------------------------------------------------

    def tenants_with_ready_work(
        self, now: datetime, *, take_from: Collection[str] = ()
    ) -> list[str]:
        """Organisations with something to claim now (ready, retry due, or held by an owner in
        ``take_from``), the least recently served first (their last claim, then their id)."""
        found = {
            t
            for (t,) in self._q(
                f"SELECT tenant_id FROM ({counts_sql('practice_id = %s AND state = %s')}) c "
                "WHERE tenant_id != '' GROUP BY tenant_id HAVING sum(n) > 0",
                (self._p, "ready", self._p, "ready"),
            )
        }
        found |= {
            t
            for (t,) in self._q(
                "SELECT DISTINCT tenant_id FROM rows WHERE practice_id = %s "
                "AND state = 'retrying' AND next_at <= %s",
                (self._p, now),
            )
        }
        if take_from:
            owned, owners = _in(_OWNER, take_from)
            found |= {
                t
                for (t,) in self._q(
                    "SELECT DISTINCT tenant_id FROM rows WHERE practice_id = %s "
                    f"AND state = 'sending' AND {owned}",
                    [self._p, *owners],
                )
            }
        found.discard("")
        if not found:
            return []
        turns = dict(
            self._q(
                "SELECT tenant_id, last_claim_at FROM tenant_turns WHERE practice_id = %s "
                "AND tenant_id = ANY(%s::text[])",
                (self._p, sorted(found)),
            )
        )
        never = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda t: (turns.get(t) or never, t))

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
        """Atomically lease up to ``limit`` rows of one kind and tenant to ``worker_id``
        (``FOR UPDATE SKIP LOCKED``: a row another claim is taking is left to it).

        Order as :meth:`SqliteLedger.claim`: rows of an owner judged gone first, then retries
        that are due, then ready rows; returned live first, then by business date and number.
        """
        owners = sorted(set(take_from) - {worker_id})
        one = "FROM rows WHERE practice_id = %s AND tenant_id = %s AND kind = %s AND"
        key = [self._p, tenant_id, kind]
        gone = (
            f"SELECT id {one} state = 'sending' AND {_OWNER} = ANY(%s::text[]) {_CLAIM_ORDER} "
            "LIMIT %s FOR UPDATE SKIP LOCKED"
            if owners
            else "SELECT NULL::bigint AS id WHERE FALSE"
        )
        alone = not self.store.in_transaction  # one statement, committed by itself
        turn = (
            ", turn AS (INSERT INTO tenant_turns SELECT %s, %s, clock_timestamp() "
            "WHERE EXISTS (SELECT 1 FROM u) ON CONFLICT (practice_id, tenant_id) DO UPDATE "
            "SET last_claim_at = excluded.last_claim_at)"
            if alone
            else ""
        )
        # The three phases as one statement: rows of a gone owner, retries due, ready rows,
        # each locked (SKIP LOCKED) up to what the phases before left of ``limit``; one token
        # from the sequence, taken only when something was claimed.
        claimed, _ = self.store.run(
            f"WITH g AS ({gone}), "
            f"r AS (SELECT id {one} state = 'retrying' AND next_at <= %s {_CLAIM_ORDER} "
            "LIMIT (%s - (SELECT count(*) FROM g)) FOR UPDATE SKIP LOCKED), "
            f"y AS (SELECT id {one} state = 'ready' {_CLAIM_ORDER} "
            "LIMIT (%s - (SELECT count(*) FROM g) - (SELECT count(*) FROM r)) "
            "FOR UPDATE SKIP LOCKED), "
            "ids AS (SELECT id FROM g UNION ALL SELECT id FROM r UNION ALL SELECT id FROM y), "
            "t AS (SELECT nextval('claim_tokens') AS token WHERE EXISTS (SELECT 1 FROM ids)), "
            "u AS (UPDATE rows SET state = 'sending', lease_until = %s, worker_id = %s, "
            "claim_token = t.token, next_at = NULL, updated_at = %s FROM t "
            f"WHERE rows.id IN (SELECT id FROM ids) RETURNING {_ROW_COLUMNS})"
            f"{turn} SELECT * FROM u",
            [
                *([*key, owners, limit] if owners else []),
                *key,
                now,
                limit,
                *key,
                limit,
                now + timedelta(seconds=lease_seconds),
                worker_id,
                self._now(),
                *([self._p, tenant_id] if alone else []),
            ],
        )
        if claimed and not alone:
            self._served(tenant_id)
        return sorted((_row(r) for r in claimed), key=_claim_key)

    def _served(self, tenant_id: str) -> None:
        """Stamp the organisation's turn (fairness: ``tenant_turns``) on a connection of its
        own, outside the claim's transaction: a turn row written inside it would make every
        other claim of the organisation wait for that transaction, which ``SKIP LOCKED`` is
        there to avoid. Best effort: with no connection free at once, the stamp is skipped."""
        with suppress(LedgerUnavailable), self.store.aside() as conn:
            if conn is not None:
                conn.execute(
                    "INSERT INTO tenant_turns VALUES (%s, %s, clock_timestamp()) "
                    "ON CONFLICT (practice_id, tenant_id) DO UPDATE "
                    "SET last_claim_at = excluded.last_claim_at",
                    (self._p, tenant_id),
                )

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
        ``kinds`` order (as :meth:`SqliteLedger.claim_next`)."""
        owned, owners = _in(_OWNER, set(take_from) - {worker_id})
        # One round trip: the kinds with live work due, and (from the counts) the kinds with
        # anything in a claimable state at all – a kind without is not tried.
        found = self._q(
            "SELECT DISTINCT TRUE, kind FROM rows WHERE practice_id = %s AND tenant_id = %s "
            "AND priority > 0 AND state IN ('ready', 'retrying', 'sending') "
            "AND (state = 'ready' OR (state = 'retrying' AND next_at <= %s) "
            f"OR (state = 'sending' AND {owned})) UNION ALL SELECT FALSE, kind FROM ("
            + counts_sql(
                "practice_id = %s AND tenant_id = %s AND state IN ('ready', 'retrying', 'sending')"
            )
            + ") c GROUP BY kind HAVING sum(n) > 0",
            [self._p, tenant_id, now, *owners, self._p, tenant_id, self._p, tenant_id],
        )
        live = {kind for is_live, kind in found if is_live}
        some = {kind for is_live, kind in found if not is_live} | live
        order = [k for k in kinds if k in live] + [k for k in kinds if k not in live and k in some]
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
        """Whether a live row of the organisation is due now."""
        owned, owners = _in(_OWNER, take_from)
        return bool(
            self._q(
                "SELECT 1 FROM rows WHERE practice_id = %s AND tenant_id = %s AND priority > 0 "
                "AND state IN ('ready', 'retrying', 'sending') AND (state = 'ready' "
                "OR (state = 'retrying' AND next_at <= %s) "
                f"OR (state = 'sending' AND {owned})) LIMIT 1",
                [self._p, tenant_id, now, *owners],
            )
        )

    # -- workers' liveness ---------------------------------------------------------------------

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """``worker_id`` is alive: count one beat on its (fleet-wide) worker row and renew the
        claims it holds in this practice."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO workers (worker_id, hostname, pid, beat, beat_at) "
                "VALUES (%s, %s, %s, 1, %s) ON CONFLICT (worker_id) DO UPDATE SET "
                "beat = workers.beat + 1, hostname = excluded.hostname, pid = excluded.pid, "
                "beat_at = excluded.beat_at",
                (worker_id, hostname, pid, self._now()),
            )
            conn.execute(
                "UPDATE rows SET lease_until = %s WHERE state = 'sending' AND worker_id = %s "
                "AND practice_id = %s",
                (lease_until, worker_id, self._p),
            )

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending`` in this practice, with its worker row's host,
        pid and beat counter (``None`` without one)."""
        found = self._q(
            "SELECT DISTINCT coalesce(r.worker_id, ''), w.hostname, w.pid, w.beat FROM rows r "
            "LEFT JOIN workers w ON w.worker_id = r.worker_id "
            "WHERE r.practice_id = %s AND r.state = 'sending'",
            (self._p,),
        )
        return [ClaimOwner(o, host, pid, beat) for o, host, pid, beat in found]

    def retire_worker(self, worker_id: str) -> None:
        """A worker stopped: forget its row, unless it still holds claims (in any practice)."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM workers WHERE worker_id = %s AND NOT EXISTS (SELECT 1 FROM rows "
                "WHERE state = 'sending' AND worker_id = %s)",
                (worker_id, worker_id),
            )

    def raise_priority(self, keys: Iterable[tuple[str, str, str]]) -> int:
        """Make these rows (and, transitively, what they depend on) live, unless their
        dependants may already go (as :meth:`SqliteLedger.raise_priority`)."""
        wanted = list(dict.fromkeys(keys))
        raised = 0
        with self._tx() as conn:
            for _ in range(3):  # payment/allocation -> invoice/credit note -> contact
                if not wanted:
                    break
                found = conn.execute(
                    "UPDATE rows r SET priority = %s FROM unnest(%s::text[], %s::text[], "
                    "%s::text[]) AS k(k_kind, k_host, k_tenant) WHERE r.practice_id = %s "
                    "AND r.kind = k.k_kind AND r.host_id = k.k_host AND r.tenant_id = k.k_tenant "
                    f"AND r.priority = 0 AND NOT {SATISFIED_SQL} "
                    "AND r.state IN ('waiting', 'ready', 'retrying', 'sending') "
                    "RETURNING r.tenant_id, r.dep_contact, r.dep_invoice, r.dep_credit_note",
                    (
                        LIVE,
                        [k[0] for k in wanted],
                        [k[1] for k in wanted],
                        [k[2] for k in wanted],
                        self._p,
                    ),
                ).fetchall()
                raised += len(found)
                following: list[tuple[str, str, str]] = []
                for tenant, contact, invoice, note in found:
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
        """Durably note "a request for these rows is going out now, outcome unknown" (counts
        one attempt; ``requests`` are kept, capped, as what was sent)."""
        if not row_ids:
            return
        now = self._now()
        ids = list(row_ids)
        with self._tx() as conn:
            self._check_fence(conn, ids)
            cur = conn.execute(
                "UPDATE rows SET uncertain = TRUE, attempt_key = %s, attempts = attempts + 1, "
                "updated_at = %s WHERE practice_id = %s AND id = ANY(%s::bigint[]) "
                "AND state = 'sending'",
                (attempt_key, now, self._p, ids),
            )
            if cur.rowcount != len(set(ids)):
                self._refuse(conn, ids, "sending", frozenset({"sending"}))
            sent = requests or {}
            conn.execute(
                "INSERT INTO attempts (practice_id, row_id, at, event, request) "
                "SELECT %s, u.row_id, %s, 'sent', u.request "
                "FROM unnest(%s::bigint[], %s::text[]) AS u(row_id, request)",
                (
                    self._p,
                    now,
                    ids,
                    [_cap(sent.get(i)) or f"attempt {attempt_key}" for i in ids],
                ),
            )

    def _settling_contact(self, conn: Conn, kind: str, tenant_id: str) -> None:
        """Serialise the settling of one organisation's contacts (see :data:`CONTACTS_LOCK`)."""
        if kind == "contact":
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (CONTACTS_LOCK, f"{self._p}\x1f{tenant_id}"),
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
        :class:`~pm_xero_plugin.ledger.interface.Dependants` promote what waited for it."""
        with self._tx() as conn:
            found = conn.execute(
                "SELECT kind, host_id, tenant_id, pending_op FROM rows WHERE id = %s "
                "AND practice_id = %s",
                (row_id, self._p),
            ).fetchone()
            if found is None:
                raise IllegalTransition(row_id, None, "synced")
            kind, host_id, tenant_id, pending_op = found
            self._settling_contact(conn, kind, tenant_id)
            reply_text = _cap(json.dumps(reply, default=str)) if reply is not None else None
            if pending_op:
                self.transition(
                    row_id,
                    "ready",
                    xero_id=xero_id,
                    operation=pending_op,
                    pending_op=None,
                    uncertain=False,
                    reply=reply_text,
                    message=None,
                )
            else:
                self.transition(
                    row_id,
                    "synced",
                    xero_id=xero_id,
                    pending_op=None,
                    uncertain=False,
                    reply=reply_text,
                    message=None,
                    field=None,
                    hint=None,
                )
            self._log(conn, row_id, "synced", None, status_code, f"Xero id {xero_id}")
            if kind in _DOCUMENT_KINDS:
                self._first_document(conn, tenant_id)
            if self._dependants is not None:
                self._dependants.synced(self, kind, host_id, tenant_id)

    def _first_document(self, conn: Conn, tenant_id: str) -> None:
        """A document reached Xero: the organisation has data, and the start date is locked."""
        # Neither statement locks the organisation's row once it has data (an upsert would,
        # and every settling worker of the organisation would queue behind it).
        conn.execute(
            "INSERT INTO tenants (practice_id, tenant_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (self._p, tenant_id),
        )
        conn.execute(
            "UPDATE tenants SET data_synced_at = %s WHERE practice_id = %s AND tenant_id = %s "
            "AND data_synced_at IS NULL",
            (self._now(), self._p, tenant_id),
        )
        conn.execute(
            "INSERT INTO meta SELECT practice_id, 'locked_start_date', value FROM meta "
            "WHERE practice_id = %s AND key = 'start_date' ON CONFLICT DO NOTHING",
            (self._p,),
        )

    def mark_retrying(
        self,
        row_id: int,
        next_at: datetime,
        message: str,
        *,
        outcome_known: bool = False,
        status_code: int | None = None,
    ) -> None:
        """A transient failure: try again at ``next_at`` (``outcome_known`` clears doubt)."""
        changes: dict[str, Any] = {"next_at": next_at, "message": _cap(message)}
        if outcome_known:
            changes["uncertain"] = False
        with self._tx() as conn:
            self.transition(row_id, "retrying", **changes)
            self._log(conn, row_id, "retrying", None, status_code, message)

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
        """Xero refused it (or it cannot be sent): an admin has to act."""
        with self._tx() as conn:
            found = conn.execute(
                "SELECT kind, host_id, tenant_id FROM rows WHERE id = %s AND practice_id = %s",
                (row_id, self._p),
            ).fetchone()
            if found:
                self._settling_contact(conn, found[0], found[2])
            self.transition(
                row_id,
                "failed",
                message=_cap(message),
                field=field,
                hint=hint,
                reply=_cap(json.dumps(reply, default=str)) if reply is not None else None,
                **({"uncertain": False} if outcome_known else {}),
            )
            self._log(conn, row_id, "failed", None, status_code, message)
            if found and self._dependants is not None:
                self._dependants.stopped(self, found[0], found[1], found[2])

    def mark_waiting(self, row_id: int, gate: str, detail: str | None) -> None:
        """Hold a row behind a gate the worker learned from Xero (``lock_date``, …)."""
        with self._tx() as conn:
            self.transition(row_id, "waiting", gate=gate, detail=detail, uncertain=False)
            self._log(conn, row_id, "waiting", None, None, detail or gate)

    def hold_contact(self, row_id: int, message: str, match: Mapping[str, Any] | None) -> None:
        """Xero gives this contact's name to a contact not provably ours: hold it for an admin
        and (through the ``Dependants``) tell the documents waiting for it why."""
        with self._tx() as conn:
            found = conn.execute(
                "SELECT host_id, tenant_id FROM rows WHERE id = %s AND practice_id = %s",
                (row_id, self._p),
            ).fetchone()
            if found:
                self._settling_contact(conn, "contact", found[1])
            self.transition(
                row_id,
                "waiting",
                gate="contact_name_taken",
                detail=_cap(message),
                uncertain=False,
                xero_match=json.dumps(dict(match), default=str) if match else None,
            )
            self._log(conn, row_id, "waiting", None, None, message)
            if found and self._dependants is not None:
                self._dependants.stopped(self, "contact", found[0], found[1])

    def describe_contact_wait(self, host_id: str, tenant_id: str, detail: str | None) -> int:
        """Set what the rows waiting for this contact say about it; returns how many."""
        with self._tx() as conn:
            return int(
                conn.execute(
                    "UPDATE rows SET detail = %s WHERE practice_id = %s AND state = 'waiting' "
                    "AND gate = 'contact' AND tenant_id = %s AND dep_contact = %s",
                    (detail, self._p, tenant_id, host_id),
                ).rowcount
            )

    def contact_conflicts(
        self, location_id: str | None = None, limit: int = 200
    ) -> list[tuple[Row, int]]:
        """Contacts held because Xero gives their name to another contact, each with how many
        documents wait for it (newest first, capped)."""
        extra = " AND location_id = %s" if location_id else ""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND state = 'waiting' "
            f"AND gate = 'contact_name_taken'{extra} ORDER BY id DESC LIMIT %s",
            [self._p, *([location_id] if location_id else []), limit],
        )
        out = []
        for r in found:
            row = _row(r)
            waiting = self._q(
                "SELECT count(*) FROM rows WHERE practice_id = %s AND tenant_id = %s "
                "AND dep_contact = %s AND state = 'waiting'",
                (self._p, row.tenant_id, row.host_id),
            )[0][0]
            out.append((row, int(waiting)))
        return out

    def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back (ready again) without counting an attempt; under
        :meth:`fenced`, only the rows whose claim this thread still holds."""
        if not self._held(row_ids):
            self.store.run(
                "UPDATE rows SET state = 'ready', lease_until = NULL, worker_id = NULL, "
                "updated_at = %s WHERE practice_id = %s AND id = ANY(%s::bigint[]) "
                "AND state = 'sending'",
                (self._now(), self._p, list(row_ids)),
            )
            return
        with self._tx() as conn:
            lost = self._lost(conn, self._held(row_ids))
            kept = [i for i in row_ids if i not in lost]
            if kept:
                conn.execute(
                    "UPDATE rows SET state = 'ready', lease_until = NULL, worker_id = NULL, "
                    "updated_at = %s WHERE practice_id = %s AND id = ANY(%s::bigint[]) "
                    "AND state = 'sending'",
                    (self._now(), self._p, kept),
                )

    def _move(self, conn: Conn, where: str, params: Sequence[Any], tenant_id: str) -> int:
        """Give the rows matching ``where`` to ``tenant_id``, except those whose key it has
        already (SQLite's ``UPDATE OR IGNORE``); returns how many moved."""
        return int(
            conn.execute(
                "UPDATE rows r SET tenant_id = %s, updated_at = %s WHERE r.practice_id = %s "
                f"AND {where} AND NOT EXISTS (SELECT 1 FROM rows o WHERE o.practice_id = "
                "r.practice_id AND o.kind = r.kind AND o.host_id = r.host_id "
                "AND o.tenant_id = %s)",
                [tenant_id, self._now(), self._p, *params, tenant_id],
            ).rowcount
        )

    def assign_tenant(self, location_id: str, tenant_id: str) -> int:
        """Give rows recorded before their location had an organisation to that organisation
        (a duplicate of a key it has already is excluded); returns how many moved."""
        with self._tx() as conn:
            moved = self._move(
                conn,
                "r.tenant_id = '' AND r.location_id = %s AND r.state != 'rejected'",
                [location_id],
                tenant_id,
            )
            left = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM rows WHERE practice_id = %s AND tenant_id = '' "
                    "AND location_id = %s AND state IN ('waiting', 'ready', 'retrying', 'failed')",
                    (self._p, location_id),
                ).fetchall()
            ]
            self.transition_many(
                left, "excluded", detail=f"duplicate of the same record in {tenant_id}"
            )
        return moved

    def rehome(self, location_id: str, old_tenant: str, new_tenant: str) -> int:
        """A location now syncs to another organisation: its unsent rows move with it (a
        duplicate of a key the new one has is excluded); returns how many moved."""
        unsent = "('waiting', 'ready', 'retrying', 'failed')"
        with self._tx() as conn:
            moved = self._move(
                conn,
                f"r.tenant_id = %s AND r.location_id = %s AND r.state IN {unsent}",
                [old_tenant, location_id],
                new_tenant,
            )
            left = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM rows WHERE practice_id = %s AND tenant_id = %s "
                    f"AND location_id = %s AND state IN {unsent}",
                    (self._p, old_tenant, location_id),
                ).fetchall()
            ]
            self.transition_many(
                left, "excluded", detail=f"duplicate of the same record in {new_tenant}"
            )
        return moved

    def reopen_gate(self, gate: str, tenant_id: str | None = None) -> int:
        """Make every row waiting behind an external gate ready again; returns how many."""
        where = "practice_id = %s AND state = 'waiting' AND gate = %s" + (
            " AND tenant_id = %s" if tenant_id else ""
        )
        params = [self._p, gate, *([tenant_id] if tenant_id else [])]
        ids = [r[0] for r in self._q(f"SELECT id FROM rows WHERE {where}", params)]
        self.transition_many(ids, "ready")
        return len(ids)

    # -- contact sync ---------------------------------------------------------------------------

    def active_contacts(self, tenant_id: str) -> int:
        """Contacts of the organisation still on their way to Xero (held for an admin's
        decision does not count).

        Counted inside a transaction, it first takes the lock its contacts settle under
        (:data:`CONTACTS_LOCK`): whoever decides from this count that the contact sync is
        finished – a settle, an admin's exclusion, a new contact sync – counts after every
        other such transaction of the organisation has committed."""
        if self.store.in_transaction:
            with self._tx() as conn:
                self._settling_contact(conn, "contact", tenant_id)
        found = self._q(
            "SELECT coalesce(sum(n), 0) FROM ("
            + counts_sql("practice_id = %s AND tenant_id = %s AND kind = 'contact'")
            + ") c WHERE state = ANY(%s::text[]) "
            "AND NOT (state = 'waiting' AND gate = ANY(%s::text[]))",
            (
                self._p,
                tenant_id,
                self._p,
                tenant_id,
                [str(s) for s in ACTIVE_STATES],
                [str(g) for g in ADMIN_GATES],
            ),
        )
        return int(found[0][0])

    # -- tenants, meta, chart cache -------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantRecord:
        """One organisation's sync state (a fresh record for one the ledger has not seen)."""
        found = self._q(
            f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE practice_id = %s AND tenant_id = %s",
            (self._p, tenant_id),
        )
        if not found:
            return TenantRecord(tenant_id, False, None, "missing", None, "not_started", None)
        return TenantRecord(*found[0])

    def tenants(self) -> list[TenantRecord]:
        """Every organisation the ledger knows, in one query."""
        found = self._q(
            f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE practice_id = %s ORDER BY tenant_id",
            (self._p,),
        )
        return [TenantRecord(*t) for t in found]

    def set_tenant(self, tenant_id: str, **changes: Any) -> None:
        """Record an organisation (and change its sync state: ``connected``, ``codes_state`` …)."""
        allowed = {"connected", "connection_reason", "codes_state", "codes_detail", "contact_sync"}
        if set(changes) - allowed:
            raise ValueError(f"not a tenant field: {sorted(set(changes) - allowed)}")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tenants (practice_id, tenant_id) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (self._p, tenant_id),
            )
            if changes:
                columns = ", ".join(f"{c} = %s" for c in changes)
                conn.execute(
                    f"UPDATE tenants SET {columns} WHERE practice_id = %s AND tenant_id = %s",
                    [*(_value(c, v) for c, v in changes.items()), self._p, tenant_id],
                )

    def data_synced(self) -> bool:
        """Whether any document reached Xero in any organisation of the practice."""
        return bool(
            self._q(
                "SELECT 1 FROM tenants WHERE practice_id = %s AND data_synced_at IS NOT NULL "
                "LIMIT 1",
                (self._p,),
            )
        )

    def meta(self, key: str) -> str | None:
        """A practice-wide value (the start date in force, a backfill checkpoint …)."""
        found = self._q(
            "SELECT value FROM meta WHERE practice_id = %s AND key = %s", (self._p, key)
        )
        return found[0][0] if found else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a practice-wide value (``None`` removes it)."""
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM meta WHERE practice_id = %s AND key = %s", (self._p, key))
            else:
                conn.execute(
                    "INSERT INTO meta VALUES (%s, %s, %s) ON CONFLICT (practice_id, key) "
                    "DO UPDATE SET value = excluded.value",
                    (self._p, key, value),
                )

    def cached_chart(
        self, tenant_id: str, what: str
    ) -> tuple[datetime, list[dict[str, Any]]] | None:
        """A cached part of an organisation's chart and when it was read, or ``None``."""
        found = self._q(
            "SELECT fetched_at, body FROM chart_cache WHERE practice_id = %s AND tenant_id = %s "
            "AND what = %s",
            (self._p, tenant_id, what),
        )
        if not found:
            return None
        return found[0][0], json.loads(found[0][1])

    def store_chart(self, tenant_id: str, what: str, body: list[dict[str, Any]]) -> None:
        """Cache one part of an organisation's chart, timed now."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO chart_cache VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (practice_id, tenant_id, what) DO UPDATE SET "
                "fetched_at = excluded.fetched_at, body = excluded.body",
                (self._p, tenant_id, what, self._now(), json.dumps(body, default=str)),
            )

    # -- counts ---------------------------------------------------------------------------------

    def _counts(self, where: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """(tenant, location, kind, state, gate, n) of the practice's counts matching ``where``
        (over both tables), folding the deltas when there are many."""
        found = self._q(
            "SELECT tenant_id, location_id, kind, state, gate, n, deltas FROM ("
            + counts_sql(f"practice_id = %s{where}")
            + ") c ORDER BY 1, 2, 3, 4, 5",
            [self._p, *params, self._p, *params],
        )
        if sum(int(r[6]) for r in found) > FOLD_AT:
            with suppress(LedgerUnavailable):  # best effort: the counts were read already
                self.fold_counts()
        return [r[:6] for r in found if r[5] > 0]

    def fold_counts(self) -> bool:
        """Fold the practice's count deltas into ``counts`` (unless another connection is
        folding them now, or this thread is inside a transaction); whether it did."""
        if self.store.in_transaction:
            return False
        with self.store.transaction(timeout=1.0) as conn:
            (got,) = conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", (FOLD_LOCK, self._p)
            ).fetchone() or (False,)
            if not got:
                return False
            conn.execute(
                "WITH moved AS (DELETE FROM counts_delta WHERE practice_id = %s "
                "RETURNING tenant_id, location_id, kind, state, gate, n) "
                "INSERT INTO counts SELECT %s, tenant_id, location_id, kind, state, gate, sum(n) "
                "FROM moved GROUP BY 1, 2, 3, 4, 5, 6 "
                "ON CONFLICT (practice_id, tenant_id, location_id, kind, state, gate) "
                "DO UPDATE SET n = counts.n + excluded.n",
                (self._p, self._p),
            )
            conn.execute("DELETE FROM counts WHERE practice_id = %s AND n = 0", (self._p,))
        return True

    def counts(
        self, tenant_id: str | None = None, location_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Counts by organisation, location, kind, state (and gate, for waiting rows): the
        folded totals plus the deltas since (no scan of the rows, no hot counter row)."""
        where, params = _also("", [], tenant_id=tenant_id, location_id=location_id)
        return [
            {"tenant_id": t, "location_id": loc, "kind": k, "state": s, "gate": g or None, "n": n}
            for t, loc, k, s, g, n in self._counts(where, params)
        ]

    # -- dashboard ------------------------------------------------------------------------------

    def problems(self, location_id: str | None = None, limit: int = 200) -> list[Row]:
        """Failed and rejected rows, payments held because their invoice is before the start
        date, and dependants of a parent that will never be sent by itself (newest first,
        capped; each list index ranges in id order, as :meth:`SqliteLedger.problems`)."""
        loc = " AND location_id = %s" if location_id else ""
        at: list[Any] = [location_id] if location_id else []
        failed: list[int] = []
        for state in ("failed", "rejected"):
            failed += self._newest_ids(
                "SELECT id FROM rows WHERE practice_id = %s AND state IN ('failed', 'rejected') "
                f"AND state = '{state}'{loc} ORDER BY id DESC LIMIT %s",
                [[self._p, *at]],
                limit,
            )
        failed = sorted(failed, reverse=True)[:limit]
        waiting = (
            "SELECT id FROM rows WHERE practice_id = %s AND state = 'waiting' AND gate = %s "
            f"AND tenant_id = %s{loc}"
        )
        held = self._newest_ids(
            waiting + " ORDER BY id DESC LIMIT %s",
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
        orphaned = self._newest_ids(
            waiting + " AND detail IS NOT NULL ORDER BY id DESC LIMIT %s",
            self._waiting_groups(
                ("invoice", "credit_note", "deposit", "overpayment", "payments"), at
            ),
            limit,
        )
        rows = {r.id: r for r in self._rows_by_id([*failed, *held, *orphaned])}
        return [rows[i] for i in (*failed, *held, *orphaned) if i in rows]

    def _waiting_groups(self, gates: Sequence[str], at: list[Any]) -> list[list[Any]]:
        """``[practice, gate, tenant, *at]`` for each gate and organisation with rows waiting
        there (from the counts)."""
        loc = " AND location_id = %s" if at else ""
        found = self._counts(
            f" AND state = 'waiting' AND gate = ANY(%s::text[]){loc}", [list(gates), *at]
        )
        groups = sorted({(g, t) for t, _, _, _, g, _ in found})
        return [[self._p, gate, tenant, *at] for gate, tenant in groups]

    def _newest_ids(self, sql: str, groups: Iterable[Sequence[Any]], limit: int) -> list[int]:
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
        """Rows for the dashboard's filtered list, newest first, and how many match in all (an
        admin's query: it may scan the practice's rows)."""
        where: list[str] = ["practice_id = %s"]
        params: list[Any] = [self._p]
        either = []
        if states:
            either.append("state = ANY(%s::text[])")
            params.append([str(s) for s in states])
        if held_gates:
            either.append("(state = 'waiting' AND gate = ANY(%s::text[]))")
            params.append([str(g) for g in held_gates])
        if either:
            where.append("(" + " OR ".join(either) + ")")
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        if location_id is not None:
            where.append("location_id = %s")
            params.append(location_id)
        if search:
            where.append(
                "strpos(lower(coalesce(host_id, '') || ' ' || coalesce(CAST(number AS TEXT), '')"
                " || ' ' || coalesce(xero_id, '') || ' ' || coalesce(message, '') || ' ' ||"
                " coalesce(detail, '') || ' ' || coalesce(hint, '') || ' ' || payload),"
                " lower(%s)) > 0"
            )
            params.append(search)
        clause = f" WHERE {' AND '.join(where)}"
        total = int(self._q(f"SELECT count(*) FROM rows{clause}", params)[0][0])
        cap = " LIMIT %s" if limit is not None else ""
        found = self._q(
            f"SELECT {_ROW_COLUMNS} FROM rows{clause} ORDER BY id DESC{cap}",
            [*params, limit] if limit is not None else params,
        )
        return [_row(r) for r in found], total

    def search_rows(
        self, query: RowQuery, *, after: RowKey | None = None, limit: int = 50
    ) -> RowPage:
        """One page of the dashboard's search (see :mod:`.postgres_search`)."""
        limit = max(1, limit)
        found = search_keys(self._q, self._p, query, after, limit)
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
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE practice_id = %s AND id = ANY(%s::bigint[])",
            (self._p, list(ids)),
        )
        return [_row(r) for r in found]

    def last_reply(self, row_id: int) -> dict[str, Any] | None:
        """What Xero last answered for a row, as kept, or ``None``."""
        found = self._q(
            "SELECT reply FROM rows WHERE id = %s AND practice_id = %s", (row_id, self._p)
        )
        if not found or not found[0][0]:
            return None
        try:
            reply = json.loads(found[0][0])
        except ValueError:
            return {"text": found[0][0]}
        return reply if isinstance(reply, dict) else {"reply": reply}

    def excluded_reasons(self, location_id: str | None = None) -> list[dict[str, Any]]:
        """Why rows are excluded, counted per location, organisation, kind and reason."""
        extra = " AND location_id = %s" if location_id else ""
        found = self._q(
            "SELECT location_id, tenant_id, kind, coalesce(detail, '') COLLATE \"C\", count(*) "
            "FROM rows "
            f"WHERE practice_id = %s AND state = 'excluded'{extra} GROUP BY 1, 2, 3, 4 "
            "ORDER BY 1, 2, 3, 5 DESC, 4",
            [self._p, *([location_id] if location_id else [])],
        )
        return [
            {"location_id": r[0], "tenant_id": r[1], "kind": r[2], "reason": r[3], "n": r[4]}
            for r in found
        ]

    def max_row_id(self) -> int:
        """The practice's newest row's id (0 when it has none)."""
        return int(
            self._q("SELECT coalesce(max(id), 0) FROM rows WHERE practice_id = %s", (self._p,))[0][
                0
            ]
        )

    def row_ids_after(self, row_id: int) -> list[int]:
        """Ids of the practice's rows created after ``row_id``."""
        return [
            r[0]
            for r in self._q(
                "SELECT id FROM rows WHERE practice_id = %s AND id > %s ORDER BY id",
                (self._p, row_id),
            )
        ]

    def settled_among(self, row_ids: Iterable[int]) -> set[int]:
        """Which of these rows reached an end state (synced, failed, excluded or rejected)."""
        wanted = list(row_ids)
        if not wanted:
            return set()
        return {
            r[0]
            for r in self._q(
                "SELECT id FROM rows WHERE practice_id = %s AND id = ANY(%s::bigint[]) "
                "AND state IN ('synced', 'failed', 'excluded', 'rejected')",
                (self._p, wanted),
            )
        }

    def log(self, row_id: int) -> list[dict[str, Any]]:
        """What was sent for a row and what Xero replied, oldest first."""
        found = self._q(
            "SELECT at, event, request, status_code, message FROM attempts "
            "WHERE practice_id = %s AND row_id = %s ORDER BY id",
            (self._p, row_id),
        )
        return [
            {"at": at, "event": e, "request": req, "status_code": code, "message": msg}
            for at, e, req, code, msg in found
        ]

    def add_log(self, row_id: int, event: str, message: str | None) -> None:
        """Add a line to a row's history (an admin's action, an edit while in flight …)."""
        with self._tx() as conn:
            self._check_fence(conn, [row_id])
            self._log(conn, row_id, event, None, None, message)

    def _log(
        self,
        conn: Conn,
        row_id: int,
        event: str,
        request: str | None,
        code: int | None,
        msg: str | None,
    ) -> None:
        conn.execute(
            "INSERT INTO attempts (practice_id, row_id, at, event, request, status_code, "
            "message) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (self._p, row_id, self._now(), event, request, code, _cap(msg)),
        )


def _implements_the_interface(ledger: PostgresLedger) -> Ledger:
    """Never called: mypy proves here that :class:`PostgresLedger` is a :class:`Ledger`."""
    return ledger


def _after(prefix: str) -> str:
    """The first text after every text starting with ``prefix`` (the end of its key range)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
