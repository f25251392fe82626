"""Xero's limits kept in PostgreSQL: every limiter on the same database – each with its own pool,
as two machines would have – shares one organisation's 5 slots, its minute and day windows and
429 blocks, and the app-wide minute across organisations; a SIGKILLed holder frees its slots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool
from support.postgres import fresh_database
from support.virtual_time import VirtualTime

from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter, SharedPermit
from pm_xero_plugin.xero.pg_schema import Pool, SharedTablesTooNew
from pm_xero_plugin.xero.ratelimit import PACE_BURST

T1, T2 = "tenant-1", "tenant-2"

Machine = Callable[..., PostgresRateLimiter]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as fresh:
        yield fresh


@pytest.fixture
def machine(url: str) -> Iterator[Machine]:
    """Makes a limiter with a pool of its own (a machine of the fleet); all closed after."""
    pools: list[Pool] = []

    def make(**kwargs: Any) -> PostgresRateLimiter:
        # Machines alternate: the ledger's pool (autocommit) and psycopg's default (not).
        autocommit = len(pools) % 2 == 0
        pool: Pool = ConnectionPool(
            url, min_size=1, max_size=12, kwargs={"autocommit": autocommit}, open=True
        )
        pools.append(pool)
        return PostgresRateLimiter(pool, **kwargs)

    yield make
    for pool in pools:
        pool.close()


def take(limiter: PostgresRateLimiter, tenant: str, n: int) -> list[SharedPermit]:
    permits = [limiter.try_acquire(tenant) for _ in range(n)]
    assert all(p is not None for p in permits), permits
    return [p for p in permits if p is not None]


def test_two_machines_share_five_slots_and_a_sixth_call_is_refused(machine: Machine) -> None:
    a, b = machine(per_minute=1000), machine(per_minute=1000)
    held = take(a, T1, 3) + take(b, T1, 2)
    assert a.try_acquire(T1) is None
    assert b.try_acquire(T1) is None
    assert b.wait_for(T1).reason == "local-concurrent"
    assert a.blocked_until(T1) == 0.0  # full slots are not a block
    other = b.try_acquire(T2)  # another organisation has slots of its own
    assert other is not None
    other.release()
    held.pop(0).release()  # a slot freed on machine a is free for machine b
    again = b.try_acquire(T1)
    assert again is not None
    assert a.try_acquire(T1) is None
    for permit in [*held, again]:
        permit.release()
    assert a.wait_for(T1).ready


def test_threads_on_two_machines_never_have_more_than_five_in_flight(machine: Machine) -> None:
    limiters = [machine(per_minute=10_000), machine(per_minute=10_000)]
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    calls = 0

    def call(limiter: PostgresRateLimiter) -> None:
        nonlocal in_flight, peak, calls
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            permit = limiter.try_acquire(T1)
            if permit is None:
                time.sleep(0.002)
                continue
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
                calls += 1
            time.sleep(0.05)
            with lock:
                in_flight -= 1
            permit.release()

    threads = [threading.Thread(target=call, args=(limiters[i % 2],)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert peak == 5  # ten threads wanted more; the organisation's five were the most at once
    assert calls > 20


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from psycopg_pool import ConnectionPool
    from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter

    pool = ConnectionPool(sys.argv[1], min_size=1, max_size=8, kwargs={"autocommit": True})
    limiter = PostgresRateLimiter(pool, per_minute=1000)
    held = [limiter.try_acquire("tenant-1") for _ in range(int(sys.argv[2]))]
    assert all(held)
    print("held", flush=True)
    time.sleep(120)
    """
)


