"""The fleet's view for operators: queue depth, each practice's summary, every claim's owner."""

from __future__ import annotations

from datetime import timedelta

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_fleet import PracticeSummary
from pm_xero_plugin.ledger.postgres_store import PgStore
from pm_xero_plugin.ledger.types import ClaimOwner


def test_queue_depth_and_summaries_say_which_practice_needs_attention_and_why(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id=f"i{n}") for n in range(3)])
    p1.insert([new_row(kind="contact", host_id="c1")])
    [contact] = p1.claim("T1", "contact", worker_id="w", now=START)
    p1.hold_contact(contact.id, "the name is taken", {"ContactID": "X"})
    [failing, *_] = p1.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    p1.mark_failed(failing.id, "refused")
    p1.set_tenant("T1", connected=True)
    p1.set_tenant("T9", connected=False, connection_reason="the connection was revoked")
    p2.insert([new_row(host_id="a")])
    fleet = store.fleet()
    assert fleet.queue_depth() == {"failed": 1, "ready": 3, "waiting": 1}
    later = START + timedelta(minutes=10)
    p1_summary, p2_summary = fleet.practice_summaries(later)
    assert p1_summary == PracticeSummary(
        practice_id="p1",
        by_state={"failed": 1, "ready": 2, "waiting": 1},
        needs_attention=2,  # the failed invoice and the contact held for an admin
        oldest_due_seconds=600.0,
        disconnected=["T9"],
    )
    assert (p2_summary.practice_id, p2_summary.needs_attention) == ("p2", 0)


def test_claim_owners_are_listed_fleet_wide(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="a")])
    p2.insert([new_row(host_id="a")])
    p1.beat("w1", hostname="host-a", pid=7, lease_until=START)
    p1.claim("T1", "invoice", worker_id="w1", now=START)
    p2.claim("T1", "invoice", worker_id="w2", now=START)
    assert store.fleet().claim_owners() == [
        ClaimOwner("w1", "host-a", 7, 1),
        ClaimOwner("w2", None, None, None),
    ]
    assert p2.claim_owners() == [ClaimOwner("w2", None, None, None)]


def test_the_fleet_folds_every_practices_deltas_now_and_then(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="a")])
    p2.insert([new_row(host_id="a")])
    fleet = store.fleet()
    assert fleet.fold_counts()
    assert not fleet.fold_counts()  # not again within a few seconds
    with store.reading() as conn:
        assert conn.execute("SELECT count(*) FROM counts_delta").fetchone() == (0,)
    assert fleet.queue_depth() == {"ready": 2}
    assert p1.counts()[0]["n"] == 1


def test_one_fleet_beat_counts_once_and_renews_the_workers_claims_in_every_practice(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="a")])
    p2.insert([new_row(host_id="a")])
    [a] = p1.claim("T1", "invoice", worker_id="w1", now=START)
    [b] = p2.claim("T1", "invoice", worker_id="w1", now=START)
    renewed = START + timedelta(minutes=10)
    store.fleet().beat("w1", hostname="host-a", pid=7, lease_until=renewed)
    assert store.fleet().claim_owners() == [ClaimOwner("w1", "host-a", 7, 1)]
    assert p1.get(a.id).lease_until == renewed  # type: ignore[union-attr]
    assert p2.get(b.id).lease_until == renewed  # type: ignore[union-attr]
