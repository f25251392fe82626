"""Webhook events handled (BooksReader.handle_events), against the sandbox: an event no later
than the copy kept is the add-on's own write and costs no call; a bookkeeper's change is
re-read and shows in the copies; a payment deleted in Xero is seen as DELETED through its
invoice's event; records that are not ours and organisations not connected cost nothing; a
failure leaves the events pending."""

from __future__ import annotations

from pathlib import Path

import pytest
from books_world import World, event, synced, updated


def _copy(w: World, kind: str, xero_id: str | None) -> dict[str, object]:
    assert xero_id is not None
    return dict(w.ledger.xero_copies(w.tenant, kind)[xero_id.lower()].summary)


def test_events_for_versions_already_kept_are_the_add_on_s_own_and_cost_no_call(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.reader.read(w.tenant)  # the copies the add-on's own writes would have left
        events = [
            event(w, "INVOICE", str(r.xero_id), updated(w, f"Invoices/{r.xero_id}", "Invoices"))
            for r in w.rows("invoice")
        ]
        w.ledger.add_xero_events(events)
        mark = len(w.app_calls())

        handled = w.books.reader.handle_events()

        assert handled == 3
        assert len(w.app_calls()) == mark
        counts = w.ledger.xero_event_counts()
        assert (counts["pending"], counts.get("own")) == (0, 3)


def test_a_bookkeeper_s_change_is_re_read_in_bulk_and_shows_in_the_copies(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.reader.read(w.tenant)
        w.later(60)
        first, second, _third = w.rows("invoice")
        contact = w.rows("contact")[0]
        for invoice in (first, second):  # its payment deleted first: Xero voids no paid invoice
            [doc] = w.bookkeeper("GET", f"Invoices/{invoice.xero_id}")["Invoices"]
            for paid in doc["Payments"]:
                w.bookkeeper("POST", f"Payments/{paid['PaymentID']}", {"Status": "DELETED"})
            w.bookkeeper("POST", f"Invoices/{invoice.xero_id}", {"Status": "VOIDED"})
        w.bookkeeper("POST", f"Contacts/{contact.xero_id}", {"EmailAddress": "ann@new.example"})
        w.ledger.add_xero_events(
            [
                event(w, "INVOICE", str(i.xero_id), updated(w, f"Invoices/{i.xero_id}", "Invoices"))
                for i in (first, second)
            ]
            + [
                event(
                    w,
                    "CONTACT",
                    str(contact.xero_id),
                    updated(w, f"Contacts/{contact.xero_id}", "Contacts"),
                )
            ]
        )
        mark = len(w.app_calls())

        w.books.reader.handle_events()

        reads = [r["path"].split("/")[3] for r in w.reads_since(mark)]
        assert reads == ["Invoices", "Payments", "Contacts"]  # in bulk: 2 invoices in 1 call,
        # then the 2 payments they lost in 1 call
        assert _copy(w, "invoice", first.xero_id)["status"] == "VOIDED"
        assert _copy(w, "invoice", second.xero_id)["status"] == "VOIDED"
        assert _copy(w, "contact", contact.xero_id)["email"] == "ann@new.example"
        assert w.ledger.xero_event_counts().get("read") == 3
        assert w.books.reader.budget(w.tenant).used == 5 + 3  # the read, and the re-reads


def test_a_payment_deleted_in_xero_is_seen_as_deleted_through_its_invoice_sevent(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.reader.read(w.tenant)
        w.later(60)
        payment = w.rows("payment")[0]
        w.bookkeeper("POST", f"Payments/{payment.xero_id}", {"Status": "DELETED"})
        [paid] = w.bookkeeper("GET", f"Payments/{payment.xero_id}")["Payments"]
        invoice_id = paid["Invoice"]["InvoiceID"]
        when = updated(w, f"Invoices/{invoice_id}", "Invoices")
        w.ledger.add_xero_events([event(w, "INVOICE", invoice_id, when)])

        w.books.reader.handle_events()

        assert _copy(w, "payment", payment.xero_id)["status"] == "DELETED"
        left = _copy(w, "invoice", invoice_id)["payments"]
        assert isinstance(left, dict)
        assert str(payment.xero_id).lower() not in left


def test_records_not_ours_and_organisations_not_connected_cost_nothing(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        made = w.bookkeeper("PUT", "Contacts", {"Contacts": [{"Name": "Walk-in customer"}]})
        theirs = made["Contacts"][0]["ContactID"]
        w.ledger.add_xero_events(
            [
                event(w, "CONTACT", theirs, "2026-01-01T00:00:00"),
                event(w, "INVOICE", theirs, "2026-01-01T00:00:00", tenant="not-connected"),
            ]
        )
        mark = len(w.app_calls())

        assert w.books.reader.handle_events() == 2

        assert len(w.app_calls()) == mark
        counts = w.ledger.xero_event_counts()
        assert (counts.get("not_ours"), counts.get("unknown_tenant")) == (1, 1)


def test_a_spent_budget_leaves_the_events_pending_with_the_reason(tmp_path: Path) -> None:
    with synced(tmp_path, day_limit=5) as w:  # 1 call a day
        w.books.reader.read(w.tenant)  # spends it
        invoice = w.rows("invoice")[0]
        w.ledger.add_xero_events([event(w, "INVOICE", str(invoice.xero_id), "2099-01-01T00:00:00")])

        assert w.books.reader.handle_events() == 0

        [pending] = w.ledger.pending_xero_events()
        assert pending.attempts == 1
        assert pending.error is not None
        assert "budget" in pending.error


def test_an_organisation_of_ours_that_cannot_be_reached_keeps_its_events_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with synced(tmp_path) as w:
        invoice = w.rows("invoice")[0]
        w.ledger.add_xero_events([event(w, "INVOICE", str(invoice.xero_id), "2099-01-01T00:00:00")])
        monkeypatch.setattr(w.books.reader, "_connection_for", lambda tenant: None)  # reconnect

        assert w.books.reader.handle_events() == 0

        [kept] = w.ledger.pending_xero_events()
        assert (kept.attempts, kept.error) == (1, "the organisation has no working connection")


def test_an_event_that_cannot_be_followed_is_given_up_after_its_attempts(tmp_path: Path) -> None:
    from pm_xero_plugin.sync.books_read import MAX_EVENT_ATTEMPTS

    with synced(tmp_path) as w:
        invoice = w.rows("invoice")[0]
        stuck = event(w, "INVOICE", str(invoice.xero_id), "2099-01-01T00:00:00")
        w.ledger.add_xero_events([stuck])
        for _ in range(MAX_EVENT_ATTEMPTS):
            w.ledger.fail_xero_events([stuck.key], "Xero unreachable")
        mark = len(w.app_calls())

        w.books.reader.handle_events()

        assert w.ledger.pending_xero_events() == []  # no longer at the head of the queue
        assert w.ledger.xero_event_counts().get("given_up") == 1
        assert len(w.app_calls()) == mark