def test_a_worker_killed_with_sigkill_while_holding_slots_frees_them(
    machine: Machine, url: str, tmp_path: Path
) -> None:
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    child = subprocess.Popen(
        [sys.executable, str(script), url, "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        survivor = machine(per_minute=1000)
        mine = survivor.try_acquire(T1)
        assert mine is not None
        assert survivor.try_acquire(T1) is None  # the child holds the other four
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 10
        while survivor.wait_for(T1).reason == "local-concurrent":
            assert time.monotonic() < deadline, "the killed worker's slots were never freed"
            time.sleep(0.05)
        permits = take(survivor, T1, 4)
        assert survivor.try_acquire(T1) is None
        for permit in [mine, *permits]:
            permit.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_minute_budget_is_shared_between_machines(machine: Machine) -> None:
    a, b = machine(), machine()
    for i in range(60):
        permit = (a if i % 2 else b).try_acquire(T1)
        assert permit is not None, f"call {i + 1} of 60 refused"
        permit.release()
    assert a.try_acquire(T1) is None
    assert b.try_acquire(T1) is None
    wait = b.wait_for(T1)
    assert wait.reason == "local-minute"
    assert 0 < wait.seconds <= 60
    assert a.blocked_until(T1) > a.clock.monotonic()
    assert b.try_acquire(T2) is not None  # the other organisation's minute is its own


def test_the_day_budget_is_shared_between_machines(machine: Machine) -> None:
    a, b = machine(per_day=3), machine(per_day=3)
    for limiter in (a, b, a):
        permit = limiter.try_acquire(T1)
        assert permit is not None
        permit.release()
    assert b.try_acquire(T1) is None
    assert b.wait_for(T1).reason == "local-day"


def test_the_app_wide_minute_is_shared_across_organisations_and_machines(
    machine: Machine,
) -> None:
    a, b = machine(app_per_minute=20), machine(app_per_minute=20)
    granted = 0
    for i in range(30):
        permit = (a if i % 2 else b).try_acquire(f"org-{i % 7}")
        if permit is not None:
            granted += 1
            permit.release()
    assert granted == 20
    assert a.try_acquire("a-new-org") is None
    assert b.wait_for("a-new-org").reason == "app-minute"


def test_a_retry_after_from_one_machine_blocks_the_organisation_on_the_other(
    machine: Machine,
) -> None:
    a, b = machine(), machine()
    a.record_429(T1, 30.0, "minute")
    assert b.try_acquire(T1) is None
    wait = b.wait_for(T1)
    assert wait.reason == "blocked-minute"
    assert 25 < wait.seconds <= 30  # (a loaded machine may take a moment between the two)
    permit = b.try_acquire(T2)  # only that organisation
    assert permit is not None
    permit.release()


def test_an_app_wide_429_on_one_machine_pauses_every_organisation_on_the_other(
    machine: Machine,
) -> None:
    a, b = machine(), machine()
    a.record_429(T1, 20.0, "AppMinute")
    assert b.try_acquire(T2) is None
    wait = b.wait_for(T2)
    assert wait.reason == "app-minute"
    assert 15 < wait.seconds <= 20


def test_the_remaining_headers_correct_the_shared_estimate(machine: Machine) -> None:
    a, b = machine(), machine()
    permit = a.try_acquire(T1)
    assert permit is not None
    permit.release({"X-MinLimit-Remaining": "2", "X-DayLimit-Remaining": "4000"})
    for _ in range(2):  # Xero said two calls were left this minute: machine b gets two
        second = b.try_acquire(T1)
        assert second is not None
        second.release()
    assert b.try_acquire(T1) is None
    assert a.wait_for(T1).reason == "local-minute"
    b.observe(T2, {"X-DayLimit-Remaining": "0"})
    assert a.wait_for(T2).reason == "local-day"


def test_headers_count_calls_still_in_flight_on_any_machine(machine: Machine) -> None:
    a, b = machine(), machine()
    other = b.try_acquire(T1)  # still in flight: Xero may not have counted it yet
    permit = a.try_acquire(T1)
    assert other is not None
    assert permit is not None
    permit.release({"X-MinLimit-Remaining": "2"})  # 58 used by Xero's count, plus b's call
    last = a.try_acquire(T1)
    assert last is not None
    assert b.try_acquire(T1) is None
    for held in (other, last):
        held.release()


def test_app_remaining_zero_pauses_every_organisation_on_every_machine(machine: Machine) -> None:
    a, b = machine(), machine()
    permit = a.try_acquire(T1)
    assert permit is not None
    permit.release({"X-AppMinLimit-Remaining": "0"})
    assert b.try_acquire(T2) is None
    assert b.wait_for(T2).reason == "app-minute"


def test_paced_history_spreads_the_shared_minute(machine: Machine) -> None:
    a, b = machine(), machine()
    for _ in range(PACE_BURST + 2):
        permit = a.try_acquire(T1)
        assert permit is not None
        permit.release()
    paced = b.wait_for(T1, pace=True)
    assert paced.reason == "paced-minute"
    assert 0 < paced.seconds <= 2 * 60 / 60
    assert b.wait_for(T1).ready  # a live record still goes at once


def test_the_windows_are_on_the_database_servers_clock_not_the_machines(
    machine: Machine,
) -> None:
    skewed = VirtualTime(start=1_000_000.0)  # a machine whose clock says something else
    a, b = machine(clock=skewed), machine()
    a.record_429(T1, 30.0, "minute")
    wait = b.wait_for(T1)
    assert 25 < wait.seconds <= 30
    assert 1_000_025 < a.blocked_until(T1) <= 1_000_030  # told in the asking machine's clock


def test_after_the_window_ends_one_call_probes_before_the_others(machine: Machine) -> None:
    fast = {"per_minute": 2, "minute_seconds": 1.0, "sliding_margin": 0.05}
    a, b = machine(**fast), machine(**fast)
    for _ in range(2):
        permit = a.try_acquire(T1)
        assert permit is not None
        permit.release()
    assert b.try_acquire(T1) is None
    time.sleep(1.1)
    probe = b.try_acquire(T1)  # our window rolled over: one call finds out Xero's
    assert probe is not None
    assert a.try_acquire(T1) is None
    assert a.wait_for(T1).reason == "probing-minute"
    probe.release({"X-MinLimit-Remaining": "1"})
    permit = a.try_acquire(T1)
    assert permit is not None
    permit.release()


def test_acquire_waits_on_the_injected_clock_and_gives_up_with_rate_limited(
    machine: Machine,
) -> None:
    from pm_xero_plugin.xero.errors import RateLimited

    clock = VirtualTime(start=50.0)
    limiter = machine(clock=clock)
    limiter.record_429(T1, 90.0, "minute")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(T1, timeout=10.0)
    assert refused.value.problem == "blocked-minute"
    assert clock.sleeps == []


def test_a_permit_whose_connection_the_server_dropped_releases_quietly_and_frees_the_slot(
    machine: Machine, url: str
) -> None:
    import psycopg

    limiter = machine(concurrent=1)
    permit = limiter.try_acquire(T1)
    assert permit is not None
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
        )
    permit.release({"X-MinLimit-Remaining": "50"})  # no traceback: the estimate is only that
    again = limiter.try_acquire(T1)
    assert again is not None
    again.release()


def test_a_closed_pool_refuses_calls_and_says_the_limits_are_unavailable(
    machine: Machine,
) -> None:
    limiter = machine(connection_wait=0.2)
    limiter.pool.close()
    assert limiter.try_acquire(T1) is None
    wait = limiter.wait_for(T1)
    assert wait.reason == "limits-unavailable"
    assert wait.seconds == 1.0


def test_limiters_on_the_same_database_with_other_scopes_share_nothing(machine: Machine) -> None:
    live, sandbox = machine(scope="api.xero.com"), machine(scope="127.0.0.1:8765")
    live.record_429(T1, 30.0, "minute")
    held = take(sandbox, T1, 5)
    assert sandbox.wait_for(T1).reason == "local-concurrent"
    assert live.wait_for(T1).reason == "blocked-minute"
    for permit in held:
        permit.release()


def test_tables_from_a_newer_add_on_are_refused_with_words(machine: Machine) -> None:
    limiter = machine()
    with limiter.pool.connection() as conn:
        conn.execute("UPDATE xero_schema_versions SET version = 99 WHERE component = 'limits'")
    with pytest.raises(SharedTablesTooNew, match="upgrade the add-on"):
        machine()  # another worker starting on that database


def test_many_limiters_starting_at_once_create_the_tables_once(url: str) -> None:
    pools: list[Pool] = [
        ConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True)
        for _ in range(4)
    ]
    errors: list[BaseException] = []

    def start(pool: Pool) -> None:
        try:
            PostgresRateLimiter(pool)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(pool,)) for pool in pools]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert errors == []
        with pools[0].connection() as conn:
            row = conn.execute(
                "SELECT version FROM xero_schema_versions WHERE component = 'limits'"
            ).fetchone()
        assert row == (1,)
    finally:
        for pool in pools:
            pool.close()


