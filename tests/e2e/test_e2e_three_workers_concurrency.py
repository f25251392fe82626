"""Three ``pm-xero worker`` processes on one organisation stay within Xero's 5 calls in flight.

Each process alone keeps to 5 (at most 2 batches per organisation, in fact); three of them would
have 6 in flight and meet ``429 concurrent`` from Xero – unless they share the count. They do:
one data directory, one set of slot locks (see ``pm_xero_plugin/xero/ratelimit.py``). The served
sandbox holds each call as Xero's latency would, so the calls really overlap, and it counts a
call in progress from its arrival, across connections.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

from pm_xero_plugin.sandbox import Limits

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def limits() -> Limits:
    """Xero's concurrency limit with a Xero-like time per call. The minute and day budgets are
    raised: the sandbox clock stands still in these tests, so its minute would never end, and
    only the concurrency limit is under test here."""
    return Limits(call_seconds=0.25, per_minute=1_000_000, per_day=1_000_000)


def test_three_workers_on_one_organisation_share_five_calls_in_flight(
    large_world: World,
) -> None:
    world = large_world
    organisation = world.organisations[0]
    for index in range(len(world.locations)):
        world.connect(index, organisation)  # every location into one organisation
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.save_settings(dict(settings, start_date=START_DATE.isoformat()))
    world.host.backfill(None, None)
    open_before = world.unsettled()
    assert open_before > 200, world.engine.ledger.counts()

    root = world.host.data_dir("xero").parent.parent
    command = [
        sys.executable,
        "-c",
        "from pm_xero_plugin.cli.main import main; main()",
        "worker",
        "--max-seconds",
        "90",
        "--batch-size",
        "5",
        "--data-dir",
        str(root),
    ]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    try:
        # All three run until the work is done (--once would let one leave early, while rows it
        # could not take yet wait on contacts another one is sending); then SIGTERM each.
        deadline = time.monotonic() + 90
        while world.unsettled() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=30) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs

    summaries = [out.strip().splitlines()[-1] for out, _ in outputs]
    synced = [int(re.search(r"synced (\d+)", s).group(1)) for s in summaries]  # type: ignore[union-attr]
    waits = [int(re.search(r"held back (\d+) times", s).group(1)) for s in summaries]  # type: ignore[union-attr]
    assert all(n > 0 for n in synced), summaries  # all three took part
    # They backed off for the shared limit. Not necessarily each one: under load a worker that
    # starts late can find slots free every time it asks (seen once in three e2e runs); the
    # proof that the five slots are shared is the zero concurrent 429s below.
    assert sum(n > 0 for n in waits) >= 2, summaries

    with httpx.Client(base_url=world.server.url, timeout=10) as inspect:
        requests = inspect.get("/sandbox/requests").json()
    to_org = [r for r in requests if r["tenant"] == organisation]
    concurrent = [
        r for r in to_org if r["status"] == 429 and r["rate_limit_problem"] == "concurrent"
    ]
    assert len(to_org) > 60, "the workers sent their batches to that organisation"
    assert concurrent == [], f"{len(concurrent)} calls met 429 concurrent"

    check_books(world, expected(world, START_DATE))  # everything, each exactly once
    assert world.unsettled() == 0
