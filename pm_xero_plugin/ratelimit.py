"""Xero's per-organisation limits, enforced on our side so we rarely see a 429.

Xero limits each connected organisation (tenant) to 5 calls in flight, 60 per minute and a daily
quota (5,000; 1,000 on the Starter tier), plus 10,000 per minute for the whole app. Windows are
fixed but reset at times only Xero knows, so this limiter keeps its own fixed-window estimate and
*corrects it from every response*: ``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining`` replace the
estimate, ``X-AppMinLimit-Remaining`` of 0 pauses everyone, and a 429's ``Retry-After`` blocks
that tenant (only that tenant) until then.

Nothing here blocks unless asked to: :meth:`RateLimiter.try_acquire` returns ``None`` at once and
:meth:`RateLimiter.wait_for` says how long until that tenant can go, so a worker serving many
organisations moves on to another one instead of waiting. The clock is injectable (tests never
sleep), and the window lengths are parameters so a sandbox running at a time scale can be
matched – though trusting the headers makes that mostly unnecessary.

State is per process. Several worker processes sharing one Xero app each keep their own view;
Xero's headers and 429s keep them honest (shared limiter state is a PostgreSQL-ledger feature).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from pm_xero_plugin.errors import RateLimited

__all__ = ["Clock", "Permit", "RateLimiter", "SystemClock", "TenantLimiter", "Wait"]


class Clock(Protocol):
    """Monotonic time and sleeping, injectable so tests (and a time-scaled sandbox) control time."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class Wait:
    """How long until a tenant may make a call, and why (``reason`` is ``""`` when it may now)."""

    seconds: float
    reason: str

    @property
    def ready(self) -> bool:
        return self.seconds <= 0


@dataclass
class _TenantState:
    in_flight: int = 0
    minute_start: float | None = None
    minute_used: int = 0
    minute_epoch: int = 0  # bumped when our minute window rolls over
    day_start: float | None = None
    day_used: int = 0
    blocked_until: float = 0.0
    block_problem: str = ""
    probing: bool = False  # our minute window rolled over: one call finds out Xero's count


class Permit:
    """The right to make one call for one tenant. Release it exactly once, with the response
    headers when there was a response (that is how the limiter learns Xero's view)."""

    __slots__ = ("_limiter", "_minute_epoch", "_released", "tenant_id")

    def __init__(self, limiter: RateLimiter, tenant_id: str, minute_epoch: int = 0) -> None:
        self._limiter = limiter
        self.tenant_id = tenant_id
        self._minute_epoch = minute_epoch
        self._released = False

    def release(self, headers: Mapping[str, str] | None = None) -> None:
        """Give the concurrency slot back; correct the windows from ``headers``. Idempotent."""
        if self._released:
            return
        self._released = True
        self._limiter._release(self.tenant_id, headers, self._minute_epoch)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Permit(tenant_id={self.tenant_id!r}, released={self._released})"


