"""Durable, encrypted OAuth2 token sets – and the one-refresh-at-a-time rule.

Xero rotates the refresh token on every refresh: two refreshes racing on one token set leave
one of them with ``invalid_grant`` and, if the winner's new refresh token is lost, the
organisation disconnected. So a token set is refreshed under two locks – a
:class:`threading.Lock` per token set inside the process, and SQLite's write lock
(``BEGIN IMMEDIATE``) held across the refresh HTTP call for every process sharing the file – and
the row is re-read inside them: if someone else already refreshed, their tokens are used. The new
tokens are committed *before* the new access token is handed out.

Tokens are encrypted at rest with Fernet under a key derived (HKDF-SHA256) from the host's
secret for this plugin. Nothing in this module logs a token or puts one in an exception, and
:class:`TokenSet`'s ``repr`` hides them. The file is 0600 (see :mod:`pm_xero_plugin.private_files`).

Each sealed set names its connection key and the organisations it was granted, checked on every
read: a set copied into another location's row, or a row claiming an organisation its set was
never granted, is refused like a set that cannot be decrypted – :class:`StoredTokensUnreadable`,
a :class:`ReconnectRequired` – so nothing is ever sent to Xero with someone else's tokens.

Connection keys name a token set: a location id in per-location mode, ``"shared"`` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pm_xero_plugin.private_files import private_file, private_folder
from pm_xero_plugin.xero.errors import ReconnectRequired, XeroError

__all__ = [
    "MIN_SECRET_BYTES",
    "HostSecretTooShort",
    "PendingFlow",
    "StoredTokensUnreadable",
    "TokenSet",
    "TokenStorage",
    "TokenStore",
    "check_host_secret",
    "derive_fernet_key",
]

_HKDF_INFO = b"pm-xero tokens"

MIN_SECRET_BYTES = 16
"""The shortest host secret the add-on accepts: 128 bits, what the tokens' key stands on (the
contract asks hosts for 32 bytes)."""

UNREADABLE_WHY = "the host's secret changed or the token store was altered"
"""Why a stored token set cannot be used, in the admin's words (decryption and binding alike)."""


class StoredTokensUnreadable(ReconnectRequired):
    """A stored token set cannot be used: it does not decrypt under this host's secret, or it
    was sealed for another connection (a set copied between rows), or its row is garbled. Only
    connecting again mends it – a revoked connection's remedy, hence the base class."""

    def __init__(self, connection_key: str, what: str = "cannot be read") -> None:
        super().__init__(f"the stored Xero connection {connection_key!r} {what} ({UNREADABLE_WHY})")
        self.connection_key = connection_key


class HostSecretTooShort(ValueError):
    """The host gave a secret too short to key the token store (one line: what to fix)."""


def check_host_secret(secret: bytes) -> bytes:
    """``secret`` if it is long enough to key the token store, else :class:`HostSecretTooShort`
    saying in one line what the host must give."""
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        size = len(secret) if isinstance(secret, bytes | bytearray) else 0
        raise HostSecretTooShort(
            f"the host's secret for the Xero add-on is {size} bytes; at least "
            f"{MIN_SECRET_BYTES} are needed to encrypt the Xero tokens (the host contract "
            "gives 32): fix the host's secret"
        )
    return bytes(secret)


