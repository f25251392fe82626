"""Never overwrite a bookkeeper's change silently (sync/overwrite_guard.py): an edit in the host
of a record someone changed in Xero is held until an admin decides, waits while a webhook event
on it is not looked at yet, and goes over Xero's only when re-sent (or by the resend setting).

Through the sandbox (as an httpx transport) and the real worker: the bookkeeper edits a
contact's email in Xero, then the front desk changes that customer's phone in Pet Manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from books_world import World, event, synced, updated

CONTACT = "Contacts"


def _xero_email(w: World, xero_id: str) -> str:
    [contact] = w.bookkeeper("GET", f"Contacts/{xero_id}")["Contacts"]
    return str(contact.get("EmailAddress"))


def _bookkeeper_edits_the_email(w: World) -> tuple[Any, str]:
    """The first customer's contact, its email edited in Xero (and the webhook event kept)."""
    row = w.rows("contact")[0]
    xero_id = str(row.xero_id)
    w.later()
    w.bookkeeper("POST", f"Contacts/{xero_id}", {"EmailAddress": "bookkeeper@xero.example"})
    w.ledger.add_xero_events(
        [event(w, "CONTACT", xero_id, updated(w, f"Contacts/{xero_id}", CONTACT))]
    )
    return row, xero_id


def _front_desk_changes_the_phone(w: World, host_id: str) -> None:
    w.later()
    client = dict(next(c for c in w.p.host.iter_history("clients", "syd") if c["id"] == host_id))
    client["phone"] = "0400 000 111"
    w.p.host.save_client(client)


def test_an_edit_over_a_bookkeepers_change_is_held_until_an_admin_re_sends_it(
    tmp_path: Path,
) -> None:
    with synced(tmp_path, customers=1) as w:
        row, xero_id = _bookkeeper_edits_the_email(w)
        w.books.run_pass(read=False)  # the webhook's pass: the difference is known
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()

        held = w.ledger.get(row.id)
        assert (held.state, held.gate) == ("waiting", "xero_changed")
        assert "bookkeeper@xero.example" in str(held.detail)
        assert _xero_email(w, xero_id) == "bookkeeper@xero.example", "not overwritten"

        report = w.books.run_pass(read=False)
        [d] = [d for d in report.open if d.row_id == row.id]
        assert d.difference == "details_changed"
        w.p.engine.books_act(d.key, "resend", by="admin")
        w.sync()

        assert w.ledger.get(row.id).state == "synced"
        assert _xero_email(w, xero_id) != "bookkeeper@xero.example", "the admin chose to"


def test_accepting_xero_s_version_keeps_the_edit_held(tmp_path: Path) -> None:
    with synced(tmp_path, customers=1) as w:
        row, xero_id = _bookkeeper_edits_the_email(w)
        w.books.run_pass(read=False)
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()
        [d] = [d for d in w.books.run_pass(read=False).open if d.row_id == row.id]

        w.p.engine.books_act(d.key, "accept", by="admin")
        w.books.run_pass(read=False)
        w.sync()

        assert w.ledger.get(row.id).gate == "xero_changed"
        assert _xero_email(w, xero_id) == "bookkeeper@xero.example"


def test_an_edit_waits_while_a_webhook_event_on_its_record_is_not_looked_at(
    tmp_path: Path,
) -> None:
    with synced(tmp_path, customers=1) as w:
        row, xero_id = _bookkeeper_edits_the_email(w)  # the event is kept, not handled yet
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()

        waiting = w.ledger.get(row.id)
        assert waiting.state == "retrying"
        assert "webhook event" in str(waiting.message)
        assert _xero_email(w, xero_id) == "bookkeeper@xero.example"


def test_with_the_resend_setting_the_hosts_version_goes_over_xeros(tmp_path: Path) -> None:
    with synced(tmp_path, customers=1) as w:
        settings = {**w.p.host.settings("xero"), "xero_changes": "resend"}
        assert w.p.host.save_plugin_settings("xero", settings) == []
        row, xero_id = _bookkeeper_edits_the_email(w)
        w.books.run_pass(read=False)
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()

        assert w.ledger.get(row.id).state == "synced"
        assert _xero_email(w, xero_id) != "bookkeeper@xero.example"


def test_an_event_the_reader_cannot_follow_does_not_hold_the_edit_for_hours(
    tmp_path: Path,
) -> None:
    from pm_xero_plugin.sync.overwrite_guard import WAIT_ATTEMPTS

    with synced(tmp_path, customers=1) as w:
        row = w.rows("contact")[0]
        stuck = event(w, "CONTACT", str(row.xero_id), "2099-01-01T00:00:00")
        w.ledger.add_xero_events([stuck])
        for _ in range(WAIT_ATTEMPTS):
            w.ledger.fail_xero_events([stuck.key], "the reconciliation's budget is spent")
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()

        assert w.ledger.get(row.id).state == "synced"  # the sync's own edit went


