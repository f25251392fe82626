"""The ledger contract: its state machine, the counts, the log – through the interface only."""

from __future__ import annotations

import pytest
from support.ledger_helpers import START, new_row, one, put_in

from pm_xero_plugin.ledger import STATES, TRANSITIONS, IllegalTransition, Ledger


@pytest.mark.parametrize("source", STATES)
@pytest.mark.parametrize("target", STATES)
def test_every_move_not_in_the_table_is_refused(ledger: Ledger, source: str, target: str) -> None:
    row_id = put_in(ledger, source)
    if source in TRANSITIONS[target]:
        ledger.transition(row_id, target, gate="lock_date" if target == "waiting" else None)
        assert ledger.get(row_id).state == target  # type: ignore[union-attr]
    else:
        with pytest.raises(IllegalTransition):
            ledger.transition(row_id, target)
        assert ledger.get(row_id).state == source  # type: ignore[union-attr]


def test_a_new_row_cannot_start_in_flight_or_done(ledger: Ledger) -> None:
    for state in ("sending", "synced", "retrying", "failed", "excluded"):
        with pytest.raises(IllegalTransition):
            ledger.insert([new_row(state=state)])
    assert ledger.counts() == []


def test_a_refused_batch_moves_nothing(ledger: Ledger) -> None:
    b = put_in(ledger, "synced", host_id="b")  # first: it claims the organisation's invoices
    a = one(ledger, host_id="a")
    with pytest.raises(IllegalTransition) as info:
        ledger.transition_many([a, b], "sending")
    assert info.value.row_id == b
    assert ledger.get(a).state == "ready"  # type: ignore[union-attr]


def test_counts_follow_every_state_change_in_the_same_transaction(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id=f"i{n}") for n in range(5)])
    ledger.insert([new_row(host_id="w", state="waiting", gate="contact")])
    rows = ledger.claim("T1", "invoice", limit=2, worker_id="w1", now=START)
    ledger.mark_sent([r.id for r in rows], "key")
    ledger.mark_synced(rows[0].id, "X1")
    ledger.mark_failed(rows[1].id, "Invoice # must be unique.")
    by_state = {(c["state"], c["gate"]): c["n"] for c in ledger.counts()}
    assert by_state == {
        ("ready", None): 3,
        ("synced", None): 1,
        ("failed", None): 1,
        ("waiting", "contact"): 1,
    }


def test_mark_waiting_holds_a_row_behind_a_lock_date_until_reopened(ledger: Ledger) -> None:
    one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_waiting(row.id, "lock_date", "waiting for the period to be unlocked (30-Jun-2024)")
    got = ledger.get(row.id)
    assert got is not None
    assert (got.state, got.gate) == ("waiting", "lock_date")
    assert ledger.reopen_gate("lock_date", "T1") == 1
    assert ledger.get(row.id).state == "ready"  # type: ignore[union-attr]


def test_the_log_keeps_what_was_sent_and_what_xero_replied(ledger: Ledger) -> None:
    one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_sent([row.id], "k1")
    ledger.mark_retrying(row.id, START, "timeout")
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_sent([row.id], "k2")
    ledger.mark_failed(
        row.id,
        "Account code '999' is not a valid code for this document.",
        field="LineItems",
        status_code=400,
    )
    events = [(e["event"], e["status_code"]) for e in ledger.log(row.id)]
    assert events == [("sent", None), ("retrying", None), ("sent", None), ("failed", 400)]
    assert ledger.get(row.id).attempts == 2  # type: ignore[union-attr]


def test_what_a_change_added_and_which_of_it_settled(ledger: Ledger) -> None:
    assert ledger.max_row_id() == 0
    one(ledger, host_id="old")
    before = ledger.max_row_id()
    ledger.insert([new_row(host_id="a"), new_row(host_id="b")])
    added = ledger.row_ids_after(before)
    assert len(added) == 2
    [row] = ledger.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    ledger.mark_synced(row.id, "X")
    assert ledger.settled_among([*added, row.id]) == {row.id}


def test_a_state_is_stored_and_read_as_its_plain_value(ledger: Ledger) -> None:
    row_id = one(ledger, state="waiting", gate="contact")
    row = ledger.get(row_id)
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "contact")
    assert {c["state"] for c in ledger.counts()} == {"waiting"}
