"""Xero's rate limits, on the sandbox clock.

Windows are fixed and start at a tenant's first call, so they reset at different moments for
different tenants – as Xero's do – and a client that trusts ``Retry-After`` and the
remaining-headers behaves correctly while one that guesses does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["Decision", "Limits", "RateLimiter"]


@dataclass
class Limits:
    """Xero's published limits. ``enabled=False`` keeps the headers but never answers 429."""

    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10000
    enabled: bool = True


@dataclass
class _Window:
    length: timedelta
    start: datetime | None = None
    count: int = 0

    def roll(self, now: datetime) -> None:
        if self.start is None or now >= self.start + self.length:
            self.start, self.count = now, 0

    def retry_after(self, now: datetime) -> int:
        assert self.start is not None
        return max(1, math.ceil((self.start + self.length - now).total_seconds()))


@dataclass
class _TenantState:
    minute: _Window = field(default_factory=lambda: _Window(timedelta(minutes=1)))
    day: _Window = field(default_factory=lambda: _Window(timedelta(days=1)))
    in_flight: int = 0


@dataclass
class Decision:
    """The outcome of asking for a slot: ``problem`` is None when the call may proceed."""

    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


class RateLimiter:
    """Counts calls per tenant and per app. Not thread-safe: the sandbox calls it under its lock."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._tenants: dict[str, _TenantState] = {}
        self._app = _Window(timedelta(minutes=1))

    def _state(self, tenant_id: str) -> _TenantState:
        return self._tenants.setdefault(tenant_id, _TenantState())

    def in_flight(self, tenant_id: str) -> int:
        return self._state(tenant_id).in_flight

    def headers(self, tenant_id: str | None, now: datetime) -> dict[str, str]:
        """The remaining-headers as they stand (no call counted)."""
        lim = self.limits
        self._app.roll(now)
        out = {"X-AppMinLimit-Remaining": str(max(0, lim.app_per_minute - self._app.count))}
        if tenant_id is not None:
            st = self._state(tenant_id)
            st.minute.roll(now)
            st.day.roll(now)
            out["X-DayLimit-Remaining"] = str(max(0, lim.per_day - st.day.count))
            out["X-MinLimit-Remaining"] = str(max(0, lim.per_minute - st.minute.count))
        return out

    def acquire(self, tenant_id: str, now: datetime) -> Decision:
        """Count one call and take a concurrency slot, or say which limit refused it.

        A refused call is not counted. A granted one must be given back with `release`.
        """
        lim = self.limits
        st = self._state(tenant_id)
        st.minute.roll(now)
        st.day.roll(now)
        self._app.roll(now)
        if lim.enabled:
            refusal: tuple[str, int | None] | None = None
            if st.in_flight >= lim.concurrent:
                refusal = ("concurrent", None)
            elif self._app.count >= lim.app_per_minute:
                refusal = ("appminute", self._app.retry_after(now))
            elif st.day.count >= lim.per_day:
                refusal = ("day", st.day.retry_after(now))
            elif st.minute.count >= lim.per_minute:
                refusal = ("minute", st.minute.retry_after(now))
            if refusal is not None:
                return Decision(self.headers(tenant_id, now), refusal[0], refusal[1])
        st.minute.count += 1
        st.day.count += 1
        self._app.count += 1
        st.in_flight += 1
        return Decision(self.headers(tenant_id, now))

    def release(self, tenant_id: str) -> None:
        st = self._state(tenant_id)
        st.in_flight = max(0, st.in_flight - 1)
