"""A payment whose invoice can never be sent as it is never waits silently: its wait names the
invoice and why (rejected at intake, failed in Xero), with the ways out, and the dashboard lists
it; once the invoice is fixed, the payment follows it."""

from __future__ import annotations

from support.ledger_helpers import Practice, client, invoice, line, payment

UNREADABLE = [line(price="10.00001")]  # 5 decimals: more than Xero's unitdp=4 keeps


def _listed(practice: Practice, host_id: str) -> dict[str, object]:
    failures = practice.status("syd")["failures"]
    entry: dict[str, object] = next(f for f in failures if f["host_id"] == host_id)
    return entry


def test_a_payment_of_a_rejected_invoice_says_why_it_waits_and_follows_the_fixed_invoice(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i1", 121, "c1", "2025-02-03", lines=UNREADABLE))
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-04", [("i1", "110.00")]))
    practice.drain()

    row = practice.ledger.find("payment", "p1:i1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "invoice")
    assert row.detail is not None
    assert row.detail.startswith("waiting on invoice 121, which was rejected: lines.0.unit_price")
    assert row.detail.endswith("; fix it in the host or exclude it")
    listed = _listed(practice, "p1:i1")
    assert "waiting on invoice 121, which was rejected" in str(listed["message"])
    assert "exclude" in listed["actions"]  # type: ignore[operator]

    practice.host.update_invoice(invoice("i1", 121, "c1", "2025-02-03"))  # fixed in the host
    practice.drain()
    assert practice.state("invoice", "i1") == ("synced", None)
    assert practice.state("payment", "p1:i1") == ("synced", None)


def test_a_payment_already_waiting_is_told_when_its_invoice_is_rejected(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.save_plugin_settings("xero", {**practice.host.settings("xero"), "enabled": False})
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-04", [("i9", "110.00")]))
    practice.host.save_plugin_settings("xero", {**practice.host.settings("xero"), "enabled": True})
    practice.drain()
    assert practice.state("payment", "p1:i9") == ("waiting", "invoice")  # on its way, silently

    practice.host.create_invoice(invoice("i9", 9, "c1", "2025-02-03", lines=UNREADABLE))

    row = practice.ledger.find("payment", "p1:i9", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "invoice")
    assert str(row.detail).startswith("waiting on invoice 9, which was rejected: ")


def test_a_payment_whose_invoice_failed_in_xero_names_that_failure(practice: Practice) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i1", 121, "c1", "2025-02-03"))
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-04", [("i1", "110.00")]))
    practice.engine.tick()
    [claimed] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    practice.ledger.mark_sent([claimed.id], "k")
    practice.ledger.mark_failed(claimed.id, "Account code '201' is not a valid code")

    row = practice.ledger.find("payment", "p1:i1", "T1")
    assert row is not None
    assert (row.state, row.gate) == ("waiting", "invoice")
    assert row.detail == (
        "waiting on invoice 121, which failed: Account code '201' is not a valid code; "
        "fix it and retry it, or exclude it"
    )
    assert "which failed" in str(_listed(practice, "p1:i1")["message"])
