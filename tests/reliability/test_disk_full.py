"""A full disk under the add-on's data directory loses nothing and stops nothing for good.

The add-on's directory (ledger, tokens, rate-limit state) is a small tmpfs; the host's own store
is elsewhere (the host's disk is fine, only the add-on's is full). The practice is connected and
its back-sync queued; the host starts with the worker running inside it, and while its first
batches are in flight a filler file takes every byte left (their answers come back to a full
disk, and the worker's next claims meet it). A busy practice then keeps saving records – many
more hooks than records, so that no retry count can hide a record given up while the cause
persists. Meanwhile every hook returns fast and raises nothing into the host, and the dashboard
names the condition in words. Once the space is freed, with no further hook, every record the
host saved lands in the ledger and reaches Xero exactly once, the worker thread is still alive,
and the condition is gone from the dashboard.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.hook_timing import HookStopwatch
from support.reliability_practice import (
    PLUGIN,
    Prepared,
    app_environment,
    exactly_once_problems,
    expected,
    found_in,
    make_sandbox,
    prepare,
)
from support.small_disk import fill, small_tmpfs

from hookspecs.refhost import RefHost, live_day
from hookspecs.refhost.generator import day_rng
from hookspecs.refhost.store import KINDS
from pm_xero_plugin import plugin
from pm_xero_plugin.sandbox import Sandbox

SEED = 20261202
HOOKS_WHILE_FULL = 60
"""Record hooks fired while the disk is full: over ten for every record queued first."""
HOOK_BUDGET = 1.0
"""Seconds a hook may hold the host's save (the add-on's own bound is well under a second)."""
SETTLE = 60.0
"""Seconds allowed for everything to reach Xero once the space is back."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs"),
]


def _disk_full(status: dict[str, Any] | None) -> list[str]:
    """The dashboard's health lines that say the disk is full."""
    health = (status or {}).get("health") or []
    return [
        f"{c.get('message')} – {c.get('action')}"
        for c in health
        if "disk full" in str(c.get("message", "")).lower()
    ]


def _worker_alive() -> bool:
    return any(t.name == "pm-xero-worker" and t.is_alive() for t in threading.enumerate())


def _problems(prepared: Prepared, sandbox: Sandbox) -> list[str]:
    return exactly_once_problems(
        expected(prepared), found_in(sandbox, set(prepared.tenants.values()))
    )


def _until(check: Any, seconds: float) -> Any:
    """Poll ``check`` until it returns something falsy or time runs out; its last answer."""
    deadline = time.monotonic() + seconds
    answer = check()
    while answer and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = check()
    return answer


@contextmanager
def _host(prepared: Prepared) -> Iterator[tuple[RefHost, HookStopwatch]]:
    """The practice's host with the add-on and its worker thread; stopped afterwards."""
    host = RefHost(prepared.root, load_entrypoints=False)
    host.register(plugin, name=PLUGIN)
    stopwatch = HookStopwatch()
    stopwatch.register(host)
    host.start()
    try:
        yield host, stopwatch
    finally:
        host.stop()


def _busy_until(host: RefHost, stopwatch: HookStopwatch, hooks: int) -> None:
    """Busy days at every location, through the host's API, until ``hooks`` hooks fired."""
    day = host.clock.now().date() - timedelta(days=3)
    first = len(stopwatch.durations)
    while len(stopwatch.durations) - first < hooks:
        rng = day_rng(SEED, day, {kind: host.store.max_number(kind) for kind in KINDS})
        live_day(host, day, rng, per_day=5)
        day += timedelta(days=1)


@dataclass
class Episode:
    """What the test saw during the disk-full episode and after it."""

    full_status: dict[str, Any] | None
    slowest: float
    left: list[str]
    still_full: list[str]
    alive: bool
    hook_failures: list[Any]


def _hold_requests(sandbox: Sandbox) -> threading.Event:
    """Requests to every organisation wait (each holding a slot) until the event is set."""
    gate = threading.Event()
    for tenant in sandbox.tenant_ids:
        sandbox.faults(tenant).gate = gate
    return gate


def _release(sandbox: Sandbox, gate: threading.Event) -> None:
    for tenant in sandbox.tenant_ids:
        sandbox.faults(tenant).gate = None
    gate.set()


def _episode(prepared: Prepared, sandbox: Sandbox, disk: Path) -> Episode:
    """Batches in flight when the disk fills (their answers come back to a full disk, and the
    worker's next claims meet it); hooks fire; the space is freed; then nothing but waiting."""
    gate = _hold_requests(sandbox)
    with _host(prepared) as (host, stopwatch):
        try:
            in_flight = lambda: not any(sandbox.in_flight(t) for t in sandbox.tenant_ids)  # noqa: E731
            assert not _until(in_flight, 10.0), "the worker sent nothing"
            filler = fill(disk)
        finally:
            _release(sandbox, gate)
        _busy_until(host, stopwatch, HOOKS_WHILE_FULL)
        full_status = host.sync_status()
        slowest = max(stopwatch.durations)

        filler.unlink()  # the admin frees the space; no hook fires from here on
        fired = len(stopwatch.durations)
        left = _until(lambda: _problems(prepared, sandbox), SETTLE)
        still_full = _until(lambda: _disk_full(host.sync_status()), 10.0)
        alive = _worker_alive()
        assert len(stopwatch.durations) == fired
        return Episode(full_status, slowest, left, still_full, alive, list(host.hook_failures))


def test_a_full_disk_loses_no_record_keeps_the_worker_alive_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pm"
    sandbox = make_sandbox(orgs=2, seed=SEED)
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    with (
        small_tmpfs(root / "plugins" / PLUGIN, size="6m") as disk,
        sandbox.serve(port=0) as server,
    ):
        prepared = prepare(
            root, sandbox, server.url, seed=7, locations=2, clients=12, days=30, window_days=20
        )
        with app_environment(server.url):
            os.environ["PM_XERO_WORKER"] = "thread"  # as in production; restored on the way out
            seen = _episode(prepared, sandbox, disk)

    assert seen.hook_failures == [], "a hook raised into the host"
    assert seen.slowest < HOOK_BUDGET, f"a hook held the host's save {seen.slowest:.2f} s"
    health = seen.full_status and seen.full_status.get("health")
    assert _disk_full(seen.full_status), f"the dashboard does not say the disk is full: {health}"
    assert seen.left == [], "records lost after the space came back:\n" + "\n".join(seen.left)
    assert seen.alive, "the worker thread died during the disk-full episode"
    assert seen.still_full == [], f"the dashboard still says the disk is full: {seen.still_full}"
    print(f"\ndisk full: {_disk_full(seen.full_status)}; slowest hook {seen.slowest * 1000:.0f} ms")
