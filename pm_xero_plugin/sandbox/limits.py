"""Xero's rate limits, on the sandbox clock.

Windows are fixed and start at a tenant's first call, so they reset at different moments for
different tenants – as Xero's do – and a client that trusts ``Retry-After`` and the
remaining-headers behaves correctly while one that guesses does not.

The concurrency limit counts a call as in progress from the moment it *arrives* (`arrive`, before
it queues for the sandbox's state lock) until its answer is ready (`depart`): that is what Xero
counts, and it is what makes a 6th call from a second process or connection meet
``429 concurrent`` over HTTP. Counting only while a call held the state lock (as before) let
twenty parallel GETs through, because the lock serialised them to one or two "in flight".

With the limits switched off (``pm-xero sandbox --no-limits``) nothing is counted against them, so
the remaining-headers always show the whole budget: a client that trusts them (as it should) is
never told to wait by a server that would not refuse it.

**Peak counters** (`Peaks`, ``GET /sandbox/limits/peaks``) are the sandbox's own witness of how a
client behaved, kept apart from the limits that refuse it: per organisation, the most calls that
were ever in progress at once and the most that arrived in any 60 s of sandbox time – a true
sliding window over arrival times, not the fixed windows the limits are enforced with (a client
that spends 60 calls at the end of one fixed window and 60 at the start of the next has sent 120
in one minute, and the fixed window never sees it). Every call counts from its arrival, granted
or refused: the 6th call that met ``429 concurrent`` was still a 6th call in flight, so a client
that oversteps shows above the limit even though the sandbox turned the extra call away. They are
counted with the limits off too (they observe, they do not refuse).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["Arrival", "Decision", "Limits", "Peaks", "RateLimiter"]

#: The length of the sliding window `Peaks` counts arrivals in.
MINUTE = timedelta(seconds=60)


@dataclass
class Limits:
    """Xero's published limits. ``enabled=False`` keeps the headers but never answers 429."""

    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10000
    enabled: bool = True
    #: Real seconds each granted Accounting call stays in progress after its answer is ready
    #: (Xero takes a few hundred milliseconds; the sandbox about one). 0 answers at once, which
    #: is what most tests want; a positive value makes parallel clients overlap as they do on
    #: Xero, so the 5-concurrent limit is met over HTTP as it would be there.
    call_seconds: float = 0.0


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
class _TenantPeaks:
    calls: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    peak_per_minute: int = 0
    #: arrival times of the last two minutes or so, sorted (what a window can still hold)
    arrivals: list[datetime] = field(default_factory=list)

    def arrive(self, now: datetime) -> None:
        self.calls += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.peak_per_minute = max(self.peak_per_minute, self._count_minute(now))

    def _count_minute(self, now: datetime) -> int:
        """Record an arrival at ``now``; the most arrivals in a window ``[a, a + 60 s)`` that
        holds it. Arrivals come in order but for threads racing for the clock (or a clock set
        back, which starts the windows afresh)."""
        times = self.arrivals
        if times and now < times[-1] - MINUTE:
            times.clear()
        in_order = not times or now >= times[-1]
        bisect.insort(times, now)
        del times[: bisect.bisect_right(times, times[-1] - 2 * MINUTE)]
        lo = bisect.bisect_right(times, now - MINUTE)
        if in_order:  # the fullest window holding the newest arrival starts at the oldest after
            return len(times) - lo  # now - 60 s
        hi = bisect.bisect_right(times, now)
        return max(bisect.bisect_left(times, times[i] + MINUTE) - i for i in range(lo, hi))

    def reset(self) -> None:
        self.calls = 0
        self.peak_in_flight = self.in_flight  # calls still in progress are still in flight
        self.peak_per_minute = 0
        self.arrivals.clear()

    def snapshot(self) -> dict[str, int]:
        return {
            "peak_in_flight": self.peak_in_flight,
            "peak_per_minute": self.peak_per_minute,
            "calls": self.calls,
        }


