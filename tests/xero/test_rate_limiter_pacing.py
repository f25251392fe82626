"""History paces its minute budget so a live record always finds some left (issue 9, item 4):
``wait_for(pace=True)`` spreads a minute's calls evenly, a few ahead at most; a live caller
(``pace=False``) is held only by the real limits."""

from __future__ import annotations

from support.virtual_time import VirtualTime
from support.xero_client_fakes import TENANT

from pm_xero_plugin.xero.ratelimit import PACE_BURST, RateLimiter


def _spend(limiter: RateLimiter, n: int) -> None:
    for _ in range(n):
        permit = limiter.try_acquire(TENANT)
        assert permit is not None
        permit.release()


def test_paced_history_keeps_to_an_even_spread_and_live_may_still_go() -> None:
    clock = VirtualTime(start=1000.0)
    limiter = RateLimiter(clock, per_minute=60)
    _spend(limiter, PACE_BURST)
    assert limiter.wait_for(TENANT, pace=True).ready  # the burst allowance is not used up yet
    _spend(limiter, 1)
    held = limiter.wait_for(TENANT, pace=True)
    assert held.reason == "paced-minute"
    assert 0 < held.seconds <= 1.0
    assert limiter.wait_for(TENANT).ready  # a live record is not held by the pace

    clock.now += held.seconds
    assert limiter.wait_for(TENANT, pace=True).ready  # one call a second, on average


def test_paced_history_never_uses_up_the_minute_before_its_end() -> None:
    clock = VirtualTime(start=1000.0)
    limiter = RateLimiter(clock, per_minute=60)
    spent = 0
    for _ in range(55 * 10):  # 55 s of a paced caller asking ten times a second
        if limiter.wait_for(TENANT, pace=True).ready:
            _spend(limiter, 1)
            spent += 1
        clock.now += 0.1
    assert spent <= 55 + PACE_BURST + 1
    assert limiter.wait_for(TENANT).ready  # the live record made at 55 s goes at once
