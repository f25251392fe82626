"""Claims on PostgreSQL: ``FOR UPDATE SKIP LOCKED`` – workers on their own connections (threads
here, processes or machines in a fleet) never take the same row, and never wait for each other."""

from __future__ import annotations

import threading
from collections import Counter

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore


def test_workers_claiming_one_organisation_at_once_never_take_a_row_twice(
    store: PgStore, p1: PostgresLedger
) -> None:
    p1.insert([new_row(host_id=f"i{n}") for n in range(300)])
    taken: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work(worker: str) -> None:
        mine = store.ledger("p1", clock=lambda: START)  # its own view, its own connections
        start.wait()
        while rows := mine.claim("T1", "invoice", limit=7, worker_id=worker, now=START):
            with lock:
                taken.extend(r.id for r in rows)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 300
    assert not [i for i, n in Counter(taken).items() if n > 1]
    assert {c["state"]: c["n"] for c in p1.counts()} == {"sending": 300}


def test_a_claim_skips_rows_another_transaction_holds_instead_of_waiting(
    store: PgStore, p1: PostgresLedger
) -> None:
    p1.insert([new_row(host_id=f"i{n}", doc_date=f"2025-01-0{n + 1}") for n in range(4)])
    holding, release = threading.Event(), threading.Event()
    first: list[int] = []

    def hold() -> None:
        with p1.transaction():  # a worker mid-claim: its rows are locked until it commits
            first.extend(r.id for r in p1.claim("T1", "invoice", limit=2, worker_id="a", now=START))
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(10)
    other = store.ledger("p1", clock=lambda: START)
    with other.transaction(timeout=0.5):  # a wait for the locked rows would be LedgerBusy
        second = other.claim("T1", "invoice", limit=4, worker_id="b", now=START)
    release.set()
    t.join()
    assert [r.host_id for r in second] == ["i2", "i3"]
    assert not set(first) & {r.id for r in second}


def test_claim_tokens_grow_across_practices_and_stores(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger, pg_ledger_url: str
) -> None:
    p1.insert([new_row(host_id="a")])
    p2.insert([new_row(host_id="a")])
    [a] = p1.claim("T1", "invoice", worker_id="w", now=START)
    [b] = p2.claim("T1", "invoice", worker_id="w", now=START)
    elsewhere = PgStore.open(pg_ledger_url, max_size=2)
    try:
        elsewhere.ledger("p1").release([a.id])
        [c] = elsewhere.ledger("p1").claim("T1", "invoice", worker_id="w", now=START)
    finally:
        elsewhere.close()
    assert (a.claim_token or 0) < (b.claim_token or 0) < (c.claim_token or 0)