def test_waiting_for_an_unreachable_database_is_told_in_words() -> None:
    from pm_xero_plugin.xero.client import describe_limit
    from pm_xero_plugin.xero.pg_limits import UNAVAILABLE

    assert describe_limit(UNAVAILABLE) == "the shared limits in PostgreSQL (unreachable)"


def test_a_slow_calls_late_header_still_counts_the_calls_granted_after_it(
    machine: Machine,
) -> None:
    a, b = machine(per_minute=10), machine(per_minute=10)
    slow = a.try_acquire(T1)  # arrives first: Xero's count in its answer is 1
    assert slow is not None
    for left in ("8", "7"):  # two quicker calls on the other machine, answered meanwhile
        quick = b.try_acquire(T1)
        assert quick is not None
        quick.release({"X-MinLimit-Remaining": left})
    slow.release({"X-MinLimit-Remaining": "9"})  # true when it arrived, stale now
    granted = 0
    while (permit := b.try_acquire(T1)) is not None:
        granted += 1
        permit.release()
    assert granted == 7  # 10 in the minute, not the 9 more the slow answer alone would allow


def test_a_header_counts_calls_granted_before_it_that_are_still_in_flight(
    machine: Machine,
) -> None:
    a, b = machine(per_minute=10), machine(per_minute=10)
    early = a.try_acquire(T1)  # granted first, not at Xero yet
    assert early is not None
    quick = b.try_acquire(T1)
    assert quick is not None
    quick.release({"X-MinLimit-Remaining": "9"})  # Xero has seen only this one
    granted = 0
    while (permit := b.try_acquire(T1)) is not None:
        granted += 1
        permit.release()
    early.release()
    assert granted == 8  # the early call still counts: 10 in all


