"""marshmallow schemas that dump our payload values into Xero's PascalCase JSON.

The mapping functions decide *what* to send (codes, amounts, rounding); these schemas decide *how
it is spelled*: one ``data_key`` per Xero field, ``Decimal`` amounts out as JSON numbers (the spec
types money as ``number``; ``float(Decimal("12.35"))`` prints as ``12.35`` – exact for any
amount below 2^53 cents), dates as ``YYYY-MM-DD``, and no ``null`` anywhere (the spec declares
nothing nullable, so an absent optional value is left out rather than sent as ``null``).
Every dict these produce can go straight to ``json.dumps``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump

__all__ = [
    "AllocationPayloadSchema",
    "BankTransactionPayloadSchema",
    "BankTransferPayloadSchema",
    "ContactPayloadSchema",
    "CreditNotePayloadSchema",
    "InvoicePayloadSchema",
    "LineItemPayloadSchema",
    "PaymentDeletePayloadSchema",
    "PaymentPayloadSchema",
]


class _Payload(Schema):
    """Drops absent values: Xero reads a missing field as "unchanged/default", ``null`` as bad."""

    @post_dump
    def _drop_none(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None and value != []}


class _ContactRef(_Payload):
    contact_id = fields.String(data_key="ContactID")
    name = fields.String(data_key="Name")
    """A contact Xero finds by name, or creates (the card processor on a fee spend)."""


class _AccountRef(_Payload):
    code = fields.String(data_key="Code")


class _InvoiceRef(_Payload):
    invoice_id = fields.String(data_key="InvoiceID")


class _CreditNoteRef(_Payload):
    credit_note_id = fields.String(data_key="CreditNoteID")


class _OverpaymentRef(_Payload):
    overpayment_id = fields.String(data_key="OverpaymentID")


class _PrepaymentRef(_Payload):
    prepayment_id = fields.String(data_key="PrepaymentID")


class _Tracking(_Payload):
    name = fields.String(data_key="Name")
    option = fields.String(data_key="Option")


class _Phone(_Payload):
    phone_type = fields.String(data_key="PhoneType")
    phone_number = fields.String(data_key="PhoneNumber")


class _Address(_Payload):
    address_type = fields.String(data_key="AddressType")
    address_line1 = fields.String(data_key="AddressLine1")
    address_line2 = fields.String(data_key="AddressLine2")
    city = fields.String(data_key="City")
    region = fields.String(data_key="Region")
    postal_code = fields.String(data_key="PostalCode")
    country = fields.String(data_key="Country")


class LineItemPayloadSchema(_Payload):
    """A line of an invoice, credit note or bank transaction."""

    description = fields.String(data_key="Description")
    quantity = fields.Float(data_key="Quantity")
    unit_amount = fields.Float(data_key="UnitAmount")
    line_amount = fields.Float(data_key="LineAmount")
    discount_rate = fields.Float(data_key="DiscountRate")
    account_code = fields.String(data_key="AccountCode")
    tax_type = fields.String(data_key="TaxType")
    tracking = fields.List(fields.Nested(_Tracking), data_key="Tracking")


class ContactPayloadSchema(_Payload):
    """An element of ``PUT/POST /Contacts``."""

    contact_id = fields.String(data_key="ContactID")
    contact_number = fields.String(data_key="ContactNumber")
    name = fields.String(data_key="Name")
    first_name = fields.String(data_key="FirstName")
    last_name = fields.String(data_key="LastName")
    email_address = fields.String(data_key="EmailAddress")
    phones = fields.List(fields.Nested(_Phone), data_key="Phones")
    addresses = fields.List(fields.Nested(_Address), data_key="Addresses")


class InvoicePayloadSchema(_Payload):
    """An element of ``PUT/POST /Invoices`` (create, update or void)."""

    invoice_id = fields.String(data_key="InvoiceID")
    type = fields.String(data_key="Type")
    contact = fields.Nested(_ContactRef, data_key="Contact")
    invoice_number = fields.String(data_key="InvoiceNumber")
    reference = fields.String(data_key="Reference")
    date = fields.Date(data_key="Date")
    due_date = fields.Date(data_key="DueDate")
    line_amount_types = fields.String(data_key="LineAmountTypes")
    status = fields.String(data_key="Status")
    currency_code = fields.String(data_key="CurrencyCode")
    line_items = fields.List(fields.Nested(LineItemPayloadSchema), data_key="LineItems")


class CreditNotePayloadSchema(_Payload):
    """An element of ``PUT /CreditNotes``."""

    type = fields.String(data_key="Type")
    contact = fields.Nested(_ContactRef, data_key="Contact")
    credit_note_number = fields.String(data_key="CreditNoteNumber")
    reference = fields.String(data_key="Reference")
    date = fields.Date(data_key="Date")
    line_amount_types = fields.String(data_key="LineAmountTypes")
    status = fields.String(data_key="Status")
    currency_code = fields.String(data_key="CurrencyCode")
    line_items = fields.List(fields.Nested(LineItemPayloadSchema), data_key="LineItems")


class AllocationPayloadSchema(_Payload):
    """An element of ``PUT /CreditNotes/{id}/Allocations`` or ``/Overpayments/{id}/Allocations``."""

    invoice = fields.Nested(_InvoiceRef, data_key="Invoice")
    amount = fields.Float(data_key="Amount")
    date = fields.Date(data_key="Date")


class PaymentPayloadSchema(_Payload):
    """An element of ``PUT /Payments``: to an invoice, or a refund out of a credit note, an
    overpayment or a prepayment."""

    invoice = fields.Nested(_InvoiceRef, data_key="Invoice")
    credit_note = fields.Nested(_CreditNoteRef, data_key="CreditNote")
    overpayment = fields.Nested(_OverpaymentRef, data_key="Overpayment")
    prepayment = fields.Nested(_PrepaymentRef, data_key="Prepayment")
    account = fields.Nested(_AccountRef, data_key="Account")
    date = fields.Date(data_key="Date")
    amount = fields.Float(data_key="Amount")
    reference = fields.String(data_key="Reference")


class PaymentDeletePayloadSchema(_Payload):
    """The body of ``POST /Payments/{PaymentID}``: payments cannot be edited, only deleted."""

    status = fields.String(data_key="Status")


class BankTransactionPayloadSchema(_Payload):
    """An element of ``PUT /BankTransactions``: overpayments, prepayments (deposits) and the
    card processor's fees (a spend)."""

    type = fields.String(data_key="Type")
    contact = fields.Nested(_ContactRef, data_key="Contact")
    bank_account = fields.Nested(_AccountRef, data_key="BankAccount")
    line_items = fields.List(fields.Nested(LineItemPayloadSchema), data_key="LineItems")
    line_amount_types = fields.String(data_key="LineAmountTypes")
    date = fields.Date(data_key="Date")
    reference = fields.String(data_key="Reference")
    currency_code = fields.String(data_key="CurrencyCode")


class BankTransferPayloadSchema(_Payload):
    """An element of ``PUT /BankTransfers`` (a card payout: clearing account to the bank)."""

    from_bank_account = fields.Nested(_AccountRef, data_key="FromBankAccount")
    to_bank_account = fields.Nested(_AccountRef, data_key="ToBankAccount")
    amount = fields.Float(data_key="Amount")
    date = fields.Date(data_key="Date")
    reference = fields.String(data_key="Reference")
