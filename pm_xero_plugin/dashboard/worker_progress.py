"""What a foreground ``pm-xero worker`` is doing, as one line every few seconds.

An operator who starts a worker in a terminal must see it work: how many records reached Xero,
how many failed or will be retried, what is still queued, and – when nothing moves – why
(waiting on one organisation's minute or day limit is a wait, not a hang). The line goes to
stderr, so the final summary on stdout stays one machine-readable line.

It reads only what is cheap and thread-safe: the worker's running totals, the ledger's
``counts`` table (kept by triggers) and the rate limiter's ``wait_for`` (takes nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pm_xero_plugin.ledger.interface import Ledger
from pm_xero_plugin.ledger.states import State
from pm_xero_plugin.xero.client import describe_limit
from pm_xero_plugin.xero.ratelimit import Limits

__all__ = ["Running", "Totals", "WorkerProgress", "describe_wait"]

_TOO_SHORT_TO_MENTION = ("local-concurrent", "probing-minute", "")
"""Limiter reasons for a wait of a moment (a concurrency slot, the probe after a 429)."""


def describe_wait(reason: str) -> str | None:
    """Words for a limiter reason (``local-minute``, ``blocked-day``, …) – the client's own
    (:func:`~pm_xero_plugin.xero.client.describe_limit`) – or ``None`` for a wait too short to
    mention."""
    if reason in _TOO_SHORT_TO_MENTION:
        return None
    return describe_limit(reason)


class Totals(Protocol):
    """The running totals the line reports (a :class:`~pm_xero_plugin.sync.worker.WorkerStats`)."""

    @property
    def synced(self) -> int:
        """Records that reached Xero."""

    @property
    def failed(self) -> int:
        """Records Xero refused."""

    @property
    def retrying(self) -> int:
        """Records that will be sent again."""

    @property
    def api_calls(self) -> int:
        """Calls made to Xero."""


class Running(Protocol):
    """A running worker, as far as its progress line needs it (the dashboard may not import
    the sync package it sits beside)."""

    @property
    def stats(self) -> Totals:
        """Its running totals."""


class WorkerProgress:
    """Prints :meth:`line` every ``every`` seconds while the worker runs, when it changed.

    :param worker: the running :class:`~pm_xero_plugin.sync.worker.Worker` (its ``stats``).
    :param ledger: the ledger (``counts``, ``tenants_with_ready_work``).
    :param limiter: the rate limiter (``wait_for``), or ``None``.
    :param now: the host clock (for which tenants have ready work).
    :param echo: where lines go (stderr in the CLI).
    :param every: seconds between lines (the first one comes after ``every`` too).
    """

    def __init__(
        self,
        worker: Running,
        ledger: Ledger,
        limiter: Limits | None,
        now: Callable[[], datetime],
        echo: Callable[[str], None],
        every: float = 5.0,
    ) -> None:
        self._worker = worker
        self._ledger = ledger
        self._limiter = limiter
        self._now = now
        self._echo = echo
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = ""

    def line(self) -> str:
        """``sent 120 (synced 118, failed 2), retrying 0, 45 API calls; queued: 40 ready, …``"""
        stats = self._worker.stats
        queued: dict[str, int] = {}
        for count in self._ledger.counts():
            state = count["state"]
            if state in (State.READY, State.SENDING, State.RETRYING):
                queued[state] = queued.get(state, 0) + int(count["n"])
        parts = [
            f"synced {stats.synced}, failed {stats.failed}, retrying {stats.retrying}, "
            f"{stats.api_calls} API calls"
        ]
        if any(queued.values()):
            parts.append(
                "queued: " + ", ".join(f"{n} {state}" for state, n in sorted(queued.items()) if n)
            )
        else:
            parts.append("nothing queued (waiting for new records)")
        for wait in self.waits():
            parts.append(wait)
        return "; ".join(parts)

    def waits(self) -> list[str]:
        """``waiting 57 s for Xero's minute limit on T1`` per organisation held by a limit."""
        if self._limiter is None:
            return []
        found = []
        for tenant in self._ledger.tenants_with_ready_work(self._now()):
            wait = self._limiter.wait_for(tenant)
            words = describe_wait(wait.reason) if not wait.ready else None
            if words is not None:
                found.append(f"waiting {wait.seconds:.0f} s for {words} on {tenant}")
        return found

    def tick(self) -> None:
        """Print the line if it differs from the last one printed."""
        text = self.line()
        if text != self._last:
            self._last = text
            self._echo(f"pm-xero worker: {text}")

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.tick()
            except Exception as exc:  # a report must never stop the worker
                self._echo(f"pm-xero worker: (progress unavailable: {type(exc).__name__})")

    def start(self) -> None:
        """Start printing the line every few seconds from a background thread (not when the
        interval is 0, nor twice)."""
        if self._every <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="pm-xero-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
