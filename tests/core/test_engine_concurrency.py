"""A worker thread claiming and settling rows while hooks record and settings re-gate: no row is
pulled out from under the worker, nothing is lost, and the counts stay exact."""

from __future__ import annotations

import threading

from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin.ledger import IllegalTransition


def test_a_busy_worker_and_re_gating_never_collide(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        ledger = practice.ledger
        while not stop.is_set():
            try:
                now = practice.host.now()
                for row in ledger.claim("T1", "invoice", limit=5, worker_id="t", now=now):
                    ledger.mark_sent([row.id], f"k{row.id}")
                    ledger.mark_synced(row.id, f"X{row.id}")
            except IllegalTransition as exc:  # a row moved while the worker held it
                errors.append(exc)
                return

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for n in range(1, 121):
            practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-02-10"))
            if n % 10 == 0:
                practice.engine.set_connection(None, "T1", n % 20 != 0, "flapping")
        practice.engine.set_connection(None, "T1", True)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    practice.drain()
    states = practice.ledger._q(
        "SELECT state, count(*) FROM rows WHERE kind = 'invoice' GROUP BY state"
    )
    assert states == [("synced", 120)]
