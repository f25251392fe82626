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

**Shared between processes** (``shared_dir``): several ``pm-xero worker`` processes on one data
directory call the same organisations, and Xero's 5-concurrent limit is the organisation's, not
the process's – three workers with 5 slots each would have 15 in flight. So with a
``shared_dir`` a call's concurrency slot is an exclusive ``flock`` on one of five small files per
tenant (``<tenant>.slot0`` … ``slot4``), taken without blocking and held for the call. The kernel
drops a process's flocks when it exits, however it exits (SIGKILL, OOM, power-off of a container):
a crashed worker can never leave a slot taken, and there is no lease length to tune – a lease in a
SQLite table would either outlive a crashed worker (slots lost for its length) or expire under a
slow call (a sixth in flight). The windows learnt from Xero's headers and 429s are shared too: one
JSON file per tenant, read and rewritten under a flock around each decision, times on the
machine's monotonic clock (the same for every process of one boot; a file from an earlier boot is
ignored). It is only an estimate that Xero's headers correct on every answer, so a torn write
costs nothing but a fresh estimate. One machine per data directory (flock over NFS is not to be
trusted); where ``fcntl`` is missing (Windows) the state stays per process, as it was.

**Shared between machines**: :class:`~pm_xero_plugin.xero.pg_limits.PostgresRateLimiter` keeps
the same limits in PostgreSQL for a fleet of workers; both meet :class:`Limits`, what the client,
the worker and the progress line ask of a limiter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from pm_xero_plugin.xero.errors import RateLimited

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the limiter stays per process
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = [
    "CallPermit",
    "Clock",
    "Limits",
    "Permit",
    "RateLimiter",
    "SystemClock",
    "TenantLimiter",
    "Wait",
]


class Clock(Protocol):
    """Monotonic time and sleeping, injectable so tests (and a time-scaled sandbox) control time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        """Seconds from :func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep, for a positive number of seconds only."""
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class Wait:
    """How long until a tenant may make a call, and why (``reason`` is ``""`` when it may now)."""

    seconds: float
    reason: str

    @property
    def ready(self) -> bool:
        """Whether the tenant may make a call now."""
        return self.seconds <= 0


@dataclass
class _Windows:
    """What the limiter knows of one tenant's windows: the part shared between processes."""

    minute_start: float | None = None
    minute_used: int = 0
    minute_epoch: int = 0  # bumped when our minute window rolls over
    day_start: float | None = None
    day_used: int = 0
    blocked_until: float = 0.0
    block_problem: str = ""
    probing: bool = False  # our minute window rolled over: one call finds out Xero's count


_WINDOW_FIELDS = tuple(f.name for f in fields(_Windows))


@dataclass
class _TenantState(_Windows):
    in_flight: int = 0  # this process's calls (each also holds a shared slot when shared)

    def load(self, stored: Mapping[str, Any], now: float, day_seconds: float) -> None:
        """Take the shared windows, unless they cannot be from this boot's monotonic clock."""
        fresh = _Windows()
        try:
            loaded = _Windows(**{k: stored[k] for k in _WINDOW_FIELDS if k in stored})
        except TypeError:
            loaded = fresh
        starts = [t for t in (loaded.minute_start, loaded.day_start) if t is not None]
        if any(not isinstance(t, int | float) or t > now or t < now - day_seconds for t in starts):
            loaded = fresh  # another boot's clock, or garbage: start a new estimate
        for name in _WINDOW_FIELDS:
            setattr(self, name, getattr(loaded, name))

    def windows(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in _WINDOW_FIELDS}