class RateLimiter:
    """Per-tenant limits: ``concurrent`` in flight, ``per_minute`` and ``per_day`` fixed windows.

    :param clock: see :class:`Clock`; default the real one.
    :param minute_seconds: / ``day_seconds``: window lengths in clock seconds (configurable for a
        time-scaled sandbox).
    :param app_per_minute: the app-wide limit; only Xero's ``X-AppMinLimit-Remaining`` is used for
        it (one process cannot count other processes' calls).
    :param default_block: seconds to block a tenant after a 429 without ``Retry-After`` (Xero's
        concurrency 429 has none).
    :param concurrency_poll: what :meth:`wait_for` answers when only the concurrency slots are
        full – a slot frees as soon as a call returns, so the answer is "soon".
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        per_minute: int = 60,
        concurrent: int = 5,
        per_day: int = 5000,
        minute_seconds: float = 60.0,
        day_seconds: float = 86400.0,
        default_block: float = 1.0,
        concurrency_poll: float = 0.05,
    ) -> None:
        if per_minute < 1 or concurrent < 1 or per_day < 1:
            raise ValueError("limits must be positive")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.per_day = per_day
        self.minute_seconds = minute_seconds
        self.day_seconds = day_seconds
        self.default_block = default_block
        self.concurrency_poll = concurrency_poll
        self._tenants: dict[str, _TenantState] = {}
        self._app_blocked_until = 0.0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)

    # -- asking -------------------------------------------------------------------------------

    def try_acquire(self, tenant_id: str) -> Permit | None:
        """A permit if ``tenant_id`` may call now, else ``None`` at once (never blocks)."""
        with self._lock:
            now = self.clock.monotonic()
            state = self._state(tenant_id, now)
            if not self._wait_locked(state, now).ready:
                return None
            state.in_flight += 1
            if state.minute_start is None:
                state.minute_start = now
            if state.day_start is None:
                state.day_start = now
            state.minute_used += 1
            state.day_used += 1
            return Permit(self, tenant_id, state.minute_epoch)

    def wait_for(self, tenant_id: str) -> Wait:
        """How long until ``tenant_id`` may call, and the reason – without taking anything."""
        with self._lock:
            now = self.clock.monotonic()
            return self._wait_locked(self._state(tenant_id, now), now)

    def blocked_until(self, tenant_id: str) -> float:
        """Clock time (``clock.monotonic()``) before which the tenant cannot call, or ``0.0``.

        Covers 429 blocks and exhausted windows; a full concurrency slate is not a block.
        """
        with self._lock:
            now = self.clock.monotonic()
            wait = self._wait_locked(self._state(tenant_id, now), now)
            if wait.ready or wait.reason == "local-concurrent":
                return 0.0
            return now + wait.seconds

    def acquire(self, tenant_id: str, timeout: float | None = None) -> Permit:
        """Blocking helper: wait (on the injected clock) for a permit, at most ``timeout`` seconds.

        Raises :class:`RateLimited` with the remaining wait when the timeout would be exceeded.
        Only the calling thread waits; other tenants are unaffected.
        """
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while True:
            permit = self.try_acquire(tenant_id)
            if permit is not None:
                return permit
            wait = self.wait_for(tenant_id)
            now = clock.monotonic()
            if deadline is not None and now + wait.seconds > deadline:
                raise RateLimited(wait.seconds, wait.reason, tenant_id=tenant_id, status=None)
            if wait.reason == "local-concurrent":
                with self._freed:
                    self._freed.wait(timeout=wait.seconds)
            else:
                clock.sleep(wait.seconds)

    # -- learning -----------------------------------------------------------------------------

    def record_429(self, tenant_id: str, retry_after: float | None, problem: str) -> None:
        """Xero said 429: block this tenant (only) for ``retry_after`` seconds.

        ``problem`` is ``X-Rate-Limit-Problem``; for a minute or day problem our window is moved
        to end when Xero's does, and an app-wide problem pauses every tenant.
        """
        with self._lock:
            now = self.clock.monotonic()
            block = retry_after if retry_after is not None else self.default_block
            until = now + max(0.0, block)
            kind = problem.lower()
            if "app" in kind:
                self._app_blocked_until = max(self._app_blocked_until, until)
                return
            state = self._state(tenant_id, now)
            if until > state.blocked_until:
                state.blocked_until = until
                state.block_problem = problem or "unknown"
            # Xero's window ends when it says: align ours to end then, used up until then.
            if retry_after is not None and kind == "minute":
                state.minute_start = until - self.minute_seconds
                state.minute_used = self.per_minute
            elif retry_after is not None and kind == "day":
                state.day_start = until - self.day_seconds
                state.day_used = self.per_day

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        """Correct the estimate from a response's remaining-headers (without releasing a slot)."""
        with self._lock:
            now = self.clock.monotonic()
            self._observe_locked(self._state(tenant_id, now), headers, now)

    # -- internals ----------------------------------------------------------------------------

    def _release(
        self, tenant_id: str, headers: Mapping[str, str] | None, minute_epoch: int
    ) -> None:
        with self._freed:
            now = self.clock.monotonic()
            state = self._state(tenant_id, now)
            state.in_flight = max(0, state.in_flight - 1)
            if headers is not None:
                # A late answer from before our window rolled over describes Xero's old window.
                stale = minute_epoch != state.minute_epoch
                self._observe_locked(state, headers, now, minute=not stale)
            self._freed.notify_all()

    def _state(self, tenant_id: str, now: float) -> _TenantState:
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _TenantState()
        if state.minute_start is not None and now >= state.minute_start + self.minute_seconds:
            state.minute_start = None
            state.minute_used = 0
            state.minute_epoch += 1
            # Xero's windows are its own: ours rolling over does not mean its did. One call goes
            # first and its remaining-header tells how much of Xero's minute is left.
            state.probing = True
        if state.day_start is not None and now >= state.day_start + self.day_seconds:
            state.day_start = None
            state.day_used = 0
        return state

    def _wait_locked(self, state: _TenantState, now: float) -> Wait:
        if state.blocked_until > now:
            return Wait(state.blocked_until - now, f"blocked-{state.block_problem}")
        if self._app_blocked_until > now:
            return Wait(self._app_blocked_until - now, "app-minute")
        if state.day_used >= self.per_day and state.day_start is not None:
            return Wait(state.day_start + self.day_seconds - now, "local-day")
        if state.minute_used >= self.per_minute and state.minute_start is not None:
            return Wait(state.minute_start + self.minute_seconds - now, "local-minute")
        if state.in_flight >= self.concurrent:
            return Wait(self.concurrency_poll, "local-concurrent")
        if state.probing and state.in_flight >= 1:
            return Wait(self.concurrency_poll, "probing-minute")
        return Wait(0.0, "")

    def _observe_locked(
        self, state: _TenantState, headers: Mapping[str, str], now: float, *, minute: bool = True
    ) -> None:
        # Calls still in flight may not be in Xero's count yet: count them on top, to stay safe.
        minute_left = _int_header(headers, "X-MinLimit-Remaining") if minute else None
        if minute_left is not None:
            state.probing = False
            if state.minute_start is None:
                state.minute_start = now
            state.minute_used = max(0, self.per_minute - minute_left) + state.in_flight
        day_left = _int_header(headers, "X-DayLimit-Remaining")
        if day_left is not None:
            if state.day_start is None:
                state.day_start = now
            state.day_used = max(0, self.per_day - day_left) + state.in_flight
        app_left = _int_header(headers, "X-AppMinLimit-Remaining")
        if app_left is not None and app_left <= 0:
            self._app_blocked_until = max(self._app_blocked_until, now + self.minute_seconds)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


#: The design's other name for the same class.
TenantLimiter = RateLimiter
