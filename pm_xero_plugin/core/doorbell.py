"""The doorbell between the engine and the worker: "rows became ready, look now".

The engine rings it after a write that made rows ready (a hook's record, an opened gate, an
admin's retry); the worker waits on it between polls instead of sleeping its whole poll
interval. It replaces the ledger's ``on_ready`` callbacks: the ledger no longer calls anybody,
and both ends are handed the same doorbell at construction.

A ring is a level, not a count: rings before a wait are remembered (one wait returns at once,
however many rings there were), so a ring between two looks is never lost.
"""

from __future__ import annotations

import threading

__all__ = ["Doorbell"]


class Doorbell:
    """A thread-safe "something changed" signal from any thread to one waiting thread."""

    def __init__(self) -> None:
        self._rung = threading.Event()

    def ring(self) -> None:
        """Say that work may be ready (cheap: callable on a hook's thread, inside a lock)."""
        self._rung.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for a ring; ``True`` if it rang (since the last wait).

        Clears the ring before returning, so the next wait blocks until the next ring. The
        waiter looks at the ledger after each return anyway: a ring that lands between the
        wake-up and the clear is covered by that look.
        """
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung
