"""Counts without a hot row: writers append deltas and never wait on each other's counter; the
deltas fold into totals now and then, and the counts read the same before and after."""

from __future__ import annotations

import threading

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import FOLD_AT, PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore


def test_two_writers_of_the_same_count_do_not_wait_for_each_other(
    store: PgStore, p1: PostgresLedger
) -> None:
    inside, done = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with p1.transaction():
            p1.insert([new_row(host_id="a")])  # ready invoices of T1 at syd: one count
            inside.set()
            done.wait(10)

    t = threading.Thread(target=slow_writer)
    t.start()
    assert inside.wait(10)
    other = store.ledger("p1", clock=lambda: START)
    with other.transaction(timeout=0.5):  # a shared counter row would hold this past 0.5 s
        other.insert([new_row(host_id="b")])
    done.set()
    t.join()
    assert p1.counts() == [
        {
            "tenant_id": "T1",
            "location_id": "syd",
            "kind": "invoice",
            "state": "ready",
            "gate": None,
            "n": 2,
        }
    ]


def test_many_deltas_fold_into_the_totals_and_the_counts_do_not_change(
    store: PgStore, p1: PostgresLedger, p2: PostgresLedger
) -> None:
    for n in range(FOLD_AT + 10):  # one delta row per statement
        p1.insert([new_row(host_id=f"i{n}", state="waiting", gate="contact")])
    p2.insert([new_row(host_id="x")])
    with store.reading() as conn:
        before = conn.execute("SELECT count(*) FROM counts_delta").fetchone()
    assert before is not None
    assert before[0] > FOLD_AT
    assert {(c["state"], c["gate"]): c["n"] for c in p1.counts()} == {
        ("waiting", "contact"): FOLD_AT + 10
    }  # this read met too many deltas: it folded them
    with store.reading() as conn:
        left = conn.execute("SELECT practice_id, count(*) FROM counts_delta GROUP BY 1").fetchall()
    assert left == [("p2", 1)]
    ids = [f.id for f in p1.waiting_behind(("contact",), limit=5000)]
    p1.transition_many(ids, "ready")
    assert {(c["state"], c["gate"]): c["n"] for c in p1.counts()} == {("ready", None): FOLD_AT + 10}
    assert store.fleet().queue_depth() == {"ready": FOLD_AT + 11}
