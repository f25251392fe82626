"""Invoices and credit notes → Xero payloads: their lines, totals and rounding (pure).

Each line goes to the income account of its category (credit notes: the credit-notes account;
a gift voucher sold: the ``vouchers`` liability when one is set) with the tax type of its
rate; when Xero's line-by-line rounding would miss the host's total by no more than the admin's
tolerance, a rounding line makes up the difference. Every builder here
is checked against Xero's OpenAPI spec in ``tests/mapping/test_payloads_match_xero_spec.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pm_xero_plugin.inputs.fields import MAX_DESCRIPTION
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.money import (
    TaxLine,
    expected_total,
    line_amount,
    quantize_money,
    quantize_quantity,
)
from pm_xero_plugin.mapping.schemas import (
    AllocationPayloadSchema,
    CreditNotePayloadSchema,
    InvoicePayloadSchema,
)
from pm_xero_plugin.mapping.values import (
    clip_text,
    currency_for,
    line_amount_types_for,
    parse_amount,
    parse_date,
    positive_amount,
    required_code,
    tax_type_for,
    tracking_for,
    xero_number,
)

__all__ = [
    "credit_note_allocation_payload",
    "credit_note_payload",
    "invoice_payload",
    "void_invoice_payload",
]

_MAX_REFERENCE = 255


def _description(line: Mapping[str, Any]) -> str:
    text = clip_text(line.get("description"), MAX_DESCRIPTION, multiline=True)  # Xero keeps lines
    return text or str(line.get("category") or "Item").replace("_", " ").capitalize()


def _line_account(line: Mapping[str, Any], m: OrgMapping, *, kind: str, where: str) -> str:
    """The account a line is coded to: a gift voucher sold (or credited back) to the
    ``vouchers`` liability when one is set – it is owed to the customer until redeemed, not
    earned – else an invoice line to its category's income account (or the default), a credit
    note's to the credit-notes account."""
    category = str(line.get("category") or "")
    if category == "voucher" and m.vouchers:
        return m.vouchers
    if kind == "invoice":
        return required_code(
            m.income.get(category) or m.default_income,
            "income.default",
            f"{category or 'uncategorised'} income (or the default)",
            where,
            m,
        )
    return required_code(m.credit_notes, "credit_notes", "credit notes", where, m)


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
        quantity = quantize_quantity(parse_amount(at, "quantity", line.get("quantity")))
        # Up to 4 decimals, as Xero keeps them when asked with ``unitdp=4`` (the client asks
        # whenever a price needs it); the line's amount is still rounded to the cent.
        unit = quantize_quantity(parse_amount(at, "unit_price", line.get("unit_price")))
        discount = parse_amount(at, "discount_rate", line.get("discount_rate") or "0")
        if not 0 <= discount <= 100:
            raise MappingError(
                "discount_rate",
                f"{at}: discount_rate {discount}% is outside 0–100; correct it in Pet Manager",
            )
        raw_rate = line.get("tax_rate")
        rate = parse_amount(at, "tax_rate", raw_rate or "0") if taxed else Decimal(0)
        description = _description(line)
        account = _line_account(line, m, kind=kind, where=at)
        if kind == "credit_note" and discount:
            amount = line_amount(TaxLine(quantity, unit, discount, rate))
            price = quantize_money(unit) if unit == quantize_money(unit) else unit.normalize()
            detail = f" ({quantity.normalize():f} × {price:f} less {discount.normalize():f}%)"
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
                "tax_type": tax_type_for(m, raw_rate, at) if taxed else None,
                "tracking": tracking_for(m),
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
    host_total = quantize_money(parse_amount(where, "total", record.get("total")))
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
    account = required_code(m.rounding, "rounding", f"rounding (needed for {difference})", where, m)
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
        "tracking": tracking_for(m),
    }


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
    kind = line_amount_types_for(invoice, where)
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
        "reference": clip_text(invoice.get("reference"), _MAX_REFERENCE),
        "date": parse_date(where, "date", invoice.get("date")),
        "due_date": parse_date(where, "due_date", invoice.get("due_date")),
        "line_amount_types": kind,
        "status": "AUTHORISED",
        "currency_code": currency_for(invoice, m, where),
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
    kind = line_amount_types_for(credit_note, where)
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
        "reference": clip_text(credit_note.get("reason"), _MAX_REFERENCE),
        "date": parse_date(where, "date", credit_note.get("date")),
        "line_amount_types": kind,
        "status": "AUTHORISED",
        "currency_code": currency_for(credit_note, m, where),
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
    when = parse_date(where, "date", credit_note.get("date") if date is None else date)
    if date is None and invoice_date is not None:
        when = max(when, parse_date(where, "invoice date", invoice_date))
    data = {
        "invoice": {"invoice_id": invoice_id},
        "amount": positive_amount(
            where, "amount", credit_note.get("total") if amount is None else amount
        ),
        "date": when,
    }
    payload: dict[str, Any] = AllocationPayloadSchema().dump(data)
    return payload
