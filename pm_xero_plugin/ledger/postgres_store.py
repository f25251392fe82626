"""One PostgreSQL ledger database, shared by every practice and every worker process.

:class:`PgStore` owns the connection pool (psycopg 3's ``ConnectionPool``), brings the schema
up to date when it opens (:mod:`.postgres_schema`), and hands out the views the add-on uses: a
:class:`~pm_xero_plugin.ledger.postgres.PostgresLedger` per practice (the
:class:`~pm_xero_plugin.ledger.interface.Ledger` of one practice) and a
:class:`~pm_xero_plugin.ledger.postgres_fleet.PostgresFleet` for the fleet worker and operators.
The shared Xero limits and tokens use :attr:`PgStore.pool` for tables of their own.

Transactions are re-entrant *per thread*, across every view of the store: the outermost
``transaction()`` takes a connection from the pool and keeps it for the thread until it
commits, and any nested call – of any practice's view – joins it (a ledger settling a row calls
the core's ``Dependants``, which read and write through the same ledger, inside the settling
transaction). A read outside a transaction borrows a pooled connection for one statement. The
claims a worker thread writes under (``Ledger.fenced``) are likewise per thread and shared by
every view, so a worker serving many practices holds one fence.

Errors are the ledger's own: an unreachable server is :class:`LedgerUnavailable` naming the
server (never its password) and what to do; a lock or a pool connection not had within the
caller's ``timeout`` is :class:`LedgerBusy`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerUnavailable
from pm_xero_plugin.ledger.postgres import Fence, PostgresLedger
from pm_xero_plugin.ledger.postgres_fleet import PostgresFleet
from pm_xero_plugin.ledger.postgres_schema import Conn, migrate

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.interface import Dependants

__all__ = ["Conn", "PgStore", "server_name"]

_LONG_WAIT_S = 30.0
"""How long a write waits for a lock or a connection by default (the worker, jobs)."""

_CONNECT_TIMEOUT_S = 10
"""How long opening the store waits for the server to answer."""


class _Busy(LedgerBusy):
    """The ledger's PostgreSQL stayed busy past the caller's wait (a lock, or every pooled
    connection in use): nothing was written."""


class _Unavailable(LedgerUnavailable):
    """The ledger's PostgreSQL cannot be used now (unreachable, refused, restarted)."""


def server_name(url: str) -> str:
    """``user@host:port/database`` of a PostgreSQL URL, without its password (for messages)."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the server in PM_XERO_LEDGER"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    db = f"/{parts['dbname']}" if parts.get("dbname") else ""
    return f"{user}{host}{port}{db}"


def _without_secret(text: str, url: str) -> str:
    """``text`` with the URL's password (if any) blanked: a message may be shown anywhere."""
    try:
        secret = conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:  # unreadable: the URL itself must not be shown
        return text.replace(url, "PM_XERO_LEDGER's URL")
    return text.replace(str(secret), "***") if secret else text


def _configure(conn: Conn) -> None:
    """Every pooled connection: UTC (a ``timestamptz`` reads back as the instant it was), and
    the long default wait for a lock (a transaction given a ``timeout`` sets its own)."""
    conn.execute(f"SET TIME ZONE 'UTC'; SET lock_timeout = '{int(_LONG_WAIT_S * 1000)}ms'")


class _Held(threading.local):
    """The thread's open transaction: its connection and how deeply it is nested."""

    conn: Conn | None = None
    depth: int = 0


