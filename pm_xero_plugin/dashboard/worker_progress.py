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
from typing import Any

__all__ = ["WorkerProgress", "describe_wait"]

_WAITS = {
    "minute": "Xero's minute limit",
    "day": "Xero's daily limit",
    "concurrent": "Xero's concurrent-call limit",
    "app-minute": "Xero's app-wide minute limit",
}


def describe_wait(reason: str) -> str | None:
    """Words for a limiter reason (``local-minute``, ``blocked-day``, …), ``None`` for a
    too-short-to-mention wait on a concurrency slot."""
    if reason in ("local-concurrent", "probing-minute", ""):
        return None
    if reason == "app-minute":
        return _WAITS["app-minute"]
    problem = reason.split("-", 1)[-1]
    return _WAITS.get(problem, f"Xero's limit ({reason})")


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
        worker: Any,
        ledger: Any,
        limiter: Any,
        now: Callable[[], Any],
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
            if state in ("ready", "sending", "retrying"):
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
