"""The per-organisation rate limiter: windows, concurrency, header corrections, 429 blocks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.virtual_time import VirtualTime
from support.xero_client_fakes import OTHER_TENANT, TENANT

from pm_xero_plugin.xero.errors import RateLimited
from pm_xero_plugin.xero.ratelimit import RateLimiter


def test_five_calls_in_flight_per_tenant_then_none_until_one_returns(
    limiter: RateLimiter,
) -> None:
    permits = [limiter.try_acquire(TENANT) for _ in range(5)]
    assert all(p is not None for p in permits)
    assert limiter.try_acquire(TENANT) is None
    assert limiter.wait_for(TENANT).reason == "local-concurrent"
    assert limiter.blocked_until(TENANT) == 0.0  # a full slate is not a block
    assert limiter.try_acquire(OTHER_TENANT) is not None
    permits[0].release()  # type: ignore[union-attr]
    assert limiter.try_acquire(TENANT) is not None


def test_releasing_twice_frees_only_one_slot(limiter: RateLimiter) -> None:
    permits = [limiter.try_acquire(TENANT) for _ in range(5)]
    first = permits[0]
    assert first is not None
    first.release()
    first.release()
    assert limiter.try_acquire(TENANT) is not None
    assert limiter.try_acquire(TENANT) is None


def test_sixty_per_minute_then_wait_for_the_window(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    for _ in range(60):
        permit = limiter.try_acquire(TENANT)
        assert permit is not None
        permit.release()
        clock.advance(0.5)
    assert limiter.try_acquire(TENANT) is None
    wait = limiter.wait_for(TENANT)
    assert wait.reason == "local-minute"
    assert wait.seconds == pytest.approx(30.0)
    assert limiter.blocked_until(TENANT) == pytest.approx(clock.now + 30.0)
    assert limiter.try_acquire(OTHER_TENANT) is not None
    clock.advance(30.0)
    assert limiter.try_acquire(TENANT) is not None


def test_day_limit_holds_until_the_day_window_ends(clock: VirtualTime) -> None:
    limiter = RateLimiter(clock, per_day=3, per_minute=60)
    for _ in range(3):
        permit = limiter.try_acquire(TENANT)
        assert permit is not None
        permit.release()
    assert limiter.try_acquire(TENANT) is None
    assert limiter.wait_for(TENANT).reason == "local-day"
    clock.advance(3600)
    assert limiter.try_acquire(TENANT) is None
    clock.advance(86400)
    assert limiter.try_acquire(TENANT) is not None


def test_minute_window_length_is_configurable_for_a_time_scaled_sandbox(clock: VirtualTime) -> None:
    limiter = RateLimiter(clock, per_minute=2, minute_seconds=6.0)
    for _ in range(2):
        permit = limiter.try_acquire(TENANT)
        assert permit is not None
        permit.release()
    assert limiter.wait_for(TENANT).seconds == pytest.approx(6.0)
    clock.advance(6.0)
    assert limiter.try_acquire(TENANT) is not None


def test_remaining_headers_replace_our_estimate_both_ways(limiter: RateLimiter) -> None:
    permit = limiter.try_acquire(TENANT)
    assert permit is not None
    # Xero has counted calls we did not see (another process): only 1 left this minute.
    permit.release(headers={"X-MinLimit-Remaining": "1", "X-DayLimit-Remaining": "4000"})
    last = limiter.try_acquire(TENANT)
    assert last is not None
    last.release()
    assert limiter.try_acquire(TENANT) is None
    assert limiter.wait_for(TENANT).reason == "local-minute"
    # Xero's window reset earlier than ours: 60 left again, so we may go on at once.
    limiter.observe(TENANT, {"X-MinLimit-Remaining": "60"})
    assert limiter.try_acquire(TENANT) is not None


def test_a_late_answer_from_the_previous_window_does_not_exhaust_the_new_one(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    slow = limiter.try_acquire(TENANT)
    assert slow is not None
    clock.advance(61.0)  # our window rolls over while that call is still out
    slow.release(headers={"X-MinLimit-Remaining": "0"})
    assert limiter.try_acquire(TENANT) is not None


def test_day_remaining_header_of_zero_stops_the_tenant(limiter: RateLimiter) -> None:
    permit = limiter.try_acquire(TENANT)
    assert permit is not None
    permit.release(headers={"x-daylimit-remaining": "0", "X-MinLimit-Remaining": "59"})
    assert limiter.try_acquire(TENANT) is None
    assert limiter.wait_for(TENANT).reason == "local-day"
    assert limiter.try_acquire(OTHER_TENANT) is not None


def test_unreadable_headers_are_ignored(limiter: RateLimiter) -> None:
    permit = limiter.try_acquire(TENANT)
    assert permit is not None
    permit.release(headers={"X-MinLimit-Remaining": "lots"})
    assert limiter.try_acquire(TENANT) is not None


def test_a_429_blocks_only_that_tenant_until_retry_after(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    limiter.record_429(TENANT, 17.0, "minute")
    assert limiter.try_acquire(TENANT) is None
    wait = limiter.wait_for(TENANT)
    assert wait.seconds == pytest.approx(17.0)
    assert wait.reason == "blocked-minute"
    assert limiter.blocked_until(TENANT) == pytest.approx(clock.now + 17.0)
    assert limiter.try_acquire(OTHER_TENANT) is not None
    assert limiter.blocked_until(OTHER_TENANT) == 0.0
    clock.advance(17.0)
    assert limiter.try_acquire(TENANT) is not None


def test_a_429_without_retry_after_blocks_briefly(clock: VirtualTime) -> None:
    limiter = RateLimiter(clock, default_block=2.0)
    limiter.record_429(TENANT, None, "concurrent")
    assert limiter.wait_for(TENANT).seconds == pytest.approx(2.0)
    clock.advance(2.0)
    assert limiter.try_acquire(TENANT) is not None


def test_a_shorter_429_never_shortens_a_longer_block(limiter: RateLimiter) -> None:
    limiter.record_429(TENANT, 3600.0, "day")
    limiter.record_429(TENANT, 5.0, "minute")
    assert limiter.wait_for(TENANT).seconds == pytest.approx(3600.0)


def test_app_wide_limit_pauses_every_tenant(clock: VirtualTime, limiter: RateLimiter) -> None:
    permit = limiter.try_acquire(TENANT)
    assert permit is not None
    permit.release(headers={"X-AppMinLimit-Remaining": "0"})
    assert limiter.try_acquire(OTHER_TENANT) is None
    assert limiter.wait_for(OTHER_TENANT).reason == "app-minute"
    clock.advance(60.0)
    assert limiter.try_acquire(OTHER_TENANT) is not None


def test_acquire_waits_on_the_injected_clock(clock: VirtualTime, limiter: RateLimiter) -> None:
    limiter.record_429(TENANT, 9.0, "minute")
    permit = limiter.acquire(TENANT, timeout=10.0)
    assert permit.tenant_id == TENANT
    assert clock.sleeps == [pytest.approx(9.0)]


def test_acquire_gives_up_with_the_wait_when_the_timeout_is_too_short(
    limiter: RateLimiter,
) -> None:
    limiter.record_429(TENANT, 30.0, "minute")
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(TENANT, timeout=5.0)
    assert caught.value.retry_after == pytest.approx(30.0)
    assert caught.value.tenant_id == TENANT


def test_acquire_wakes_when_another_thread_releases(limiter: RateLimiter) -> None:
    held = [limiter.try_acquire(TENANT) for _ in range(5)]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire(TENANT, timeout=None)))
    waiter.start()
    waiter.join(timeout=0.2)
    assert got == []
    held[0].release()  # type: ignore[union-attr]
    waiter.join(timeout=5)
    assert len(got) == 1


def test_many_threads_never_exceed_five_in_flight() -> None:
    limiter = RateLimiter()
    in_flight = 0
    peak = 0
    guard = threading.Lock()

    def call() -> None:
        nonlocal in_flight, peak
        with limiter.acquire(TENANT, timeout=10):
            with guard:
                in_flight += 1
                peak = max(peak, in_flight)
            threading.Event().wait(0.005)
            with guard:
                in_flight -= 1

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 5


def test_after_our_window_rolls_over_one_call_probes_xeros_count_before_others_follow(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    first = limiter.try_acquire(TENANT)
    assert first is not None
    first.release(headers={"X-MinLimit-Remaining": "50"})
    clock.advance(61.0)  # our minute is over; Xero's may not be

    probe = limiter.try_acquire(TENANT)
    assert probe is not None
    assert limiter.try_acquire(TENANT) is None, "a burst here would meet Xero's old window"
    assert limiter.wait_for(TENANT).reason == "probing-minute"
    probe.release(headers={"X-MinLimit-Remaining": "40"})

    followers = [limiter.try_acquire(TENANT) for _ in range(5)]
    assert all(p is not None for p in followers), "the answer told us how much is left"


# -- shared between processes (one data directory, several pm-xero worker processes) ----------


def _shared(clock: VirtualTime, directory: Path) -> RateLimiter:
    return RateLimiter(clock, shared_dir=directory)


def test_limiters_sharing_a_directory_have_five_slots_between_them(
    clock: VirtualTime, tmp_path: Path
) -> None:
    # Two limiters stand for two processes: each has its own open files, so its own locks.
    first, second = _shared(clock, tmp_path), _shared(clock, tmp_path)
    held = [first.try_acquire(TENANT) for _ in range(3)] + [
        second.try_acquire(TENANT) for _ in range(2)
    ]
    assert all(p is not None for p in held)
    assert first.try_acquire(TENANT) is None
    assert second.try_acquire(TENANT) is None
    assert second.wait_for(TENANT).reason == "local-concurrent"
    assert first.try_acquire(OTHER_TENANT) is not None  # per organisation
    held[0].release()  # type: ignore[union-attr]
    assert second.try_acquire(TENANT) is not None
    assert first.try_acquire(TENANT) is None


def test_a_killed_process_never_keeps_a_slot(clock: VirtualTime, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pm_xero_plugin.xero.ratelimit import RateLimiter\n"
            "limiter = RateLimiter(shared_dir=sys.argv[1])\n"
            "permits = [limiter.try_acquire('tenant-a') for _ in range(5)]\n"
            "assert all(permits)\n"
            "print('holding', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "holding"
        limiter = _shared(clock, tmp_path)
        assert limiter.try_acquire(TENANT) is None  # the child holds all five
        child.send_signal(signal.SIGKILL)  # no release, no clean-up, no lease to wait out
        child.wait(timeout=10)
        assert all(limiter.try_acquire(TENANT) is not None for _ in range(5))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_minute_window_learnt_from_xero_is_shared(clock: VirtualTime, tmp_path: Path) -> None:
    first, second = _shared(clock, tmp_path), _shared(clock, tmp_path)
    permit = first.try_acquire(TENANT)
    assert permit is not None
    permit.release({"X-MinLimit-Remaining": "2", "X-DayLimit-Remaining": "4000"})
    for _ in range(2):
        other = second.try_acquire(TENANT)
        assert other is not None
        other.release()
    assert second.try_acquire(TENANT) is None
    assert first.try_acquire(TENANT) is None
    assert first.wait_for(TENANT).reason == "local-minute"


def test_a_429_seen_by_one_process_blocks_the_others(clock: VirtualTime, tmp_path: Path) -> None:
    first, second = _shared(clock, tmp_path), _shared(clock, tmp_path)
    first.record_429(TENANT, 20.0, "minute")
    wait = second.wait_for(TENANT)
    assert wait.reason == "blocked-minute"
    assert wait.seconds == pytest.approx(20.0)
    clock.advance(20.0)
    assert second.try_acquire(TENANT) is not None


def test_a_window_file_from_another_boot_is_ignored(clock: VirtualTime, tmp_path: Path) -> None:
    limiter = _shared(clock, tmp_path)
    assert limiter.try_acquire(TENANT) is not None  # creates the tenant's files
    (window,) = tmp_path.glob("*.window")
    later = {"minute_start": clock.now + 5000.0, "minute_used": 60, "day_used": 0}
    window.write_text(json.dumps(later))  # a monotonic time this boot has not reached
    assert limiter.wait_for(TENANT).ready
    window.write_text("{not json")
    assert limiter.wait_for(TENANT).ready


def test_windows_are_kept_per_server_so_a_fresh_sandbox_inherits_nothing(
    clock: VirtualTime, tmp_path: Path
) -> None:
    # The demo's embedded sandbox comes up on a new port each run with fresh windows: what the
    # last one said about its minute must not hold the new one back (Xero's URL never changes).
    from pm_xero_plugin.sync.runtime import limits_dir

    old = limits_dir(tmp_path, "http://127.0.0.1:41001/api.xro/2.0")
    new = limits_dir(tmp_path, "http://127.0.0.1:41002/api.xro/2.0")
    assert old != new
    assert limits_dir(tmp_path, "https://api.xero.com/api.xro/2.0") == tmp_path / (
        "rate-limits/api.xero.com"
    )
    RateLimiter(clock, shared_dir=old).record_429(TENANT, 50.0, "minute")
    assert not RateLimiter(clock, shared_dir=old).wait_for(TENANT).ready
    assert RateLimiter(clock, shared_dir=new).wait_for(TENANT).ready
