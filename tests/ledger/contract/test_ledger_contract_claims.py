"""The ledger contract: the worker's side – claims, leases, retries, releases."""

from __future__ import annotations

from datetime import timedelta

from support.ledger_helpers import START, new_row, one

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.ledger.types import ClaimOwner


def test_claim_leases_in_date_then_number_order_and_only_one_tenant_and_kind(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(host_id="late", doc_date="2025-02-03", number=1),
            new_row(host_id="early2", doc_date="2025-02-01", number=2),
            new_row(host_id="early1", doc_date="2025-02-01", number=1),
            new_row(host_id="other-tenant", tenant="T2", doc_date="2025-01-01", number=1),
            new_row(kind="payment", host_id="p", doc_date="2025-01-01", number=1),
        ]
    )
    assert ledger.tenants_with_ready_work(START) == ["T1", "T2"]
    rows = ledger.claim("T1", "invoice", limit=2, worker_id="w1", now=START)
    assert [r.host_id for r in rows] == ["early1", "early2"]
    assert all(r.state == "sending" and not r.uncertain for r in rows)
    assert rows[0].lease_until == START + timedelta(seconds=120)
    again = ledger.claim("T1", "invoice", worker_id="w2", now=START)
    assert [r.host_id for r in again] == ["late"]


def test_a_claim_held_by_a_gone_owner_is_taken_and_an_unknown_outcome_is_flagged(
    ledger: Ledger,
) -> None:
    row_id = one(ledger)
    [row] = ledger.claim("T1", "invoice", lease_seconds=60, worker_id="w1", now=START)
    ledger.mark_sent([row.id], "attempt-1")
    assert ledger.claim("T1", "invoice", worker_id="w2", now=START, take_from={"w3"}) == []
    assert ledger.tenants_with_ready_work(START, take_from={"w1"}) == ["T1"]
    assert ledger.has_live_work("T1", START, take_from={"w1"}) is False  # history, not live
    [again] = ledger.claim("T1", "invoice", worker_id="w2", now=START, take_from={"w1"})
    assert again.id == row_id
    assert again.uncertain
    assert again.attempts == 1


def test_no_wall_clock_takes_a_claim_only_an_owner_judged_gone(ledger: Ledger) -> None:
    """A clock that jumps past the lease (or a day) takes nothing: a row in sending is taken
    only from an owner the caller names as gone, and never by its owner from itself."""
    one(ledger)
    [row] = ledger.claim("T1", "invoice", lease_seconds=60, worker_id="w1", now=START)
    ledger.mark_sent([row.id], "attempt-1")
    jumped = START + timedelta(days=1)
    assert ledger.tenants_with_ready_work(jumped) == []
    assert ledger.claim("T1", "invoice", worker_id="w2", now=jumped) == []
    assert ledger.claim("T1", "invoice", worker_id="w1", now=jumped, take_from={"w1"}) == []
    assert ledger.claim_next(
        "T1", ("invoice",), limit_for=lambda k: 10, worker_id="w1", now=jumped, take_from={"w1"}
    ) == ("", [])
    kind, taken = ledger.claim_next(
        "T1", ("invoice",), limit_for=lambda k: 10, worker_id="w2", now=START, take_from={"w1"}
    )
    assert (kind, [r.id for r in taken]) == ("invoice", [row.id])


def test_beats_count_up_per_worker_and_the_owners_of_claims_are_listed(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id="a"), new_row(host_id="b")])
    ledger.beat("w1", hostname="host-a", pid=41, lease_until=START)
    ledger.beat("w1", hostname="host-a", pid=41, lease_until=START)
    [a] = ledger.claim("T1", "invoice", limit=1, worker_id="w1", now=START)
    [b] = ledger.claim("T1", "invoice", limit=1, worker_id="w0", now=START)  # never beat
    owners = sorted(ledger.claim_owners())
    assert owners == [ClaimOwner("w0", None, None, None), ClaimOwner("w1", "host-a", 41, 2)]

    renewed = START + timedelta(minutes=10)
    ledger.beat("w1", hostname="host-a", pid=41, lease_until=renewed)
    held = ledger.get(a.id)
    assert held is not None
    assert held.lease_until == renewed  # the beat renews the claims it holds
    assert ClaimOwner("w1", "host-a", 41, 3) in ledger.claim_owners()

    ledger.retire_worker("w1")  # still holds a claim: its row stays
    assert ClaimOwner("w1", "host-a", 41, 3) in ledger.claim_owners()
    ledger.release([a.id, b.id])
    assert ledger.claim_owners() == []
    ledger.retire_worker("w1")
    ledger.beat("w1", hostname="host-a", pid=42, lease_until=START)
    [again] = ledger.claim("T1", "invoice", limit=1, worker_id="w1", now=START)
    assert ledger.claim_owners() == [ClaimOwner("w1", "host-a", 42, 1)]
    assert again.state == "sending"


def test_retrying_rows_come_back_when_due(ledger: Ledger) -> None:
    one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_retrying(
        row.id, START + timedelta(minutes=5), "503 Service Unavailable", outcome_known=True
    )
    assert ledger.tenants_with_ready_work(START) == []
    assert ledger.claim("T1", "invoice", worker_id="w", now=START) == []
    due = START + timedelta(minutes=5)
    [back] = ledger.claim("T1", "invoice", worker_id="w", now=due)
    assert back.id == row.id
    assert not back.uncertain


def test_release_gives_rows_back_without_counting_an_attempt(ledger: Ledger) -> None:
    one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.release([row.id])
    [back] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    assert back.attempts == 0


def test_claim_next_takes_live_work_of_a_later_kind_before_history(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="history", doc_date="2025-01-01"),
            new_row(kind="payment", host_id="p1:x", doc_date="2025-02-01", priority=1),
        ]
    )
    kind, rows = ledger.claim_next(
        "T1", ("invoice", "payment"), limit_for=lambda k: 10, worker_id="w", now=START
    )
    assert (kind, [r.host_id for r in rows]) == ("payment", ["p1:x"])
    assert ledger.has_live_work("T1", START) is False
    kind, rows = ledger.claim_next(
        "T1", ("invoice", "payment"), limit_for=lambda k: 10, worker_id="w", now=START
    )
    assert (kind, [r.host_id for r in rows]) == ("invoice", ["history"])


def test_a_failure_before_sending_keeps_an_earlier_attempts_doubt(ledger: Ledger) -> None:
    """A row whose last request may have reached Xero, then fails to map (a setting): nothing
    went this time, so the doubt stays and a retry looks in Xero before sending."""
    one(ledger)
    [row] = ledger.claim("T1", "invoice", lease_seconds=60, worker_id="w1", now=START)
    ledger.mark_sent([row.id], "attempt-1")
    [again] = ledger.claim("T1", "invoice", worker_id="w2", now=START, take_from={"w1"})
    ledger.mark_failed(again.id, "no account code for card", outcome_known=False)
    failed = ledger.get(again.id)
    assert failed is not None
    assert failed.state == "failed"
    assert failed.uncertain

    ledger.mark_failed(again.id, "Xero refused it")
    refused = ledger.get(again.id)
    assert refused is not None
    assert not refused.uncertain