def test_calls_late_in_one_window_and_early_in_the_next_stay_within_a_sliding_minute(
    machine: Machine,
) -> None:
    fast = {"per_minute": 4, "minute_seconds": 2.0, "sliding_margin": 0.1}
    a, b = machine(**fast), machine(**fast)
    started = time.monotonic()
    first = a.try_acquire(T1)  # opens the fixed window
    assert first is not None
    first.release()
    time.sleep(1.4)
    for permit in take(b, T1, 3):  # the end of the first window
        permit.release()
    time.sleep(max(0.0, started + 2.25 - time.monotonic()))  # the next window is open
    granted = 0
    while (permit := a.try_acquire(T1)) is not None:
        granted += 1
        permit.release()
    assert granted == 1  # a fixed window would give 4: 7 within 2 s
    wait = b.wait_for(T1)
    assert wait.reason == "local-minute"
    assert 0 < wait.seconds <= 1.4


def test_a_permit_dropped_unreleased_gives_its_slot_and_connection_back(machine: Machine) -> None:
    import gc

    limiter = machine(concurrent=1)
    permit = limiter.try_acquire(T1)
    assert permit is not None
    assert limiter.try_acquire(T1) is None
    del permit  # a caller that raised between taking and releasing it
    gc.collect()
    again = limiter.try_acquire(T1)
    assert again is not None
    again.release()
    assert limiter.pool.get_stats()["pool_size"] - limiter.pool.get_stats()["pool_available"] == 0
