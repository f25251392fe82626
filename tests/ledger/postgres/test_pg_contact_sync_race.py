"""Two workers settling an organisation's last two contacts at the same moment finish its contact
sync: under READ COMMITTED each would count the other's contact as still sending, so the
settling of one organisation's contacts is serialised (``postgres.CONTACTS_LOCK``)."""

from __future__ import annotations

import contextlib
import threading

from support.ledger_helpers import START, new_row

from pm_xero_plugin.core.gates import DependantGates
from pm_xero_plugin.ledger.interface import Ledger
from pm_xero_plugin.ledger.postgres_store import PgStore


class _MeetFirst(DependantGates):
    """Both settling transactions wait for each other (up to a second) before they count the
    organisation's contacts: without the lock both have written their row by then, neither
    committed."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self._barrier = barrier

    def synced(self, ledger: Ledger, kind: str, host_id: str, tenant_id: str) -> None:
        # Broken: the other is held at the lock, and counts after this one commits.
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait(timeout=1.0)
        super().synced(ledger, kind, host_id, tenant_id)


def test_the_last_two_contacts_settled_at_once_finish_the_contact_sync(store: PgStore) -> None:
    barrier = threading.Barrier(2)
    views = [
        store.ledger("p1", clock=lambda: START, dependants=_MeetFirst(barrier)) for _ in range(2)
    ]
    first = views[0]
    first.set_tenant("T1", connected=1, codes_state="ok", contact_sync="running")
    first.insert([new_row("contact", "c1"), new_row("contact", "c2")])
    rows = first.claim("T1", "contact", worker_id="w", now=START)
    assert len(rows) == 2
    first.mark_sent([r.id for r in rows], "k")
    errors: list[BaseException] = []

    def settle(view: Ledger, row_id: int) -> None:
        try:
            view.mark_synced(row_id, f"X-{row_id}")
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=settle, args=(view, row.id))
        for view, row in zip(views, rows, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert first.tenant("T1").contact_sync == "finished"


def test_a_count_of_the_contacts_in_a_transaction_waits_for_a_settling_one(
    store: PgStore,
) -> None:
    """An admin's exclusion (or a new contact sync) decides from the same count: counted in a
    transaction it takes the lock, so a contact settling meanwhile commits first or after."""
    counting = store.ledger("p1", clock=lambda: START, dependants=DependantGates())
    settling = store.ledger("p1", clock=lambda: START, dependants=DependantGates())
    counting.set_tenant("T1", connected=1, codes_state="ok", contact_sync="running")
    counting.insert([new_row("contact", "c1"), new_row("contact", "c2")])
    [first, _] = counting.claim("T1", "contact", worker_id="w", now=START)
    counting.mark_sent([first.id], "k")
    counted = threading.Event()
    order: list[str] = []

    def count_and_hold() -> None:
        with counting.transaction():
            counting.active_contacts("T1")
            counted.set()
            threading.Event().wait(0.5)
            order.append("count committed")

    holder = threading.Thread(target=count_and_hold)
    holder.start()
    assert counted.wait(5)
    settling.mark_synced(first.id, "X-c1")
    order.append("settled")
    holder.join(5)
    assert order == ["count committed", "settled"]
