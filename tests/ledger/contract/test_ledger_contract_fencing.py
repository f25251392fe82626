"""The ledger contract: fencing – a worker's writes carry its claim's token, and a stale one
(another worker has taken the row since) changes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from support.ledger_helpers import START, new_row, one

from pm_xero_plugin.ledger import Ledger, Row
from pm_xero_plugin.ledger.types import ClaimLost


def _take(ledger: Ledger, kind: str, worker: str) -> list[Row]:
    """``worker`` takes what w1 holds, w1 being judged gone."""
    return ledger.claim("T1", kind, worker_id=worker, now=START, take_from={"w1"})


def _taken_from_w1(ledger: Ledger) -> tuple[Row, Row]:
    """w1 claims the row and sends it; w1 is then judged gone and w2 takes the row."""
    one(ledger)
    [first] = ledger.claim("T1", "invoice", worker_id="w1", now=START)
    with ledger.fenced({first.id: first.claim_token or 0}):
        ledger.mark_sent([first.id], "attempt-1")
    [second] = _take(ledger, "invoice", "w2")
    assert second.id == first.id
    return first, second


def test_every_claim_carries_a_fresh_token_that_only_grows(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id="a"), new_row(host_id="b"), new_row(host_id="c")])
    [a] = ledger.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    [b] = ledger.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    assert a.claim_token is not None
    assert b.claim_token is not None
    assert b.claim_token > a.claim_token
    ledger.release([a.id])
    [again] = ledger.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    assert again.id == a.id
    assert again.claim_token is not None
    assert again.claim_token > b.claim_token


def test_a_settle_with_an_old_claim_token_changes_nothing(ledger: Ledger) -> None:
    first, second = _taken_from_w1(ledger)
    assert (first.claim_token or 0) < (second.claim_token or 0)
    before = ledger.get(first.id)
    log_before = ledger.log(first.id)
    stale = {first.id: first.claim_token or 0}
    writes = {
        "mark_synced": lambda: ledger.mark_synced(first.id, "X-1", {"ok": True}),
        "mark_sent": lambda: ledger.mark_sent([first.id], "attempt-2"),
        "mark_failed": lambda: ledger.mark_failed(first.id, "refused"),
        "mark_retrying": lambda: ledger.mark_retrying(first.id, START, "503"),
        "mark_waiting": lambda: ledger.mark_waiting(first.id, "lock_date", "locked"),
        "set_fields": lambda: ledger.set_fields(first.id, message="stale"),
        "add_log": lambda: ledger.add_log(first.id, "note", "stale"),
    }
    for name, write in writes.items():
        with ledger.fenced(stale), pytest.raises(ClaimLost):
            write()
        assert ledger.get(first.id) == before, name
    with ledger.fenced(stale):
        ledger.release([first.id])  # gives back only what it still holds: nothing
    assert ledger.get(first.id) == before
    assert ledger.log(first.id) == log_before

    with ledger.fenced({second.id: second.claim_token or 0}):  # the owner's own token
        ledger.mark_synced(second.id, "X-1", {"ok": True})
    synced = ledger.get(second.id)
    assert synced is not None
    assert (synced.state, synced.xero_id) == ("synced", "X-1")


def test_a_stale_claim_cannot_hold_a_contact_either(ledger: Ledger) -> None:
    ledger.insert([new_row(kind="contact", host_id="c1")])
    [first] = ledger.claim("T1", "contact", worker_id="w1", now=START)
    [second] = _take(ledger, "contact", "w2")
    with ledger.fenced({first.id: first.claim_token or 0}), pytest.raises(ClaimLost):
        ledger.hold_contact(first.id, "name taken", {"ContactID": "x"})
    row = ledger.get(second.id)
    assert row is not None
    assert (row.state, row.claim_token) == ("sending", second.claim_token)


def test_a_fence_binds_only_its_rows_and_its_thread(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id="a"), new_row(host_id="b")])
    rows = ledger.claim("T1", "invoice", worker_id="w", now=START)
    a, b = rows
    wrong = {a.id: (a.claim_token or 0) - 1}
    with ledger.fenced(wrong):
        ledger.mark_synced(b.id, "X-b")  # not fenced: b is not in this fence
        other_thread = threading.Thread(
            target=ledger.mark_retrying, args=(a.id, START + timedelta(minutes=1), "admin")
        )
        other_thread.start()
        other_thread.join()
    states = {r.id: r.state for r in (ledger.get(a.id), ledger.get(b.id)) if r is not None}
    assert states == {a.id: "retrying", b.id: "synced"}
