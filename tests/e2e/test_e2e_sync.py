"""End to end against the sandbox on loopback: a three-site practice synced through the real
OAuth flow, ledger, worker and HTTP client, then read back from the sandbox and compared with
the host's own records."""

from __future__ import annotations

import pytest
from support.e2e_expect import check_books, check_order, expected
from support.e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def test_backfill_syncs_everything_eligible_exactly_once_in_order(world: World) -> None:
    world.set_up()
    world.drain()

    exp = expected(world, START_DATE)
    assert sum(len(v) for v in exp.invoices.values()) > 20
    assert sum(sum(v.values()) for v in exp.payments.values()) > 20
    check_books(world, exp)
    check_order(world)
    # Nothing failed: every eligible record reached Xero, nothing dated earlier did.
    failed = [r for r in world.engine.ledger.counts() if r["state"] == "failed"]
    assert failed == []
