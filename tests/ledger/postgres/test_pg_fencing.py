"""Fencing across processes: a worker on one store (machine) whose claim a worker on another
took can neither settle nor release the row; one thread's fence binds every view of its store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore
from pm_xero_plugin.ledger.types import ClaimLost


@pytest.fixture
def elsewhere(pg_ledger_url: str) -> Iterator[PgStore]:
    s = PgStore.open(pg_ledger_url, max_size=2)
    yield s
    s.close()


def test_a_stale_worker_on_another_machine_changes_nothing(
    p1: PostgresLedger, elsewhere: PgStore
) -> None:
    p1.insert([new_row(host_id="i1")])
    [mine] = p1.claim("T1", "invoice", worker_id="w1", now=START)
    theirs_view = elsewhere.ledger("p1", clock=lambda: START)
    [theirs] = theirs_view.claim("T1", "invoice", worker_id="w2", now=START, take_from={"w1"})
    assert theirs.id == mine.id
    with p1.fenced({mine.id: mine.claim_token or 0}):
        with pytest.raises(ClaimLost):
            p1.mark_synced(mine.id, "X-stale")
        p1.release([mine.id])  # gives back only what it still holds: nothing
    row = p1.get(mine.id)
    assert row is not None
    assert (row.state, row.xero_id, row.claim_token) == ("sending", None, theirs.claim_token)
    with theirs_view.fenced({theirs.id: theirs.claim_token or 0}):
        theirs_view.mark_synced(theirs.id, "X-1")
    assert p1.xero_id("invoice", "i1", "T1") == "X-1"


def test_a_threads_fence_binds_every_view_of_its_store(store: PgStore, p1: PostgresLedger) -> None:
    p1.insert([new_row(host_id="i1")])
    [row] = p1.claim("T1", "invoice", worker_id="w1", now=START)
    another_view = store.ledger("p1", clock=lambda: START)
    with p1.fenced({row.id: (row.claim_token or 0) - 1}), pytest.raises(ClaimLost):
        another_view.mark_failed(row.id, "stale")
    assert p1.get(row.id).state == "sending"  # type: ignore[union-attr]
