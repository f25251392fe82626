"""Start-up that does not give up: a ledger that cannot be opened is said in words, with what to
do, and opening it is tried again in the background until it works.

A ledger can fail to open for a passing reason (a full disk, another process holding it) or for
one only a person can fix (it was written by a newer version of the add-on; it is damaged,
truncated, not a ledger at all). Either way the dashboard must say which, and what to do, even
though there is no engine to ask; and records the host sends meanwhile are kept in the spool
(:mod:`pm_xero_plugin.core.handoff`) and written once it opens.

A ledger started afresh (deleted, or moved aside because it was damaged) while organisations
are connected is no failure, but a person should know: Xero already holds the records the old
ledger knew were sent, and they are matched by their number rather than sent again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pm_xero_plugin.core.handoff import Backoff
from pm_xero_plugin.core.health import Condition, Health, ledger_error_condition
from pm_xero_plugin.ledger.interface import Ledger, LedgerTooNew, LedgerUnreadable

__all__ = [
    "FRESH",
    "FRESH_META",
    "LEDGER_OPEN",
    "Retrying",
    "connected_before",
    "ledger_exists",
    "open_failure",
    "report_fresh_ledger",
]

log = logging.getLogger("pm_xero_plugin")

LEDGER_OPEN = "ledger_unopened"
"""The health condition: the ledger cannot be opened, so the add-on has not started."""

FRESH = "ledger_started_afresh"
"""The health condition (a warning): a new ledger over organisations already connected."""

FRESH_META = "started_afresh"
"""Ledger meta key (JSON: when, and which connections) set on a ledger started afresh while
organisations were connected: what was sent before is in Xero, not in this ledger."""

_KEPT = "records from Pet Manager are kept meanwhile and written once it opens"

_DAMAGED_CODES = frozenset({11, 26})
"""SQLITE_CORRUPT, SQLITE_NOTADB."""


def open_failure(exc: BaseException, path: Path) -> Condition:
    """Why the engine could not start, in words with what to do, as a :data:`LEDGER_OPEN`
    condition."""
    if isinstance(exc, LedgerTooNew):
        message = (
            f"the add-on cannot open its ledger: it was written by a newer version of the add-on "
            f"(schema {exc.version}; this one reads up to {exc.supported}) at {path}"
        )
        action = (
            f"upgrade the add-on, or restore the ledger from a backup this version wrote; {_KEPT}"
        )
    elif _damaged(exc):
        message = (
            f"the add-on cannot open its ledger: the file is damaged or is not a ledger at "
            f"{path} ({exc})"
        )
        action = (
            "restore it from a backup, or move it aside: the add-on then starts a fresh one and "
            f"matches what Xero already holds by number; {_KEPT}"
        )
    elif isinstance(exc, sqlite3.Error | OSError):
        condition = ledger_error_condition(exc, path)
        message = condition.message.replace("cannot write its ledger", "cannot open its ledger")
        action = condition.action
    else:
        message = f"the add-on could not start: {type(exc).__name__}: {exc}"
        action = f"see the host's log for the details; start-up is tried again, and {_KEPT}"
    return Condition(LEDGER_OPEN, message, action + "; start-up is tried again by itself")


def _damaged(exc: BaseException) -> bool:
    if isinstance(exc, LedgerUnreadable):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return type(exc) is sqlite3.DatabaseError
    return bool(code & 0xFF in _DAMAGED_CODES)


def ledger_exists(path: Path) -> bool:
    """Whether a ledger was there before this start-up (an empty file is none: SQLite makes
    one when it cannot finish creating it)."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def connected_before(data_dir: Path, secret: bytes) -> list[str]:
    """The connections the token store in ``data_dir`` holds (without creating one): what
    says organisations were connected before this ledger existed."""
    tokens = data_dir / "tokens.sqlite3"
    if not tokens.exists():
        return []
    try:
        from pm_xero_plugin.xero.tokens import TokenStore

        return TokenStore(tokens, secret).connection_keys()
    except Exception as exc:  # the warning is a courtesy: never a reason not to start
        log.warning("xero: cannot read the token store's connections (%s)", exc)
        return []


def report_fresh_ledger(health: Health, ledger: Ledger, connections: list[str]) -> None:
    """Warn that a ledger was started afresh while organisations were connected, and note it
    in the ledger (:data:`FRESH_META`)."""
    listed = ", ".join(connections)
    log.warning("xero: a new ledger was started while organisations were connected (%s)", listed)
    health.report(
        FRESH,
        "the ledger was started afresh while organisations were connected "
        f"({len(connections)} connection{'s' if len(connections) != 1 else ''}: {listed}): "
        "it does not know what was sent to Xero before",
        "if the old ledger was deleted or moved by mistake, stop the host and put it back; "
        "otherwise nothing to do: contacts and documents Xero already holds are matched by "
        "their number, not sent twice",
        severity="warning",
    )
    try:
        with ledger.transaction():
            ledger.set_meta(
                FRESH_META,
                json.dumps(
                    {
                        "at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "connections": connections,
                    }
                ),
            )
    except Exception as exc:
        log.warning("xero: cannot note the fresh ledger in it (%s)", exc)


class Retrying:
    """Call ``attempt`` on a background thread, with a backoff
    (:class:`~pm_xero_plugin.core.handoff.Backoff`), until it returns ``True`` or :meth:`stop`."""

    def __init__(self, name: str, attempt: Callable[[], bool]) -> None:
        self._attempt = attempt
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Begin trying (after the first pause: the caller has just tried)."""
        self._thread.start()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (an attempt in progress checks before it acts)."""
        return self._stopping.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop trying; waits up to ``timeout`` for an attempt in progress."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stopping.wait(backoff.next()):
            try:
                if self._attempt():
                    return
            except Exception:  # the thread must outlive anything: start-up is still wanted
                log.exception("xero: a start-up attempt failed")