class Peaks:
    """Per organisation: the most Accounting calls ever in progress at once, the most in any 60 s
    of sandbox time (sliding over arrival times) and how many arrived – see the module's
    docstring. Thread-safe; the clock is read under the counters' own lock, so arrivals are
    recorded in the order they are timed.

    :param clock: the sandbox's clock (an aware UTC datetime per call).
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._tenants: dict[str, _TenantPeaks] = {}
        self._lock = threading.Lock()

    def arrive(self, tenant_id: str) -> None:
        """A call for ``tenant_id`` arrived (granted or not): give it back with `depart`."""
        with self._lock:
            now = self._clock()
            self._tenants.setdefault(tenant_id, _TenantPeaks()).arrive(now)

    def depart(self, tenant_id: str) -> None:
        """A call that `arrive` counted has its answer."""
        with self._lock:
            st = self._tenants.get(tenant_id)
            if st is not None:
                st.in_flight = max(0, st.in_flight - 1)

    def snapshot(self, tenant_ids: list[str] | None = None) -> dict[str, dict[str, int]]:
        """``{tenant_id: {"peak_in_flight", "peak_per_minute", "calls"}}`` for ``tenant_ids``
        (zeros for one never called), or for every tenant called so far."""
        with self._lock:
            ids = list(self._tenants) if tenant_ids is None else tenant_ids
            return {t: self._tenants.get(t, _TenantPeaks()).snapshot() for t in ids}

    def reset(self) -> None:
        """Count afresh from now (calls still in progress stay counted as in flight)."""
        with self._lock:
            for st in self._tenants.values():
                st.reset()


@dataclass(frozen=True)
class Arrival:
    """A call that reached the sandbox for ``tenant_id`` (``None``: no known tenant, never
    counted). ``counted`` says whether it took a concurrency slot; one that did not finds the
    organisation's 5 slots full and is answered ``429 concurrent``."""

    tenant_id: str | None
    counted: bool


@dataclass
class Decision:
    """The outcome of asking for a slot: ``problem`` is None when the call may proceed."""

    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


class RateLimiter:
    """Counts calls per tenant and per app.

    The windows are not thread-safe: the sandbox calls `headers` and `acquire` under its state
    lock. The in-flight counts (`arrive`, `depart`, `in_flight`) have a lock of their own, because
    they are taken before a call queues for the state lock.
    """

    def __init__(self, limits: Limits, clock: Callable[[], datetime] | None = None) -> None:
        self.limits = limits
        self._tenants: dict[str, _TenantState] = {}
        self._app = _Window(timedelta(minutes=1))
        self._flight = threading.Lock()
        #: what clients did, as the sandbox saw it (see `Peaks`), on ``clock`` (default: real UTC)
        self.peaks = Peaks(clock or _utc_now)

    def _state(self, tenant_id: str) -> _TenantState:
        return self._tenants.setdefault(tenant_id, _TenantState())

    def in_flight(self, tenant_id: str) -> int:
        """Accounting calls of ``tenant_id`` in progress now (Xero allows 5 at once)."""
        with self._flight:
            return self._state(tenant_id).in_flight

    def arrive(self, tenant_id: str | None) -> Arrival:
        """A call for ``tenant_id`` has arrived: take a concurrency slot if one is free.

        Give every arrival back with `depart` once its answer is ready, whatever the answer.
        """
        if tenant_id is None:
            return Arrival(None, counted=False)
        self.peaks.arrive(tenant_id)
        with self._flight:
            st = self._state(tenant_id)
            if self.limits.enabled and st.in_flight >= self.limits.concurrent:
                return Arrival(tenant_id, counted=False)
            st.in_flight += 1
            return Arrival(tenant_id, counted=True)

    def hold(self, arrival: Arrival) -> None:
        """Keep a granted call in progress for ``Limits.call_seconds`` (real time, no lock)."""
        if arrival.counted and self.limits.call_seconds > 0:
            time.sleep(self.limits.call_seconds)

    def depart(self, arrival: Arrival) -> None:
        """The call's answer is ready: its slot (if it took one) is free again."""
        if arrival.tenant_id is not None:
            self.peaks.depart(arrival.tenant_id)
        if arrival.tenant_id is None or not arrival.counted:
            return
        with self._flight:
            st = self._state(arrival.tenant_id)
            st.in_flight = max(0, st.in_flight - 1)

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

    def acquire(self, tenant_id: str, now: datetime, arrival: Arrival | None = None) -> Decision:
        """Count one call, or say which limit refused it.

        :param arrival: the call's `arrive` (``None``: counted as having a slot). One that found
            the slots full is refused ``concurrent`` – with no ``Retry-After``, as Xero does.

        A refused call is not counted. With the limits off nothing is counted at all.
        """
        lim = self.limits
        st = self._state(tenant_id)
        st.minute.roll(now)
        st.day.roll(now)
        self._app.roll(now)
        if not lim.enabled:
            return Decision(self.headers(tenant_id, now))
        refusal: tuple[str, int | None] | None = None
        if arrival is not None and not arrival.counted:
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
        return Decision(self.headers(tenant_id, now))


def _utc_now() -> datetime:
    """The real time, for a limiter built without the sandbox's clock."""
    return datetime.now(UTC)
