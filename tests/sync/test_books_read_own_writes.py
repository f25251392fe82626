"""Xero's copies from the add-on's own writes (sync/settle.py): the answer to a write is Xero's
newest version of what it took, kept without another call, so the webhook event that write
causes is known as the add-on's own and is not read again."""

from __future__ import annotations

import random
from pathlib import Path

from books_world import event, synced, updated

from pm_xero_plugin.mapping.xero_copies import summarise
from pm_xero_plugin.sync.settle import Settler, copies_of


def test_what_xero_answers_to_a_write_is_kept_as_its_copy_and_its_event_is_our_own(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        client = w.p.xero.runtime.client
        results = client.send_batch(
            w.tenant,
            "syd",
            "PUT",
            "Contacts",
            [{"Name": "Bo Day (C99)", "ContactNumber": "C99", "EmailAddress": "bo@example.com"}],
            idempotency_key="own-write",
        )
        settler = Settler(
            w.ledger,
            now=w.p.host.now,
            on_reconnect_required=lambda t, r: None,
            rng=random.Random(1),
        )
        mark = len(w.app_calls())

        kept = settler.keep_copies(w.tenant, "contact", results)

        assert kept == 1
        assert len(w.app_calls()) == mark  # no call
        xero_id = str(results[0].xero_id).lower()
        copy = w.ledger.xero_copies(w.tenant, "contact", [xero_id])[xero_id]
        [read] = w.bookkeeper("GET", f"Contacts/{xero_id}")["Contacts"]
        assert (copy.summary, copy.updated_utc) == summarise("contact", read)
        assert copy.summary["email"] == "bo@example.com"
        # ... so the event a write of ours causes is known as our own:
        ours = w.rows("contact")[0]
        settler.keep_copies(
            w.tenant,
            "contact",
            client.send_batch(
                w.tenant,
                "syd",
                "POST",
                "Contacts",
                [{"ContactID": ours.xero_id, "EmailAddress": "ann@again.example"}],
                idempotency_key="own-edit",
            ),
        )
        when = updated(w, f"Contacts/{ours.xero_id}", "Contacts")
        w.ledger.add_xero_events([event(w, "CONTACT", str(ours.xero_id), when)])
        mark = len(w.app_calls())

        w.books.reader.handle_events()

        assert len(w.app_calls()) == mark
        assert w.ledger.xero_event_counts().get("own") == 1


def test_refused_elements_and_kinds_answered_as_another_document_leave_no_copy(
    tmp_path: Path,
) -> None:
    with synced(tmp_path, customers=1) as w:
        client = w.p.xero.runtime.client
        results = client.send_batch(
            w.tenant,
            "syd",
            "PUT",
            "Contacts",
            [{"Name": ""}, {"Name": "Cy Ng (C98)", "ContactNumber": "C98"}],
            idempotency_key="mixed",
        )

        made = copies_of(w.tenant, "contact", results, w.p.host.now())

        assert [r.ok for r in results] == [False, True]
        assert [c.xero_id for c in made] == [str(results[1].xero_id).lower()]
        assert copies_of(w.tenant, "overpayment", results, w.p.host.now()) == []
        assert copies_of(w.tenant, "allocation", results, w.p.host.now()) == []


def test_the_worker_keeps_a_copy_of_everything_xero_took_from_it(tmp_path: Path) -> None:
    with synced(tmp_path, customers=2) as w:
        for kind in ("contact", "invoice", "payment"):
            rows = w.rows(kind)
            assert rows
            ids = [str(r.xero_id).lower() for r in rows]
            kept = w.ledger.xero_copies(w.tenant, kind, ids)
            assert sorted(kept) == sorted(ids), kind  # every one, from the answers alone
        invoice = w.rows("invoice")[0]
        xero_id = str(invoice.xero_id).lower()
        [read] = w.bookkeeper("GET", f"Invoices/{xero_id}")["Invoices"]
        kept_copy = w.ledger.xero_copies(w.tenant, "invoice", [xero_id])[xero_id]
        assert kept_copy.summary["total"] == summarise("invoice", read)[0]["total"]
