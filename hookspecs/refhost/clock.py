"""Clocks for the reference host: the real one, and one that tests move by hand.

Plugins must read time from ``host.now()`` only. That is what lets a test jump a practice forward
a week (a start date is reached, a token nears expiry, a lease runs out) without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = ["Clock", "ManualClock", "SystemClock", "local_date"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the host the current, timezone-aware time."""

    def now(self) -> datetime:
        """The current moment (timezone-aware)."""


def local_date(moment: datetime, tz: str | ZoneInfo) -> date:
    """The business date ``moment`` falls on in ``tz``: 23:30 in Sydney is that Sydney day."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return moment.astimezone(zone).date()


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"clock time must be timezone-aware, got naive {moment.isoformat()}")
    return moment


class SystemClock:
    """The real clock (UTC): what a production host uses."""

    def now(self) -> datetime:
        """The real current moment, in UTC."""
        return datetime.now(UTC)

    def today(self, tz: str | ZoneInfo) -> date:
        """Today's business date in ``tz``."""
        return local_date(self.now(), tz)


class ManualClock:
    """A clock that only moves when told to. Safe to read and move from any thread.

    ``ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc))``; ``.set(dt)`` jumps anywhere
    (backwards too: a test may want to replay a day), ``.advance(timedelta(days=1))`` moves on.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _require_aware(start) if start is not None else datetime.now(UTC)

    def now(self) -> datetime:
        """The moment the clock was last set or moved to."""
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (timezone-aware)."""
        _require_aware(moment)
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta``; returns the new time."""
        with self._lock:
            self._now = self._now + delta
            return self._now

    def today(self, tz: str | ZoneInfo) -> date:
        """Today's business date in ``tz``."""
        return local_date(self.now(), tz)

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"
