"""Xero's 5-concurrent limit on the *served* sandbox: per organisation, across connections.

Before, twenty parallel GETs over HTTP all answered 200: the listen backlog of 5 spread a burst of
connections over kernel SYN retries, calls were counted as in progress only while they held the
state lock (so one or two at a time), and every call was answered in about a millisecond.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from support.sandbox_helpers import Tokens, connect

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock

pytestmark = pytest.mark.slow


def _parallel_gets(url: str, tokens: Tokens, tenant: str, n: int) -> list[tuple[int, float]]:
    """``n`` GETs on ``n`` connections released together: (status, seconds) each, and every
    429 checked for Xero's shape (``concurrent``, no ``Retry-After``)."""
    barrier = threading.Barrier(n)

    def one(_: int) -> tuple[int, float]:
        with httpx.Client(base_url=url, timeout=10) as c:
            barrier.wait()
            started = time.monotonic()
            resp = c.get("/api.xro/2.0/Organisation", headers=tokens.headers(tenant))
            if resp.status_code == 429:
                assert resp.headers["X-Rate-Limit-Problem"] == "concurrent"
                assert "Retry-After" not in resp.headers
            return resp.status_code, time.monotonic() - started

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_twenty_parallel_calls_over_http_meet_the_five_concurrent_limit(
    clock: SandboxClock,
) -> None:
    sandbox = Sandbox(clock=clock, limits=Limits(call_seconds=0.5))
    with sandbox.serve(port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            tokens = connect(c)
        tenant, other = sandbox.tenant_ids
        statuses = [s for s, _ in _parallel_gets(server.url, tokens, tenant, 20)]
        assert statuses.count(200) >= 5
        assert statuses.count(429) >= 10, statuses  # ~15 when all arrive within 0.5 s
        assert set(statuses) == {200, 429}
        # The limit is the organisation's: another one is untouched.
        other_statuses = [s for s, _ in _parallel_gets(server.url, tokens, other, 5)]
        assert other_statuses == [200] * 5
    assert sandbox.in_flight(tenant) == 0
    assert sandbox.in_flight(other) == 0


def test_a_sixth_call_on_another_connection_is_refused_while_five_are_in_progress(
    sandbox: Sandbox,
) -> None:
    tenant = sandbox.tenant_ids[0]
    faults = sandbox.faults(tenant)
    faults.gate = threading.Event()
    with sandbox.serve(port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            tokens = connect(c)

        def call() -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                return c.get("/api.xro/2.0/Organisation", headers=tokens.headers(tenant))

        with ThreadPoolExecutor(5) as pool:
            held = [pool.submit(call) for _ in range(5)]
            deadline = time.monotonic() + 10
            while sandbox.in_flight(tenant) < 5 and time.monotonic() < deadline:
                time.sleep(0.005)
            sixth = call()
            faults.gate.set()
            assert [f.result().status_code for f in held] == [200] * 5
        assert sixth.status_code == 429
        assert sixth.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert "Retry-After" not in sixth.headers
        assert int(sixth.headers["X-MinLimit-Remaining"]) == 60 - 5  # a refused call is not counted
        faults.gate = None
        assert call().status_code == 200


def test_a_burst_of_connections_is_accepted_at_once_not_a_second_later(sandbox: Sandbox) -> None:
    # socketserver's default backlog of 5 left the rest of a burst to the kernel's ~1 s SYN retry.
    tenant = sandbox.tenant_ids[0]
    sandbox.limits.concurrent = 1000  # only the accepting is measured here
    with sandbox.serve(port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            tokens = connect(c)
        timings = _parallel_gets(server.url, tokens, tenant, 30)
    assert [s for s, _ in timings] == [200] * 30
    assert max(t for _, t in timings) < 0.9, sorted(round(t, 3) for _, t in timings)


def test_with_limits_off_the_remaining_headers_show_the_whole_budget(
    clock: SandboxClock,
) -> None:
    """``pm-xero sandbox --no-limits`` never refuses, so it must not tell a client (which trusts
    the headers, as it should with Xero) that the minute is used up: that made the add-on wait."""
    sandbox = Sandbox(clock=clock, limits=Limits(enabled=False))
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        tokens = connect(c)
        answers = [c.get("/api.xro/2.0/Organisation", headers=tokens.headers()) for _ in range(70)]
    assert {a.status_code for a in answers} == {200}
    last = answers[-1].headers
    assert last["X-MinLimit-Remaining"] == "60"
    assert last["X-DayLimit-Remaining"] == "5000"
    assert last["X-AppMinLimit-Remaining"] == "10000"


def test_pm_xero_sandbox_answers_a_burst_of_parallel_calls_as_xero_does() -> None:
    """The issue's own check, on the command a developer starts: 20 parallel GETs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pm_xero_plugin.cli.main", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            found = re.search(r"listening on (http://\S+)", line)
            url = url or (found.group(1) if found else None)
            if line.startswith("Ctrl-C"):
                break
        assert url is not None
        with httpx.Client(base_url=url, timeout=10) as c:
            tokens = connect(c)
        statuses = [s for s, _ in _parallel_gets(url, tokens, tokens.tenant_ids[0], 20)]
        assert statuses.count(429) >= 5, statuses  # concurrent, no Retry-After (checked)
        assert statuses.count(200) >= 5
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
