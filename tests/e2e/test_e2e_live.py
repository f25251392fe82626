"""Live: the worker thread inside the host (as ``PM_XERO_WORKER=thread`` runs it) while the
practice keeps working and both organisations misbehave at random – 5xx, timeouts, lost answers.
New records reach Xero on their own, edits and voids follow, nothing is lost or doubled."""

from __future__ import annotations

import random
import threading
import time

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import NOW, START_DATE, World

from hookspecs.refhost import live_day

pytestmark = pytest.mark.timeout(60)


def test_live_practice_under_random_faults_reaches_xero_exactly_once(world: World) -> None:
    world.set_up()
    world.drain()
    first, second = world.tenant_of(0), world.tenant_of(1)
    for tenant, seed in ((first, "a"), (second, "b")):
        faults = world.sandbox.faults(tenant)
        faults.reseed(seed)
        faults.script.extend(["lost", "ok", "timeout"])  # at least one of each
        faults.error_rate, faults.timeout_rate, faults.lost_response_rate = 0.15, 0.05, 0.05

    stop = threading.Event()

    def tick() -> None:  # virtual time runs 50x faster than real time: retries come quickly
        while not stop.wait(0.02):
            world.time.advance(1.0)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    world.runtime.worker.start()
    try:
        rng = random.Random(3)
        day = NOW.date()
        for _ in range(3):
            live_day(world.host, day, rng, per_day=3)
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while world.unsettled() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.unsettled() == 0, world.engine.ledger.counts()
    finally:
        world.runtime.worker.stop()
        stop.set()
        ticker.join()
    for tenant in (first, second):
        world.sandbox.faults(tenant).clear()

    check_books(world, expected(world, START_DATE))
    failed = [(r.kind, r.message) for r in world.rows(state="failed")]
    assert failed == []
    outcomes = {r["outcome"] for r in world.sandbox.requests}
    assert {"timeout", "lost"} <= outcomes
