"""The sandbox's peak counters: per organisation, the most calls ever in flight at once and the
most in any 60 s of sandbox time, read through ``GET /sandbox/limits/peaks``.

They are what the fleet's end-to-end test and bench trust to say a client kept to Xero's limits,
so they must see what the limits themselves cannot: a 6th call in flight that was refused, and
120 calls in one minute spread over two of the fixed windows the limits are enforced with.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from support.sandbox_helpers import Api, Tokens, connect

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock
from pm_xero_plugin.sandbox.limits import Peaks

PEAKS = "/sandbox/limits/peaks"


def _peaks(client: httpx.Client) -> dict[str, dict[str, int]]:
    resp = client.get(PEAKS)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    found: dict[str, dict[str, int]] = resp.json()
    return found


def test_every_organisation_is_listed_with_zeros_before_any_call(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    zero = {"peak_in_flight": 0, "peak_per_minute": 0, "calls": 0}
    assert _peaks(client) == dict.fromkeys(sandbox.tenant_ids, zero)


def test_calls_one_after_another_peak_at_one_in_flight_and_count_per_organisation(
    api: Api, client: httpx.Client, sandbox: Sandbox, clock: SandboxClock
) -> None:
    first, second = sandbox.tenant_ids
    for _ in range(3):
        assert api.get("/Organisation").status_code == 200
        clock.advance(1)
    assert api.get("/Organisation", tenant=second).status_code == 200
    peaks = _peaks(client)
    assert peaks[first] == {"peak_in_flight": 1, "peak_per_minute": 3, "calls": 3}
    assert peaks[second] == {"peak_in_flight": 1, "peak_per_minute": 1, "calls": 1}


def test_a_minute_is_sliding_over_two_fixed_windows(
    api: Api, client: httpx.Client, sandbox: Sandbox, clock: SandboxClock
) -> None:
    # 60 calls at the end of the sandbox's first fixed window and 60 at the start of the next:
    # the limits grant all 120 (each window holds 60), but they arrived within 21 s.
    tenant = sandbox.tenant_ids[0]
    assert api.get("/Organisation").status_code == 200  # opens the fixed window at 0 s
    clock.advance(49)
    for _ in range(59):
        assert api.get("/Organisation").status_code == 200
    clock.advance(10)  # 59 s: the last moment of the first window
    clock.advance(1.5)  # the second window opens
    for _ in range(60):
        assert api.get("/Organisation").status_code == 200
    assert _peaks(client)[tenant]["peak_per_minute"] == 119  # the 59 at 49 s and the 60
    assert _peaks(client)[tenant]["calls"] == 120


def test_calls_exactly_sixty_seconds_apart_are_in_different_minutes(
    api: Api, client: httpx.Client, sandbox: Sandbox, clock: SandboxClock
) -> None:
    tenant = sandbox.tenant_ids[0]
    for _ in range(4):
        assert api.get("/Organisation").status_code == 200
        clock.advance(30)
    # arrivals at 0, 30, 60, 90 s: any 60 s window holds two of them
    assert _peaks(client)[tenant]["peak_per_minute"] == 2


def test_refused_calls_count_too_a_client_that_oversteps_shows_above_the_limit(
    api: Api, client: httpx.Client, sandbox: Sandbox
) -> None:
    tenant = sandbox.tenant_ids[0]
    answers = [api.get("/Organisation").status_code for _ in range(65)]
    assert answers.count(429) == 5  # the limit refused the 61st to the 65th ...
    assert _peaks(client)[tenant]["peak_per_minute"] == 65  # ... and the counter saw them


def test_six_calls_at_once_peak_at_six_in_flight_though_the_sixth_is_refused(
    sandbox: Sandbox,
) -> None:
    tenant = sandbox.tenant_ids[0]
    faults = sandbox.faults(tenant)
    faults.gate = threading.Event()  # granted calls wait here, in flight
    with sandbox.serve(port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            tokens = connect(c)

        def call() -> int:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                return c.get(
                    "/api.xro/2.0/Organisation", headers=tokens.headers(tenant)
                ).status_code

        with ThreadPoolExecutor(5) as pool:
            held = [pool.submit(call) for _ in range(5)]
            deadline = time.monotonic() + 10
            while sandbox.in_flight(tenant) < 5 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert call() == 429  # the 6th, while five are in progress
            faults.gate.set()
            assert [f.result() for f in held] == [200] * 5
        with httpx.Client(base_url=server.url, timeout=10) as c:
            peaks = _peaks(c)
    assert peaks[tenant] == {"peak_in_flight": 6, "peak_per_minute": 6, "calls": 6}


def test_twenty_parallel_calls_within_the_limits_never_peak_above_what_was_sent(
    clock: SandboxClock,
) -> None:
    # Four threads of five calls each: never more than four in flight, whatever the timing.
    sandbox = Sandbox(clock=clock, limits=Limits(call_seconds=0.05))
    tenant = sandbox.tenant_ids[0]
    with sandbox.serve(port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            tokens = connect(c)

        def five(_: int) -> list[int]:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                return [
                    c.get("/api.xro/2.0/Organisation", headers=tokens.headers(tenant)).status_code
                    for _ in range(5)
                ]

        with ThreadPoolExecutor(4) as pool:
            statuses = [s for batch in pool.map(five, range(4)) for s in batch]
        with httpx.Client(base_url=server.url, timeout=10) as c:
            peaks = _peaks(c)[tenant]
    assert statuses == [200] * 20
    assert 2 <= peaks["peak_in_flight"] <= 4  # the calls overlapped, and no more than 4 did
    assert peaks["calls"] == 20
    assert peaks["peak_per_minute"] == 20  # the clock stands still: one minute holds them all


def test_delete_answers_the_counters_as_they_were_and_starts_afresh(
    api: Api, client: httpx.Client, sandbox: Sandbox, clock: SandboxClock
) -> None:
    tenant = sandbox.tenant_ids[0]
    for _ in range(3):
        api.get("/Organisation")
    resp = client.delete(PEAKS)
    assert resp.status_code == 200
    assert resp.json()[tenant] == {"peak_in_flight": 1, "peak_per_minute": 3, "calls": 3}
    assert _peaks(client)[tenant] == {"peak_in_flight": 0, "peak_per_minute": 0, "calls": 0}
    api.get("/Organisation")  # the calls before the reset are not in its minute any more
    assert _peaks(client)[tenant] == {"peak_in_flight": 1, "peak_per_minute": 1, "calls": 1}


def test_the_counters_observe_with_the_limits_off(clock: SandboxClock) -> None:
    sandbox = Sandbox(clock=clock, limits=Limits(enabled=False))
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        api = Api(c, connect(c))
        assert {api.get("/Organisation").status_code for _ in range(70)} == {200}
        assert _peaks(c)[sandbox.tenant_ids[0]]["peak_per_minute"] == 70


def test_reading_the_counters_is_no_accounting_call_and_keeps_responses_valid(
    clock: SandboxClock, spec_path: str
) -> None:
    sandbox = Sandbox(clock=clock, spec_path=spec_path, check_responses=True)
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        tokens: Tokens = connect(c)
        api = Api(c, tokens)
        assert api.get("/Organisation").status_code == 200
        for _ in range(3):
            _peaks(c)
        assert _peaks(c)[sandbox.tenant_ids[0]]["calls"] == 1
    assert sandbox.response_violations == []
    assert sandbox.api_calls() == 1


def test_calls_without_a_known_organisation_are_not_counted(
    client: httpx.Client, tokens: Tokens, sandbox: Sandbox
) -> None:
    headers = {**tokens.headers(), "xero-tenant-id": "00000000-0000-4000-8000-000000000000"}
    assert client.get("/api.xro/2.0/Organisation", headers=headers).status_code == 403
    assert all(p["calls"] == 0 for p in _peaks(client).values())
    assert set(_peaks(client)) == set(sandbox.tenant_ids)


# -- the counter itself, on a hand-moved clock --------------------------------------------------


class _Hands:
    """A clock the test sets arrival by arrival."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _arrive_at(peaks: Peaks, hands: _Hands, *seconds: float) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for s in seconds:
        hands.now = start + timedelta(seconds=s)
        peaks.arrive("t")
        peaks.depart("t")


