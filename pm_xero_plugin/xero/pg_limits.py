"""Xero's limits shared by every worker on every machine, kept in PostgreSQL.

:class:`~pm_xero_plugin.xero.ratelimit.RateLimiter` shares the limits between the processes of
one machine with ``flock``; a fleet of ``pm-xero worker`` processes on many machines calls the
same organisations, and Xero's limits are the organisation's (5 in flight, 60 a minute, the day's
quota) and the app's (10,000 a minute across every organisation). :class:`PostgresRateLimiter`
keeps them in the database every worker already shares, with the same surface
(:class:`~pm_xero_plugin.xero.ratelimit.Limits`) and the same corrections from Xero's answers.

**In flight.** A call's slot is a session-level ``pg_try_advisory_lock`` on one of ``concurrent``
keys per organisation, taken without waiting on a connection of the pool that the permit keeps
until it is released (then unlocked and given back). When a process dies, however it dies
(SIGKILL, OOM, a machine lost), its connections close and PostgreSQL drops their locks: a dead
worker never leaves a slot taken, and there is no lease length to tune – the same property as the
``flock`` on one machine. Every machine counts the slots taken from ``pg_locks``.

**Windows.** Each organisation's minute and day windows and a 429's block are one row of
``xero_limit_tenants``, read and rewritten with ``SELECT … FOR UPDATE`` in a short transaction
around each decision; times are the *server's* clock (``clock_timestamp()``), so machines whose
clocks disagree still agree on the windows. A ``pace`` caller (history) spreads the minute's
budget as :class:`RateLimiter` does.

**A sliding minute, too.** Xero's windows are fixed, but a fixed window lets 60 calls at the end
of one and 60 at the start of the next arrive within seconds – more than 60 in a minute as Xero's
own counters (and the sandbox's) can see it. So each row also keeps the times of the latest
grants, and a call goes only while fewer than ``per_minute`` were granted in the last
``minute_seconds`` plus ``sliding_margin`` (a call reaches Xero a little after its grant). With a
steady backlog that costs nothing but the margin: the calls of one minute age out one by one.

**Corrections.** An answer's ``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining`` replace the
estimate, but they are Xero's count when *that* call arrived: the calls granted after it on any
machine (answered since or not) are added, and so are those granted before it and still in
flight (they may arrive after it). Every grant is numbered in its organisation's row and noted on
its slot (``xero_limit_slots``) for that. Adding only the calls in flight, as one process can,
would forget calls granted and answered while a slow call was out, and let a fleet pass 60.

**The app-wide minute** is counted in ``APP_SHARDS`` rows of ``xero_limit_app``, each with its
share of the budget; a call takes one unit from a shard picked at random among those with room
(``FOR UPDATE SKIP LOCKED``), so no single row is written by every call of the fleet, yet the sum
can never pass the limit. ``X-AppMinLimit-Remaining: 0`` or an app-wide 429 pause every
organisation (``xero_limit_app_block``).

A database that cannot be reached makes no call: :meth:`PostgresRateLimiter.try_acquire` refuses
and :meth:`~PostgresRateLimiter.wait_for` answers ``limits-unavailable`` for a second, so the
worker waits like for any limit (and says so in the log) instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import astuple, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import psycopg

from pm_xero_plugin.xero.errors import RateLimited
from pm_xero_plugin.xero.pg_schema import Conn, Pool, advisory_key, ensure_tables
from pm_xero_plugin.xero.ratelimit import (
    PACE_BURST,
    Clock,
    SystemClock,
    Wait,
    _int_header,
    _Windows,
)

if TYPE_CHECKING:
    from pm_xero_plugin.xero.ratelimit import Limits

log = logging.getLogger(__name__)

__all__ = ["APP_SHARDS", "UNAVAILABLE", "PostgresRateLimiter", "SharedPermit"]

APP_SHARDS = 16
"""Rows the app-wide minute is counted in (each holds 1/16 of the budget)."""

_DOWN = (psycopg.OperationalError, psycopg.InterfaceError)
"""What a database that cannot be used now raises (unreachable, restarted, pool exhausted)."""

UNAVAILABLE = "limits-unavailable"
"""The reason :meth:`PostgresRateLimiter.wait_for` gives when the database cannot be reached."""

_STEPS = [
    [
        """
        CREATE TABLE IF NOT EXISTS xero_limit_tenants (
            scope         text NOT NULL,
            tenant_id     text NOT NULL,
            minute_start  double precision,
            minute_used   integer NOT NULL DEFAULT 0,
            minute_epoch  bigint NOT NULL DEFAULT 0,
            day_start     double precision,
            day_used      integer NOT NULL DEFAULT 0,
            blocked_until double precision NOT NULL DEFAULT 0,
            block_problem text NOT NULL DEFAULT '',
            probing       boolean NOT NULL DEFAULT false,
            granted       bigint NOT NULL DEFAULT 0,
            recent        double precision[] NOT NULL DEFAULT '{}',
            PRIMARY KEY (scope, tenant_id)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS xero_limit_slots (
            scope     text NOT NULL,
            tenant_id text NOT NULL,
            slot      integer NOT NULL,
            key       bigint NOT NULL,
            seq       bigint NOT NULL,
            PRIMARY KEY (scope, tenant_id, slot)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS xero_limit_app (
            scope     text NOT NULL,
            shard     integer NOT NULL,
            window_no bigint NOT NULL DEFAULT 0,
            used      integer NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, shard)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS xero_limit_app_block (
            scope         text PRIMARY KEY,
            blocked_until double precision NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE OR REPLACE FUNCTION xero_limit_take_slot(keys bigint[]) RETURNS integer
        LANGUAGE plpgsql AS $$
        BEGIN
            FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
                IF pg_try_advisory_lock(keys[i]) THEN
                    RETURN i - 1;
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $$
        """,
    ]
]
"""The limits' tables, version by version (see :func:`.pg_schema.ensure_tables`)."""

_COLUMNS = (
    "minute_start, minute_used, minute_epoch, day_start, day_used, blocked_until,"
    " block_problem, probing, recent"
)

_LOCK_ROW = (
    f"SELECT {_COLUMNS} FROM xero_limit_tenants WHERE scope = %s AND tenant_id = %s FOR UPDATE"
)
_NEW_ROW = (
    "INSERT INTO xero_limit_tenants (scope, tenant_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
)
_WRITE_ROW = (
    "UPDATE xero_limit_tenants SET minute_start = %s, minute_used = %s, minute_epoch = %s,"
    " day_start = %s, day_used = %s, blocked_until = %s, block_problem = %s, probing = %s,"
    " recent = %s::float8[]"
    " WHERE scope = %s AND tenant_id = %s"
)
_NOW_AND_APP_BLOCK = (
    "SELECT extract(epoch FROM clock_timestamp())::float8,"
    " coalesce((SELECT blocked_until FROM xero_limit_app_block WHERE scope = %s), 0)"
)
_IN_FLIGHT = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND ((classid::int8 << 32) | objid::int8) = ANY(%s::int8[])"
)
_LOOK = f"""
WITH n AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
SELECT n.now, {", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))},
    coalesce((SELECT blocked_until FROM xero_limit_app_block WHERE scope = %(scope)s), 0),
    (SELECT coalesce(sum(used), 0) FROM xero_limit_app
        WHERE scope = %(scope)s AND window_no = floor(n.now / %(minute)s)::int8),
    ({_IN_FLIGHT.replace("%s::", "%(keys)s::")})
FROM n LEFT JOIN xero_limit_tenants t ON t.scope = %(scope)s AND t.tenant_id = %(tenant)s
"""
_GRANT = """
WITH g AS (
    UPDATE xero_limit_tenants SET granted = granted + 1
    WHERE scope = %(scope)s AND tenant_id = %(tenant)s RETURNING granted)
INSERT INTO xero_limit_slots (scope, tenant_id, slot, key, seq)
SELECT %(scope)s, %(tenant)s, %(slot)s, %(key)s, granted FROM g
ON CONFLICT (scope, tenant_id, slot) DO UPDATE SET key = excluded.key, seq = excluded.seq
RETURNING seq
"""
_SINCE = """
SELECT
    (SELECT granted FROM xero_limit_tenants WHERE scope = %(scope)s AND tenant_id = %(tenant)s)
        - %(seq)s,
    (SELECT count(*) FROM xero_limit_slots s
        JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((l.classid::int8 << 32) | l.objid::int8) = s.key
        WHERE s.scope = %(scope)s AND s.tenant_id = %(tenant)s AND s.seq < %(seq)s)
"""
_TAKE_APP = """
WITH pick AS (
    SELECT shard FROM xero_limit_app
    WHERE scope = %(scope)s
        AND (window_no <> %(window)s OR used < %(quota)s + (shard < %(extra)s)::int)
    ORDER BY (shard + %(start)s) %% %(shards)s
    LIMIT 1 FOR UPDATE {skip})
UPDATE xero_limit_app a
SET used = CASE WHEN a.window_no = %(window)s THEN a.used + 1 ELSE 1 END, window_no = %(window)s
FROM pick WHERE a.scope = %(scope)s AND a.shard = pick.shard
RETURNING a.shard
"""
_BLOCK_APP = (
    "INSERT INTO xero_limit_app_block (scope, blocked_until)"
    " VALUES (%s, extract(epoch FROM clock_timestamp()) + %s)"
    " ON CONFLICT (scope) DO UPDATE"
    " SET blocked_until = greatest(xero_limit_app_block.blocked_until, excluded.blocked_until)"
)


@dataclass
class _SharedWindows(_Windows):
    """One organisation's row: the windows :class:`RateLimiter` keeps, and the times of the
    latest grants (at most ``per_minute``, the last minute's), for the sliding minute."""

    recent: list[float] = field(default_factory=list)


class _Refused(Exception):
    """Inside a decision's transaction: no call now (the transaction is rolled back)."""


class SharedPermit:
    """The right to make one call for one organisation, holding one of its slots in PostgreSQL
    (a session lock on the pooled connection this permit keeps). Release it exactly once, with
    the answer's headers when there was an answer."""

    __slots__ = ("_conn", "_key", "_limiter", "_minute_epoch", "_released", "_seq", "tenant_id")

    def __init__(
        self,
        limiter: PostgresRateLimiter,
        tenant_id: str,
        conn: Conn,
        key: int,
        minute_epoch: int,
        seq: int,
    ) -> None:
        self._limiter = limiter
        self.tenant_id = tenant_id
        self._conn = conn
        self._key = key
        self._minute_epoch = minute_epoch
        self._seq = seq  # the organisation's grants so far, this one included
        self._released = False

    def release(self, headers: Mapping[str, str] | None = None) -> None:
        """Give the slot back; correct the windows from ``headers``. Idempotent."""
        if self._released:
            return
        self._released = True
        self._limiter._release(self._conn, self.tenant_id, self._key, headers, self._when())

    def _when(self) -> tuple[int, int]:
        """When the call was granted: our minute window's epoch and the grant's number."""
        return self._minute_epoch, self._seq

    def __del__(self) -> None:
        # A caller that lost its permit (an exception between taking and releasing it) must not
        # keep the organisation's slot and a pooled connection for the life of the process.
        if not getattr(self, "_released", True):
            log.warning("a Xero call's permit was dropped unreleased: its slot is given back")
            with contextlib.suppress(Exception):
                self.release()

    def __enter__(self) -> SharedPermit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"SharedPermit(tenant_id={self.tenant_id!r}, released={self._released})"


class PostgresRateLimiter:
    """Xero's limits for every process that uses the same database and ``scope``.

    :param pool: the connection pool (the ledger's ``PgStore.pool``). Each call in flight keeps
        one of its connections: size it for the calls a process makes at once, plus a few.
    :param clock: what a waiting caller sleeps on, and what :meth:`blocked_until` answers in;
        the windows themselves are on the database server's clock.
    :param scope: which Xero these limits are for (an app on ``api.xero.com``, a sandbox):
        limiters with the same scope share them.
    :param minute_seconds: / ``day_seconds``: window lengths in seconds (shorter for a
        time-scaled sandbox).
    :param app_per_minute: the app-wide minute limit, across every organisation of ``scope``.
    :param default_block: seconds to block an organisation after a 429 without ``Retry-After``.
    :param concurrency_poll: what :meth:`wait_for` answers when only the slots are full.
    :param unavailable_retry: what :meth:`wait_for` answers while the database cannot be used.
    :param connection_wait: how long a call waits for a pooled connection before it is refused.
    :param sliding_margin: seconds added to the sliding minute (see the module's docstring), for
        a call that reaches Xero a little later than it was granted.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        clock: Clock | None = None,
        scope: str = "xero",
        concurrent: int = 5,
        per_minute: int = 60,
        per_day: int = 5000,
        app_per_minute: int = 10_000,
        minute_seconds: float = 60.0,
        day_seconds: float = 86400.0,
        default_block: float = 1.0,
        concurrency_poll: float = 0.05,
        unavailable_retry: float = 1.0,
        connection_wait: float = 5.0,
        sliding_margin: float = 1.0,
    ) -> None:
        if min(per_minute, concurrent, per_day, app_per_minute) < 1:
            raise ValueError("limits must be positive")
        self.pool = pool
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.scope = scope
        self.concurrent = concurrent
        self.per_minute = per_minute
        self.per_day = per_day
        self.app_per_minute = app_per_minute
        self.minute_seconds = minute_seconds
        self.day_seconds = day_seconds
        self.default_block = default_block
        self.concurrency_poll = concurrency_poll
        self.unavailable_retry = unavailable_retry
        self.connection_wait = connection_wait
        self.sliding_margin = sliding_margin
        self._keys: dict[str, list[int]] = {}
        self._freed = threading.Condition()
        self._rng = random.Random()
        self._warned = -math.inf
        ensure_tables(pool, "limits", _STEPS)
        with pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO xero_limit_app (scope, shard)"
                " SELECT %s, generate_series(0, %s - 1) ON CONFLICT DO NOTHING",
                (scope, APP_SHARDS),
            )

    # -- asking -------------------------------------------------------------------------------

    def try_acquire(self, tenant_id: str) -> SharedPermit | None:
        """A permit if ``tenant_id`` may call now, else ``None`` at once (never waits for
        another call; only, briefly, for a pooled connection or the organisation's row)."""
        try:
            conn = self.pool.getconn(timeout=self.connection_wait)
        except _DOWN as exc:
            self._unavailable(exc)
            return None
        key: int | None = None
        epoch = seq = 0
        try:
            with conn.transaction(), self._row(conn, tenant_id) as (state, now, app_blocked):
                in_flight = self._count_in_flight(conn, tenant_id) if state.probing else 0
                if not self._wait(state, now, app_blocked, in_flight=in_flight).ready:
                    raise _Refused
                if not self._take_app(conn, now):
                    raise _Refused
                slot = self._take_slot(conn, tenant_id)
                if slot is None:
                    raise _Refused
                key = self._slot_keys(tenant_id)[slot]
                seq = self._grant(conn, tenant_id, slot, key)
                state.minute_start = now if state.minute_start is None else state.minute_start
                state.day_start = now if state.day_start is None else state.day_start
                state.minute_used += 1
                state.day_used += 1
                keep = self.per_minute - 1  # the latest grants the sliding minute needs
                state.recent = [*(state.recent[-keep:] if keep else []), now]
                epoch = state.minute_epoch
        except _Refused:
            self.pool.putconn(conn)
            return None
        except _DOWN as exc:
            self._discard(conn)  # a slot it may hold goes with the connection
            self._unavailable(exc)
            return None
        except BaseException:
            self._discard(conn)
            raise
        assert key is not None
        return SharedPermit(self, tenant_id, conn, key, epoch, seq)

    def wait_for(self, tenant_id: str, *, pace: bool = False) -> Wait:
        """How long until ``tenant_id`` may call, and the reason – without taking anything.

        ``pace``: for work that can wait (history), spread the minute's calls over the minute
        (``PACE_BURST`` ahead at most) rather than spending them in one burst – reason
        ``paced-minute``, as :meth:`RateLimiter.wait_for` does.
        """
        params = {
            "scope": self.scope,
            "tenant": tenant_id,
            "minute": self.minute_seconds,
            "keys": self._slot_keys(tenant_id),
        }
        try:
            with self.pool.connection(timeout=self.connection_wait) as conn:
                row = conn.execute(_LOOK, params).fetchone()
        except _DOWN as exc:
            self._unavailable(exc)
            return Wait(self.unavailable_retry, UNAVAILABLE)
        assert row is not None
        now = float(row[0])
        state = _SharedWindows() if row[2] is None else _SharedWindows(*row[1:10])  # or fresh
        self._roll(state, now)
        wait = self._wait(state, now, float(row[10]), in_flight=int(row[12]), app_used=int(row[11]))
        if wait.ready and pace and state.minute_start is not None:
            elapsed = now - state.minute_start
            ahead = state.minute_used - PACE_BURST
            due = ahead * self.minute_seconds / self.per_minute - elapsed
            if due > 0:
                return Wait(max(due, 0.01), "paced-minute")
        return wait

    def blocked_until(self, tenant_id: str) -> float:
        """``clock.monotonic()`` time before which the organisation cannot call, or ``0.0``
        (429 blocks and spent windows; full slots are not a block)."""
        wait = self.wait_for(tenant_id)
        if wait.ready or wait.reason == "local-concurrent":
            return 0.0
        return self.clock.monotonic() + wait.seconds

    def acquire(self, tenant_id: str, timeout: float | None = None) -> SharedPermit:
        """Wait (on the injected clock) for a permit, at most ``timeout`` seconds.

        :raises RateLimited: with the remaining wait, when it would pass the timeout.
        """
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while True:
            permit = self.try_acquire(tenant_id)
            if permit is not None:
                return permit
            wait = self.wait_for(tenant_id)
            seconds = max(wait.seconds, 0.01)
            if deadline is not None and clock.monotonic() + wait.seconds > deadline:
                raise RateLimited(wait.seconds, wait.reason, tenant_id=tenant_id, status=None)
            if wait.reason == "local-concurrent":
                with self._freed:  # a call of this process may free a slot sooner
                    self._freed.wait(timeout=seconds)
            else:
                clock.sleep(seconds)

    # -- learning -----------------------------------------------------------------------------

    def record_429(self, tenant_id: str, retry_after: float | None, problem: str) -> None:
        """Xero said 429: block this organisation (only) for ``retry_after`` seconds, on every
        machine; an app-wide problem pauses every organisation of the scope."""
        block = max(0.0, retry_after if retry_after is not None else self.default_block)
        kind = problem.lower()
        try:
            with self.pool.connection(timeout=self.connection_wait) as conn, conn.transaction():
                if "app" in kind:
                    conn.execute(_BLOCK_APP, (self.scope, block))
                    return
                with self._row(conn, tenant_id) as (state, now, _app):
                    until = now + block
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
        except _DOWN as exc:
            self._unavailable(exc)

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        """Correct the estimate from an answer's remaining-headers (without releasing a slot)."""
        try:
            with self.pool.connection(timeout=self.connection_wait) as conn, conn.transaction():
                self._observe(conn, tenant_id, headers, None)
        except _DOWN as exc:
            self._unavailable(exc)

    # -- internals ----------------------------------------------------------------------------

    def _release(
        self,
        conn: Conn,
        tenant_id: str,
        key: int,
        headers: Mapping[str, str] | None,
        granted: tuple[int, int],
    ) -> None:
        try:
            with conn.transaction():
                row = conn.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()
                unlocked = row is not None and bool(row[0])
                if headers is not None:
                    self._observe(conn, tenant_id, headers, granted)
        except psycopg.Error as exc:
            # The slot must not outlive the call: a connection that may still hold it is closed.
            self._discard(conn)
            self._unavailable(exc)
        else:
            if unlocked:
                self.pool.putconn(conn)
            else:  # pragma: no cover - the lock was this connection's since try_acquire
                self._discard(conn)
        with self._freed:
            self._freed.notify_all()

    def _observe(
        self,
        conn: Conn,
        tenant_id: str,
        headers: Mapping[str, str],
        granted: tuple[int, int] | None,
    ) -> None:
        """Correct the windows from an answer's headers; ``granted`` (see
        :meth:`SharedPermit._when`) is when its call was granted, ``None`` if unknown."""
        minute_left = _int_header(headers, "X-MinLimit-Remaining")
        day_left = _int_header(headers, "X-DayLimit-Remaining")
        app_left = _int_header(headers, "X-AppMinLimit-Remaining")
        if app_left is not None and app_left <= 0:
            conn.execute(_BLOCK_APP, (self.scope, self.minute_seconds))
        if minute_left is None and day_left is None:
            return
        with self._row(conn, tenant_id) as (state, now, _app):
            if granted is not None and granted[0] != state.minute_epoch:
                minute_left = None  # a late answer from before our window rolled over
                if day_left is None:
                    return
            extra = self._not_in_count(conn, tenant_id, granted)
            if minute_left is not None:
                state.probing = False
                state.minute_start = now if state.minute_start is None else state.minute_start
                state.minute_used = max(0, self.per_minute - minute_left) + extra
            if day_left is not None:
                state.day_start = now if state.day_start is None else state.day_start
                state.day_used = max(0, self.per_day - day_left) + extra

    def _not_in_count(self, conn: Conn, tenant_id: str, granted: tuple[int, int] | None) -> int:
        """Calls Xero's count in an answer may not hold, to add to it (to be safe).

        Xero counts a call when it arrives, and tells the count in that call's answer: calls
        granted after it (every machine's, answered since or not) are not in it, nor may be those
        granted before it and still in flight (they may arrive later). Without the grant (a bare
        :meth:`PostgresRateLimiter.observe`), every call in flight is added instead.
        """
        if granted is None:
            return self._count_in_flight(conn, tenant_id)
        params = {"scope": self.scope, "tenant": tenant_id, "seq": granted[1]}
        row = conn.execute(_SINCE, params).fetchone()
        assert row is not None
        return max(0, int(row[0] or 0)) + int(row[1])

    @contextlib.contextmanager
    def _row(self, conn: Conn, tenant_id: str) -> Iterator[tuple[_SharedWindows, float, float]]:
        """The organisation's windows locked (``FOR UPDATE``) and rolled to the server's now,
        with the app-wide block; what the caller leaves in them is written back. Inside the
        caller's transaction."""
        found = conn.execute(_LOCK_ROW, (self.scope, tenant_id)).fetchone()
        if found is None:
            conn.execute(_NEW_ROW, (self.scope, tenant_id))
            found = conn.execute(_LOCK_ROW, (self.scope, tenant_id)).fetchone()
            assert found is not None
        times = conn.execute(_NOW_AND_APP_BLOCK, (self.scope,)).fetchone()
        assert times is not None
        before = tuple(found)
        state = _SharedWindows(*found)
        now = float(times[0])
        self._roll(state, now)
        yield state, now, float(times[1])
        after = astuple(state)
        if after != before:
            conn.execute(_WRITE_ROW, (*after, self.scope, tenant_id))

    def _roll(self, state: _SharedWindows, now: float) -> None:
        if state.minute_start is not None and now >= state.minute_start + self.minute_seconds:
            state.minute_start = None
            state.minute_used = 0
            state.minute_epoch += 1
            # Our window rolling over does not mean Xero's did: one call goes first and its
            # remaining-header tells how much of Xero's minute is left.
            state.probing = True
        if state.day_start is not None and now >= state.day_start + self.day_seconds:
            state.day_start = None
            state.day_used = 0
        since = now - self.minute_seconds - self.sliding_margin
        if state.recent and state.recent[0] <= since:
            state.recent = [t for t in state.recent if t > since]

    def _wait(
        self,
        state: _SharedWindows,
        now: float,
        app_blocked_until: float,
        *,
        in_flight: int,
        app_used: int = 0,
    ) -> Wait:
        if state.blocked_until > now:
            return Wait(state.blocked_until - now, f"blocked-{state.block_problem}")
        if app_blocked_until > now:
            return Wait(app_blocked_until - now, "app-minute")
        if app_used >= self.app_per_minute:
            window_end = (math.floor(now / self.minute_seconds) + 1) * self.minute_seconds
            return Wait(max(window_end - now, 0.01), "app-minute")
        if state.day_used >= self.per_day and state.day_start is not None:
            return Wait(state.day_start + self.day_seconds - now, "local-day")
        if state.minute_used >= self.per_minute and state.minute_start is not None:
            return Wait(state.minute_start + self.minute_seconds - now, "local-minute")
        if len(state.recent) >= self.per_minute:  # as many in the last (sliding) minute
            oldest = state.recent[-self.per_minute]
            return Wait(
                max(oldest + self.minute_seconds + self.sliding_margin - now, 0.01),
                ("local-minute"),
            )
        if in_flight >= self.concurrent:
            return Wait(self.concurrency_poll, "local-concurrent")
        if state.probing and in_flight >= 1:
            return Wait(self.concurrency_poll, "probing-minute")
        return Wait(0.0, "")

    def _take_app(self, conn: Conn, now: float) -> bool:
        """One unit of the app-wide minute from a shard with room (``False``: none has)."""
        quota, extra = divmod(self.app_per_minute, APP_SHARDS)
        params = {
            "scope": self.scope,
            "window": math.floor(now / self.minute_seconds),
            "quota": quota,
            "extra": extra,
            "start": self._rng.randrange(APP_SHARDS),
            "shards": APP_SHARDS,
        }
        # Skip shards other calls hold this instant; if all with room are held, wait for one.
        for skip in ("SKIP LOCKED", ""):
            query = _TAKE_APP.format(skip=skip).encode()
            if conn.execute(query, params).fetchone() is not None:
                return True
        return False

    def _take_slot(self, conn: Conn, tenant_id: str) -> int | None:
        """Lock a free slot of the organisation for this connection's session (its index)."""
        keys = self._slot_keys(tenant_id)
        row = conn.execute("SELECT xero_limit_take_slot(%s::int8[])", (keys,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _grant(self, conn: Conn, tenant_id: str, slot: int, key: int) -> int:
        """Number the grant (the organisation's grants so far) and note it on its slot."""
        params = {"scope": self.scope, "tenant": tenant_id, "slot": slot, "key": key}
        row = conn.execute(_GRANT, params).fetchone()
        assert row is not None
        return int(row[0])

    def _count_in_flight(self, conn: Conn, tenant_id: str) -> int:
        """Slots of the organisation taken now, by every process on every machine."""
        row = conn.execute(_IN_FLIGHT, (self._slot_keys(tenant_id),)).fetchone()
        return 0 if row is None else int(row[0])

    def _slot_keys(self, tenant_id: str) -> list[int]:
        keys = self._keys.get(tenant_id)
        if keys is None:
            keys = [
                advisory_key("pm-xero slot", self.scope, tenant_id, str(i))
                for i in range(self.concurrent)
            ]
            self._keys[tenant_id] = keys
        return keys

    def _discard(self, conn: Conn) -> None:
        """Close a connection (dropping any lock it holds) and give it back to be replaced."""
        with contextlib.suppress(psycopg.Error):
            conn.close()
        self.pool.putconn(conn)

    def _unavailable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned >= 60.0:  # one line a minute, not one per call
            self._warned = now
            log.warning(
                "Xero's shared limits in PostgreSQL cannot be used now (%s): no calls to Xero"
                " until they can",
                type(exc).__name__,
            )


if TYPE_CHECKING:  # the limiter stands in for RateLimiter wherever Limits are taken
    _CONFORMS: type[Limits] = PostgresRateLimiter
