"""Xero's limits and each practice's tokens, shared through the PostgreSQL ledger's database.

With ``PM_XERO_LEDGER`` naming a PostgreSQL database, the host's add-on (its pages connect a
location, its worker threads may send) and every ``pm-xero worker`` process on every machine
must agree on two things besides the ledger:

* **Xero's limits** – per organisation 5 calls in flight and 60 a minute, the day limit, and the
  app's 10,000 a minute – are the organisation's and the app's, not a process's:
  :class:`~pm_xero_plugin.xero.pg_limits.PostgresRateLimiter` keeps them in the database, per
  Xero server (a sandbox on another port is another server with windows of its own).
* **A practice's tokens**: Xero rotates the refresh token on every refresh, so a worker on one
  machine that refreshed and a host on another that kept its own copy would lock each other
  out. :class:`~pm_xero_plugin.xero.pg_tokens.PostgresTokenStore` keeps them in the database
  (sealed with the practice's own key), refreshed single-flight across machines.

A practice that was connected before its ledger moved to PostgreSQL has its tokens in its data
directory's ``tokens.sqlite3``: the first time its shared store is opened, each connection the
database does not have yet is copied in (the file is left as it was; from then on the database's
copy is the one that is refreshed).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from pm_xero_plugin.xero.pg_schema import Pool
    from pm_xero_plugin.xero.ratelimit import Clock, Limits
    from pm_xero_plugin.xero.tokens import TokenStorage

__all__ = ["import_file_tokens", "limits_scope", "shared_limits", "shared_tokens"]

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens.sqlite3"
"""A practice's token file in its data directory (``xero.tokens.TokenStore``)."""


def limits_scope(api_url: str) -> str:
    """Which Xero the shared limits are for: its API's host and port."""
    netloc = httpx.URL(api_url).netloc.decode("ascii", "replace")
    return re.sub(r"[^A-Za-z0-9.-]+", "_", netloc)[:80] or "server"


def shared_limits(pool: Pool, api_url: str, clock: Clock | None = None) -> Limits:
    """Xero's limits for the server at ``api_url``, kept in the database for every process."""
    from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter

    return PostgresRateLimiter(pool, clock=clock, scope=limits_scope(api_url))


def import_file_tokens(target: TokenStorage, data_dir: Path, secret: bytes) -> int:
    """Copy the connections of ``data_dir``'s token file that ``target`` lacks; returns how
    many. A file that cannot be read is left alone (logged): the admin connects again."""
    path = Path(data_dir) / TOKENS_FILE
    if not path.is_file():
        return 0
    from pm_xero_plugin.xero.tokens import TokenStore

    copied = 0
    try:
        source = TokenStore(path, secret)
        have = set(target.connection_keys())
        for key in source.connection_keys():
            tokens = source.load(key)
            if key in have or tokens is None:
                continue
            target.save(
                key,
                tokens,
                grant_type=source.grant_type(key) or "authorization_code",
                tenant_ids=source.tenant_ids(key),
            )
            reason = source.reconnect_reason(key)
            if reason:
                target.mark_reconnect(key, reason)
            copied += 1
    except Exception:
        log.exception("xero: the tokens in %s could not be copied to the shared store", path)
    if copied:
        log.info("xero: %d connection(s) of %s now kept in PostgreSQL", copied, path)
    return copied


def shared_tokens(pool: Pool, practice_id: str, secret: bytes, data_dir: Path) -> TokenStorage:
    """The practice's tokens in the database (its file's connections copied in once)."""
    from pm_xero_plugin.xero.pg_tokens import PostgresTokenStore

    store = PostgresTokenStore(pool, practice_id, secret)
    import_file_tokens(store, data_dir, secret)
    return store
