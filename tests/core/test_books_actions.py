"""An admin's actions on a difference with Xero's books: what each does to the row, the mark it
keeps, the line in the row's log, and the words when an action does not fit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice, payment

from pm_xero_plugin.core.books import REPORT_META_KEY, BooksReport, TenantBooks, load_report
from pm_xero_plugin.core.books_actions import BooksActionRefused, apply_setting
from pm_xero_plugin.core.differences import Comparison
from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.types import XeroCopy
from pm_xero_plugin.xero.kinds import SEND_ORDER

CONTACT = "X-contact-c1"
INVOICE = "X-invoice-i1"
PAYMENT = "X-payment-p1:i1"
READ_AT = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.fixture
def books(practice: Practice) -> Practice:
    """Ann Lee1 (C1), INV1 and PAY1 paying it in full, all synced (the fake worker's ids)."""
    practice.setup()
    practice.host.start_contact_sync(None)
    practice.host.save_client(client("c1", 1, email="ann@example.com"))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    total = str(_row(practice, "invoice", "i1").payload["total"])
    practice.host.record_payment(
        payment("p1", 1, "c1", "2025-03-02", [("i1", total)], amount=total)
    )
    practice.drain()
    assert _row(practice, "payment", "p1:i1").state == "synced"
    return practice


def _row(practice: Practice, kind: str, host_id: str) -> Row:
    row = practice.ledger.find(kind, host_id, "T1")
    assert row is not None
    return row


def _xero(practice: Practice) -> dict[str, dict[str, dict[str, Any]]]:
    """Xero's side of the fixture's book, as it should be."""
    total = str(_row(practice, "invoice", "i1").payload["total"])
    return {
        "contact": {
            CONTACT: {"name": "Ann Lee1 (C1)", "email": "ann@example.com", "number": "C1",
                      "status": "ACTIVE", "merged_to": None}
        },
        "invoice": {
            INVOICE: {"number": "INV1", "contact_id": CONTACT, "date": "2025-03-01",
                      "status": "PAID", "total": total, "amount_paid": total,
                      "amount_credited": "0.00", "amount_due": "0.00",
                      "payments": {PAYMENT: total}, "credits": {}, "overpayments": {},
                      "prepayments": {}}
        },
        "payment": {
            PAYMENT: {"invoice_id": INVOICE, "amount": total, "date": "2025-03-02",
                      "status": "AUTHORISED", "reference": "PAY1", "payment_type": "ACCRECPAYMENT"}
        },
    }  # fmt: skip


def _reconcile(
    practice: Practice, xero: dict[str, dict[str, dict[str, Any]]], gone: tuple[str, ...] = ()
) -> TenantBooks:
    """A comparison of the ledger with ``xero``, kept as the last report (what a pass does)."""
    ledger = practice.ledger
    comparison = Comparison(
        "T1",
        copies={
            kind: {x: XeroCopy("T1", kind, x, s, None, READ_AT, x in gone) for x, s in by.items()}
            for kind, by in xero.items()
        },
        marks=ledger.books_marks("T1"),
        tolerance=Decimal("0.02"),
        prefixes=Prefixes(),
    )
    comparison.add(ledger.rows_of_tenant("T1", SEND_ORDER))
    tenant = comparison.finish()
    ledger.set_meta(REPORT_META_KEY, BooksReport("2025-03-03T00:00:00+00:00", [tenant]).to_json())
    return tenant


def _log(practice: Practice, row_id: int) -> list[tuple[str, str]]:
    return [(e["event"], e["message"]) for e in practice.ledger.log(row_id)]


def test_accepting_a_void_keeps_the_mark_logs_it_and_lists_it_decided(books: Practice) -> None:
    xero = _xero(books)
    xero["invoice"][INVOICE].update(status="VOIDED", payments={})
    (d,) = _reconcile(books, xero).differences
    said = books.engine.books_act(d.key, "accept", by="admin-1")
    assert said == (
        "Accepted Xero's version of INV1 Ann Lee1 (voided in Xero); it is not reported again "
        "until either side changes"
    )
    (mark,) = books.ledger.books_marks("T1")
    assert (mark.kind, mark.difference, mark.action, mark.by) == (
        "invoice",
        "voided_in_xero",
        "accepted",
        "admin-1",
    )
    assert ("books_accept", f"{said} (by admin-1)") in _log(books, d.row_id)
    kept = load_report(books.ledger.meta)
    assert kept is not None
    assert [x.decided for x in kept.tenants[0].differences] == ["accepted"]
    assert kept.tenants[0].differences_total == 0
    assert _row(books, "invoice", "i1").state == "synced"  # nothing sent
    again = _reconcile(books, xero)
    assert [(x.difference, x.decided) for x in again.differences] == [
        ("voided_in_xero", "accepted")
    ]


def test_resending_a_deleted_payment_creates_it_again_with_its_xero_id_cleared(
    books: Practice,
) -> None:
    xero = _xero(books)
    xero["payment"][PAYMENT]["status"] = "DELETED"
    xero["invoice"][INVOICE].update(status="AUTHORISED", payments={})
    (d,) = _reconcile(books, xero).differences
    assert d.key.endswith(":deleted_in_xero")
    said = books.engine.books_act(d.key, "resend", by="admin-1")
    assert said == (
        "Re-sent PAY1 Ann Lee1 (INV1): Pet Manager's version goes to Xero again, as a new record"
    )
    row = _row(books, "payment", "p1:i1")
    assert (row.state, row.operation, row.xero_id) == ("ready", "create", None)
    assert _log(books, row.id)[-1] == ("books_resend", f"{said} (by admin-1)")
    assert [m.action for m in books.ledger.books_marks("T1")] == ["resent"]
    assert books.drain() == 1  # the worker sends it
    assert _row(books, "payment", "p1:i1").state == "synced"


def test_resending_a_contact_edited_in_xero_updates_the_one_xero_has(books: Practice) -> None:
    xero = _xero(books)
    xero["contact"][CONTACT]["email"] = "ann@new.example"
    (d,) = _reconcile(books, xero).differences
    assert d.difference == "details_changed"
    books.engine.books_act(d.key, "resend", by=None)
    row = _row(books, "contact", "c1")
    assert (row.state, row.operation, row.xero_id) == ("ready", "update", CONTACT)
    assert _log(books, row.id)[-1][0] == "books_resend"


def test_resending_a_contact_xero_no_longer_has_creates_it_again(books: Practice) -> None:
    # an update of an id Xero does not have would only fail: it goes as a new contact
    xero = _xero(books)
    (d,) = [x for x in _reconcile(books, xero, gone=(CONTACT,)).differences if x.kind == "contact"]
    assert (d.difference, d.actions) == ("missing_in_xero", ("resend",))
    books.engine.books_act(d.key, "resend", by=None)
    row = _row(books, "contact", "c1")
    assert (row.state, row.operation, row.xero_id) == ("ready", "create", None)


def test_relinking_a_missing_invoice_takes_the_provably_same_ones_id(books: Practice) -> None:
    xero = _xero(books)
    twin = "X-invoice-twin"
    xero["invoice"][twin] = dict(xero["invoice"][INVOICE])
    (d,) = _reconcile(books, xero, gone=(INVOICE,)).differences
    assert (d.difference, d.actions[0], d.relink_to) == ("missing_in_xero", "relink", twin)
    said = books.engine.books_act(d.key, "relink", by="admin-1")
    assert said == f"Re-linked INV1 Ann Lee1 to Xero's {twin} (was {INVOICE})"
    row = _row(books, "invoice", "i1")
    assert (row.state, row.xero_id) == ("synced", twin)
    assert [m.action for m in books.ledger.books_marks("T1")] == ["relinked"]
    assert _log(books, row.id)[-1][0] == "books_relink"
    assert _reconcile(books, xero, gone=(INVOICE,)).differences == []


def test_an_unknown_or_malformed_key_is_refused_in_the_admins_words(books: Practice) -> None:
    _reconcile(books, _xero(books))
    with pytest.raises(BooksActionRefused, match=r"no difference 99:voided_in_xero in the last"):
        books.engine.books_act("99:voided_in_xero", "accept", by="admin-1")
    with pytest.raises(BooksActionRefused, match=r"'INV1' is not a difference's key"):
        books.engine.books_act("INV1", "accept", by="admin-1")
    assert books.ledger.books_marks("T1") == []


def test_an_action_the_difference_does_not_list_is_refused_and_changes_nothing(
    books: Practice,
) -> None:
    xero = _xero(books)
    xero["invoice"][INVOICE].update(status="VOIDED", payments={})
    (d,) = _reconcile(books, xero).differences
    with pytest.raises(BooksActionRefused) as refused:
        books.engine.books_act(d.key, "resend", by="admin-1")
    assert str(refused.value) == (
        "INV1 Ann Lee1: 'resend' does not fit a record voided in Xero (what fits: accept). "
        "Void INV1 Ann Lee1 in Pet Manager too – Xero cannot un-void it"
    )
    with pytest.raises(BooksActionRefused, match="'undo' is not an action"):
        books.engine.books_act(d.key, "undo", by="admin-1")
    assert isinstance(refused.value, ValueError)
    assert books.ledger.books_marks("T1") == []
    assert _row(books, "invoice", "i1").state == "synced"


def test_a_record_edited_since_the_report_is_refused_until_reconciled_again(
    books: Practice,
) -> None:
    xero = _xero(books)
    xero["contact"][CONTACT]["email"] = "ann@new.example"
    (d,) = _reconcile(books, xero).differences
    books.host.save_client(client("c1", 1, email="ann@newer.example"))
    with pytest.raises(BooksActionRefused, match="changed in Pet Manager since the last"):
        books.engine.books_act(d.key, "accept", by="admin-1")
    assert books.ledger.books_marks("T1") == []


def test_the_setting_accept_decides_every_difference_that_may_be_accepted(
    books: Practice,
) -> None:
    xero = _xero(books)
    xero["invoice"][INVOICE].update(status="VOIDED", payments={})
    xero["contact"][CONTACT]["email"] = "ann@new.example"
    tenant = _reconcile(books, xero)
    assert tenant.differences_total == 2
    said = apply_setting(books.engine, tenant, "accept")
    assert len(said) == 2
    assert tenant.differences_total == 0
    assert {(m.difference, m.action, m.by) for m in books.ledger.books_marks("T1")} == {
        ("voided_in_xero", "accepted", "setting"),
        ("details_changed", "accepted", "setting"),
    }


def test_the_setting_resend_leaves_what_cannot_be_resent_reported(books: Practice) -> None:
    xero = _xero(books)
    xero["invoice"][INVOICE].update(status="VOIDED", payments={})
    xero["contact"][CONTACT]["email"] = "ann@new.example"
    tenant = _reconcile(books, xero)
    assert apply_setting(books.engine, tenant, "report") == []
    said = apply_setting(books.engine, tenant, "resend")
    assert len(said) == 1
    assert [(d.difference, d.decided) for d in tenant.differences] == [
        ("voided_in_xero", None),
        ("details_changed", "resent"),
    ]
    assert tenant.differences_total == 1
    assert _row(books, "contact", "c1").state == "ready"
    with pytest.raises(BooksActionRefused, match="xero_changes: 'always' is not one of"):
        apply_setting(books.engine, tenant, "always")
