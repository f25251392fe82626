"""Host records → Xero Accounting payloads: pure functions, no I/O.

Each function takes one host record (the shapes in :mod:`hookspecs.records`, already validated by
the plugin's schemas – but amounts and dates are still parsed defensively here), the
:class:`OrgMapping` of the target organisation and the Xero ids the payload refers to, and returns
one JSON-ready element for the matching endpoint. The caller wraps elements in their collection
(``{"Invoices": [...]}``) and sends them; nothing here knows about HTTP, the ledger or pluggy.

Anything the admin must fix – an unmapped tax rate, a missing account code, a total Xero would
compute differently by more than the tolerance – raises :class:`MappingError` naming the record,
the field and what to do. Those are settings or data problems: retrying cannot help.

Every payload kind is checked against Xero's official OpenAPI spec in
``tests/mapping/test_payloads_match_xero_spec.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pm_xero_plugin.mapping.config import (
    DEFAULT_PREFIXES,
    DEFAULT_ROUNDING_TOLERANCE,
    MappingError,
    OrgMapping,
    Prefixes,
    Tracking,
    tax_rate_key,
)
from pm_xero_plugin.mapping.money import (
    TaxLine,
    expected_total,
    line_amount,
    line_tax,
    normalise_line_amount_types,
    quantize_money,
    quantize_quantity,
    to_decimal,
)
from pm_xero_plugin.mapping.schemas import (
    AllocationPayloadSchema,
    BankTransactionPayloadSchema,
    ContactPayloadSchema,
    CreditNotePayloadSchema,
    InvoicePayloadSchema,
    PaymentDeletePayloadSchema,
    PaymentPayloadSchema,
)
from pm_xero_plugin.xero.responses import (
    RESPONSE_SCHEMAS,
    parse_elements,
)

__all__ = [
    "DEFAULT_PREFIXES",
    "DEFAULT_ROUNDING_TOLERANCE",
    "MAX_DESCRIPTION",
    "RESPONSE_SCHEMAS",
    "MappingError",
    "OrgMapping",
    "Prefixes",
    "TaxLine",
    "Tracking",
    "contact_name",
    "contact_payload",
    "credit_note_allocation_payload",
    "credit_note_payload",
    "delete_payment_payload",
    "expected_total",
    "invoice_payload",
    "line_amount",
    "line_tax",
    "overpayment_allocation_payload",
    "overpayment_excess",
    "overpayment_payload",
    "parse_elements",
    "payment_payload",
    "payment_reference",
    "tax_rate_key",
    "void_invoice_payload",
    "xero_number",
]

MAX_DESCRIPTION = 4000
"""Xero refuses line descriptions longer than this."""
_MAX_NAME = 255
_MAX_REFERENCE = 255
_MAX_PHONE = 50
_ADDRESS_PARTS = (  # (payload key, host key, Xero's max length)
    ("address_line1", "line1", 500),
    ("address_line2", "line2", 500),
    ("city", "city", 255),
    ("region", "region", 255),
    ("postal_code", "postcode", 50),
    ("country", "country", 50),
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# --- small helpers: numbers, labels, parsing that fails as MappingError ----------------------


def xero_number(prefix: str, number: object) -> str:
    """The prefixed number Xero sees (``INV121``): the dedupe key for every document."""
    if isinstance(number, bool) or not isinstance(number, int | str):
        raise MappingError("number", f"record number {number!r} is not a number")
    text = str(number).strip()
    if not (text.isascii() and text.isdigit()):
        raise MappingError("number", f"record number {number!r} is not a number")
    return f"{prefix}{int(text)}"


def payment_reference(payment: Mapping[str, Any], m: OrgMapping) -> str:
    """``PAY12``: the Xero ``Reference`` that finds a payment (and its overpayment) again."""
    return xero_number(m.prefixes.payment, payment.get("number"))


def _amount(where: str, field: str, value: object) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise MappingError(
            field,
            f"{where}: {field} {value!r} is not an amount; correct the record in Pet Manager",
        ) from None


def _date(where: str, field: str, value: object) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(
            field,
            f"{where}: {field} {value!r} is not a YYYY-MM-DD date; correct it in Pet Manager",
        ) from None


def _positive(where: str, field: str, value: object) -> Decimal:
    amount = quantize_money(_amount(where, field, value))
    if amount <= 0:
        raise MappingError(
            field, f"{where}: {field} {amount} must be more than zero; Xero accepts no other"
        )
    return amount


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _currency(record: Mapping[str, Any], m: OrgMapping, where: str) -> str:
    code = m.currency or str(record.get("currency") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise MappingError(
            "currency",
            f"{where}: currency {record.get('currency')!r} is not a 3-letter ISO 4217 code; "
            "set the location's currency in Pet Manager or the currency in the Xero settings",
        )
    return code


def _tracking(m: OrgMapping) -> list[dict[str, str]] | None:
    if m.tracking is None:
        return None
    return [{"name": m.tracking.name, "option": m.tracking.option}]


def _line_amount_types(record: Mapping[str, Any], where: str) -> str:
    try:
        return normalise_line_amount_types(str(record.get("line_amount_types") or ""))
    except ValueError:
        raise MappingError(
            "line_amount_types",
            f"{where}: line_amount_types {record.get('line_amount_types')!r} is not "
            "exclusive, inclusive or no_tax; correct the record in Pet Manager",
        ) from None


def _tax_type(m: OrgMapping, rate: object, where: str) -> str:
    try:
        key = tax_rate_key(rate)
    except ValueError:
        raise MappingError(
            "tax_rate",
            f"{where}: tax_rate {rate!r} is not a percentage; correct the record in Pet Manager",
        ) from None
    tax_type = m.tax_types.get(key)
    if not tax_type:
        raise MappingError(
            "account_codes.tax_types",
            f"{where}: tax rate {key}% has no Xero tax type for organisation {m.tenant_id}; "
            f'map "{key}" to a Xero tax type in the Xero settings (Account codes → Tax types)',
        )
    return tax_type


def _required_code(code: str | None, setting: str, what: str, where: str, m: OrgMapping) -> str:
    """The mapped account code, or a MappingError saying which mapping to fill in."""
    if not code:
        raise MappingError(
            f"account_codes.{setting}",
            f"{where}: no account code is mapped for {what} in Xero organisation "
            f"{m.tenant_id}; choose one in the Xero settings (Account codes)",
        )
    return code


def _payment_account(m: OrgMapping, method: str, where: str) -> str:
    label = method.replace("_", " ") or "(no method)"
    return _required_code(
        m.payments.get(method), f"payments.{method}", f"{label} payments", where, m
    )


# --- documents: lines, totals, rounding --------------------------------------------------------


def _description(line: Mapping[str, Any]) -> str:
    text = _text(line.get("description"), MAX_DESCRIPTION)
    return text or str(line.get("category") or "Item").replace("_", " ").capitalize()


def _document_lines(
    record: Mapping[str, Any],
    m: OrgMapping,
    *,
    where: str,
    kind: str,
    line_amount_types: str,
) -> tuple[list[dict[str, Any]], list[TaxLine]]:
    """Payload lines plus the same lines as Xero will total them.

    Invoices carry ``DiscountRate``; credit notes cannot (Xero ignores discounts there), so a
    discounted credit-note line is sent as one unit of its discounted amount, with the original
    quantity, price and discount kept in the description.
    """
    raw_lines: Sequence[Mapping[str, Any]] = record.get("lines") or []
    if not raw_lines:
        raise MappingError(
            "lines",
            f"{where} has no lines and Xero needs at least one; add a line in Pet Manager "
            "or exclude the record from sync",
        )
    taxed = line_amount_types != "NoTax"
    items: list[dict[str, Any]] = []
    tax_lines: list[TaxLine] = []
    for index, line in enumerate(raw_lines, start=1):
        at = f"{where} line {index}"
        quantity = quantize_quantity(_amount(at, "quantity", line.get("quantity")))
        unit = quantize_money(_amount(at, "unit_price", line.get("unit_price")))
        discount = _amount(at, "discount_rate", line.get("discount_rate") or "0")
        if not 0 <= discount <= 100:
            raise MappingError(
                "discount_rate",
                f"{at}: discount_rate {discount}% is outside 0–100; correct it in Pet Manager",
            )
        raw_rate = line.get("tax_rate")
        rate = _amount(at, "tax_rate", raw_rate or "0") if taxed else Decimal(0)
        description = _description(line)
        if kind == "invoice":
            category = str(line.get("category") or "")
            code = m.income.get(category) or m.default_income
            account = _required_code(
                code,
                "income.default",
                f"{category or 'uncategorised'} income (or the default)",
                at,
                m,
            )
        else:
            account = _required_code(m.credit_notes, "credit_notes", "credit notes", at, m)
        if kind == "credit_note" and discount:
            amount = line_amount(TaxLine(quantity, unit, discount, rate))
            detail = f" ({quantity.normalize():f} × {unit} less {discount.normalize():f}%)"
            description = (description[: MAX_DESCRIPTION - len(detail)]) + detail
            quantity, unit, discount = Decimal(1), amount, Decimal(0)
        tax_lines.append(TaxLine(quantity, unit, discount, rate))
        items.append(
            {
                "description": description,
                "quantity": quantity,
                "unit_amount": unit,
                "discount_rate": discount if discount else None,
                "account_code": account,
                "tax_type": _tax_type(m, raw_rate, at) if taxed else None,
                "tracking": _tracking(m),
            }
        )
    return items, tax_lines


def _rounding_line(
    record: Mapping[str, Any],
    m: OrgMapping,
    tax_lines: list[TaxLine],
    *,
    where: str,
    line_amount_types: str,
) -> dict[str, Any] | None:
    """A line that brings Xero's per-line-rounded total to the host's total, if one is needed.

    Xero rounds tax line by line; the host may round once per document. A difference within the
    admin's tolerance goes to the rounding account at a zero tax type; a bigger one means the
    record and the settings disagree (a wrong tax mapping, a bad line), so it is an error.
    """
    host_total = quantize_money(_amount(where, "total", record.get("total")))
    computed = expected_total(tax_lines, line_amount_types)
    difference = host_total - computed
    if difference == 0:
        return None
    if abs(difference) > m.rounding_tolerance:
        raise MappingError(
            "total",
            f"{where}: Pet Manager's total {host_total} differs from the total Xero will compute "
            f"from the lines, {computed}, by {difference} – more than the rounding tolerance "
            f"{m.rounding_tolerance}; check the lines and tax rates of the record in Pet Manager "
            "and the tax type mapping, or raise the rounding tolerance in the Xero settings",
        )
    account = _required_code(
        m.rounding, "rounding", f"rounding (needed for {difference})", where, m
    )
    tax_type = None
    if line_amount_types != "NoTax":
        tax_type = m.rounding_tax_type or m.tax_types.get("0")
        if not tax_type:
            raise MappingError(
                "account_codes.tax_types",
                f"{where}: a rounding line of {difference} needs a zero-rated Xero tax type; "
                'map "0" (or "rounding") to one in the Xero settings (Account codes → Tax types)',
            )
    return {
        "description": "Rounding",
        "quantity": Decimal(1),
        "unit_amount": difference,
        "account_code": account,
        "tax_type": tax_type,
        "tracking": _tracking(m),
    }


# --- public payload builders ---------------------------------------------------------------------


def contact_name(client: Mapping[str, Any], m: OrgMapping) -> str:
    """``Jane Smith (C42)``: Xero refuses two active contacts with one name, so the number is
    part of it (and the name is cut, never the number, to fit Xero's 255 characters)."""
    suffix = f" ({xero_number(m.prefixes.client, client.get('number'))})"
    parts = [str(client.get(key) or "").strip() for key in ("first_name", "last_name")]
    core = " ".join(part for part in parts if part) or "Customer"
    return core[: _MAX_NAME - len(suffix)].rstrip() + suffix


def contact_payload(
    client: Mapping[str, Any], m: OrgMapping, *, contact_id: str | None = None
) -> dict[str, Any]:
    """An element of ``PUT /Contacts`` (create) or, with ``contact_id``, ``POST /Contacts``.

    An email Xero would refuse (not an address, non-ASCII) is left out rather than blocking the
    contact – and every document of that customer with it; a phone longer than Xero's 50
    characters likewise.
    """
    number = xero_number(m.prefixes.client, client.get("number"))
    email = _text(client.get("email"), _MAX_NAME)
    if email and not (email.isascii() and _EMAIL.match(email)):
        email = None
    phone = str(client.get("phone") or "").strip()
    phones = (
        [{"phone_type": "DEFAULT", "phone_number": phone}]
        if phone and len(phone) <= _MAX_PHONE
        else None
    )
    raw_address = client.get("address") or {}
    address = {key: _text(raw_address.get(source), limit) for key, source, limit in _ADDRESS_PARTS}
    addresses = (
        [{"address_type": "POBOX", **address}]
        if any(value is not None for value in address.values())
        else None
    )
    data = {
        "contact_id": contact_id,
        "contact_number": number,
        "name": contact_name(client, m),
        "first_name": _text(client.get("first_name"), _MAX_NAME),
        "last_name": _text(client.get("last_name"), _MAX_NAME),
        "email_address": email,
        "phones": phones,
        "addresses": addresses,
    }
    payload: dict[str, Any] = ContactPayloadSchema().dump(data)
    return payload


def invoice_payload(
    invoice: Mapping[str, Any],
    m: OrgMapping,
    *,
    contact_id: str,
    xero_invoice_id: str | None = None,
) -> dict[str, Any]:
    """An element of ``PUT /Invoices`` (create) or, with ``xero_invoice_id``, ``POST /Invoices``
    (update of a sent invoice: Xero replaces the lines).

    ACCREC, AUTHORISED (so payments can be applied), numbered ``INV121``; each line to the income
    account of its category (the default when unmapped) with the tax type of its rate; plus a
    rounding line when Xero's per-line tax rounding would miss the host's total.
    """
    number = xero_number(m.prefixes.invoice, invoice.get("number"))
    where = f"invoice {number}"
    kind = _line_amount_types(invoice, where)
    items, tax_lines = _document_lines(
        invoice, m, where=where, kind="invoice", line_amount_types=kind
    )
    rounding = _rounding_line(invoice, m, tax_lines, where=where, line_amount_types=kind)
    if rounding is not None:
        items.append(rounding)
    data = {
        "invoice_id": xero_invoice_id,
        "type": "ACCREC",
        "contact": {"contact_id": contact_id},
        "invoice_number": number,
        "reference": _text(invoice.get("reference"), _MAX_REFERENCE),
        "date": _date(where, "date", invoice.get("date")),
        "due_date": _date(where, "due_date", invoice.get("due_date")),
        "line_amount_types": kind,
        "status": "AUTHORISED",
        "currency_code": _currency(invoice, m, where),
        "line_items": items,
    }
    payload: dict[str, Any] = InvoicePayloadSchema().dump(data)
    return payload


def void_invoice_payload(xero_invoice_id: str, number: int, m: OrgMapping) -> dict[str, Any]:
    """An element of ``POST /Invoices`` that voids a sent invoice (Xero refuses it once paid)."""
    data = {
        "invoice_id": xero_invoice_id,
        "invoice_number": xero_number(m.prefixes.invoice, number),
        "status": "VOIDED",
    }
    payload: dict[str, Any] = InvoicePayloadSchema().dump(data)
    return payload


def credit_note_payload(
    credit_note: Mapping[str, Any], m: OrgMapping, *, contact_id: str
) -> dict[str, Any]:
    """An element of ``PUT /CreditNotes``: ACCRECCREDIT ``CN7``, AUTHORISED, every line to the
    credit-notes account (the admin maps one), the reason as ``Reference``. Applying it to its
    invoice is a separate call: :func:`credit_note_allocation_payload`."""
    number = xero_number(m.prefixes.credit_note, credit_note.get("number"))
    where = f"credit note {number}"
    kind = _line_amount_types(credit_note, where)
    items, tax_lines = _document_lines(
        credit_note, m, where=where, kind="credit_note", line_amount_types=kind
    )
    rounding = _rounding_line(credit_note, m, tax_lines, where=where, line_amount_types=kind)
    if rounding is not None:
        items.append(rounding)
    data = {
        "type": "ACCRECCREDIT",
        "contact": {"contact_id": contact_id},
        "credit_note_number": number,
        "reference": _text(credit_note.get("reason"), _MAX_REFERENCE),
        "date": _date(where, "date", credit_note.get("date")),
        "line_amount_types": kind,
        "status": "AUTHORISED",
        "currency_code": _currency(credit_note, m, where),
        "line_items": items,
    }
    payload: dict[str, Any] = CreditNotePayloadSchema().dump(data)
    return payload


def credit_note_allocation_payload(
    credit_note: Mapping[str, Any],
    *,
    invoice_id: str,
    amount: object = None,
    date: object = None,
    invoice_date: object = None,
) -> dict[str, Any]:
    """An element of ``PUT /CreditNotes/{CreditNoteID}/Allocations``.

    ``amount`` defaults to the credit note's total: a host credit note against an invoice
    applies all of it there. ``date`` defaults to the date Xero gives the allocation whatever it
    is sent – the later of the credit note's date and ``invoice_date`` (the invoice's) – so what
    we send is what Xero books, and a credit note in a locked period applied to an invoice in an
    open one is dated in the open period.
    """
    where = f"credit note {credit_note.get('number')}"
    when = _date(where, "date", credit_note.get("date") if date is None else date)
    if date is None and invoice_date is not None:
        when = max(when, _date(where, "invoice date", invoice_date))
    data = {
        "invoice": {"invoice_id": invoice_id},
        "amount": _positive(
            where, "amount", credit_note.get("total") if amount is None else amount
        ),
        "date": when,
    }
    payload: dict[str, Any] = AllocationPayloadSchema().dump(data)
    return payload


def payment_payload(
    payment: Mapping[str, Any],
    allocation: Mapping[str, Any],
    m: OrgMapping,
    *,
    invoice_id: str,
) -> dict[str, Any]:
    """An element of ``PUT /Payments``: one allocation of a host payment to one Xero invoice.

    The bank (or clearing) account comes from the payment method; ``Reference`` is ``PAY12`` on
    every allocation of payment 12, which is how an ambiguous send is found again.
    """
    reference = payment_reference(payment, m)
    where = f"payment {reference}"
    method = str(payment.get("method") or "")
    account = _payment_account(m, method, where)
    data = {
        "invoice": {"invoice_id": invoice_id},
        "account": {"code": account},
        "date": _date(where, "paid_date", payment.get("paid_date")),
        "amount": _positive(where, "amount", allocation.get("amount")),
        "reference": reference,
    }
    payload: dict[str, Any] = PaymentPayloadSchema().dump(data)
    return payload


def overpayment_excess(payment: Mapping[str, Any], m: OrgMapping | None = None) -> Decimal:
    """What a payment leaves over after its allocations (zero when it pays exactly).

    :raises MappingError: when the allocations add up to more than was received.
    """
    label = payment_reference(payment, m) if m else str(payment.get("number"))
    where = f"payment {label}"
    received = quantize_money(_amount(where, "amount", payment.get("amount")))
    allocated = sum(
        (
            quantize_money(_amount(where, "allocations.amount", item.get("amount")))
            for item in payment.get("allocations") or []
        ),
        Decimal("0.00"),
    )
    excess = received - allocated
    if excess < 0:
        raise MappingError(
            "allocations",
            f"{where}: its allocations add up to {allocated}, more than the {received} received; "
            "correct the payment in Pet Manager",
        )
    return excess


def overpayment_payload(
    payment: Mapping[str, Any], m: OrgMapping, *, contact_id: str
) -> dict[str, Any]:
    """An element of ``PUT /BankTransactions``: the unallocated excess of a payment as a
    RECEIVE-OVERPAYMENT into the method's bank account, one NoTax line. The line carries **no**
    account code: Xero posts an overpayment to the organisation's Accounts Receivable itself
    and refuses one ("Line items on an overpayment cannot have an account code."); the
    ``overpayments`` setting is checked against the chart so the admin sees where it lands. The
    reference ``PAY12`` is repeated in the line description because Xero documents
    ``Reference`` as supported only on plain SPEND/RECEIVE transactions."""
    reference = payment_reference(payment, m)
    where = f"payment {reference}"
    excess = overpayment_excess(payment, m)
    if excess <= 0:
        raise MappingError(
            "amount",
            f"{where} has no overpayment: its allocations use the whole {payment.get('amount')}",
        )
    method = str(payment.get("method") or "")
    bank = _payment_account(m, method, where)
    data = {
        "type": "RECEIVE-OVERPAYMENT",
        "contact": {"contact_id": contact_id},
        "bank_account": {"code": bank},
        "line_items": [
            {
                "description": f"Overpayment on payment {reference}",
                "quantity": Decimal(1),
                "unit_amount": excess,
                "line_amount": excess,
                "tracking": _tracking(m),
            }
        ],
        "line_amount_types": "NoTax",
        "date": _date(where, "paid_date", payment.get("paid_date")),
        "reference": reference,
        "currency_code": _currency(payment, m, where),
    }
    payload: dict[str, Any] = BankTransactionPayloadSchema().dump(data)
    return payload


def overpayment_allocation_payload(
    payment: Mapping[str, Any],
    *,
    invoice_id: str,
    amount: object,
    date: object = None,
) -> dict[str, Any]:
    """An element of ``PUT /Overpayments/{OverpaymentID}/Allocations``: apply (part of) a
    customer's overpayment credit to an invoice; ``date`` defaults to the payment's date."""
    where = f"payment {payment.get('number')}"
    data = {
        "invoice": {"invoice_id": invoice_id},
        "amount": _positive(where, "amount", amount),
        "date": _date(where, "date", payment.get("paid_date") if date is None else date),
    }
    payload: dict[str, Any] = AllocationPayloadSchema().dump(data)
    return payload


def delete_payment_payload() -> dict[str, Any]:
    """The body of ``POST /Payments/{PaymentID}``: Xero payments cannot be edited, only deleted
    (and then re-created) – this is also how a voided host payment reaches Xero."""
    payload: dict[str, Any] = PaymentDeletePayloadSchema().dump({"status": "DELETED"})
    return payload
