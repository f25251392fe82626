"""The reconciliation's admin actions (``admin_action`` ``reconcile``, ``books_accept``,
``books_resend``, ``books_relink``) and the ``xero_changes`` setting, on a practice whose records
are in the sandbox."""

from __future__ import annotations

from pathlib import Path

from books_world import World, event, synced, updated

from pm_xero_plugin.sync.actions import perform


def _delete_a_payment(w: World) -> str:
    """The bookkeeper deletes one of our payments; its invoice's event arrives. Its row id."""
    payment = w.rows("payment")[0]
    w.bookkeeper("POST", f"Payments/{payment.xero_id}", {"Status": "DELETED"})
    [paid] = w.bookkeeper("GET", f"Payments/{payment.xero_id}")["Payments"]
    invoice_id = paid["Invoice"]["InvoiceID"]
    w.ledger.add_xero_events(
        [event(w, "INVOICE", invoice_id, updated(w, f"Invoices/{invoice_id}", "Invoices"))]
    )
    return f"{payment.id}:deleted_in_xero"


def test_reconcile_runs_a_pass_and_says_what_it_found(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        done = perform(w.p.engine, w.p.xero.runtime, "reconcile", {})

        assert done.ok, done.message
        assert done.message.endswith(": 9 records checked, 0 differences")
        assert w.books.report() is not None


def test_an_admin_accepts_a_difference_by_its_key_and_the_next_pass_lists_it_as_decided(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        engine, runtime = w.p.engine, w.p.xero.runtime
        perform(engine, runtime, "reconcile", {})
        w.later(60)
        key = _delete_a_payment(w)
        found = perform(engine, runtime, "reconcile", {"tenant_id": w.tenant})

        accepted = perform(engine, runtime, "books_accept", {"key": key, "by": "alex"})
        again = perform(engine, runtime, "reconcile", {})

        assert found.message.endswith("1 difference")
        assert accepted.ok, accepted.message
        assert again.message.endswith("0 differences")
        report = w.books.report()
        assert report is not None
        [decided] = report.tenants[0].differences
        assert (decided.key, decided.decided, decided.decided_by) == (key, "accepted", "alex")


def test_a_book_action_without_a_key_or_with_an_unknown_one_changes_nothing(
    tmp_path: Path,
) -> None:
    with synced(tmp_path, customers=1) as w:
        engine, runtime = w.p.engine, w.p.xero.runtime
        perform(engine, runtime, "reconcile", {})

        missing = perform(engine, runtime, "books_resend", {})
        unknown = perform(engine, runtime, "books_relink", {"key": "999:missing_in_xero"})

        assert not missing.ok
        assert "needs key" in missing.message
        assert not unknown.ok
        assert "999" in unknown.message


def test_the_accept_setting_accepts_what_may_be_accepted_by_itself(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        w.books.run_pass()
        saved = {**w.p.host.settings("xero"), "xero_changes": "accept"}
        assert w.p.host.save_plugin_settings("xero", saved) == []
        w.later(60)
        key = _delete_a_payment(w)

        report = w.books.run_pass(read=False)

        assert report.open == []
        [decided] = report.tenants[0].differences
        assert (decided.key, decided.decided, decided.decided_by) == (key, "accepted", "setting")
