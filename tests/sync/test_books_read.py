"""Reading Xero's side of the books within its limits (sync/books_read.py), against the
sandbox: a first read in full keeps copies of the add-on's documents only; a later read asks
``If-Modified-Since`` and brings only what changed; the day's call budget stops a read, which
goes on from there the next UTC day; a document no read returns is looked up by id and kept as
gone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from books_world import add_customers, synced

from pm_xero_plugin.sync.books_read import READS, BudgetSpent

ENDPOINTS = len(READS)


def test_a_first_read_is_in_full_and_keeps_copies_of_ours_only(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        theirs = w.bookkeeper("PUT", "Contacts", {"Contacts": [{"Name": "Walk-in customer"}]})
        mark = len(w.app_calls())

        outcome = w.books.reader.read(w.tenant)

        assert outcome.full
        assert outcome.incomplete is None
        assert outcome.calls == ENDPOINTS == len(w.reads_since(mark))
        for kind in ("contact", "invoice", "payment"):
            ours = {r.xero_id.lower() for r in w.rows(kind) if r.xero_id}
            assert set(w.ledger.xero_copies(w.tenant, kind)) == ours, kind
            assert len(ours) == 3
        their_id = theirs["Contacts"][0]["ContactID"].lower()
        assert their_id not in w.ledger.xero_copies(w.tenant, "contact")
        [invoice] = [
            c
            for c in w.ledger.xero_copies(w.tenant, "invoice").values()
            if c.summary["number"] == "INV1"
        ]
        assert invoice.summary["amount_paid"] == "40.00"
        assert len(invoice.summary["payments"]) == 1


def test_a_later_read_asks_if_modified_since_and_brings_only_what_changed(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.later(3600)  # what was sent is older than the read's margin
        w.books.reader.read(w.tenant)
        w.later(3600)
        [contact] = w.rows("contact")[:1]
        w.bookkeeper("POST", f"Contacts/{contact.xero_id}", {"EmailAddress": "ann@new.example"})
        sent: list[httpx.Request] = []
        w.p.xero.runtime.client.request_hook = sent.append

        outcome = w.books.reader.read(w.tenant)

        assert not outcome.full
        assert outcome.calls == ENDPOINTS
        assert outcome.elements == 1  # the contact edited; nothing else changed
        assert all("If-Modified-Since" in r.headers for r in sent)
        copy = w.ledger.xero_copies(w.tenant, "contact", [str(contact.xero_id).lower()])
        assert copy[str(contact.xero_id).lower()].summary["email"] == "ann@new.example"


def test_what_the_add_on_sends_after_a_read_is_in_the_next_one(tmp_path: Path) -> None:
    with synced(tmp_path, customers=1) as w:
        w.later(3600)
        w.books.reader.read(w.tenant)
        w.later(3600)
        add_customers(w, 2, first=2)
        w.sync()

        outcome = w.books.reader.read(w.tenant)

        assert outcome.copies == 6  # 2 contacts, 2 invoices and 2 payments
        assert len(w.ledger.xero_copies(w.tenant, "invoice")) == 3


def test_the_day_s_budget_stops_a_read_and_the_next_day_it_goes_on_from_there(
    tmp_path: Path,
) -> None:
    with synced(tmp_path, day_limit=10) as w:  # 0.2 of 10: 2 calls a day
        first = w.books.reader.read(w.tenant)
        stopped = w.books.reader.unfinished(w.tenant)
        again = w.books.reader.read(w.tenant)  # the same day: nothing left
        w.later(24 * 3600)
        mark = len(w.app_calls())
        second = w.books.reader.read(w.tenant)
        paths = [  # (a day later the token is refreshed first: its 401 is left out)
            r["path"].rsplit("/", 1)[-1] for r in w.reads_since(mark) if r["status"] == 200
        ]
        w.later(24 * 3600)
        third = w.books.reader.read(w.tenant)

        assert (first.calls, again.calls, second.calls) == (2, 0, 2)
        assert first.incomplete is not None
        assert "budget" in first.incomplete
        assert str(BudgetSpent(w.tenant, 2)) == first.incomplete
        assert stopped
        assert paths == ["CreditNotes", "Payments"]  # on from where the first day stopped
        assert third.incomplete is None
        assert third.full  # the full read finished
        assert not w.books.reader.unfinished(w.tenant)
        assert len(w.ledger.xero_copies(w.tenant, "payment")) == 3
        assert w.books.reader.budget(w.tenant).used == third.calls


def test_the_budget_is_counted_in_the_ledger_for_every_reader_on_it(tmp_path: Path) -> None:
    with synced(tmp_path, day_limit=10) as w:
        w.books.reader.read(w.tenant)
        from pm_xero_plugin.sync.books import XeroBooks

        runtime = w.p.xero.runtime
        other = XeroBooks(w.p.engine, runtime.client, runtime.connection_for, day_limit=10)

        assert other.reader.budget(w.tenant).used == 2
        with pytest.raises(BudgetSpent):
            other.reader.budget(w.tenant).take()


def test_a_document_no_full_read_returns_is_looked_up_by_id_and_kept_as_gone(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.reader.read(w.tenant)
        [invoice, *_] = w.rows("invoice")
        [payment, *_] = w.rows("payment")
        org = w.sandbox._orgs[w.tenant]  # gone from Xero's books entirely
        org.invoices.pop(next(k for k in org.invoices if k.lower() == invoice.xero_id.lower()))
        org.payments.pop(next(k for k in org.payments if k.lower() == payment.xero_id.lower()))
        w.later(3600)
        mark = len(w.app_calls())

        outcome = w.books.reader.read(w.tenant, full=True)

        assert outcome.gone == 2
        gone_invoice = w.ledger.xero_copies(w.tenant, "invoice")[invoice.xero_id.lower()]
        gone_payment = w.ledger.xero_copies(w.tenant, "payment")[payment.xero_id.lower()]
        assert gone_invoice.gone
        assert gone_payment.gone
        assert gone_invoice.summary["number"]  # what it was is kept
        lookups = [
            r for r in w.reads_since(mark) if "IDs=" in r["query"] or r["path"].count("/") > 3
        ]
        assert len(lookups) == 2  # one by IDs=, one by its path
        assert outcome.calls == ENDPOINTS + 2
        assert sum(1 for c in w.ledger.xero_copies(w.tenant, "invoice").values() if c.gone) == 1
