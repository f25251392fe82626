"""Reading Xero's answers: just the fields the worker acts on, everything else ignored.

Xero adds fields to its answers without notice, so every schema here uses ``unknown=EXCLUDE``:
a new field must never turn a successful create into a crash (and a duplicate on retry). Amounts
load as ``Decimal`` from the JSON number's text, dates through :mod:`pm_xero_plugin.xero.dates`.

With ``summarizeErrors=false`` every element carries its own outcome: ``StatusAttributeString``
(``OK``/``ERROR``), ``ValidationErrors`` and ``Warnings`` – all loaded as lists of message
strings so the dashboard can show each one, not only the first (a complaint about the SDKs).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from pm_xero_plugin.xero.dates import parse_xero_date, parse_xero_datetime

__all__ = [
    "RESPONSE_SCHEMAS",
    "AllocationResponseSchema",
    "BankTransactionResponseSchema",
    "BankTransferResponseSchema",
    "ContactResponseSchema",
    "CreditNoteResponseSchema",
    "ElementResponseSchema",
    "InvoiceResponseSchema",
    "OverpaymentResponseSchema",
    "PaymentResponseSchema",
    "PrepaymentResponseSchema",
    "XeroDate",
    "XeroDateTime",
    "element_id",
    "parse_elements",
    "validation_messages",
]


class XeroDate(fields.Field[date]):
    """A date field read from ``/Date(ms±hhmm)/`` or ISO text, with no local-zone shift."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date:
        if not isinstance(value, str):
            raise ValidationError("Not a Xero date.")
        try:
            return parse_xero_date(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class XeroDateTime(fields.Field[datetime]):
    """An aware datetime read from ``/Date(ms±hhmm)/`` or ISO text."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a Xero date.")
        try:
            return parse_xero_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class _Message(Schema):
    class Meta:
        """Xero adds fields without notice: they are ignored, never an error."""

        unknown = EXCLUDE

    message = fields.String(data_key="Message", load_default="")


class ElementResponseSchema(Schema):
    """The per-element outcome Xero reports when ``summarizeErrors=false``."""

    class Meta:
        """Xero adds fields without notice: they are ignored, never an error."""

        unknown = EXCLUDE

    status_attribute_string = fields.String(data_key="StatusAttributeString", load_default=None)
    validation_errors = fields.List(
        fields.Nested(_Message), data_key="ValidationErrors", load_default=list
    )
    warnings = fields.List(fields.Nested(_Message), data_key="Warnings", load_default=list)
    has_errors = fields.Boolean(data_key="HasErrors", load_default=None)
    updated_date_utc = XeroDateTime(data_key="UpdatedDateUTC", load_default=None)

    @post_load
    def _flatten_messages(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``[{"Message": "x"}]`` → ``["x"]``: the dashboard wants the texts (an empty one says
        nothing and is dropped)."""
        for key in ("validation_errors", "warnings"):
            if key in data:
                data[key] = [item["message"] for item in data[key] if item["message"]]
        return data


class ContactResponseSchema(ElementResponseSchema):
    """A contact in Xero's answer: its id, our number, its name and status."""

    contact_id = fields.String(data_key="ContactID", load_default=None)
    contact_number = fields.String(data_key="ContactNumber", load_default=None)
    name = fields.String(data_key="Name", load_default=None)
    contact_status = fields.String(data_key="ContactStatus", load_default=None)


class InvoiceResponseSchema(ElementResponseSchema):
    """A sales invoice in Xero's answer: id, our number, status, date and amounts."""

    invoice_id = fields.String(data_key="InvoiceID", load_default=None)
    invoice_number = fields.String(data_key="InvoiceNumber", load_default=None)
    type = fields.String(data_key="Type", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    date = XeroDate(data_key="Date", load_default=None)
    total = fields.Decimal(data_key="Total", load_default=None)
    amount_due = fields.Decimal(data_key="AmountDue", load_default=None)
    amount_paid = fields.Decimal(data_key="AmountPaid", load_default=None)
    amount_credited = fields.Decimal(data_key="AmountCredited", load_default=None)


class CreditNoteResponseSchema(ElementResponseSchema):
    """A sales credit note in Xero's answer: id, our number, status, date, credit left."""

    credit_note_id = fields.String(data_key="CreditNoteID", load_default=None)
    credit_note_number = fields.String(data_key="CreditNoteNumber", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    date = XeroDate(data_key="Date", load_default=None)
    total = fields.Decimal(data_key="Total", load_default=None)
    remaining_credit = fields.Decimal(data_key="RemainingCredit", load_default=None)


class _InvoiceRef(Schema):
    class Meta:
        """Xero adds fields without notice: they are ignored, never an error."""

        unknown = EXCLUDE

    invoice_id = fields.String(data_key="InvoiceID", load_default=None)
    invoice_number = fields.String(data_key="InvoiceNumber", load_default=None)


class AllocationResponseSchema(ElementResponseSchema):
    """An allocation in Xero's answer: the amount, date and invoice it applies to."""

    allocation_id = fields.String(data_key="AllocationID", load_default=None)
    amount = fields.Decimal(data_key="Amount", load_default=None)
    date = XeroDate(data_key="Date", load_default=None)
    invoice = fields.Nested(_InvoiceRef, data_key="Invoice", load_default=None)


class PaymentResponseSchema(ElementResponseSchema):
    """A payment in Xero's answer: id, our reference, amount, status and invoice."""

    payment_id = fields.String(data_key="PaymentID", load_default=None)
    reference = fields.String(data_key="Reference", load_default=None)
    amount = fields.Decimal(data_key="Amount", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    date = XeroDate(data_key="Date", load_default=None)
    invoice = fields.Nested(_InvoiceRef, data_key="Invoice", load_default=None)


class BankTransactionResponseSchema(ElementResponseSchema):
    """A bank transaction in Xero's answer; a ``RECEIVE-OVERPAYMENT`` names the overpayment
    Xero made of it, a ``RECEIVE-PREPAYMENT`` the prepayment (what gets allocated, and what a
    refund comes out of)."""

    bank_transaction_id = fields.String(data_key="BankTransactionID", load_default=None)
    overpayment_id = fields.String(data_key="OverpaymentID", load_default=None)
    prepayment_id = fields.String(data_key="PrepaymentID", load_default=None)
    type = fields.String(data_key="Type", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    reference = fields.String(data_key="Reference", load_default=None)
    total = fields.Decimal(data_key="Total", load_default=None)


class OverpaymentResponseSchema(ElementResponseSchema):
    """An overpayment in Xero's answer: id, status, reference, total, credit left."""

    overpayment_id = fields.String(data_key="OverpaymentID", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    reference = fields.String(data_key="Reference", load_default=None)
    total = fields.Decimal(data_key="Total", load_default=None)
    remaining_credit = fields.Decimal(data_key="RemainingCredit", load_default=None)


class PrepaymentResponseSchema(ElementResponseSchema):
    """A prepayment (a deposit) in Xero's answer: id, status, total, credit left."""

    prepayment_id = fields.String(data_key="PrepaymentID", load_default=None)
    status = fields.String(data_key="Status", load_default=None)
    reference = fields.String(data_key="Reference", load_default=None)
    total = fields.Decimal(data_key="Total", load_default=None)
    remaining_credit = fields.Decimal(data_key="RemainingCredit", load_default=None)


class _AccountRef(Schema):
    class Meta:
        """Xero adds fields without notice: they are ignored, never an error."""

        unknown = EXCLUDE

    account_id = fields.String(data_key="AccountID", load_default=None)
    code = fields.String(data_key="Code", load_default=None)


class BankTransferResponseSchema(ElementResponseSchema):
    """A bank transfer in Xero's answer (a payout): its id, the two accounts, amount, date,
    our reference, and the two bank transactions Xero made of it."""

    bank_transfer_id = fields.String(data_key="BankTransferID", load_default=None)
    from_bank_account = fields.Nested(_AccountRef, data_key="FromBankAccount", load_default=None)
    to_bank_account = fields.Nested(_AccountRef, data_key="ToBankAccount", load_default=None)
    amount = fields.Decimal(data_key="Amount", load_default=None)
    date = XeroDate(data_key="Date", load_default=None)
    reference = fields.String(data_key="Reference", load_default=None, allow_none=True)
    from_bank_transaction_id = fields.String(data_key="FromBankTransactionID", load_default=None)
    to_bank_transaction_id = fields.String(data_key="ToBankTransactionID", load_default=None)


RESPONSE_SCHEMAS: Mapping[str, type[ElementResponseSchema]] = {
    "Contacts": ContactResponseSchema,
    "Invoices": InvoiceResponseSchema,
    "CreditNotes": CreditNoteResponseSchema,
    "Allocations": AllocationResponseSchema,
    "Payments": PaymentResponseSchema,
    "BankTransactions": BankTransactionResponseSchema,
    "Overpayments": OverpaymentResponseSchema,
    "Prepayments": PrepaymentResponseSchema,
    "BankTransfers": BankTransferResponseSchema,
}
"""The element schema for each collection key of a Xero answer (``{"Invoices": [...]}``)."""

_ID_KEYS: Mapping[str, tuple[str, ...]] = {
    "Contacts": ("contact_id",),
    "Invoices": ("invoice_id",),
    "CreditNotes": ("credit_note_id",),
    "Allocations": ("allocation_id",),
    "Payments": ("payment_id",),
    # A RECEIVE-OVERPAYMENT's overpayment (a RECEIVE-PREPAYMENT's prepayment) is what gets
    # allocated and refunded, so it is the id kept; a SPEND (a payout's fees) keeps its own.
    "BankTransactions": ("overpayment_id", "prepayment_id", "bank_transaction_id"),
    "Overpayments": ("overpayment_id",),
    "Prepayments": ("prepayment_id",),
    "BankTransfers": ("bank_transfer_id",),
}

_ZERO_GUID = "00000000-0000-0000-0000-000000000000"
"""Xero's id of an element it did not create."""


def element_id(collection: str, loaded: Mapping[str, Any]) -> str | None:
    """The id Xero gave a loaded element of ``collection`` (``None``: none, or the zero GUID
    Xero puts on an element it refused)."""
    value = next(
        (
            loaded[key]
            for key in _ID_KEYS[collection]
            if loaded.get(key) and loaded[key] != _ZERO_GUID
        ),
        None,
    )
    return str(value) if value else None


def parse_elements(collection: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The elements of a Xero answer such as ``{"Invoices": [...]}``, loaded and in order.

    Order matters: with ``summarizeErrors=false`` Xero answers element *i* for request element
    *i*, and that is the only link between a failed element and the record it came from.

    :raises KeyError: for a collection we do not read.
    :raises marshmallow.ValidationError: when an element is not the shape Xero documents.
    """
    schema = RESPONSE_SCHEMAS[collection]()
    elements = body.get(collection) or []
    loaded: list[dict[str, Any]] = schema.load(elements, many=True)
    return loaded


def validation_messages(element: Mapping[str, Any]) -> list[str]:
    """Every ``ValidationErrors`` message of one element of a refused (400) request, in Xero's
    words; an element not of the documented shape says nothing (a refusal never becomes a
    crash)."""
    try:
        loaded = ElementResponseSchema(only=("validation_errors",)).load(element)
    except ValidationError:
        return []
    return list(loaded["validation_errors"])
