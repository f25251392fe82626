"""The comparison's day totals, and the admin's decisions standing until either side changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from support.books_rows import (
    CONTACT_X,
    INVOICE_X,
    PAYMENT_X,
    TENANT,
    book,
    compare,
    invoice,
    row,
    summaries,
)

from pm_xero_plugin.core.books import Difference
from pm_xero_plugin.ledger.types import BooksMark

AT = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def _mark(d: Difference, **override: str) -> BooksMark:
    fields = {
        "action": "accepted",
        "xero_fingerprint": d.xero_fingerprint,
        "host_hash": d.host_hash,
        **override,
    }
    return BooksMark(TENANT, d.kind, d.host_id, d.difference, at=AT, by="admin-1", **fields)


def _voided() -> dict[str, dict[str, dict[str, Any]]]:
    xero = summaries()
    xero["invoice"][INVOICE_X]["status"] = "VOIDED"
    return xero


def test_an_accepted_difference_is_listed_as_decided_and_not_counted_open() -> None:
    first = compare(book(), _voided()).differences[0]
    books = compare(book(), _voided(), marks=[_mark(first)])
    (d,) = books.differences
    assert (d.decided, d.decided_by, d.decided_at) == ("accepted", "admin-1", AT.isoformat())
    assert books.differences_total == 0


def test_a_decision_is_open_again_when_the_host_record_changes() -> None:
    first = compare(book(), _voided()).differences[0]
    rows = book()
    rows[1] = row(2, "invoice", "inv12", invoice(), xero_id=INVOICE_X, payload_hash="edited")
    books = compare(rows, _voided(), marks=[_mark(first)])
    assert [d.decided for d in books.differences] == [None]
    assert books.differences_total == 1


def test_a_decision_is_open_again_when_xero_changes_what_it_was_about() -> None:
    xero = summaries()
    xero["contact"][CONTACT_X]["email"] = "ann@new.example"
    first = compare(book(), xero).differences[0]
    xero["contact"][CONTACT_X]["email"] = "ann@newer.example"
    assert compare(book(), xero, marks=[_mark(first)]).differences[0].decided is None


def test_an_accepted_payment_by_the_bookkeeper_stands_when_our_own_payment_lands() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["payments"] = {"x-bookkeeper": "20.00"}
    first = compare(book(), xero).differences[0]
    assert first.difference == "paid_in_xero"
    xero["invoice"][INVOICE_X]["payments"][PAYMENT_X] = "100.00"  # ours, as Xero lists it now
    xero["invoice"][INVOICE_X]["amount_due"] = "0.00"
    (d,) = compare(book(), xero, marks=[_mark(first)]).differences
    assert d.decided == "accepted"


def test_open_differences_come_before_decided_ones() -> None:
    xero = _voided()
    xero["contact"][CONTACT_X]["email"] = "ann@new.example"
    both = compare(book(), xero).differences
    voided = next(d for d in both if d.difference == "voided_in_xero")
    books = compare(book(), xero, marks=[_mark(voided)])
    assert [(d.difference, d.decided) for d in books.differences] == [
        ("details_changed", None),
        ("voided_in_xero", "accepted"),
    ]
    assert books.differences_total == 1


def test_day_totals_per_location_day_and_kind_with_voided_at_zero() -> None:
    rows = book()
    rows.append(
        row(6, "invoice", "inv13", invoice(13, "50.00", date="2025-03-02"), xero_id="i13",
            doc_date="2025-03-02", location_id="L2")
    )  # fmt: skip
    rows.append(row(7, "invoice", "inv14", invoice(14, "70.00"), state="waiting"))
    rows.append(row(8, "invoice", "inv15", invoice(15, "80.00"), state="excluded"))
    rows.append(row(9, "invoice", "inv16", invoice(16, "90.00"), state="failed"))
    xero = _voided()
    xero["invoice"]["i13"] = dict(xero["invoice"][INVOICE_X], status="AUTHORISED", total="50.00")
    totals = {(t.location_id, t.day, t.kind): t for t in compare(rows, xero).totals}
    first = totals[("L1", "2025-03-01", "invoice")]
    assert (first.host_count, first.host_total) == (3, "280.00")  # 120 + 70 waiting + 90 failed
    assert (first.xero_count, first.xero_total, first.pending) == (1, "0.00", 1)  # voided: 0
    other = totals[("L2", "2025-03-02", "invoice")]
    assert (other.host_count, other.host_total, other.xero_count, other.xero_total) == (
        1,
        "50.00",
        1,
        "50.00",
    )
    payments = totals[("L1", "2025-03-01", "payment")]
    assert (payments.host_total, payments.xero_total) == ("100.00", "100.00")
    assert ("L1", "2025-03-01", "contact") not in totals  # a contact has no day


def test_kinds_not_read_back_show_host_totals_and_are_named() -> None:
    rows = book()
    deposit = {"id": "dep1", "number": 1, "client_id": "cl1", "amount": "40.00",
               "paid_date": "2025-03-01", "allocations": []}  # fmt: skip
    rows.append(row(6, "deposit", "dep1", deposit, xero_id="pre-1"))
    rows.append(row(7, "payout", "po1", {"id": "po1", "amount": "95.00", "fees": "5.00"},
                    xero_id="bt-1"))  # fmt: skip
    rows.append(row(8, "payout_fee", "po1", {"id": "po1", "amount": "95.00", "fees": "5.00"},
                    xero_id="sp-1"))  # fmt: skip
    books = compare(rows)
    assert books.kinds_not_checked == ["deposit", "payout_fee", "payout"]
    totals = {t.kind: t for t in books.totals}
    assert (totals["deposit"].host_total, totals["deposit"].checked) == ("40.00", False)
    assert (totals["payout_fee"].host_total, totals["payout"].host_total) == ("5.00", "95.00")
    assert totals["invoice"].checked is True
    assert books.differences == []


def test_a_record_in_xero_not_read_yet_is_counted_not_read() -> None:
    rows = book()
    rows.append(row(6, "invoice", "inv13", invoice(13), xero_id="i-unread"))
    books = compare(rows)
    day = next(t for t in books.totals if t.kind == "invoice")
    assert (books.not_read, day.not_read, day.host_count, day.xero_count) == (1, 1, 2, 1)
    assert books.differences == []