#: How long a process waits for another one's refresh (longer than a refresh call's timeouts).
_BUSY_TIMEOUT_SECONDS = 90.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_sets (
    connection_key   TEXT PRIMARY KEY,
    grant_type       TEXT NOT NULL,
    blob             BLOB NOT NULL,
    tenant_ids       TEXT NOT NULL DEFAULT '[]',
    reconnect_reason TEXT,
    updated_at       REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_flows (
    state_hash     TEXT PRIMARY KEY,
    connection_key TEXT NOT NULL,
    verifier       BLOB NOT NULL,
    created_at     REAL NOT NULL
);
"""


def derive_fernet_key(secret: bytes) -> bytes:
    """The Fernet key for token storage: HKDF-SHA256 of the host secret, ``info=b"pm-xero tokens"``.

    A derived key (rather than the secret itself) keeps the tokens' key separate from anything
    else the host secret protects.
    """
    if not secret:
        raise ValueError("the host secret must not be empty")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return base64.urlsafe_b64encode(raw)


@dataclass(frozen=True, repr=False)
class TokenSet:
    """One organisation connection's tokens. ``expires_at`` is wall-clock epoch seconds (it is
    shared between processes, so monotonic time would not do)."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str = ""
    id_token: str | None = None
    token_type: str = "Bearer"

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Whether the access token expires in less than ``seconds`` from ``now``."""
        current = time.time() if now is None else now
        return self.expires_at - current < seconds

    @classmethod
    def from_token_response(cls, payload: dict[str, Any], *, now: float) -> TokenSet:
        """Build from an OAuth2 token endpoint's JSON (``expires_in`` seconds from ``now``)."""
        try:
            access = str(payload["access_token"])
            expires_in = float(payload.get("expires_in", 1800))
        except (KeyError, TypeError, ValueError) as exc:
            raise XeroError("the token endpoint's answer has no usable access_token") from exc
        refresh = payload.get("refresh_token")
        id_token = payload.get("id_token")
        return cls(
            access_token=access,
            refresh_token=str(refresh) if refresh else None,
            expires_at=now + expires_in,
            scope=str(payload.get("scope", "")),
            id_token=str(id_token) if id_token else None,
            token_type=str(payload.get("token_type", "Bearer")),
        )

    def _to_json(self, connection_key: str, tenant_ids: list[str]) -> bytes:
        """The sealed form: the tokens, bound to their connection key and organisations."""
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "scope": self.scope,
                "id_token": self.id_token,
                "token_type": self.token_type,
                "connection_key": connection_key,
                "tenant_ids": tenant_ids,
            }
        ).encode()

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=float(data["expires_at"]),
            scope=data.get("scope", ""),
            id_token=data.get("id_token"),
            token_type=data.get("token_type", "Bearer"),
        )

    def __repr__(self) -> str:
        refresh = "***" if self.refresh_token else None
        return (
            f"TokenSet(access_token=***, refresh_token={refresh}, "
            f"expires_at={self.expires_at:.0f}, scope={self.scope!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class PendingFlow:
    """An authorization started by "Connect to Xero" and not yet completed."""

    connection_key: str
    code_verifier: str = field(repr=False)
    created_at: float


class TokenStorage(Protocol):
    """Where a practice's token sets and pending authorisations are kept: :class:`TokenStore`
    (a SQLite file, one machine) or
    :class:`~pm_xero_plugin.xero.pg_tokens.PostgresTokenStore` (PostgreSQL, every machine).
    Both seal each set with a key derived from the host's secret and refresh it once at a time
    for everyone who shares them."""

    def load(self, connection_key: str) -> TokenSet | None:
        """The stored tokens for ``connection_key``, or ``None`` if never connected."""
        ...

    def save(
        self,
        connection_key: str,
        tokens: TokenSet,
        *,
        grant_type: str = "authorization_code",
        tenant_ids: list[str] | None = None,
    ) -> None:
        """Store (replace) a token set; clears any "reconnect" mark."""
        ...

    def grant_type(self, connection_key: str) -> str | None:
        """How the stored tokens were granted, ``None`` if none."""
        ...

    def tenant_ids(self, connection_key: str) -> list[str]:
        """Tenant ids seen for this connection."""
        ...

    def set_tenant_ids(self, connection_key: str, tenant_ids: list[str]) -> None:
        """Remember the tenants ``/connections`` answered for this connection."""
        ...

    def mark_reconnect(self, connection_key: str, reason: str) -> None:
        """Remember that this connection needs an admin."""
        ...

    def reconnect_reason(self, connection_key: str) -> str | None:
        """Why this connection must be reconnected, or ``None``."""
        ...

    def delete(self, connection_key: str) -> None:
        """Forget this connection's tokens."""
        ...

    def connection_keys(self) -> list[str]:
        """Every connection with stored tokens, sorted."""
        ...

    def refresh_serialised(
        self,
        connection_key: str,
        needs_refresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet, str], TokenSet],
    ) -> TokenSet:
        """Refresh a token set at most once for everyone sharing it; the new set is stored
        before it is returned."""
        ...

    def add_pending_flow(self, state: str, connection_key: str, code_verifier: str) -> None:
        """Remember an authorisation in progress."""
        ...

    def pop_pending_flow(self, state: str, *, max_age: float) -> PendingFlow | None:
        """Take (single use) the flow for ``state``."""
        ...


