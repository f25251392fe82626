"""Refunds: money paid back out of a credit – a payment against a credit note, an overpayment or
a prepayment instead of an invoice.

Xero calls them payments of type ``ARCREDITPAYMENT``, ``AROVERPAYMENTPAYMENT`` and
``ARPREPAYMENTPAYMENT``: ``PUT /Payments`` with ``CreditNote``, ``Overpayment`` or ``Prepayment``
in the place of ``Invoice``. The money leaves the payment's ``Account``; the credit's
``RemainingCredit`` goes down (PAID at nothing left) and the refund is listed in its
``Payments``. Deleting the payment gives the credit back.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from .documents import Books, ElementError, money

__all__ = [
    "REFUND_SOURCES",
    "create_payment",
    "create_refund",
    "delete_payment",
    "refund_source",
]

#: request field -> (the organisation's store, id field, number field, what Xero calls it)
REFUND_SOURCES: dict[str, tuple[str, str, str | None, str]] = {
    "CreditNote": ("credit_notes", "CreditNoteID", "CreditNoteNumber", "Credit Note"),
    "Overpayment": ("overpayments", "OverpaymentID", None, "Overpayment"),
    "Prepayment": ("prepayments", "PrepaymentID", None, "Prepayment"),
}
_PAYMENT_TYPES = {
    "ACCRECCREDIT": "ARCREDITPAYMENT",
    "ACCPAYCREDIT": "APCREDITPAYMENT",
    "RECEIVE-OVERPAYMENT": "AROVERPAYMENTPAYMENT",
    "RECEIVE-PREPAYMENT": "ARPREPAYMENTPAYMENT",
}


def create_payment(books: Books, data: dict[str, Any]) -> dict[str, Any]:
    """``PUT /Payments``: a refund when the element names a credit instead of an invoice, else
    an invoice's payment."""
    field_name = refund_source(data)
    if field_name is None:
        return books.create_payment(data)
    return create_refund(books, field_name, data)


def refund_source(data: dict[str, Any]) -> str | None:
    """The credit a payment request draws on (``"CreditNote"`` …), or ``None`` for a payment
    of an invoice."""
    if data.get("Invoice"):
        return None
    return next((name for name in REFUND_SOURCES if data.get(name)), None)


def _source(books: Books, field_name: str, ref: Any) -> dict[str, Any]:
    """The credit note, overpayment or prepayment ``ref`` names by id (a credit note also by
    number)."""
    attr, id_key, num_key, label = REFUND_SOURCES[field_name]
    store: dict[str, dict[str, Any]] = getattr(books.org, attr)
    ref = ref if isinstance(ref, dict) else {}
    found = None
    if ref.get(id_key):
        found = store.get(str(ref[id_key]).lower())
    elif num_key and ref.get(num_key):
        found = next((d for d in store.values() if d.get(num_key) == ref[num_key]), None)
    if found is None:
        raise ElementError(f"{label} could not be found")
    return found


def _source_ref(field_name: str, source: dict[str, Any]) -> dict[str, Any]:
    """How the payment names the credit it pays out of."""
    _attr, id_key, num_key, _label = REFUND_SOURCES[field_name]
    ref = {id_key: source[id_key]}
    if num_key:
        ref[num_key] = source[num_key]
    return {
        **ref,
        "Type": source["Type"],
        "Contact": source["Contact"],
        "CurrencyCode": source["CurrencyCode"],
    }


def create_refund(books: Books, field_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Pay money back out of an authorised credit, every refusal reported together: at most
    what is left of it (Xero's "exceeds the amount outstanding" message)."""
    errors: list[str] = []
    source = acc = None
    try:
        source = _source(books, field_name, data.get(field_name))
    except ElementError as exc:
        errors += exc.messages
    try:
        acc = books.payment_account(data.get("Account"))
    except ElementError as exc:
        errors += exc.messages
    amount = money(data.get("Amount"))
    when = books.date_of(data.get("Date"), books.now.date())
    if amount <= 0:
        errors.append("Payment amount must be greater than zero")
    if source is not None:
        if source["Status"] != "AUTHORISED":
            errors.append("Payments can only be made against Authorised documents")
        elif amount > source["RemainingCredit"]:
            errors.append("Payment amount exceeds the amount outstanding on this document")
    if errors:
        raise ElementError(*errors)
    assert source is not None
    assert acc is not None
    books.check_lock(when, "payment")
    payment = {
        "PaymentID": str(uuid.uuid4()),
        "Date": when,
        "Amount": amount,
        "BankAmount": amount,
        "CurrencyRate": Decimal("1"),
        "Reference": data.get("Reference", ""),
        "IsReconciled": bool(data.get("IsReconciled", False)),
        "Status": "AUTHORISED",
        "PaymentType": _PAYMENT_TYPES[source["Type"]],
        "HasAccount": True,
        "HasValidationErrors": False,
        "Account": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
        field_name: _source_ref(field_name, source),
        "UpdatedDateUTC": books.now,
    }
    books.org.payments[payment["PaymentID"]] = payment
    source.setdefault("Payments", []).append(
        {
            "PaymentID": payment["PaymentID"],
            "Date": when,
            "Amount": amount,
            "Reference": payment["Reference"],
        }
    )
    _credit_change(source, field_name, -amount, books)
    return payment


def _credit_change(source: dict[str, Any], field_name: str, change: Decimal, books: Books) -> None:
    """Move a credit's remaining amount by `change` (a refund takes, its deletion gives back):
    PAID at nothing left, AUTHORISED again when something is."""
    source["RemainingCredit"] += change
    if field_name == "CreditNote":
        source["AmountPaid"] -= change
    if source["RemainingCredit"] == 0 and source["Status"] == "AUTHORISED":
        source["Status"] = "PAID"
    elif source["RemainingCredit"] > 0 and source["Status"] == "PAID":
        source["Status"] = "AUTHORISED"
    source["UpdatedDateUTC"] = books.now


def delete_payment(books: Books, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Delete a payment (Status DELETED) – a refund's amount goes back on the credit it came
    out of, an invoice payment's on the invoice; deleting twice is harmless."""
    payment = books.payment_to_delete(payment_id, data)
    field_name = next((name for name in REFUND_SOURCES if name in payment), None)
    if field_name is None:
        return books.delete_payment(payment_id, data)
    if payment["Status"] == "DELETED":
        return payment
    _attr, id_key, _num, _label = REFUND_SOURCES[field_name]
    source = _source(books, field_name, {id_key: payment[field_name][id_key]})
    books.check_lock(payment["Date"], "payment")
    source["Payments"] = [
        p for p in source.get("Payments", []) if p["PaymentID"] != payment["PaymentID"]
    ]
    _credit_change(source, field_name, payment["Amount"], books)
    payment["Status"] = "DELETED"
    payment["UpdatedDateUTC"] = books.now
    return payment