class _SharedTenant:
    """One tenant's files in the shared directory: the slot locks and the windows file."""

    def __init__(self, directory: Path, tenant_id: str, slots: int) -> None:
        base = directory / _file_stem(tenant_id)
        self._slot_paths = [f"{base}.slot{i}" for i in range(slots)]
        self._window_path = f"{base}.window"
        self._slot_fds: list[int | None] = [None] * slots
        self._window_fd: int | None = None
        self.held: set[int] = set()
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        # A forked child shares its parent's open file descriptions (and so its flocks): it must
        # open its own, and holds no slot of its own yet.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._slot_fds = [None] * len(self._slot_fds)
            self._window_fd = None
            self.held.clear()

    def _slot_fd(self, index: int) -> int:
        fd = self._slot_fds[index]
        if fd is None:
            path = self._slot_paths[index]
            fd = self._slot_fds[index] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd

    def take(self) -> int | None:
        """A free slot, locked for this process, or ``None`` when all are taken (never blocks)."""
        assert fcntl is not None
        self._check_fork()
        for index in range(len(self._slot_paths)):
            if index in self.held:
                continue  # flock on a descriptor we already locked would succeed again
            try:
                fcntl.flock(self._slot_fd(index), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self.held.add(index)
            return index
        return None

    def give(self, index: int) -> None:
        assert fcntl is not None
        self._check_fork()
        if index in self.held:
            self.held.discard(index)
            fcntl.flock(self._slot_fd(index), fcntl.LOCK_UN)

    def busy(self) -> int:
        """Slots taken now, by any process (this one's included)."""
        assert fcntl is not None
        self._check_fork()
        taken = len(self.held)
        for index in range(len(self._slot_paths)):
            if index in self.held:
                continue
            fd = self._slot_fd(index)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken += 1
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return taken

    @contextlib.contextmanager
    def windows(self) -> Iterator[dict[str, Any]]:
        """The stored windows, locked against other processes; what is left in the dict is
        written back."""
        assert fcntl is not None
        self._check_fork()
        if self._window_fd is None:
            self._window_fd = os.open(self._window_path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._window_fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = b""
            while chunk := os.pread(fd, 65536, len(raw)):
                raw += chunk
            try:
                stored = json.loads(raw) if raw else {}
            except ValueError:
                stored = {}  # a torn write: only an estimate was lost
            if not isinstance(stored, dict):
                stored = {}
            yield stored
            data = json.dumps(stored, sort_keys=True).encode()
            if data != raw:  # most looks (a worker's wait_for) change nothing: no write
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _file_stem(tenant_id: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9-]{1,64}", tenant_id):
        return tenant_id.lower()
    return "t-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:32]


class Permit:
    """The right to make one call for one tenant. Release it exactly once, with the response
    headers when there was a response (that is how the limiter learns Xero's view)."""

    __slots__ = ("_limiter", "_minute_epoch", "_released", "_slot", "tenant_id")

    def __init__(
        self, limiter: RateLimiter, tenant_id: str, minute_epoch: int = 0, slot: int | None = None
    ) -> None:
        self._limiter = limiter
        self.tenant_id = tenant_id
        self._minute_epoch = minute_epoch
        self._slot = slot  # the shared slot this call holds (None: not shared)
        self._released = False

    def release(self, headers: Mapping[str, str] | None = None) -> None:
        """Give the concurrency slot back; correct the windows from ``headers``. Idempotent."""
        if self._released:
            return
        self._released = True
        self._limiter._release(self.tenant_id, headers, self._minute_epoch, self._slot)

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


class CallPermit(Protocol):
    """What a caller does with a permit: give it back once, with the answer's headers if any."""

    def release(self, headers: Mapping[str, str] | None = None) -> None:
        """Give the concurrency slot back; correct the windows from ``headers``. Idempotent."""
        ...


class Limits(Protocol):
    """What the client, the worker and the progress line ask of Xero's limits – met by
    :class:`RateLimiter` (one machine) and by
    :class:`~pm_xero_plugin.xero.pg_limits.PostgresRateLimiter` (every machine of a fleet)."""

    @property
    def clock(self) -> Clock:
        """The clock a caller sleeps on while it waits for a permit."""
        ...

    def try_acquire(self, tenant_id: str) -> CallPermit | None:
        """A permit if ``tenant_id`` may call now, else ``None`` at once (never blocks)."""
        ...

    def wait_for(self, tenant_id: str, *, pace: bool = False) -> Wait:
        """How long until ``tenant_id`` may call, and the reason – without taking anything."""
        ...

    def record_429(self, tenant_id: str, retry_after: float | None, problem: str) -> None:
        """Xero said 429: block this tenant (or, for an app-wide problem, every one)."""
        ...


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
    :param shared_dir: share the concurrency slots and the windows with every process that uses
        the same directory (see the module's docstring); ``None`` keeps them in this process.
        The windows are kept on ``clock.monotonic()``: share only with the real clock.
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
        shared_dir: str | os.PathLike[str] | None = None,
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
        self.shared_dir: Path | None = None
        self._shared: dict[str, _SharedTenant] = {}
        if shared_dir is not None:
            if fcntl is None:  # pragma: no cover - Windows
                log.warning("rate limits stay per process here: no fcntl to share them with")
            else:
                self.shared_dir = Path(shared_dir)
                self.shared_dir.mkdir(parents=True, exist_ok=True)

    # -- asking -------------------------------------------------------------------------------

    def try_acquire(self, tenant_id: str) -> Permit | None:
        """A permit if ``tenant_id`` may call now, else ``None`` at once (never blocks)."""
        with self._lock, self._tenant(tenant_id) as (state, now):
            if not self._wait_locked(tenant_id, state, now).ready:
                return None
            slot = None
            shared = self._shared_for(tenant_id)
            if shared is not None:
                slot = shared.take()
                if slot is None:
                    return None  # other processes hold the organisation's slots
            state.in_flight += 1
            if state.minute_start is None:
                state.minute_start = now
            if state.day_start is None:
                state.day_start = now
            state.minute_used += 1
            state.day_used += 1
            return Permit(self, tenant_id, state.minute_epoch, slot)

    def wait_for(self, tenant_id: str, *, pace: bool = False) -> Wait:
        """How long until ``tenant_id`` may call, and the reason – without taking anything.

        ``pace``: for work that can wait (a back-sync's history), spread the minute's calls
        evenly over the minute (:data:`PACE_BURST` ahead at most) instead of spending them in
        one burst and then waiting out the window: a live record made meanwhile finds budget
        left within a second or so (reason ``paced-minute``). Throughput is the same.
        """
        with self._lock, self._tenant(tenant_id) as (state, now):
            wait = self._wait_locked(tenant_id, state, now)
            if wait.ready and pace and state.minute_start is not None:
                elapsed = now - state.minute_start
                ahead = state.minute_used - PACE_BURST
                due = ahead * self.minute_seconds / self.per_minute - elapsed
                if due > 0:
                    return Wait(max(due, 0.01), "paced-minute")
            return wait

    def blocked_until(self, tenant_id: str) -> float:
        """Clock time (``clock.monotonic()``) before which the tenant cannot call, or ``0.0``.

        Covers 429 blocks and exhausted windows; a full concurrency slate is not a block.
        """
        with self._lock, self._tenant(tenant_id) as (state, now):
            wait = self._wait_locked(tenant_id, state, now)
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
            with self._tenant(tenant_id) as (state, now):
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
        with self._lock, self._tenant(tenant_id) as (state, now):
            self._observe_locked(tenant_id, state, headers, now)

    # -- internals ----------------------------------------------------------------------------

    def _release(
        self,
        tenant_id: str,
        headers: Mapping[str, str] | None,
        minute_epoch: int,
        slot: int | None,
    ) -> None:
        with self._freed:
            shared = self._shared_for(tenant_id)
            if shared is not None and slot is not None:
                shared.give(slot)
            with self._tenant(tenant_id) as (state, now):
                state.in_flight = max(0, state.in_flight - 1)
                if headers is not None:
                    # A late answer from before our window rolled over describes Xero's old one.
                    stale = minute_epoch != state.minute_epoch
                    self._observe_locked(tenant_id, state, headers, now, minute=not stale)
            self._freed.notify_all()

    def _shared_for(self, tenant_id: str) -> _SharedTenant | None:
        if self.shared_dir is None:
            return None
        shared = self._shared.get(tenant_id)
        if shared is None:
            shared = self._shared[tenant_id] = _SharedTenant(
                self.shared_dir, tenant_id, self.concurrent
            )
        return shared

    @contextlib.contextmanager
    def _tenant(self, tenant_id: str) -> Iterator[tuple[_TenantState, float]]:
        """The tenant's state, rolled to now; with a shared directory, loaded from and saved
        back to it under its file lock. The caller holds ``self._lock``."""
        now = self.clock.monotonic()
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _TenantState()
        shared = self._shared_for(tenant_id)
        if shared is None:
            self._roll(state, now)
            yield state, now
            return
        with shared.windows() as stored:
            state.load(stored, now, self.day_seconds)
            self._roll(state, now)
            yield state, now
            stored.clear()
            stored.update(state.windows())

    def _roll(self, state: _TenantState, now: float) -> None:
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

    def _in_flight(self, tenant_id: str, state: _TenantState) -> int:
        """Calls in flight for the tenant: this process's, or every process's when shared."""
        shared = self._shared_for(tenant_id)
        return shared.busy() if shared is not None else state.in_flight

    def _wait_locked(self, tenant_id: str, state: _TenantState, now: float) -> Wait:
        if state.blocked_until > now:
            return Wait(state.blocked_until - now, f"blocked-{state.block_problem}")
        if self._app_blocked_until > now:
            return Wait(self._app_blocked_until - now, "app-minute")
        if state.day_used >= self.per_day and state.day_start is not None:
            return Wait(state.day_start + self.day_seconds - now, "local-day")
        if state.minute_used >= self.per_minute and state.minute_start is not None:
            return Wait(state.minute_start + self.minute_seconds - now, "local-minute")
        in_flight = self._in_flight(tenant_id, state)
        if in_flight >= self.concurrent:
            return Wait(self.concurrency_poll, "local-concurrent")
        if state.probing and in_flight >= 1:
            return Wait(self.concurrency_poll, "probing-minute")
        return Wait(0.0, "")

    def _observe_locked(
        self,
        tenant_id: str,
        state: _TenantState,
        headers: Mapping[str, str],
        now: float,
        *,
        minute: bool = True,
    ) -> None:
        # Calls still in flight may not be in Xero's count yet: count them on top, to stay safe.
        minute_left = _int_header(headers, "X-MinLimit-Remaining") if minute else None
        day_left = _int_header(headers, "X-DayLimit-Remaining")
        in_flight = (
            self._in_flight(tenant_id, state) if (minute_left, day_left) != (None, None) else 0
        )
        if minute_left is not None:
            state.probing = False
            if state.minute_start is None:
                state.minute_start = now
            state.minute_used = max(0, self.per_minute - minute_left) + in_flight
        if day_left is not None:
            if state.day_start is None:
                state.day_start = now
            state.day_used = max(0, self.per_day - day_left) + in_flight
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


PACE_BURST = 3
"""Calls a paced caller may be ahead of an even spread over the minute (``wait_for(pace=True)``)."""


#: The design's other name for the same class.
TenantLimiter = RateLimiter
