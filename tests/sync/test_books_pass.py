"""A reconciliation pass (sync/books.py XeroBooks) on a practice whose records are in the
sandbox: read, compared, the report kept in the ledger; a bookkeeper's change arrives as an event
and is a difference without another read; the schedule reads only when due; a failure is the
organisation's ``incomplete`` and a health condition, never an exception."""

from __future__ import annotations

from pathlib import Path

from books_world import event, synced, updated

from pm_xero_plugin.core.books import load_report
from pm_xero_plugin.sync.books import BOOKS_CONDITION, XeroBooks


def test_a_pass_reads_compares_and_keeps_its_report(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        report = w.books.run_pass()

        [books] = report.tenants
        assert books.tenant_id == w.tenant
        assert books.checked == 9  # 3 contacts, 3 invoices, 3 payments
        assert books.read_at is not None
        assert books.full_read_at == books.read_at
        assert (books.calls_today, books.call_budget) == (5, 1000)
        assert books.incomplete is None
        assert report.clean, report.open
        kept = load_report(w.ledger.meta)
        assert kept is not None
        assert kept.to_json() == report.to_json()
        assert w.books.report() is not None


def test_a_bookkeeper_s_change_in_an_event_is_a_difference_without_another_read(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.run_pass()
        w.later(60)
        payment = w.rows("payment")[0]
        w.bookkeeper("POST", f"Payments/{payment.xero_id}", {"Status": "DELETED"})
        [paid] = w.bookkeeper("GET", f"Payments/{payment.xero_id}")["Payments"]
        invoice_id = paid["Invoice"]["InvoiceID"]
        when = updated(w, f"Invoices/{invoice_id}", "Invoices")
        w.ledger.add_xero_events([event(w, "INVOICE", invoice_id, when)])
        mark = len(w.app_calls())

        report = w.books.run_pass(read=False)

        assert len(w.app_calls()) == mark + 2  # the invoice and its payment, by id
        [found] = report.open
        assert (found.kind, found.host_id, found.difference) == (
            "payment",
            payment.host_id,
            "deleted_in_xero",
        )
        assert found.key == f"{payment.id}:deleted_in_xero"


def test_the_schedule_reads_only_when_reconcile_hours_have_passed(tmp_path: Path) -> None:
    with synced(tmp_path) as w:
        w.books.periodic_pass()  # never read: due
        mark = len(w.app_calls())
        w.later(3600)
        w.books.periodic_pass()
        quiet = len(w.app_calls()) - mark
        w.later(24 * 3600)
        report = w.books.periodic_pass()

        assert quiet == 0
        assert len(w.app_calls()) - mark > 0
        assert report.tenants[0].read_at != report.tenants[0].full_read_at  # incremental


def test_a_failing_organisation_is_incomplete_and_on_health_and_the_pass_goes_on(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:

        def broken(tenant_id: str) -> str | None:
            raise RuntimeError("token store on fire")

        books = XeroBooks(w.p.engine, w.p.xero.runtime.client, broken)

        report = books.run_pass()

        [tenant] = report.tenants
        assert tenant.incomplete is not None
        assert "RuntimeError" in tenant.incomplete
        assert "fire" not in tenant.incomplete
        names = [c.name for c in w.p.engine.health.conditions()]
        assert BOOKS_CONDITION + w.tenant in names
        good = w.books.run_pass()
        assert good.tenants[0].incomplete is None
        assert BOOKS_CONDITION + w.tenant not in [c.name for c in w.p.engine.health.conditions()]


def test_without_a_xero_client_the_copies_kept_are_compared_and_nothing_is_read(
    tmp_path: Path,
) -> None:
    with synced(tmp_path) as w:
        w.books.run_pass()
        mark = len(w.app_calls())
        offline = XeroBooks(w.p.engine, None, None)

        report = offline.run_pass()

        assert len(w.app_calls()) == mark
        assert report.tenants[0].checked == 9


def test_the_schedule_forgets_webhook_events_handled_a_week_ago(tmp_path: Path) -> None:
    from datetime import timedelta

    from pm_xero_plugin.sync.books import EVENT_RETENTION

    with synced(tmp_path) as w:
        invoice = w.rows("invoice")[0]
        w.ledger.add_xero_events([event(w, "INVOICE", str(invoice.xero_id), "2099-01-01T00:00:00")])
        w.books.handle_events()
        assert w.ledger.xero_event_counts()["handled"] == 1

        w.books.periodic_pass()
        assert w.ledger.xero_event_counts()["handled"] == 1  # kept while a replay is refused

        w.p.host.clock.advance(EVENT_RETENTION + timedelta(minutes=1))
        w.books.periodic_pass()
        assert w.ledger.xero_event_counts()["handled"] == 0
