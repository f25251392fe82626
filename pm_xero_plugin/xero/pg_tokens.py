"""A practice's Xero token sets in PostgreSQL, shared by every worker on every machine.

:class:`~pm_xero_plugin.xero.tokens.TokenStore` keeps them in a SQLite file of one machine; a
fleet's workers on many machines send for the same practices, and Xero rotates the refresh token
on every refresh: two machines refreshing one set at once leave one with ``invalid_grant`` and,
if the winner's new refresh token is lost, the organisation disconnected.
:class:`PostgresTokenStore` has the same surface (:class:`~pm_xero_plugin.xero.tokens.TokenStorage`)
and the same rule, across machines:

- a refresh runs in a transaction holding ``pg_advisory_xact_lock`` on the practice and
  connection key, re-reads the set inside it (another machine may have refreshed meanwhile: its
  tokens are used), and commits the rotated set *before* the new access token is handed out;
  if that commit is lost (the database went away during the refresh call), the set is written
  again on a new connection unless someone else already stored a newer one;
- every other write that rewrites a set reads it ``FOR UPDATE``, so it waits for a refresh in
  progress and never puts an older refresh token back.

Rows are scoped by ``practice_id``: every statement filters by it, and each set is sealed
(Fernet, the key derived from that practice's host secret by
:func:`~pm_xero_plugin.xero.tokens.derive_fernet_key`) together with its practice, connection
key and organisations – a set copied into another practice's or location's row is refused like
one that does not decrypt. Nothing is stored in
clear: the pending flows' verifiers are sealed too and their ``state`` only hashed.

A database that cannot be reached raises :class:`~pm_xero_plugin.xero.errors.TransientError`
(nothing was sent with the tokens; try later), in words. Only the PostgreSQL path imports this.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken

from pm_xero_plugin.xero.errors import ReconnectRequired, TransientError
from pm_xero_plugin.xero.pg_schema import Conn, Pool, advisory_key, ensure_tables
from pm_xero_plugin.xero.tokens import (
    PendingFlow,
    StoredTokensUnreadable,
    TokenSet,
    _hash_state,
    _tenant_list,
    derive_fernet_key,
)

if TYPE_CHECKING:
    from pm_xero_plugin.xero.tokens import TokenStorage

__all__ = ["PostgresTokenStore"]

_STEPS = [
    [
        """
        CREATE TABLE IF NOT EXISTS xero_tokens (
            practice_id      text NOT NULL,
            connection_key   text NOT NULL,
            grant_type       text NOT NULL,
            blob             bytea NOT NULL,
            tenant_ids       text NOT NULL DEFAULT '[]',
            reconnect_reason text,
            updated_at       double precision NOT NULL,
            PRIMARY KEY (practice_id, connection_key)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS xero_pending_flows (
            practice_id    text NOT NULL,
            state_hash     text NOT NULL,
            connection_key text NOT NULL,
            verifier       bytea NOT NULL,
            created_at     double precision NOT NULL,
            PRIMARY KEY (practice_id, state_hash)
        )
        """,
    ]
]
"""The tokens' tables, version by version (see :func:`.pg_schema.ensure_tables`)."""

_LOCK_WAIT_SECONDS = 90.0
"""How long a refresh waits for another machine's (longer than a refresh call's timeouts)."""

_DOWN = (psycopg.OperationalError, psycopg.InterfaceError)

_UPSERT = (
    "INSERT INTO xero_tokens (practice_id, connection_key, grant_type, blob, tenant_ids,"
    " reconnect_reason, updated_at) VALUES (%s, %s, %s, %s, %s, NULL, %s)"
    " ON CONFLICT (practice_id, connection_key) DO UPDATE SET grant_type = excluded.grant_type,"
    " blob = excluded.blob, tenant_ids = excluded.tenant_ids, updated_at = excluded.updated_at"
)
_CLEAR_MARK = ", reconnect_reason = NULL"


class PostgresTokenStore:
    """One practice's token sets and pending authorisations in PostgreSQL, sealed with a key
    derived from the practice's host secret (see the module's docstring).

    :param pool: the connection pool (the ledger's ``PgStore.pool``).
    :param practice_id: whose tokens these are; no other practice's rows are ever read.
    :param secret: the practice's host secret for this plugin.
    :param clock: wall-clock seconds (``updated_at``, the pending flows' age).
    :param lock_wait: how long a refresh waits for another machine's refresh of the same set.
    """

    def __init__(
        self,
        pool: Pool,
        practice_id: str,
        secret: bytes,
        *,
        clock: Callable[[], float] = time.time,
        lock_wait: float = _LOCK_WAIT_SECONDS,
    ) -> None:
        if not practice_id:
            raise ValueError("a practice id is needed to keep its tokens apart")
        self.pool = pool
        self.practice_id = practice_id
        self._fernet = Fernet(derive_fernet_key(secret))
        self._clock = clock
        self._lock_wait = lock_wait
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        with self._reaching("open"):
            ensure_tables(pool, "tokens", _STEPS)

    # -- token sets ---------------------------------------------------------------------------

    def load(self, connection_key: str) -> TokenSet | None:
        """The stored tokens for ``connection_key``, or ``None`` if never connected."""
        row = self._one("SELECT blob, tenant_ids FROM xero_tokens", connection_key)
        return None if row is None else self._open(connection_key, row[0], row[1])

    def save(
        self,
        connection_key: str,
        tokens: TokenSet,
        *,
        grant_type: str = "authorization_code",
        tenant_ids: list[str] | None = None,
    ) -> None:
        """Store (replace) a token set; clears any "reconnect" mark – this *is* the reconnect."""
        with self._transaction("store the Xero tokens") as conn:
            if tenant_ids is None:
                row = self._locked(conn, connection_key)
                tenant_ids = [] if row is None else _tenant_list(connection_key, row[3])
            self._write(conn, connection_key, tokens, grant_type, tenant_ids)

    def grant_type(self, connection_key: str) -> str | None:
        """How the stored tokens were granted (``authorization_code``…), ``None`` if none."""
        row = self._one("SELECT grant_type FROM xero_tokens", connection_key)
        return None if row is None else str(row[0])

    def tenant_ids(self, connection_key: str) -> list[str]:
        """Tenant ids seen for this connection (from ``/connections``)."""
        row = self._one("SELECT tenant_ids FROM xero_tokens", connection_key)
        return [] if row is None else _tenant_list(connection_key, row[0])

    def set_tenant_ids(self, connection_key: str, tenant_ids: list[str]) -> None:
        """Remember the tenants ``/connections`` answered for this connection, sealed with the
        tokens again. A set that cannot be read keeps its seal: narrowing its list is recorded,
        widening it is refused on the next read like any other alteration."""
        with self._transaction("store the Xero organisations") as conn:
            row = self._locked(conn, connection_key)
            if row is None:
                return
            try:
                tokens, _sealed = self._unseal(connection_key, row[0])
            except StoredTokensUnreadable:
                conn.execute(
                    "UPDATE xero_tokens SET tenant_ids = %s, updated_at = %s"
                    " WHERE practice_id = %s AND connection_key = %s",
                    (json.dumps(tenant_ids), self._clock(), self.practice_id, connection_key),
                )
            else:
                self._write(conn, connection_key, tokens, str(row[1]), tenant_ids, keep_mark=True)

    def mark_reconnect(self, connection_key: str, reason: str) -> None:
        """Remember that this connection needs an admin (so nobody hammers the token endpoint)."""
        with self._transaction("mark the Xero connection") as conn:
            self._mark(conn, connection_key, reason)

    def reconnect_reason(self, connection_key: str) -> str | None:
        """Why this connection must be reconnected, or ``None`` if it is usable (or absent)."""
        row = self._one("SELECT reconnect_reason FROM xero_tokens", connection_key)
        return None if row is None or row[0] is None else str(row[0])

    def delete(self, connection_key: str) -> None:
        """Forget this connection's tokens (a disconnect)."""
        with self._transaction("forget the Xero tokens") as conn:
            conn.execute(
                "DELETE FROM xero_tokens WHERE practice_id = %s AND connection_key = %s",
                (self.practice_id, connection_key),
            )

    def connection_keys(self) -> list[str]:
        """Every connection of this practice with stored tokens, sorted."""
        with self._transaction("read the Xero connections") as conn:
            rows = conn.execute(
                "SELECT connection_key FROM xero_tokens WHERE practice_id = %s ORDER BY 1",
                (self.practice_id,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def refresh_serialised(
        self,
        connection_key: str,
        needs_refresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet, str], TokenSet],
    ) -> TokenSet:
        """Refresh a token set at most once across threads, processes and machines.

        Under the set's advisory lock the row is re-read; ``needs_refresh(current)`` decides
        whether a refresh is still needed (another machine may have done it). If so,
        ``refresh(current, grant_type)`` makes the HTTP call and its result is committed before
        this returns. If ``refresh`` raises :class:`ReconnectRequired`, the mark is committed.

        :raises TransientError: the database cannot be reached, or another machine's refresh
            of this set took longer than ``lock_wait``.
        """
        with self._thread_lock(connection_key):
            marked: ReconnectRequired | None = None
            current: TokenSet | None = None
            fresh: TokenSet | None = None
            try:
                with self._transaction("refresh the Xero tokens", wrap=False) as conn:
                    self._lock_set(conn, connection_key)
                    row = self._locked(conn, connection_key)
                    if row is None:
                        raise ReconnectRequired(f"no Xero connection for {connection_key!r}")
                    if row[2] is not None:
                        raise ReconnectRequired(str(row[2]))
                    current = self._open(connection_key, row[0], row[3])
                    if not needs_refresh(current):
                        return current
                    try:
                        fresh = refresh(current, str(row[1]))
                    except ReconnectRequired as exc:
                        self._mark(conn, connection_key, exc.message)
                        marked = exc
                    else:
                        if fresh.refresh_token is None and current.refresh_token is not None:
                            fresh = replace(fresh, refresh_token=current.refresh_token)
                        tenants = _tenant_list(connection_key, row[3])
                        self._write(conn, connection_key, fresh, str(row[1]), tenants)
            except psycopg.errors.LockNotAvailable:
                raise TransientError(
                    "another worker's refresh of this Xero connection has not finished within "
                    f"{self._lock_wait:.0f} s: try again later"
                ) from None
            except _DOWN as exc:
                if fresh is None or current is None:
                    raise _unreachable("refresh the Xero tokens", exc) from None
                # Xero rotated the tokens but the commit was lost: store them again now.
                return self._store_after_lost_commit(connection_key, current, fresh)
            if marked is not None:
                raise marked
            assert fresh is not None
            return fresh

    # -- pending authorisations ---------------------------------------------------------------

    def add_pending_flow(self, state: str, connection_key: str, code_verifier: str) -> None:
        """Remember an authorisation in progress; only a hash of ``state`` is stored."""
        with self._transaction("start the Xero connection") as conn:
            conn.execute(
                "INSERT INTO xero_pending_flows (practice_id, state_hash, connection_key,"
                " verifier, created_at) VALUES (%s, %s, %s, %s, %s)",
                (
                    self.practice_id,
                    _hash_state(state),
                    connection_key,
                    self._fernet.encrypt(code_verifier.encode()),
                    self._clock(),
                ),
            )

    def pop_pending_flow(self, state: str, *, max_age: float) -> PendingFlow | None:
        """Take (single use) the flow for ``state``; ``None`` if unknown or older than
        ``max_age``. This practice's expired flows are purged on the way."""
        now = self._clock()
        with self._transaction("finish the Xero connection") as conn:
            row = conn.execute(
                "DELETE FROM xero_pending_flows WHERE practice_id = %s AND state_hash = %s"
                " RETURNING connection_key, verifier, created_at",
                (self.practice_id, _hash_state(state)),
            ).fetchone()
            conn.execute(
                "DELETE FROM xero_pending_flows WHERE practice_id = %s AND created_at < %s",
                (self.practice_id, now - max_age),
            )
        if row is None or now - float(row[2]) > max_age:
            return None
        try:
            verifier = self._fernet.decrypt(bytes(row[1])).decode()
        except (InvalidToken, TypeError, ValueError):
            return None  # sealed under another secret: as good as unknown, connect again
        return PendingFlow(
            connection_key=str(row[0]), code_verifier=verifier, created_at=float(row[2])
        )

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        """Turn a database that cannot be used into a :class:`TransientError` in words."""
        try:
            yield
        except _DOWN as exc:
            raise _unreachable(what, exc) from None

    @contextmanager
    def _transaction(self, what: str, *, wrap: bool = True) -> Iterator[Conn]:
        """A pooled connection in a transaction, committed when the block ends."""
        if not wrap:
            with self.pool.connection() as conn, conn.transaction():
                yield conn
            return
        with self._reaching(what), self.pool.connection() as conn, conn.transaction():
            yield conn

    def _one(self, select: str, connection_key: str) -> tuple[Any, ...] | None:
        query = f"{select} WHERE practice_id = %s AND connection_key = %s"
        with self._transaction("read the Xero tokens") as conn:
            return conn.execute(query.encode(), (self.practice_id, connection_key)).fetchone()

    def _locked(self, conn: Conn, connection_key: str) -> tuple[Any, ...] | None:
        """The row (blob, grant type, reconnect reason, tenants) locked until the transaction
        ends: a refresh in progress on another machine is waited for, never overwritten."""
        return conn.execute(
            "SELECT blob, grant_type, reconnect_reason, tenant_ids FROM xero_tokens"
            " WHERE practice_id = %s AND connection_key = %s FOR UPDATE",
            (self.practice_id, connection_key),
        ).fetchone()

    def _lock_set(self, conn: Conn, connection_key: str) -> None:
        conn.execute(f"SET LOCAL lock_timeout = '{int(self._lock_wait * 1000)}ms'".encode())
        key = advisory_key("pm-xero refresh", self.practice_id, connection_key)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def _mark(self, conn: Conn, connection_key: str, reason: str) -> None:
        conn.execute(
            "UPDATE xero_tokens SET reconnect_reason = %s, updated_at = %s"
            " WHERE practice_id = %s AND connection_key = %s",
            (reason, self._clock(), self.practice_id, connection_key),
        )

    def _store_after_lost_commit(
        self, connection_key: str, current: TokenSet, fresh: TokenSet
    ) -> TokenSet:
        """Store ``fresh`` (refreshed from ``current``) whose commit was lost – unless the row no
        longer holds ``current``: someone stored a newer set meanwhile, and that one is used."""
        with self._transaction("store the refreshed Xero tokens") as conn:
            self._lock_set(conn, connection_key)
            row = self._locked(conn, connection_key)
            if row is None:
                raise ReconnectRequired(f"no Xero connection for {connection_key!r}")
            stored = self._open(connection_key, row[0], row[3])
            if stored.refresh_token != current.refresh_token:
                return stored
            tenants = _tenant_list(connection_key, row[3])
            self._write(conn, connection_key, fresh, str(row[1]), tenants)
        return fresh

    def _thread_lock(self, connection_key: str) -> threading.Lock:
        """One refresh per set in this process at a time: the others wait here, not on a
        pooled connection each."""
        with self._locks_guard:
            lock = self._locks.get(connection_key)
            if lock is None:
                lock = self._locks[connection_key] = threading.Lock()
            return lock

    def _write(
        self,
        conn: Conn,
        connection_key: str,
        tokens: TokenSet,
        grant_type: str,
        tenant_ids: list[str],
        *,
        keep_mark: bool = False,
    ) -> None:
        query = _UPSERT if keep_mark else _UPSERT + _CLEAR_MARK
        conn.execute(
            query.encode(),
            (
                self.practice_id,
                connection_key,
                grant_type,
                self._seal(connection_key, tokens, tenant_ids),
                json.dumps(tenant_ids),
                self._clock(),
            ),
        )

    def _seal(self, connection_key: str, tokens: TokenSet, tenant_ids: list[str]) -> bytes:
        """The set as stored: encrypted, bound to this practice, connection and organisations."""
        data = json.loads(tokens._to_json(connection_key, tenant_ids))
        data["practice_id"] = self.practice_id
        return self._fernet.encrypt(json.dumps(data).encode())

    def _unseal(self, connection_key: str, blob: Any) -> tuple[TokenSet, list[str]]:
        """The tokens in ``blob`` and the organisations they were sealed with; refused unless
        sealed for this practice and ``connection_key``."""
        try:
            data = json.loads(self._fernet.decrypt(bytes(blob)))
            tokens = TokenSet._from_json(data)
        except (InvalidToken, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StoredTokensUnreadable(connection_key) from exc
        if data.get("practice_id") != self.practice_id:
            raise StoredTokensUnreadable(connection_key, "holds another practice's tokens")
        if data.get("connection_key") != connection_key:
            raise StoredTokensUnreadable(connection_key, "holds another connection's tokens")
        sealed = data.get("tenant_ids")
        if not isinstance(sealed, list):
            raise StoredTokensUnreadable(connection_key)
        return tokens, [str(t) for t in sealed]

    def _open(self, connection_key: str, blob: Any, tenant_column: Any) -> TokenSet:
        """The tokens of a row, checked: sealed for this practice and connection key, and the
        row names no organisation they were not granted for."""
        tokens, sealed = self._unseal(connection_key, blob)
        if not set(_tenant_list(connection_key, tenant_column)) <= set(sealed):
            raise StoredTokensUnreadable(
                connection_key, "lists an organisation its tokens were not granted for"
            )
        return tokens


def _unreachable(what: str, exc: BaseException) -> TransientError:
    return TransientError(
        f"could not {what}: the add-on's PostgreSQL cannot be reached ({type(exc).__name__});"
        " nothing was sent to Xero, it is tried again later"
    )


if TYPE_CHECKING:  # the store stands in for TokenStore wherever a TokenStorage is taken
    _CONFORMS: type[TokenStorage] = PostgresTokenStore
