"""The add-on's health: what stops it doing its job right now, said in words, with what to do.

The counts on the dashboard say what the *records* are doing; they cannot say that the add-on
itself is stuck (a full disk, a ledger another process holds, a ledger it cannot read, tokens it
cannot decrypt). Each part that meets such a condition reports it here under a stable name and
clears it when the condition is gone; the dashboard (``sync_status``'s ``health``, ``pm-xero
status``) lists what is reported. One :class:`Health` outlives the engine (the plugin keeps it),
so a ledger that cannot even be opened is still reported.

A condition is a fact about now, not a log line: reporting the same name again replaces it (the
first time it was seen is kept), and nothing here grows without bound.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pm_xero_plugin.ledger.interface import LedgerBusyHere

__all__ = ["Condition", "Health", "Severity", "ledger_error_condition"]

Severity = Literal["error", "warning"]
"""``error``: records are not moving (or not being kept); ``warning``: they move, but a person
should know (a fresh ledger over an organisation that already holds our records, say)."""


@dataclass(frozen=True)
class Condition:
    """One health problem: ``name`` is stable (for code and tests), the rest is for people."""

    name: str
    message: str
    """What is wrong, in the admin's words (``the add-on cannot write its ledger: disk full at
    /var/lib/pm/xero/ledger.sqlite3``)."""
    action: str
    """What to do about it (``free space on that disk; nothing is lost …``)."""
    severity: Severity = "error"
    since: str = ""
    """ISO time the condition was first reported (kept while it is reported again)."""
    count: int = 1
    """How many times it was reported since it was first seen."""

    def as_dict(self) -> dict[str, object]:
        """The JSON shape the dashboard shows."""
        return {
            "condition": self.name,
            "severity": self.severity,
            "message": self.message,
            "action": self.action,
            "since": self.since,
            "count": self.count,
        }


class Health:
    """The conditions reported now; thread-safe (hooks, the worker and jobs all report)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[str, Condition] = {}

    def report(self, name: str, message: str, action: str, *, severity: Severity = "error") -> None:
        """Report (or refresh) condition ``name``."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            old = self._conditions.get(name)
            if old is None:
                self._conditions[name] = Condition(name, message, action, severity, now)
            else:
                self._conditions[name] = replace(
                    old, message=message, action=action, severity=severity, count=old.count + 1
                )

    def report_condition(self, condition: Condition) -> None:
        """Report a condition built elsewhere (see :func:`ledger_error_condition`)."""
        self.report(
            condition.name, condition.message, condition.action, severity=condition.severity
        )

    def clear(self, name: str) -> None:
        """The condition is gone (no-op when it was not reported)."""
        with self._lock:
            self._conditions.pop(name, None)

    def clear_prefix(self, prefix: str) -> None:
        """Clear every condition whose name starts with ``prefix`` (``tokens:``, say)."""
        with self._lock:
            for name in [n for n in self._conditions if n.startswith(prefix)]:
                del self._conditions[name]

    def get(self, name: str) -> Condition | None:
        """The condition reported under ``name``, if any."""
        with self._lock:
            return self._conditions.get(name)

    def conditions(self) -> list[Condition]:
        """Every condition reported now, errors first, then by name."""
        with self._lock:
            found = list(self._conditions.values())
        return sorted(found, key=lambda c: (c.severity != "error", c.name))

    def as_list(self) -> list[dict[str, object]]:
        """:meth:`conditions` in the dashboard's JSON shape."""
        return [c.as_dict() for c in self.conditions()]


LEDGER_WRITE = "ledger_unwritable"
"""The condition name for a ledger that cannot be written (full disk, locked, read-only)."""


def ledger_error_condition(exc: BaseException, path: Path | str) -> Condition:
    """What a ledger error means for the admin, as a :data:`LEDGER_WRITE` condition.

    SQLite says ``database or disk is full`` / ``database is locked`` / ``attempt to write a
    readonly database``; the OS says ``ENOSPC`` / ``EROFS`` / ``EACCES``. Each becomes one
    sentence naming the file, and what to do; nothing is lost meanwhile (records are kept and
    written once the ledger can be), which the action says so the admin does not re-enter them.
    A wait for this process's own write (:class:`LedgerBusyHere`) is no lock to hunt down: a
    warning in its own words.
    """
    if isinstance(exc, LedgerBusyHere):
        return _busy_here()
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    keep = "nothing is lost: records are kept and written once it can be"
    if "full" in text or code == errno.ENOSPC:
        what, todo = f"disk full at {path}", f"free space on that disk; {keep}"
    elif "locked" in text or "busy" in text:
        what = f"it is locked by another process at {path}"
        todo = f"stop the other process holding it (a second add-on or a backup tool); {keep}"
    elif "readonly" in text or "read-only" in text or code in (errno.EROFS, errno.EACCES):
        what = f"it is read-only at {path}"
        todo = f"give the host's user write access to it and its folder; {keep}"
    elif isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
        what = f"the file is damaged at {path}"
        todo = "restore it from a backup, or move it aside to start a fresh one"
    else:
        what = f"{type(exc).__name__}: {exc} at {path}"
        todo = f"check the disk and the file's permissions; {keep}"
    return Condition(LEDGER_WRITE, f"the add-on cannot write its ledger: {what}", todo)


def _busy_here() -> Condition:
    """A hook waited past its bound for this process's own write (a back-sync or reconciliation
    batch on another thread): the records move, a moment late – a warning, and no "stop the other
    process", as there is none."""
    return Condition(
        LEDGER_WRITE,
        "the add-on is busy writing its ledger (a back-sync or reconciliation batch)",
        "nothing to do: records wait a moment and are written in order",
        severity="warning",
    )
