"""The ledger contract: settling a row moves what waited for it, in the same transaction.

What moves is decided in core (:class:`pm_xero_plugin.core.gates.DependantGates`); a backend
must call it inside its settling transaction and give it the operations it applies."""

from __future__ import annotations

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import Ledger


def test_marking_a_contact_synced_promotes_its_documents_in_the_same_transaction(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(kind="contact", host_id="c1"),
            new_row(host_id="i1", state="waiting", gate="contact", dep_contact="c1"),
            new_row(
                kind="payment", host_id="p1:i1", state="waiting", gate="invoice", dep_invoice="i1"
            ),
        ]
    )
    [contact] = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_synced(contact.id, "XC1")
    assert ledger.find("invoice", "i1", "T1").state == "ready"  # type: ignore[union-attr]
    assert ledger.find("payment", "p1:i1", "T1").gate == "invoice"  # type: ignore[union-attr]
    [inv] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_synced(inv.id, "XI1", {"Status": "OK"})
    assert ledger.find("payment", "p1:i1", "T1").state == "ready"  # type: ignore[union-attr]
    assert ledger.xero_id("invoice", "i1", "T1") == "XI1"
    assert ledger.xero_id("contact", "c1", "T1") == "XC1"


def _contact_sync_running(ledger: Ledger, *contacts: str) -> None:
    ledger.set_tenant("T1", contact_sync="running")
    ledger.insert([new_row(kind="contact", host_id=c) for c in contacts])


def test_the_last_contact_settled_finishes_contact_sync_and_its_documents_move_on(
    ledger: Ledger,
) -> None:
    _contact_sync_running(ledger, "c1")
    ledger.insert([new_row(host_id="i1", state="waiting", gate="contact_sync", dep_contact="c1")])
    [contact] = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_synced(contact.id, "XC1")
    assert ledger.tenant("T1").contact_sync == "finished"
    assert ledger.find("invoice", "i1", "T1").state == "ready"  # type: ignore[union-attr]


def test_contact_sync_runs_while_a_contact_is_on_its_way(ledger: Ledger) -> None:
    _contact_sync_running(ledger, "c1", "c2")
    ledger.insert([new_row(host_id="i1", state="waiting", gate="contact_sync", dep_contact="c1")])
    [first, _] = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_synced(first.id, "XC1")
    assert ledger.tenant("T1").contact_sync == "running"
    assert ledger.find("invoice", "i1", "T1").gate == "contact_sync"  # type: ignore[union-attr]


def test_a_contact_held_for_an_admin_says_so_to_its_documents_and_holds_no_one_else(
    ledger: Ledger,
) -> None:
    _contact_sync_running(ledger, "c1", "c2")
    ledger.insert([new_row(host_id="i2", state="waiting", gate="contact", dep_contact="c2")])
    first, second = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_synced(first.id, "XC1")
    ledger.hold_contact(second.id, "the name is taken", {"ContactID": "X9", "Name": "Jane"})
    assert ledger.tenant("T1").contact_sync == "finished"
    waiting = ledger.find("invoice", "i2", "T1")
    assert waiting is not None
    assert (waiting.state, waiting.gate) == ("waiting", "contact")
    assert "name is taken in Xero" in str(waiting.detail)
    assert ledger.describe_contact_wait("c2", "T1", None) == 1  # on its way again
    assert ledger.find("invoice", "i2", "T1").detail is None  # type: ignore[union-attr]


def test_a_failed_contact_tells_its_documents_why_they_wait(ledger: Ledger) -> None:
    _contact_sync_running(ledger, "c1")
    ledger.insert([new_row(host_id="i1", state="waiting", gate="contact", dep_contact="c1")])
    [contact] = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_failed(contact.id, "Xero refused it")
    waiting = ledger.find("invoice", "i1", "T1")
    assert waiting is not None
    assert "could not be sent to Xero" in str(waiting.detail)
    assert ledger.tenant("T1").contact_sync == "finished"


def test_an_invoice_synced_with_an_edit_pending_goes_again_and_lets_its_payments_wait(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(host_id="i1"),
            new_row(
                kind="payment", host_id="p1:i1", state="waiting", gate="invoice", dep_invoice="i1"
            ),
        ]
    )
    [inv] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.set_fields(inv.id, pending_op="update")
    ledger.mark_synced(inv.id, "XI1")
    again = ledger.find("invoice", "i1", "T1")
    assert again is not None
    assert (again.state, again.operation, again.xero_id) == ("ready", "update", "XI1")
    assert ledger.find("payment", "p1:i1", "T1").gate == "invoice"  # type: ignore[union-attr]
