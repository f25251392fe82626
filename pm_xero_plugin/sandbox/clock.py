"""The sandbox's clock: every expiry and window is measured on it, so tests never sleep.

Tests move it by hand (`advance`, `set`); the served sandbox lets it run at ``time_scale`` sandbox
seconds per real second, so a demo can watch a 30-minute token expire in seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "SandboxClock"]

#: Anything that returns an aware UTC datetime can drive the sandbox.
Clock = Callable[[], datetime]


class SandboxClock:
    """A controllable UTC clock.

    :param start: the sandbox time at creation (default: the real time now, to the second).
    :param time_scale: sandbox seconds per real second; ``0`` (the default) freezes the clock so
        that only `advance` and `set` move it – what tests want.
    """

    def __init__(self, start: datetime | None = None, *, time_scale: float = 0.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        base = start or datetime.now(UTC).replace(microsecond=0)
        if base.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._lock = threading.Lock()
        self._base = base.astimezone(UTC)
        self._real_base = time.monotonic()
        self._time_scale = float(time_scale)

    @property
    def time_scale(self) -> float:
        """Sandbox seconds per real second (0 stops the clock; tests move it with `advance`)."""
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if value < 0:
            raise ValueError("time_scale must be >= 0")
        with self._lock:
            self._rebase()
            self._time_scale = float(value)

    def _rebase(self) -> None:
        real = time.monotonic()
        elapsed = (real - self._real_base) * self._time_scale
        self._base = self._base + timedelta(seconds=elapsed)
        self._real_base = real

    def now(self) -> datetime:
        """The current sandbox time (aware, UTC)."""
        with self._lock:
            if not self._time_scale:
                return self._base
            elapsed = (time.monotonic() - self._real_base) * self._time_scale
            return self._base + timedelta(seconds=elapsed)

    def __call__(self) -> datetime:
        """The clock is a ``now`` callable too (what the sandbox's parts are given)."""
        return self.now()

    def advance(self, seconds: float) -> datetime:
        """Move sandbox time forward (or back, if negative) and return the new time."""
        with self._lock:
            self._rebase()
            self._base = self._base + timedelta(seconds=seconds)
            return self._base

    def set(self, dt: datetime) -> None:
        """Jump to `dt` (must be timezone-aware)."""
        if dt.tzinfo is None:
            raise ValueError("dt must be timezone-aware")
        with self._lock:
            self._rebase()
            self._base = dt.astimezone(UTC)
