"""Transactions on PostgreSQL: re-entrant per thread across the store's views, and what one
reads of its rows stays as read until it commits (as SQLite's single writer has it)."""

from __future__ import annotations

import threading

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.interface import LedgerBusy
from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore


def test_rows_read_in_a_transaction_cannot_change_under_it(
    store: PgStore, p1: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="i1", state="waiting", gate="contact")])
    read, done = threading.Event(), threading.Event()

    def read_then_write() -> None:  # a settle moving what waited for the row it settled
        with p1.transaction():
            [waiting] = p1.waiting_behind(("contact",))
            read.set()
            done.wait(10)
            p1.transition(waiting.id, "ready")

    t = threading.Thread(target=read_then_write)
    t.start()
    assert read.wait(10)
    other = store.ledger("p1", clock=lambda: START)
    row = other.find("invoice", "i1", "T1")  # reading, outside a transaction: not held
    assert row is not None
    with pytest.raises(LedgerBusy), other.transaction(timeout=0.3):
        other.transition(row.id, "waiting", gate="lock_date")  # an edit re-gating it
    done.set()
    t.join()
    assert p1.get(row.id).state == "ready"  # type: ignore[union-attr]


def test_a_nested_transaction_of_another_practices_view_joins_the_outer_one(
    p1: PostgresLedger, p2: PostgresLedger
) -> None:
    def both_then_fail() -> None:
        with p1.transaction():
            p1.insert([new_row(host_id="a")])
            with p2.transaction():
                p2.insert([new_row(host_id="b")])
            raise RuntimeError("the outer transaction fails")

    with pytest.raises(RuntimeError):
        both_then_fail()
    assert p1.find("invoice", "a", "T1") is None
    assert p2.find("invoice", "b", "T1") is None
