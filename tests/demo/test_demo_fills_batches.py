"""The default demo stays within a minute's allowance of Xero's calls for every organisation:
history's small batches are filled (:data:`pm_xero_plugin.sync.worker.FILL_SECONDS`), so the
organisation two locations share no longer needs more than 60 calls in the minute the demo runs
in – it waited out a minute on Xero's limit, live records with it, and the demo took a minute
instead of seconds. Live records still go at once.

In-process (the demo's own sandbox on loopback, the real clock: about 10 s); the sandbox's
request log is read over HTTP while the demo still serves it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from pm_xero_plugin import plugin
from pm_xero_plugin.demo.run import DemoOptions, DemoResult, run_demo
from pm_xero_plugin.xero.ratelimit import RateLimiter, Wait

PER_MINUTE = 60


def test_the_default_demo_needs_no_more_than_a_minutes_calls_of_any_organisation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    held: list[str] = []
    real = RateLimiter.wait_for

    def seen_waits(self: RateLimiter, tenant_id: str, *, pace: bool = False) -> Wait:
        wait = real(self, tenant_id, pace=pace)
        if not wait.ready:
            held.append(wait.reason)
        return wait

    monkeypatch.setattr(RateLimiter, "wait_for", seen_waits)  # observed, not changed

    def afterwards(host: Any, result: DemoResult) -> None:
        url = os.environ["PM_XERO_URL"]
        seen["requests"] = httpx.get(f"{url}/sandbox/requests", timeout=10).json()
        runtime = plugin.get_runtime()
        assert runtime is not None

    result = run_demo(DemoOptions(data_dir=tmp_path / "demo", quiet=True, afterwards=afterwards))

    assert not result.failed_run
    assert result.problems == []
    calls = Counter(r["tenant"] for r in seen["requests"] if r["tenant"])
    assert len(calls) == 2  # three locations, two organisations
    assert all(n <= PER_MINUTE for n in calls.values()), calls
    assert not [r for r in seen["requests"] if r["status"] == 429]
    # nobody waited out Xero's minute, day or a 429 (a moment's wait for one of the 5 slots in
    # flight is no wait on the allowance: on a loaded machine calls take longer)
    assert [
        r for r in held if r not in ("local-concurrent", "probing-minute", "paced-minute")
    ] == []
    # every live record reached Xero within seconds: none waited for a batch to fill or a minute
    assert result.live_reached == result.live_due > 0
    assert max(result.live_latency_s) < 5.0
