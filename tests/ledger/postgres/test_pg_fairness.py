"""Fairness: the fleet serves the least recently served organisation first, whatever its size
– a practice with a big back-sync does not starve one with a few new invoices."""

from __future__ import annotations

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore


def test_a_small_organisation_gets_its_turn_beside_a_big_back_sync(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id=f"h{n}", tenant="BIG") for n in range(2000)])
    fleet = store.fleet()
    turns: list[tuple[str, str]] = []
    for _ in range(3):  # a worker: the first ready organisation, one batch
        practice, tenant = fleet.ready_tenants(START)[0]
        view = store.ledger(practice, clock=lambda: START)
        rows = view.claim(tenant, "invoice", limit=50, worker_id="w", now=START)
        if tenant == "BIG":
            view.release([r.id for r in rows])  # back in the queue: BIG stays ready
        turns.append((practice, tenant))
        if len(turns) == 1:
            p2.insert([new_row(host_id=f"s{n}", tenant="SMALL") for n in range(5)])
    assert turns[:2] == [("p1", "BIG"), ("p2", "SMALL")]  # the new one goes next
    assert turns[2] == ("p1", "BIG")  # SMALL's five are all claimed: BIG again


def test_ready_tenants_lists_each_organisation_once_least_recently_served_first(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="a", tenant="T1"), new_row(host_id="b", tenant="T2")])
    p2.insert([new_row(host_id="a", tenant="T1")])
    fleet = store.fleet()
    assert fleet.ready_tenants(START) == [("p1", "T1"), ("p1", "T2"), ("p2", "T1")]
    p1.claim("T1", "invoice", worker_id="w", now=START)
    p1.insert([new_row(host_id="c", tenant="T1")])
    assert fleet.ready_tenants(START) == [("p1", "T2"), ("p2", "T1"), ("p1", "T1")]
    assert fleet.ready_tenants(START, limit=1) == [("p1", "T2")]
    assert p1.tenants_with_ready_work(START) == ["T2", "T1"]


def test_rows_of_a_gone_owner_and_due_retries_make_an_organisation_ready(
    store: PgStore, p1: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="a"), new_row(host_id="b", tenant="T2")])
    p1.claim("T1", "invoice", worker_id="gone", now=START)
    [b] = p1.claim("T2", "invoice", worker_id="w", now=START)
    p1.mark_retrying(b.id, START, "503")
    fleet = store.fleet()
    assert fleet.ready_tenants(START) == [("p1", "T2")]
    assert fleet.ready_tenants(START, take_from={"gone"}) == [("p1", "T1"), ("p1", "T2")]


def test_a_claim_inside_a_transaction_takes_its_turn_too(p1: PostgresLedger) -> None:
    p1.insert([new_row(host_id="a", tenant="T1"), new_row(host_id="b", tenant="T2")])
    with p1.transaction():  # the turn is stamped apart, so no other claim waits for this one
        p1.claim("T1", "invoice", worker_id="w", now=START)
    p1.insert([new_row(host_id="c", tenant="T1")])
    assert p1.tenants_with_ready_work(START) == ["T2", "T1"]


def test_a_worker_serving_some_practices_is_never_crowded_out_by_the_others(
    store: PgStore,
) -> None:
    """Organisations of practices a worker does not serve are never claimed by it, so they stay
    at the head of the fleet's list: a worker that filtered after the limit would never see its
    own once there were more of them than the limit."""
    for n in range(5):
        store.ledger(f"other-{n}", clock=lambda: START).insert([new_row(host_id="i1")])
    store.ledger("zz-mine", clock=lambda: START).insert([new_row(host_id="i1")])
    fleet = store.fleet()
    assert ("zz-mine", "T1") not in fleet.ready_tenants(START, limit=5)  # crowded out, unfiltered
    assert fleet.ready_tenants(START, limit=5, practices=["zz-mine"]) == [("zz-mine", "T1")]
    assert fleet.ready_tenants(START, practices=[]) == []