class PgStore:
    """The ledger database of a fleet (see the module's docstring). Open with :meth:`open`."""

    def __init__(self, url: str, pool: ConnectionPool[Conn], schema_version: int) -> None:
        self.url = url
        self.pool = pool
        """The connection pool (psycopg_pool), for the shared limits and tokens."""
        self.schema_version = schema_version
        self.server = server_name(url)
        self._held = _Held()
        self._side: dict[str, ConnectionPool[Conn]] = {}
        self._side_lock = threading.Lock()
        self.fence = Fence()
        """The thread's fenced claims, shared by every practice's view."""

    @classmethod
    def open(cls, url: str, *, max_size: int = 20, min_size: int = 1) -> PgStore:
        """Connect (a pool of up to ``max_size``), migrate, and return the store.

        :raises LedgerUnavailable: the server cannot be reached or refuses the connection.
        :raises LedgerTooNew: the database was written by a newer add-on.
        """
        server = server_name(url)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S) as conn:
                version = migrate(conn)
        except psycopg.OperationalError as exc:
            reason = _without_secret(str(exc).strip().splitlines()[0] if str(exc) else "", url)
            raise _Unavailable(
                f"the ledger's PostgreSQL server {server} cannot be reached ({reason}): "
                "start it or check PM_XERO_LEDGER"
            ) from None
        except psycopg.Error as exc:  # a URL libpq cannot read, a role without rights …
            reason = _without_secret(str(exc).strip().splitlines()[0] if str(exc) else "", url)
            raise _Unavailable(
                f"the ledger's PostgreSQL database {server} cannot be used ({reason}): "
                "check PM_XERO_LEDGER and the role's rights"
            ) from None
        pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=min(min_size, max_size),
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT_S},
            configure=_configure,
            open=False,
            name=f"pm-xero-ledger {server}",
        )
        try:
            pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S)
        except PoolTimeout:
            pool.close()
            raise _Unavailable(
                f"the ledger's PostgreSQL server {server} accepted no connection within "
                f"{_CONNECT_TIMEOUT_S} s: check that it is up and not at max_connections"
            ) from None
        return cls(url, pool, version)

    def side_pool(self, name: str, max_size: int = 32) -> ConnectionPool[Conn]:
        """A pool of its own on the same database, made on first use and closed with the
        store: for Xero's shared limits, whose every call in flight holds a connection for as
        long as the call lasts (its advisory lock is the connection's) – taken from the
        ledger's pool, twenty calls out would leave a dashboard waiting for one."""
        with self._side_lock:
            pool = self._side.get(name)
            if pool is None:
                pool = self._side[name] = ConnectionPool(
                    self.url,
                    min_size=0,
                    max_size=max_size,
                    kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT_S},
                    configure=_configure,
                    open=True,
                    name=f"pm-xero-{name} {self.server}",
                )
            return pool

    def close(self) -> None:
        """Close the pools (every view of the store is unusable afterwards)."""
        with self._side_lock:
            side, self._side = list(self._side.values()), {}
        for pool in side:
            pool.close()
        self.pool.close()

    def ledger(
        self,
        practice_id: str,
        *,
        clock: Callable[[], datetime] | None = None,
        dependants: Dependants | None = None,
    ) -> PostgresLedger:
        """The ledger of one practice (a :class:`~pm_xero_plugin.ledger.interface.Ledger`)."""
        return PostgresLedger(
            self, practice_id, clock=clock or (lambda: datetime.now(UTC)), dependants=dependants
        )

    def fleet(self) -> PostgresFleet:
        """The fleet-wide view: ready organisations of every practice, queue depth, summaries."""
        return PostgresFleet(self)

    # -- connections ----------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside a :meth:`transaction`."""
        return self._held.conn is not None

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Conn]:
        """One transaction on this thread's connection (re-entrant: a nested call joins it).

        ``timeout`` bounds the wait for a pooled connection and, within the transaction, for
        each lock (``lock_timeout``); past it :class:`LedgerBusy` is raised and nothing is
        written. ``None`` waits the long default (30 s).
        """
        held = self._held
        if held.conn is not None:
            held.depth += 1
            try:
                yield held.conn
            finally:
                held.depth -= 1
            return
        wait = _LONG_WAIT_S if timeout is None else max(timeout, 0.001)
        with self._errors(wait), self._borrow(wait) as conn, conn.transaction():
            if timeout is not None:  # else the connection's own long default
                conn.execute(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
            held.conn, held.depth = conn, 1
            try:
                yield conn
            finally:
                held.conn, held.depth = None, 0

    @contextmanager
    def reading(self) -> Iterator[Conn]:
        """A connection to read on: the thread's transaction's, or a pooled one for now."""
        if self._held.conn is not None:
            yield self._held.conn
            return
        with self._errors(_LONG_WAIT_S), self._borrow(_LONG_WAIT_S) as conn:
            yield conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """One statement – its rows (if it returns any) and how many it changed – in this
        thread's transaction, or on its own (autocommit: one round trip, atomic by itself)."""
        with self.reading() as conn:
            cur = conn.execute(sql, params)
            return (cur.fetchall() if cur.description else []), cur.rowcount

    @contextmanager
    def aside(self, wait: float = 1.0) -> Iterator[Conn | None]:
        """A pooled connection apart from this thread's transaction, in autocommit, for a
        write that must not wait for it or join it (``None`` when none comes free within
        ``wait``: the caller skips what was best effort)."""
        try:
            conn = self.pool.getconn(timeout=wait)
        except PoolTimeout:
            yield None
            return
        try:
            with self._errors(wait):
                yield conn
        finally:
            self.pool.putconn(conn)

    @contextmanager
    def _borrow(self, wait: float) -> Iterator[Conn]:
        try:
            conn = self.pool.getconn(timeout=wait)
        except PoolTimeout:
            raise _Busy(
                f"the ledger stayed busy: no connection to {self.server} came free within "
                f"{wait:g} s (every pooled connection in use)"
            ) from None
        try:
            yield conn
        finally:
            self.pool.putconn(conn)

    @contextmanager
    def _errors(self, wait: float) -> Iterator[None]:
        """PostgreSQL's waits and losses as the ledger's errors, in words."""
        try:
            yield
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            raise _Busy(
                f"the ledger stayed busy: another connection to {self.server} held what this "
                f"write needed for more than {wait:g} s"
            ) from exc
        except psycopg.errors.DeadlockDetected as exc:
            raise _Busy(
                f"the ledger was busy: this write and another on {self.server} waited for each "
                "other (PostgreSQL stopped this one; nothing was written): try again"
            ) from exc
        except psycopg.OperationalError as exc:
            reason = _without_secret(str(exc).strip().splitlines()[0] if str(exc) else "", self.url)
            raise _Unavailable(
                f"the ledger's PostgreSQL server {self.server} is unavailable ({reason}): "
                "check that it is up; the add-on retries"
            ) from exc
