"""The Xero side's own tables in PostgreSQL: shared limits (``xero_limit_*``) and tokens.

They live in the ledger's database but are not the ledger's: the ledger's migrations do not know
them and they do not know the ledger's. Each component (``limits``, ``tokens``) keeps its version
in ``xero_schema_versions`` and brings its tables up to date when it is opened, under a
transaction-scoped advisory lock so that many workers starting at once create them once
(``CREATE TABLE IF NOT EXISTS`` alone races in PostgreSQL's catalogue). A database written by a
newer add-on is refused with words rather than used half-understood.

Only the PostgreSQL path imports this module (it imports psycopg).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

__all__ = ["Conn", "Pool", "SharedTablesTooNew", "advisory_key", "ensure_tables"]

Conn = psycopg.Connection[tuple[Any, ...]]
"""A pooled connection (rows as tuples), as the ledger's store hands them out."""

Pool = ConnectionPool[Conn]
"""The connection pool the limits and tokens share with the ledger (``PgStore.pool``)."""


class SharedTablesTooNew(RuntimeError):
    """The database's Xero tables were written by a newer add-on than this one."""


def advisory_key(*parts: str) -> int:
    """A PostgreSQL advisory-lock key (a positive ``bigint``) naming ``parts``.

    A 63-bit hash: two different names share a key with odds of about one in 10^18, and the
    key's halves (``pg_locks.classid`` and ``objid``) stay below 2^31, so a query can put the
    key back together without overflow.
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


_LOCK = advisory_key("pm-xero", "xero tables")

_ENSURED: weakref.WeakKeyDictionary[Pool, dict[str, int]] = weakref.WeakKeyDictionary()
"""Per pool, the components already brought up to date (a practice's store opens once each)."""
_ENSURED_LOCK = threading.Lock()

_VERSIONS = """
CREATE TABLE IF NOT EXISTS xero_schema_versions (
    component text PRIMARY KEY,
    version   integer NOT NULL
)
"""


def ensure_tables(pool: Pool, component: str, steps: Sequence[Sequence[str]]) -> int:
    """Bring ``component``'s tables to version ``len(steps)``: step ``i`` (statements run in
    order) takes them from version ``i`` to ``i + 1``. Returns the version.

    :raises SharedTablesTooNew: the database holds a newer version than ``steps`` describes.
    """
    target = len(steps)
    with _ENSURED_LOCK:
        if _ENSURED.get(pool, {}).get(component) == target:
            return target
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(_VERSIONS)
        row = conn.execute(
            "SELECT version FROM xero_schema_versions WHERE component = %s", (component,)
        ).fetchone()
        current = 0 if row is None else int(row[0])
        if current > target:
            raise SharedTablesTooNew(
                f"the database's Xero {component} tables are version {current}, newer than "
                f"this add-on knows ({target}): upgrade the add-on on every machine"
            )
        for step in steps[current:]:
            for statement in step:
                conn.execute(statement.encode())
        if current != target:
            conn.execute(
                "INSERT INTO xero_schema_versions (component, version) VALUES (%s, %s)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, target),
            )
    with _ENSURED_LOCK:
        _ENSURED.setdefault(pool, {})[component] = target
    return target
