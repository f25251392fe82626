"""Live records before history (issue 9, item 4): a record made through a hook while a back-sync
drains is claimed before the backlog of its organisation – of its own kind and of earlier kinds –
and what it depends on is raised with it, so the order contact → invoice → payment still holds."""

from __future__ import annotations

from datetime import timedelta

from support.ledger_helpers import START, Practice, client, invoice, payment

from pm_xero_plugin.ledger import NewRow, SqliteLedger
from pm_xero_plugin.xero.kinds import SEND_ORDER


def _row(kind: str, host_id: str, day: str, *, priority: int = 0, **extra: object) -> NewRow:
    return NewRow(
        kind=kind,
        host_id=host_id,
        tenant_id="T1",
        location_id="syd",
        state="ready",
        payload="{}",
        payload_hash=host_id,
        doc_date=day,
        number=int(host_id.rsplit("-", 1)[-1]),
        priority=priority,
        **extra,  # type: ignore[arg-type]
    )


def _claim(ledger: SqliteLedger, limit: int = 1) -> tuple[str, list[str]]:
    kind, rows = ledger.claim_next(
        "T1", SEND_ORDER, limit_for=lambda k: limit, worker_id="w", now=START
    )
    return kind, [r.host_id for r in rows]


def test_a_live_row_is_claimed_before_older_history_of_its_kind(ledger: SqliteLedger) -> None:
    ledger.insert([_row("invoice", f"h-{n}", f"2025-01-0{n}") for n in range(1, 4)])
    ledger.insert([_row("invoice", "live-9", "2025-03-01", priority=1)])
    assert ledger.has_live_work("T1", START)

    assert _claim(ledger) == ("invoice", ["live-9"])
    assert not ledger.has_live_work("T1", START)
    assert _claim(ledger, limit=2) == ("invoice", ["h-1", "h-2"])  # then history, oldest first


def test_a_live_payment_goes_before_the_history_of_an_earlier_kind(ledger: SqliteLedger) -> None:
    ledger.insert([_row("invoice", f"h-{n}", f"2025-01-0{n}") for n in range(1, 4)])
    ledger.insert([_row("payment", "p-7:i-7", "2025-03-01", priority=1, dep_invoice="i-7")])

    assert _claim(ledger, limit=50) == ("payment", ["p-7:i-7"])
    assert _claim(ledger, limit=50) == ("invoice", ["h-1", "h-2", "h-3"])


def test_without_live_work_kinds_go_in_send_order(ledger: SqliteLedger) -> None:
    ledger.insert([_row("payment", "p-1:i-1", "2025-01-01", dep_invoice="i-1")])
    ledger.insert([_row("invoice", "h-2", "2025-01-02")])
    assert _claim(ledger) == ("invoice", ["h-2"])


def test_a_live_row_whose_worker_is_gone_is_reclaimed_first(ledger: SqliteLedger) -> None:
    ledger.insert([_row("invoice", "live-5", "2025-03-01", priority=1)])
    assert _claim(ledger) == ("invoice", ["live-5"])  # claimed, then its worker died
    ledger.insert([_row("invoice", "h-1", "2025-01-01")])
    later = START + timedelta(seconds=200)
    kind, rows = ledger.claim_next(
        "T1",
        SEND_ORDER,
        limit_for=lambda k: 1,
        worker_id="w2",
        now=later,
        lease_seconds=60,
        take_from={"w"},  # judged gone (sync.leases)
    )
    assert (kind, [r.host_id for r in rows]) == ("invoice", ["live-5"])


def _history(practice: Practice) -> None:
    """Customers c1, c2 and invoices i1…i4 recorded while the add-on was off, then replayed by
    contact sync and a back-sync: all history."""
    practice.setup()
    practice.host.disable_plugin("xero")
    practice.host.save_client(client("c1", 1))
    practice.host.save_client(client("c2", 2))
    for n in range(1, 5):
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", f"2025-02-0{n}"))
    practice.host.enable_plugin("xero")
    practice.host.start_contact_sync(None)
    practice.host.backfill(None, None)


def _next(practice: Practice) -> tuple[str, list[str]]:
    kind, rows = practice.ledger.claim_next(
        "T1", SEND_ORDER, limit_for=lambda k: 1, worker_id="w", now=practice.host.now()
    )
    for row in rows:
        practice.ledger.mark_sent([row.id], f"k{row.id}")
        practice.ledger.mark_synced(row.id, f"X-{row.kind}-{row.host_id}")
    return kind, [r.host_id for r in rows]


def test_a_live_payment_raises_its_history_invoice_and_still_waits_for_it(
    practice: Practice,
) -> None:
    _history(practice)
    assert all(r.priority == 0 for r in practice.ledger.rows_for("invoice", "i3"))
    practice.drain(rounds=1)  # contacts reach Xero; the back-sync's invoices become ready …
    assert {practice.state("invoice", f"i{n}")[0] for n in range(1, 5)} == {"synced"}
    # … a fresh history (no worker ran yet for these):
    practice.host.disable_plugin("xero")
    for n in range(5, 9):
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", f"2025-02-0{n}"))
    practice.host.enable_plugin("xero")
    practice.host.backfill(None, None)
    assert practice.state("invoice", "i7") == ("ready", None)

    # Live: the customer pays invoice 7 at the counter, while 5-8 still wait to be sent.
    practice.host.record_payment(payment("p1", 1, "c1", "2025-03-01", [("i7", "110.00")]))
    assert practice.state("payment", "p1:i7") == ("waiting", "invoice")  # its invoice first
    (i7,) = practice.ledger.rows_for("invoice", "i7")
    assert i7.priority == 1  # raised with the live payment that needs it

    assert _next(practice) == ("invoice", ["i7"])  # before the older history invoices 5 and 6
    assert _next(practice) == ("payment", ["p1:i7"])  # then the payment, still before them
    assert _next(practice) == ("invoice", ["i5"])


def test_a_live_invoice_raises_a_customer_contact_sync_has_not_sent_yet(
    practice: Practice,
) -> None:
    _history(practice)
    practice.host.create_invoice(invoice("live", 9, "c2", "2025-03-01"))
    (contact,) = practice.ledger.rows_for("contact", "c2")
    assert contact.priority == 1
    assert contact.state == "ready"
    assert _next(practice) == ("contact", ["c2"])  # before c1, older and history