@pytest.mark.parametrize(
    ("arrivals", "most"),
    [
        ((0, 10, 20), 3),
        ((0, 59.9, 60), 2),  # [0, 60) holds 0 and 59.9; [59.9, 119.9) holds 59.9 and 60
        ((0, 30, 60, 90, 120), 2),
        ((0, 1, 2, 100, 101, 102, 103), 4),
    ],
)
def test_the_most_in_any_sixty_seconds_of_arrivals(arrivals: tuple[float, ...], most: int) -> None:
    hands = _Hands()
    peaks = Peaks(hands)
    _arrive_at(peaks, hands, *arrivals)
    assert peaks.snapshot()["t"]["peak_per_minute"] == most


def test_an_arrival_timed_a_little_out_of_order_is_counted_in_its_own_minute() -> None:
    # Threads racing for the clock: 50 s is recorded after 70 s. [10, 70) then holds 10, 50 and
    # (had it come in order) nothing else; [50, 110) holds 50, 70 and 100.
    hands = _Hands()
    peaks = Peaks(hands)
    _arrive_at(peaks, hands, 10, 70, 50, 100)
    assert peaks.snapshot()["t"]["peak_per_minute"] == 3


def test_a_clock_set_back_starts_the_minutes_afresh() -> None:
    hands = _Hands()
    peaks = Peaks(hands)
    _arrive_at(peaks, hands, 1000, 1001, 1002, 0, 1)
    assert peaks.snapshot()["t"]["peak_per_minute"] == 3
    assert peaks.snapshot()["t"]["calls"] == 5