class TokenStore:
    """Token sets and pending OAuth flows in one SQLite file (``tokens.sqlite3`` in the plugin's
    data directory), encrypted with a key derived from the host secret.

    Safe to share between threads and processes: every operation opens its own connection.
    """

    def __init__(
        self, path: Path, secret: bytes, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self._fernet = Fernet(derive_fernet_key(secret))
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        private_folder(self.path.parent)
        private_file(self.path)  # 0600 before SQLite opens it: its -wal/-shm take its mode
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            self._bind_legacy_sets(conn)

    # -- token sets ---------------------------------------------------------------------------

    def load(self, connection_key: str) -> TokenSet | None:
        """The stored tokens for ``connection_key``, or ``None`` if never connected."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT blob, tenant_ids FROM token_sets WHERE connection_key = ?",
                (connection_key,),
            ).fetchone()
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
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._write(conn, connection_key, tokens, grant_type, tenant_ids)
            conn.execute("COMMIT")

    def grant_type(self, connection_key: str) -> str | None:
        """How the stored tokens were granted (``authorization_code``…), ``None`` if none."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT grant_type FROM token_sets WHERE connection_key = ?", (connection_key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def tenant_ids(self, connection_key: str) -> list[str]:
        """Tenant ids seen for this connection (from ``/connections``)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT tenant_ids FROM token_sets WHERE connection_key = ?", (connection_key,)
            ).fetchone()
        return [] if row is None else _tenant_list(connection_key, row[0])

    def set_tenant_ids(self, connection_key: str, tenant_ids: list[str]) -> None:
        """Remember the tenants ``/connections`` answered for this connection (sealed with the
        tokens again, so that the row cannot claim an organisation the set was not granted).

        A set that cannot be read keeps its seal: narrowing its list is recorded, widening it
        is refused on the next read like any other alteration."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT blob, grant_type FROM token_sets WHERE connection_key = ?",
                (connection_key,),
            ).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                return
            try:
                tokens, _sealed = self._unseal(connection_key, row[0])
            except StoredTokensUnreadable:
                conn.execute(
                    "UPDATE token_sets SET tenant_ids = ?, updated_at = ? WHERE connection_key = ?",
                    (json.dumps(tenant_ids), self._clock(), connection_key),
                )
            else:
                self._write(conn, connection_key, tokens, str(row[1]), tenant_ids, keep_mark=True)
            conn.execute("COMMIT")

    def mark_reconnect(self, connection_key: str, reason: str) -> None:
        """Remember that this connection needs an admin (so nobody hammers the token endpoint)."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE token_sets SET reconnect_reason = ?, updated_at = ?"
                " WHERE connection_key = ?",
                (reason, self._clock(), connection_key),
            )

    def reconnect_reason(self, connection_key: str) -> str | None:
        """Why this connection must be reconnected, or ``None`` if it is usable (or absent)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT reconnect_reason FROM token_sets WHERE connection_key = ?",
                (connection_key,),
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def delete(self, connection_key: str) -> None:
        """Forget this connection's tokens (a disconnect)."""
        with self._connect() as conn:
            conn.execute("DELETE FROM token_sets WHERE connection_key = ?", (connection_key,))

    def connection_keys(self) -> list[str]:
        """Every connection with stored tokens, sorted."""
        with self._connect() as conn:
            rows = conn.execute("SELECT connection_key FROM token_sets ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    def refresh_serialised(
        self,
        connection_key: str,
        needs_refresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet, str], TokenSet],
    ) -> TokenSet:
        """Refresh a token set at most once across threads and processes.

        Inside both locks the row is re-read; ``needs_refresh(current)`` decides whether a refresh
        is still needed (another process may have done it meanwhile). If so,
        ``refresh(current, grant_type)`` performs the HTTP call and its result is committed before
        this returns. If ``refresh`` raises :class:`ReconnectRequired`, the mark is committed too.
        """
        with self._thread_lock(connection_key), self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT blob, grant_type, tenant_ids, reconnect_reason FROM token_sets"
                    " WHERE connection_key = ?",
                    (connection_key,),
                ).fetchone()
                if row is None:
                    raise ReconnectRequired(f"no Xero connection for {connection_key!r}")
                if row[3] is not None:
                    raise ReconnectRequired(str(row[3]))
                current = self._open(connection_key, row[0], row[2])
                if not needs_refresh(current):
                    conn.execute("ROLLBACK")
                    return current
                try:
                    fresh = refresh(current, str(row[1]))
                except ReconnectRequired as exc:
                    conn.execute(
                        "UPDATE token_sets SET reconnect_reason = ?, updated_at = ?"
                        " WHERE connection_key = ?",
                        (exc.message, self._clock(), connection_key),
                    )
                    conn.execute("COMMIT")
                    raise
                if fresh.refresh_token is None and current.refresh_token is not None:
                    fresh = replace(fresh, refresh_token=current.refresh_token)
                tenants = _tenant_list(connection_key, row[2])
                self._write(conn, connection_key, fresh, str(row[1]), tenants)
                conn.execute("COMMIT")
                return fresh
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- pending authorisations ---------------------------------------------------------------

    def add_pending_flow(self, state: str, connection_key: str, code_verifier: str) -> None:
        """Remember an authorisation in progress; only a hash of ``state`` is stored."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO pending_flows (state_hash, connection_key, verifier, created_at)"
                " VALUES (?, ?, ?, ?)",
                (
                    _hash_state(state),
                    connection_key,
                    self._fernet.encrypt(code_verifier.encode()),
                    self._clock(),
                ),
            )

    def pop_pending_flow(self, state: str, *, max_age: float) -> PendingFlow | None:
        """Take (single use) the flow for ``state``; ``None`` if unknown or older than ``max_age``.

        Expired flows are purged on the way.
        """
        now = self._clock()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT connection_key, verifier, created_at FROM pending_flows"
                " WHERE state_hash = ?",
                (_hash_state(state),),
            ).fetchone()
            conn.execute("DELETE FROM pending_flows WHERE state_hash = ?", (_hash_state(state),))
            conn.execute("DELETE FROM pending_flows WHERE created_at < ?", (now - max_age,))
            conn.execute("COMMIT")
        if row is None or now - float(row[2]) > max_age:
            return None
        try:
            verifier = self._fernet.decrypt(row[1]).decode()
        except (InvalidToken, TypeError, ValueError):
            return None  # sealed under another host secret: as good as unknown, connect again
        return PendingFlow(connection_key=str(row[0]), code_verifier=verifier, created_at=row[2])

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def _thread_lock(self, connection_key: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(connection_key)
            if lock is None:
                lock = self._locks[connection_key] = threading.Lock()
            return lock

    def _write(
        self,
        conn: sqlite3.Connection,
        connection_key: str,
        tokens: TokenSet,
        grant_type: str,
        tenant_ids: list[str] | None,
        *,
        keep_mark: bool = False,
    ) -> None:
        if tenant_ids is None:
            row = conn.execute(
                "SELECT tenant_ids FROM token_sets WHERE connection_key = ?", (connection_key,)
            ).fetchone()
            tenant_ids = [] if row is None else _tenant_list(connection_key, row[0])
        blob = self._fernet.encrypt(tokens._to_json(connection_key, tenant_ids))
        mark = "reconnect_reason" if keep_mark else "NULL"
        conn.execute(
            "INSERT INTO token_sets (connection_key, grant_type, blob, tenant_ids,"
            " reconnect_reason, updated_at) VALUES (?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT(connection_key) DO UPDATE SET grant_type = excluded.grant_type,"
            " blob = excluded.blob, tenant_ids = excluded.tenant_ids,"
            f" reconnect_reason = {mark}, updated_at = excluded.updated_at",
            (connection_key, grant_type, blob, json.dumps(tenant_ids), self._clock()),
        )

    def _unseal(self, connection_key: str, blob: Any) -> tuple[TokenSet, list[str] | None]:
        """The tokens in ``blob`` and the organisations they were sealed with (``None``: a set
        sealed before sets were bound). Refused unless sealed for ``connection_key``."""
        try:
            data = json.loads(self._fernet.decrypt(blob))
            tokens = TokenSet._from_json(data)
        except (InvalidToken, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StoredTokensUnreadable(connection_key) from exc
        if "connection_key" not in data:
            return tokens, None
        if data["connection_key"] != connection_key:
            raise StoredTokensUnreadable(connection_key, "holds another connection's tokens")
        sealed = data.get("tenant_ids")
        if not isinstance(sealed, list):
            raise StoredTokensUnreadable(connection_key)
        return tokens, [str(t) for t in sealed]

    def _open(self, connection_key: str, blob: Any, tenant_column: Any) -> TokenSet:
        """The tokens of a row, checked: sealed for this connection key, and the row names no
        organisation they were not granted for."""
        tokens, sealed = self._unseal(connection_key, blob)
        listed = _tenant_list(connection_key, tenant_column)
        if sealed is not None and not set(listed) <= set(sealed):
            raise StoredTokensUnreadable(
                connection_key, "lists an organisation its tokens were not granted for"
            )
        return tokens

    def _bind_legacy_sets(self, conn: sqlite3.Connection) -> None:
        """Seal sets stored before sets were bound to their row, bound to the row they are in
        (what they were trusted with until now); sets that cannot be read are left for
        :meth:`load` to refuse."""
        rows = conn.execute(
            "SELECT connection_key, grant_type, blob, tenant_ids FROM token_sets"
        ).fetchall()
        for key, grant_type, blob, tenants in rows:
            try:
                tokens, sealed = self._unseal(str(key), blob)
                listed = _tenant_list(str(key), tenants)
            except StoredTokensUnreadable:
                continue
            if sealed is None:
                conn.execute("BEGIN IMMEDIATE")
                self._write(conn, str(key), tokens, str(grant_type), listed, keep_mark=True)
                conn.execute("COMMIT")


def _tenant_list(connection_key: str, raw: Any) -> list[str]:
    """A row's organisations: a JSON list of ids, or :class:`StoredTokensUnreadable` (never a
    ``JSONDecodeError`` on a garbled row)."""
    try:
        found = json.loads(raw)
    except (TypeError, ValueError):
        found = None
    if not isinstance(found, list) or not all(isinstance(t, str) and t for t in found):
        raise StoredTokensUnreadable(connection_key, "has a damaged list of organisations")
    return list(found)


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
