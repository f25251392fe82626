"""Xero's version of a document, reduced to what a reconciliation compares.

A reconciliation keeps, per document the add-on sent, Xero's version of it as a
:class:`~pm_xero_plugin.ledger.types.XeroCopy`. Keeping Xero's whole element would cost space at
50,000 documents and tie every comparison to Xero's wire format (``/Date(…)/`` dates, numbers
as floats, ids in any case); so a copy holds a *summary*, the same shape whether the element
came from a read (``GET /Invoices``) or from Xero's answer to the add-on's own write, with
amounts as decimal strings of 2 places, dates ``YYYY-MM-DD`` and ids lower case. The shapes are
fixed in docs/reconciliation.md ("Xero copy summaries"): :mod:`pm_xero_plugin.core.differences`
reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from pm_xero_plugin.xero.dates import parse_xero_date, parse_xero_datetime

__all__ = ["COPY_KINDS", "summarise", "updated_utc"]

COPY_KINDS: Final = ("contact", "invoice", "credit_note", "payment", "overpayment")
"""The kinds Xero's side is read back for (the others show host totals only)."""

_CENT = Decimal("0.01")


def summarise(kind: str, element: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The summary of one Xero element of ``kind`` and its ``UpdatedDateUTC`` (ISO, UTC, or
    ``None`` when Xero gave none).

    :raises ValueError: for a kind that is not read back (see :data:`COPY_KINDS`).
    """
    summary = _SUMMARIES.get(kind)
    if summary is None:
        raise ValueError(f"no summary of Xero's {kind!r} (read back: {', '.join(COPY_KINDS)})")
    return summary(element), updated_utc(element)


def updated_utc(element: Mapping[str, Any]) -> str | None:
    """An element's ``UpdatedDateUTC`` as ISO text in UTC (milliseconds kept: a webhook's
    ``eventDateUtc`` is compared with it), ``None`` when absent or unreadable."""
    raw = element.get("UpdatedDateUTC")
    if not raw:
        return None
    try:
        moment = parse_xero_datetime(str(raw))
    except ValueError:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _contact(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(e.get("Name")),
        "email": _text(e.get("EmailAddress")),
        "number": _text(e.get("ContactNumber")),
        "status": _text(e.get("ContactStatus")) or "ACTIVE",
        "merged_to": _id(e.get("MergedToContactID")),
    }


def _invoice(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": _text(e.get("InvoiceNumber")),
        "contact_id": _nested_id(e.get("Contact"), "ContactID"),
        "date": _date(e.get("Date")),
        "status": _text(e.get("Status")),
        "total": _amount(e.get("Total")),
        "amount_paid": _amount(e.get("AmountPaid")),
        "amount_credited": _amount(e.get("AmountCredited")),
        "amount_due": _amount(e.get("AmountDue")),
        "payments": _applied(e.get("Payments"), "PaymentID", "Amount"),
        "credits": _applied(e.get("CreditNotes"), "CreditNoteID", "AppliedAmount"),
        "overpayments": _applied(e.get("Overpayments"), "OverpaymentID", "AppliedAmount"),
        "prepayments": _applied(e.get("Prepayments"), "PrepaymentID", "AppliedAmount"),
    }


def _credit_note(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": _text(e.get("CreditNoteNumber")),
        "contact_id": _nested_id(e.get("Contact"), "ContactID"),
        "date": _date(e.get("Date")),
        "status": _text(e.get("Status")),
        "total": _amount(e.get("Total")),
        "remaining": _amount(e.get("RemainingCredit")),
        "allocations": _allocations(e.get("Allocations")),
    }


def _payment(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "invoice_id": _nested_id(e.get("Invoice"), "InvoiceID"),
        "amount": _amount(e.get("Amount")),
        "date": _date(e.get("Date")),
        "status": _text(e.get("Status")) or "AUTHORISED",
        "reference": _text(e.get("Reference")),
        "payment_type": _text(e.get("PaymentType")),
    }


def _overpayment(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "contact_id": _nested_id(e.get("Contact"), "ContactID"),
        "date": _date(e.get("Date")),
        "status": _text(e.get("Status")),
        "total": _amount(e.get("Total")),
        "remaining": _amount(e.get("RemainingCredit")),
        "allocations": _allocations(e.get("Allocations")),
    }


_SUMMARIES = {
    "contact": _contact,
    "invoice": _invoice,
    "credit_note": _credit_note,
    "payment": _payment,
    "overpayment": _overpayment,
}


# -- values -------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Text, ``None`` when absent or blank (a blank email is no email)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _id(value: Any) -> str | None:
    """A Xero id in lower case (Xero answers them in either case); the all-zero id of a contact
    never merged is no id."""
    text = _text(value)
    if text is None or set(text.replace("-", "")) == {"0"}:
        return None
    return text.lower()


def _nested_id(value: Any, field: str) -> str | None:
    return _id(value.get(field)) if isinstance(value, Mapping) else None


def _amount(value: Any) -> str | None:
    """A decimal string of 2 places (Xero's floats read through their text: ``0.1`` stays
    ``0.10``); ``None`` when absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return str(number.quantize(_CENT, ROUND_HALF_UP))


def _date(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a Xero date (``/Date(…)/`` or ISO), no local zone applied."""
    text = _text(value)
    if text is None:
        return None
    try:
        return parse_xero_date(text).isoformat()
    except ValueError:
        return None


def _applied(items: Any, id_field: str, amount_field: str) -> dict[str, str]:
    """``{id: amount}`` of an invoice's payments or credits applied (summed per id)."""
    out: dict[str, Decimal] = {}
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        ident = _id(item.get(id_field))
        amount = _amount(item.get(amount_field))
        if ident is None or amount is None:
            continue
        out[ident] = out.get(ident, Decimal(0)) + Decimal(amount)
    return {k: str(v.quantize(_CENT)) for k, v in sorted(out.items())}


def _allocations(items: Any) -> dict[str, str]:
    """``{InvoiceID: amount}`` of a credit's allocations, summed per invoice."""
    out: dict[str, Decimal] = {}
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        ident = _nested_id(item.get("Invoice"), "InvoiceID")
        amount = _amount(item.get("Amount"))
        if ident is None or amount is None:
            continue
        out[ident] = out.get(ident, Decimal(0)) + Decimal(amount)
    return {k: str(v.quantize(_CENT)) for k, v in sorted(out.items())}
