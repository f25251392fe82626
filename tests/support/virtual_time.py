"""The tests' one virtual clock: monotonic time that sleeps move at once.

The Xero client, the rate limiter and the worker take a clock with ``monotonic()`` and
``sleep()``. A test gives them this one so that a back-off of 8 s or a 60 s wait for Xero's
minute limit costs nothing and still expires what the real wait would expire. Two flavours, one
class:

* ``VirtualTime(start=1000.0)`` – time stands still until slept on or advanced (unit tests that
  count the exact waits; every sleep is recorded in :attr:`sleeps`);
* ``VirtualTime(host_clock=..., sandbox_clock=...)`` – real time flows and sleeps jump ahead; the
  host's and the sandbox's clocks move with every jump (end-to-end tests with a worker thread),
  so a token expiry or a minute window passes for everyone at once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from hookspecs.refhost import ManualClock
from pm_xero_plugin.sandbox import SandboxClock


class VirtualTime:
    """Monotonic time plus an offset that sleeps and :meth:`advance` move forward."""

    def __init__(
        self,
        start: float | None = None,
        *,
        host_clock: ManualClock | None = None,
        sandbox_clock: SandboxClock | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._offset = 0.0
        self.host_clock = host_clock
        self.sandbox_clock = sandbox_clock
        self.sleeps: list[float] = []

    @property
    def now(self) -> float:
        """The current reading (what :meth:`monotonic` returns)."""
        return self.monotonic()

    @now.setter
    def now(self, value: float) -> None:
        with self._lock:
            base = time.monotonic() if self._start is None else self._start
            self._offset = value - base

    def monotonic(self) -> float:
        """Seconds, never going back: frozen or real time, plus every jump so far."""
        with self._lock:
            base = time.monotonic() if self._start is None else self._start
            return base + self._offset

    def sleep(self, seconds: float) -> None:
        """Record the sleep and jump ahead instead of waiting."""
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move this clock, and the host's and sandbox's clocks given, ``seconds`` ahead."""
        with self._lock:
            self._offset += seconds
            if self.host_clock is not None:
                self.host_clock.advance(timedelta(seconds=seconds))
            if self.sandbox_clock is not None:
                self.sandbox_clock.advance(seconds)
