"""Which ledger a practice gets: the SQLite file in its data directory, or PostgreSQL.

``PM_XERO_LEDGER`` chooses: unset or empty keeps the embedded default (a SQLite file per
practice); a ``postgresql://`` (or ``postgres://``) URL puts every practice of the process in one
PostgreSQL database, each scoped to its practice id. :class:`LedgerBackends` keeps one
:class:`~pm_xero_plugin.ledger.postgres_store.PgStore` (one connection pool) per URL for the
process, however many practices it serves.

The plugin imports this module on the hook path: psycopg is imported only when a PostgreSQL
ledger is opened, never here at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.interface import Dependants, Ledger
    from pm_xero_plugin.ledger.postgres_store import PgStore

__all__ = ["LEDGER_ENV", "LedgerBackends", "ledger_url"]

LEDGER_ENV: Final = "PM_XERO_LEDGER"
"""The environment variable naming the ledger's PostgreSQL (unset: SQLite per practice)."""

_SCHEMES: Final = ("postgresql://", "postgres://")


def _shown(value: str) -> str:
    """``value`` as a message may show it: a URL's password blanked (``user:***@host``)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value if len(value) <= 80 else value[:77] + "..."
    who, at, where = rest.rpartition("@")
    if at and ":" in who:
        who = who.split(":", 1)[0] + ":***"
    return f"{scheme}://{who}{at}{where}"


def ledger_url(env: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL URL ``PM_XERO_LEDGER`` names, or ``None`` for SQLite (unset or empty).

    :raises ValueError: the value is not a PostgreSQL URL (the message names the variable and
        never shows a password).
    """
    value = (os.environ if env is None else env).get(LEDGER_ENV, "").strip()
    if not value:
        return None
    if value.lower().startswith(_SCHEMES):
        _check_parses(value)
        return value
    raise ValueError(
        f"{LEDGER_ENV}={_shown(value)} is not a PostgreSQL URL (postgresql://user@host/db): "
        "fix or unset it"
    )


def _check_parses(value: str) -> None:
    """A URL libpq cannot read (a bracket left open, an unknown parameter) is the operator's
    typo: said now, naming the variable, its password blanked – not, later, as the driver's own
    message with the whole URL in it. (psycopg is imported only here, once a URL is set.)"""
    try:
        from psycopg import ProgrammingError, conninfo
    except ImportError:
        raise ValueError(
            f"{LEDGER_ENV} names a PostgreSQL ledger, but psycopg is not installed: "
            "pip install 'pm-xero-plugin[fleet]'"
        ) from None
    try:
        conninfo.conninfo_to_dict(value)
    except ProgrammingError:
        raise ValueError(
            f"{LEDGER_ENV}={_shown(value)} is not a URL PostgreSQL can read "
            "(postgresql://user:password@host:5432/db): fix or unset it"
        ) from None


OWNER_FILE: Final = "ledger-owner"
"""The file in a practice's data directory naming it to the shared ledger (a random id)."""

OWNER_META: Final = "owner"
"""The practice's ledger value that names the data directory its rows belong to."""


def claim_practice(ledger: Ledger, practice_id: str, data_dir: Path) -> None:
    """Make sure the shared ledger's rows of ``practice_id`` are this data directory's.

    Practice ids are the host's: two hosts (or two many-practice roots) pointed at one
    database with the same id – two one-practice hosts are both ``practice-1`` – would send
    and settle each other's records, and seal tokens over each other's. So each data directory
    carries a random id of its own (:data:`OWNER_FILE`, copied with it, as a backup restored
    elsewhere is the same practice), and the practice's rows remember the first that opened
    them.

    :raises LedgerUnavailable: the practice's rows belong to another data directory (in words,
        with what to do).
    """
    from pm_xero_plugin.ledger.interface import LedgerUnavailable

    mine = _owner_id(data_dir / OWNER_FILE)
    with ledger.transaction():
        theirs = ledger.meta(OWNER_META)
        if theirs is None:
            ledger.set_meta(OWNER_META, mine)
            return
    if theirs != mine:
        ledger.close()
        raise LedgerUnavailable(
            f"practice {practice_id!r}'s rows in the PostgreSQL ledger belong to another host "
            f"data directory than {data_dir}: give each practice an id of its own (two hosts "
            "sharing one database must not both call theirs the same), or point "
            f"{LEDGER_ENV} at a database of this host's own"
        )


def _owner_id(path: Path) -> str:
    """The data directory's id, made by whichever process comes first (``O_EXCL``: the host and
    a worker opening a new practice at once agree on one)."""
    import uuid

    from pm_xero_plugin.private_files import FILE_MODE, private_folder

    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        for _ in range(50):  # the first writer may not have written it yet
            found = path.read_text(encoding="utf-8").strip()
            if found:
                return found
            threading.Event().wait(0.02)
        raise
    made = uuid.uuid4().hex
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(made + "\n")
        out.flush()
        os.fsync(out.fileno())
    return made


class LedgerBackends:
    """The ledgers of one process: SQLite files, and one PostgreSQL store per URL (opened on
    first use, closed by :meth:`close`)."""

    def __init__(self) -> None:
        self._stores: dict[str, PgStore] = {}
        self._lock = threading.Lock()

    def open(
        self,
        practice_id: str,
        data_dir: Path,
        *,
        clock: Callable[[], datetime],
        dependants: Dependants | None,
        url: str | None,
    ) -> Ledger:
        """The ledger of ``practice_id``: ``data_dir/ledger.sqlite3`` when ``url`` is ``None``,
        else its view of the PostgreSQL store at ``url``.

        :raises LedgerUnavailable: the PostgreSQL server cannot be reached (in words).
        :raises LedgerTooNew: the database was written by a newer add-on.
        """
        if url is None:
            from pm_xero_plugin.ledger.sqlite import SqliteLedger

            return SqliteLedger(data_dir / "ledger.sqlite3", clock=clock, dependants=dependants)
        ledger = self.store(url).ledger(practice_id, clock=clock, dependants=dependants)
        claim_practice(ledger, practice_id, data_dir)
        return ledger

    def store(self, url: str) -> PgStore:
        """The PostgreSQL store at ``url`` (opened, and migrated, on first use)."""
        with self._lock:
            found = self._stores.get(url)
            if found is None:
                from pm_xero_plugin.ledger.postgres_store import PgStore

                found = self._stores[url] = PgStore.open(url)
            return found

    def close(self) -> None:
        """Close every PostgreSQL store this process opened (their ledgers are unusable)."""
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()