def test_an_edit_is_read_first_and_held_when_xero_changed_unheard_of(tmp_path: Path) -> None:
    # no webhook (or one still on its way), no read since: only Xero itself can tell
    with synced(tmp_path, customers=1) as w:
        row = w.rows("contact")[0]
        xero_id = str(row.xero_id)
        w.later()
        w.bookkeeper("POST", f"Contacts/{xero_id}", {"EmailAddress": "bookkeeper@xero.example"})
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()

        held = w.ledger.get(row.id)
        assert (held.state, held.gate) == ("waiting", "xero_changed")
        assert "email bookkeeper@xero.example" in str(held.detail)
        assert _xero_email(w, xero_id) == "bookkeeper@xero.example"
        [d] = [d for d in w.books.run_pass(read=False).open if d.row_id == row.id]
        assert d.difference == "details_changed"  # Xero's version was kept for the comparison


def test_an_edit_of_a_record_no_one_changed_in_xero_goes_after_one_read(tmp_path: Path) -> None:
    with synced(tmp_path, customers=1) as w:
        row = w.rows("contact")[0]
        _front_desk_changes_the_phone(w, row.host_id)
        mark = len(w.app_calls())
        w.sync()

        assert w.ledger.get(row.id).state == "synced"
        calls = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in w.app_calls()[mark:]]
        assert calls == [("GET", "Contacts"), ("POST", "Contacts")], calls


def test_an_invoice_our_own_payments_made_paid_is_no_change_in_xero(tmp_path: Path) -> None:
    from pm_xero_plugin.sync.overwrite_guard import changed_since_known

    with synced(tmp_path, customers=1) as w:
        invoice = w.rows("invoice")[0]
        xid = str(invoice.xero_id).lower()
        kept = w.ledger.xero_copies(w.tenant, "invoice", [xid])[xid]
        w.ledger.store_xero_copies(
            [type(kept)(**{**vars(kept), "summary": {**kept.summary, "status": "AUTHORISED"}})]
        )
        w.bookkeeper("PUT", "Payments", {"Invoice": {"InvoiceID": xid}, "Account": {"Code": "090"},
                                         "Date": "2025-03-01", "Amount": 60})  # fmt: skip
        [now_in_xero] = w.bookkeeper("GET", f"Invoices/{xid}")["Invoices"]
        assert now_in_xero["Status"] == "PAID"
        key = w.p.xero.runtime.connection_for(w.tenant)
        held = changed_since_known(
            w.ledger, w.p.xero.runtime.client, w.tenant, str(key), [invoice], w.p.host.now()
        )
        assert held == {}  # PAID now, by money applied to it: the update changes none of that


def test_a_held_edit_goes_once_the_bookkeeper_undid_the_change_in_xero(tmp_path: Path) -> None:
    with synced(tmp_path, customers=1) as w:
        row, xero_id = _bookkeeper_edits_the_email(w)
        original = str(row.payload.get("email"))
        w.books.run_pass(read=False)
        _front_desk_changes_the_phone(w, row.host_id)
        w.sync()
        assert w.ledger.get(row.id).gate == "xero_changed"

        w.later()
        w.bookkeeper("POST", f"Contacts/{xero_id}", {"EmailAddress": original})  # undone
        w.ledger.add_xero_events(
            [event(w, "CONTACT", xero_id, updated(w, f"Contacts/{xero_id}", CONTACT))]
        )
        w.books.run_pass(read=False)  # no difference left: the hold is released
        w.sync()

        assert w.ledger.get(row.id).state == "synced"


def test_a_row_in_doubt_finding_its_own_lost_write_in_xero_is_not_held(tmp_path: Path) -> None:
    import dataclasses

    from pm_xero_plugin.sync.overwrite_guard import changed_since_known

    with synced(tmp_path, customers=1) as w:
        row = w.rows("contact")[0]
        # our update reached Xero and its answer was lost (a kill, a timeout): Xero is newer
        # than the copy kept, by our own hand – the sender's look-up settles it, not an admin
        w.later()
        w.bookkeeper("POST", f"Contacts/{row.xero_id}", {"EmailAddress": "ours@lost.example"})
        key = str(w.p.xero.runtime.connection_for(w.tenant))
        client, now = w.p.xero.runtime.client, w.p.host.now()
        doubt = dataclasses.replace(row, uncertain=True, operation="update")

        assert changed_since_known(w.ledger, client, w.tenant, key, [doubt], now) == {}
        assert changed_since_known(w.ledger, client, w.tenant, key, [row], now) != {}
