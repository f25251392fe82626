"""Fault injection per organisation: what a client must survive, on demand and replayable.

Random faults draw from a ``random.Random`` seeded per organisation, so a failing test replays
exactly; ``script`` forces the next outcomes one by one for tests that pin down a single path.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from .locks import LockDates

__all__ = ["OUTCOMES", "Faults"]

#: What `Faults.script` may contain.
OUTCOMES = frozenset(
    {"ok", "500", "502", "503", "504", "offline", "timeout", "lost", "429", "token_expired"}
)


@dataclass
class Faults:
    """Mutable fault configuration of one organisation (see ``Sandbox.faults``).

    - ``error_rate``: probability of a transient 500/502/503/504 before the request is handled.
    - ``offline``: every call answers 503 "Organisation offline".
    - ``timeout_rate``: the request is never answered (nothing written).
    - ``lost_response_rate``: the request is handled and committed, then the answer is lost.
    - ``lock_date``: the period lock date ("stop all users except advisers"): documents dated on
      or before it are refused unless the connected user is an adviser.
    - ``end_of_year_lock_date``: the end-of-year lock date ("stop all users"): refused for
      everyone, advisers included.
    - ``adviser``: the user who connected the app has the adviser role in this organisation
      (default ``False``, a standard user) – see :mod:`pm_xero_plugin.sandbox.locks`.
    - ``hang_seconds``: real seconds the loopback server holds a timed-out/lost connection before
      dropping it (the in-process transport raises ``httpx.ReadTimeout`` at once).
    - ``script``: exact next outcomes, consumed first: any of `OUTCOMES`.
    - ``gate``: when set to an unset ``threading.Event``, requests wait on it *while holding a
      concurrency slot* – how tests fill the 5 concurrent slots without sleeping.
    """

    seed: str = "0"
    error_rate: float = 0.0
    offline: bool = False
    timeout_rate: float = 0.0
    lost_response_rate: float = 0.0
    lock_date: date | None = None
    end_of_year_lock_date: date | None = None
    adviser: bool = False
    hang_seconds: float = 0.0
    script: deque[str] = field(default_factory=deque)
    gate: threading.Event | None = None
    _rng: random.Random = field(init=False, repr=False)
    _expire: Callable[[], None] | None = field(default=None, repr=False)
    _disconnect: Callable[[], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def locks(self) -> LockDates:
        """The lock dates as they apply to the connected user."""
        return LockDates(self.lock_date, self.end_of_year_lock_date, self.adviser)

    def reseed(self, seed: str) -> None:
        """Restart the random draws from ``seed`` (the same seed replays the same faults)."""
        self._rng = random.Random(seed)

    def expire_tokens_now(self) -> None:
        """Every access token that can reach this organisation expires at the current time."""
        if self._expire:
            self._expire()

    def disconnect(self) -> None:
        """Remove the app's connection to this organisation: calls answer 403 until reconnected."""
        if self._disconnect:
            self._disconnect()

    def clear(self) -> None:
        """Back to a healthy organisation (lock dates and role kept: bookkeeping, not faults)."""
        self.error_rate = self.timeout_rate = self.lost_response_rate = 0.0
        self.offline = False
        self.script.clear()

    def next_outcome(self) -> str:
        """The outcome of the next call: scripted first, then offline, then random draws."""
        if self.script:
            outcome = self.script.popleft()
            if outcome not in OUTCOMES:
                raise ValueError(
                    f"unknown scripted outcome {outcome!r}; use one of {sorted(OUTCOMES)}"
                )
            return outcome
        if self.offline:
            return "offline"
        if not (self.error_rate or self.timeout_rate or self.lost_response_rate):
            return "ok"
        roll = self._rng.random()
        if roll < self.error_rate:
            return self._rng.choice(["500", "502", "503", "504"])
        roll -= self.error_rate
        if roll < self.timeout_rate:
            return "timeout"
        roll -= self.timeout_rate
        if roll < self.lost_response_rate:
            return "lost"
        return "ok"
