"""A small book for the reconciliation's tests: ledger rows as the intake writes them (Ann Lee,
invoice 12 paid by payment 5, credit note 3 applied to it) and Xero's copies of them in the
design's summary shapes (docs/reconciliation.md), so a test changes one side and reads what
the comparison says."""

from __future__ import annotations

import copy as _copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pm_xero_plugin.core.books import TenantBooks
from pm_xero_plugin.core.differences import Comparison
from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.types import BooksMark, XeroCopy

TENANT = "T1"
READ_AT = datetime(2025, 3, 2, tzinfo=UTC)
CONTACT_X = "c0000000-0000-0000-0000-000000000001"
INVOICE_X = "i0000000-0000-0000-0000-000000000012"
INVOICE2_X = "i0000000-0000-0000-0000-000000000013"
PAYMENT_X = "p0000000-0000-0000-0000-000000000005"
NOTE_X = "n0000000-0000-0000-0000-000000000003"
OVER_X = "o0000000-0000-0000-0000-000000000007"


def row(
    row_id: int,
    kind: str,
    host_id: str,
    payload: dict[str, Any],
    *,
    state: str = "synced",
    xero_id: str | None = None,
    doc_date: str | None = "2025-03-01",
    number: int | None = None,
    dep_invoice: str | None = None,
    payload_hash: str | None = None,
    location_id: str = "L1",
    operation: str = "create",
) -> Row:
    """A ledger row (the fields the comparison reads; the rest as a fresh row has them)."""
    return Row(
        id=row_id,
        kind=kind,
        host_id=host_id,
        tenant_id=TENANT,
        location_id=location_id,
        state=state,
        gate=None,
        detail=None,
        doc_date=doc_date,
        number=number if number is not None else payload.get("number"),
        dep_contact=payload.get("client_id"),
        dep_invoice=dep_invoice,
        dep_credit_note=None,
        include_before_start=False,
        payload=payload,
        payload_hash=payload_hash or f"hash-{kind}-{host_id}",
        operation=operation,
        pending_op=None,
        xero_id=xero_id,
        attempts=0,
        next_at=None,
        lease_until=None,
        uncertain=False,
        message=None,
        field=None,
        hint=None,
        updated_at=None,
    )


def ann() -> dict[str, Any]:
    return {
        "id": "cl1",
        "number": 42,
        "location_id": "L1",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
    }


def invoice(number: int = 12, total: str = "120.00", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"inv{number}",
        "number": number,
        "location_id": "L1",
        "client_id": "cl1",
        "date": "2025-03-01",
        "due_date": "2025-03-15",
        "total": total,
        "status": "open",
        **extra,
    }


def payment(amount: str = "100.00", parts: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "id": "pay5",
        "number": 5,
        "location_id": "L1",
        "client_id": "cl1",
        "paid_date": "2025-03-01",
        "amount": amount,
        "method": "card",
        "allocations": [
            {"invoice_id": i, "amount": a} for i, a in (parts or (("inv12", "100.00"),))
        ],
    }


def credit_note() -> dict[str, Any]:
    return {
        "id": "cn3",
        "number": 3,
        "location_id": "L1",
        "client_id": "cl1",
        "date": "2025-03-01",
        "total": "20.00",
        "invoice_id": "inv12",
    }


def book() -> list[Row]:
    """Ann Lee; INV12 120.00, paid 100.00 by PAY5 and credited 20.00 by CN3; all in Xero."""
    return [
        row(1, "contact", "cl1", ann(), xero_id=CONTACT_X, doc_date=None),
        row(2, "invoice", "inv12", invoice(), xero_id=INVOICE_X),
        row(3, "credit_note", "cn3", credit_note(), xero_id=NOTE_X),
        row(4, "allocation", "cn3", credit_note(), xero_id=NOTE_X, dep_invoice="inv12"),
        row(5, "payment", "pay5:inv12", payment(), xero_id=PAYMENT_X, dep_invoice="inv12"),
    ]


def summaries() -> dict[str, dict[str, dict[str, Any]]]:
    """Xero's side of :func:`book`, exactly as it should be."""
    return {
        "contact": {
            CONTACT_X: {
                "name": "Ann Lee (C42)",
                "email": "ann@example.com",
                "number": "C42",
                "status": "ACTIVE",
                "merged_to": None,
            }
        },
        "invoice": {
            INVOICE_X: {
                "number": "INV12",
                "contact_id": CONTACT_X,
                "date": "2025-03-01",
                "status": "PAID",
                "total": "120.00",
                "amount_paid": "100.00",
                "amount_credited": "20.00",
                "amount_due": "0.00",
                "payments": {PAYMENT_X: "100.00"},
                "credits": {NOTE_X: "20.00"},
                "overpayments": {},
                "prepayments": {},
            }
        },
        "credit_note": {
            NOTE_X: {
                "number": "CN3",
                "contact_id": CONTACT_X,
                "date": "2025-03-01",
                "status": "PAID",
                "total": "20.00",
                "remaining": "0.00",
                "allocations": {INVOICE_X: "20.00"},
            }
        },
        "payment": {
            PAYMENT_X: {
                "invoice_id": INVOICE_X,
                "amount": "100.00",
                "date": "2025-03-01",
                "status": "AUTHORISED",
                "reference": "PAY5",
                "payment_type": "ACCRECPAYMENT",
            }
        },
    }


def copies_of(
    summaries_by_kind: dict[str, dict[str, dict[str, Any]]], gone: tuple[str, ...] = ()
) -> dict[str, dict[str, XeroCopy]]:
    """The copies a read would keep (``gone``: Xero ids it answered 404 for)."""
    return {
        kind: {
            xid: XeroCopy(TENANT, kind, xid, _copy.deepcopy(s), None, READ_AT, gone=xid in gone)
            for xid, s in by_id.items()
        }
        for kind, by_id in summaries_by_kind.items()
    }


def compare(
    rows: list[Row],
    xero: dict[str, dict[str, dict[str, Any]]] | None = None,
    *,
    gone: tuple[str, ...] = (),
    marks: list[BooksMark] | None = None,
    tolerance: str = "0.02",
    prefixes: Prefixes | None = None,
    page: int = 2,
) -> TenantBooks:
    """The comparison of ``rows`` (fed in pages of ``page``) with ``xero``."""
    comparison = Comparison(
        TENANT,
        copies=copies_of(summaries() if xero is None else xero, gone),
        marks=marks or [],
        tolerance=Decimal(tolerance),
        prefixes=prefixes or Prefixes(),
    )
    for start in range(0, len(rows), page):
        comparison.add(rows[start : start + page])
    return comparison.finish()


def found(books: TenantBooks) -> list[tuple[str, str]]:
    """``(label, difference)`` of every difference, in the report's order."""
    return [(d.label, d.difference) for d in books.differences]
