"""Xero's bookkeeping rules for contacts, invoices, credit notes, payments and allocations.

Bank transactions and transfers are in `bank`, refunds (payments out of a credit) in `refunds`.

Each operation takes one element of a request, applies Xero's rules with Xero's own messages,
and either stores the result or raises `ElementError` carrying every message that applies – so a
client sees the same per-element errors it would get from Xero.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .dates import parse_date
from .locks import LockDates
from .orgs import Org

__all__ = ["Books", "ElementError", "line_totals", "money"]

CENT = Decimal("0.01")
ZERO = Decimal("0")
#: Decimal places Xero keeps on ``UnitAmount``: 2, or 4 when the request has ``?unitdp=4``.
UNIT_PLACES = {2: Decimal("0.01"), 4: Decimal("0.0001")}
#: Fields Xero computes or manages itself; a client's values for them are ignored.
_COMPUTED = frozenset(
    [
        "Contact",
        "LineItems",
        "Date",
        "DueDate",
        "UpdatedDateUTC",
        "ValidationErrors",
        "Warnings",
        "StatusAttributeString",
        "AmountPaid",
        "AmountDue",
        "AmountCredited",
        "Total",
        "SubTotal",
        "TotalTax",
        "Payments",
        "CreditNotes",
        "Overpayments",
        "Prepayments",
        "Allocations",
        "RemainingCredit",
        "AppliedAmount",
        "HasErrors",
        "FullyPaidOnDate",
    ]
)
_APPLIES_TO = {
    "ASSET": "CanApplyToAssets",
    "EQUITY": "CanApplyToEquity",
    "EXPENSE": "CanApplyToExpenses",
    "LIABILITY": "CanApplyToLiabilities",
    "REVENUE": "CanApplyToRevenue",
}
_LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
_DOCUMENT_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "VOIDED", "DELETED", "PAID")
EDIT_BLOCKED = "This document cannot be edited as it has a payment or credit note allocated to it."


class ElementError(Exception):
    """One element failed Xero's rules; ``messages`` are its ValidationErrors."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def money(value: Any, field_name: str = "Amount") -> Decimal:
    """A request's amount as a Decimal (none is zero); not a number is Xero's message."""
    try:
        return Decimal(str(value)) if value is not None else ZERO
    except InvalidOperation:
        raise ElementError(f"{field_name} must be a number") from None


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_totals(
    lines: list[dict[str, Any]],
    line_amount_types: str,
    rates: dict[str, Decimal],
    unit_dp: int = 2,
) -> tuple[Decimal, Decimal, Decimal]:
    """Fill ``LineAmount``/``TaxAmount`` per line and return (SubTotal, TotalTax, Total).

    ``UnitAmount`` is first rounded to `unit_dp` places (Xero keeps 2 unless the request says
    ``unitdp=4``), so a client that sends 4-decimal prices without ``unitdp=4`` gets the total
    Xero would compute, not the one it hoped for. Tax is rounded to the cent on each line, then
    summed – Xero's way, which is why a total can differ by a cent from "rate × sum of lines".
    """
    subtotal = total_tax = ZERO
    places = UNIT_PLACES[unit_dp]
    for line in lines:
        qty = money(line.get("Quantity", 1) if line.get("Quantity") is not None else 1, "Quantity")
        if line.get("UnitAmount") is not None:
            unit = money(line["UnitAmount"], "UnitAmount").quantize(places, rounding=ROUND_HALF_UP)
            line["UnitAmount"] = unit
            gross = qty * unit
            discount = money(line.get("DiscountRate"), "DiscountRate")
            amount = _round(gross * (1 - discount / 100))
        else:
            amount = _round(money(line.get("LineAmount"), "LineAmount"))
        rate = rates.get(line.get("TaxType") or "", ZERO) / 100
        if line_amount_types == "NoTax":
            tax = ZERO
        elif line_amount_types == "Inclusive":
            tax = _round(amount * rate / (1 + rate))
        else:
            tax = _round(amount * rate)
        line["Quantity"] = qty
        line["LineAmount"] = amount
        line["TaxAmount"] = tax
        total_tax += tax
        subtotal += amount - tax if line_amount_types == "Inclusive" else amount
    return subtotal, total_tax, subtotal + total_tax


def _line_account_errors(code: str | None, acc: dict[str, Any] | None) -> list[str]:
    """Why a line's account code cannot be used: unknown, archived, or a bank account."""
    if code and acc is None:
        return [f"Account code '{code}' is not a valid code for this document."]
    if acc is not None and acc["Status"] == "ARCHIVED":
        return [
            f"Account code '{code}' has been archived, or has been deleted. Each line item "
            "must reference a valid account."
        ]
    if acc is not None and acc["Type"] == "BANK":
        return [f"Account code '{code}' is not a valid code for this document."]
    return []


def _line_tracking_errors(line: dict[str, Any], categories: dict[str, dict[str, Any]]) -> list[str]:
    """At most two tracking categories, each an active option of an active category (whose id
    is filled in)."""
    tracking = line.get("Tracking") or []
    errors = []
    if len(tracking) > 2:
        errors.append("A line item can have at most 2 tracking categories.")
    for t in tracking:
        cat = categories.get(t.get("Name", ""))
        if cat is None or t.get("Option") not in {
            o["Name"] for o in cat["Options"] if o["Status"] == "ACTIVE"
        }:
            errors.append(
                f"The tracking category option '{t.get('Name')}: {t.get('Option')}' is not valid."
            )
        else:
            t["TrackingCategoryID"] = cat["TrackingCategoryID"]
    return errors


def _allocation_errors(source: dict[str, Any], inv: dict[str, Any], amount: Decimal) -> list[str]:
    """Why Xero would refuse to apply ``amount`` of a credit (``source``) to ``inv``."""
    errors = []
    if source["Status"] != "AUTHORISED":
        errors.append("Credit can only be allocated from an Authorised document")
    if inv["Status"] != "AUTHORISED":
        errors.append("Credit can only be allocated to an Authorised invoice")
    if inv["Contact"]["ContactID"] != source["Contact"]["ContactID"]:
        errors.append("The invoice and the credit must belong to the same contact")
    if amount <= 0:
        errors.append("The allocation amount must be greater than zero")
    elif amount > source["RemainingCredit"]:
        errors.append("The amount being allocated exceeds the remaining credit on this document")
    elif amount > inv["AmountDue"]:
        errors.append("The amount being allocated exceeds the amount outstanding on the invoice")
    return errors


def _new_contact() -> dict[str, Any]:
    """A new contact as Xero starts one: active, neither customer nor supplier yet."""
    return {
        "ContactID": str(uuid.uuid4()),
        "ContactStatus": "ACTIVE",
        "IsSupplier": False,
        "IsCustomer": False,
        "HasAttachments": False,
        "Addresses": [],
        "Phones": [],
    }


def _check_status_move(old: str, new: str) -> None:
    """The status moves Xero refuses on an existing invoice or credit note."""
    if new == "VOIDED" and old not in ("AUTHORISED", "VOIDED"):
        raise ElementError("Only authorised documents can be voided.")
    if new == "DELETED" and old not in ("DRAFT", "SUBMITTED", "DELETED"):
        raise ElementError("Only draft or submitted documents can be deleted.")
    if old == "AUTHORISED" and new in ("DRAFT", "SUBMITTED"):
        raise ElementError("An authorised document cannot be returned to draft.")


class Books:
    """The rules of one organisation, applied to its stored documents."""

    def __init__(
        self,
        org: Org,
        now: Callable[[], datetime],
        locks: LockDates | None = None,
        *,
        unit_dp: int = 2,
    ) -> None:
        self.org = org
        self.now = now()
        self.locks = locks or LockDates()
        self.unit_dp = unit_dp

    # -- shared checks ----------------------------------------------------------------------

    def check_lock(self, when: date, what: str = "document") -> None:
        """Refuse, in Xero's words, a `what` dated on or before a lock date that applies."""
        refusal = self.locks.refusal(when, what)
        if refusal is not None:
            raise ElementError(refusal)

    def date_of(self, value: Any, default: date | None = None) -> date:
        """A request's date (`default` when it gives none; none and no default is refused)."""
        if value is None or value == "":
            if default is None:
                raise ElementError("A date is required")
            return default
        try:
            return parse_date(value)
        except ValueError as exc:
            raise ElementError(str(exc)) from None

    def find_contact(self, ref: dict[str, Any] | None, *, create: bool) -> dict[str, Any]:
        """Resolve ``Contact{ContactID|ContactNumber|Name}``; Xero creates one from a new Name."""
        ref = ref or {}
        contacts = self.org.contacts
        if ref.get("ContactID"):
            found = contacts.get(str(ref["ContactID"]).lower())
            if found is None:
                raise ElementError(f"The contact with ID {ref['ContactID']} could not be found.")
        elif ref.get("ContactNumber"):
            found = next(
                (c for c in contacts.values() if c.get("ContactNumber") == ref["ContactNumber"]),
                None,
            )
            if found is None:
                raise ElementError(f"The contact number {ref['ContactNumber']} could not be found.")
        elif ref.get("Name"):
            found = next(
                (
                    c
                    for c in contacts.values()
                    if c["Name"] == ref["Name"] and c["ContactStatus"] == "ACTIVE"
                ),
                None,
            )
            if found is None:
                if not create:
                    raise ElementError(f"The contact {ref['Name']} could not be found.")
                found = self.save_contact({"Name": ref["Name"]}, update=False)
        else:
            raise ElementError("A Contact must be specified for this type of transaction")
        if found["ContactStatus"] == "ARCHIVED":
            raise ElementError(
                f"The contact '{found['Name']}' has been archived. "
                "Select an active contact or restore the archived contact."
            )
        return found

    @staticmethod
    def contact_ref(contact: dict[str, Any]) -> dict[str, Any]:
        """How a document names its contact: id, name and number."""
        ref = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        if contact.get("ContactNumber"):
            ref["ContactNumber"] = contact["ContactNumber"]
        return ref

    def payment_account(self, ref: dict[str, Any] | None) -> dict[str, Any]:
        """The account a payment (or a refund) names by Code or AccountID: a bank account, or
        any account with "Enable payments to this account" on (a voucher liability, a clearing
        account)."""
        ref = ref or {}
        acc = self.org.account(code=ref.get("Code"), account_id=ref.get("AccountID"))
        if acc is None:
            raise ElementError("Account could not be found")
        if acc["Status"] == "ARCHIVED":
            raise ElementError(
                f"Account code '{acc['Code']}' has been archived, or has been deleted."
            )
        if acc["Type"] != "BANK" and not acc["EnablePaymentsToAccount"]:
            raise ElementError(
                f"Account code '{acc['Code']}' is not a bank account and does not allow payments."
            )
        return acc

    # -- contacts -----------------------------------------------------------------------------

    def save_contact(
        self, data: dict[str, Any], *, update: bool, contact_id: str | None = None
    ) -> dict[str, Any]:
        """Create or update a contact (``update``: POST, where a known ContactNumber updates)."""
        contacts = self.org.contacts
        existing = self._existing_contact(data, update=update, contact_id=contact_id)
        record = copy.deepcopy(existing) if existing else _new_contact()
        for k, v in data.items():
            if k not in ("ContactID", "UpdatedDateUTC", "HasValidationErrors", "ValidationErrors"):
                record[k] = v
        name = str(record.get("Name") or "").strip()
        if not name:
            raise ElementError("The contact name must be specified.")
        if len(str(record.get("ContactNumber") or "")) > 50:
            raise ElementError("The ContactNumber must not exceed 50 characters.")
        record["Name"] = name
        self._check_contact_unique(record, name)
        record["UpdatedDateUTC"] = self.now
        contacts[str(record["ContactID"])] = record
        return record

    def _existing_contact(
        self, data: dict[str, Any], *, update: bool, contact_id: str | None
    ) -> dict[str, Any] | None:
        """The contact a request names by ID (which must exist), or for POST by its number."""
        contacts = self.org.contacts
        key = contact_id or data.get("ContactID")
        if key:
            existing = contacts.get(str(key).lower())
            if existing is None:
                raise ElementError(f"The contact with ID {key} could not be found.")
            return existing
        if update and data.get("ContactNumber"):
            return next(
                (c for c in contacts.values() if c.get("ContactNumber") == data["ContactNumber"]),
                None,
            )
        return None

    def _check_contact_unique(self, record: dict[str, Any], name: str) -> None:
        """A number is unique among all contacts (archived ones too) and a name among the
        active ones, each refused with its own message."""
        others = [c for c in self.org.contacts.values() if c["ContactID"] != record["ContactID"]]
        number = record.get("ContactNumber")
        if number and any(other.get("ContactNumber") == number for other in others):
            raise ElementError(
                f"The contact number {number} is already assigned to another contact. "
                "The contact number must be unique across all contacts."
            )
        if record["ContactStatus"] == "ACTIVE" and any(
            other["ContactStatus"] == "ACTIVE" and other["Name"].lower() == name.lower()
            for other in others
        ):
            raise ElementError(
                f"The contact name {name} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."
            )

    # -- invoices and credit notes --------------------------------------------------------------

    def checked_lines(self, lines: Any, line_amount_types: str) -> list[dict[str, Any]]:
        """The request's line items checked against the chart, tax rates and tracking; every
        line's messages are collected and raised together, as Xero reports them."""
        if not isinstance(lines, list):
            raise ElementError("LineItems must be a list")
        errors: list[str] = []
        out = []
        categories = {c["Name"]: c for c in self.org.tracking_categories if c["Status"] == "ACTIVE"}
        for raw in lines:
            line = {k: v for k, v in raw.items() if k not in ("LineItemID",)}
            line["LineItemID"] = raw.get("LineItemID") or str(uuid.uuid4())
            code = line.get("AccountCode")
            acc = self.org.account(code=code) if code else None
            errors += _line_account_errors(code, acc)
            errors += self._line_tax_errors(line, code, acc, line_amount_types)
            errors += _line_tracking_errors(line, categories)
            out.append(line)
        if errors:
            raise ElementError(*errors)
        return out

    def _line_tax_errors(
        self,
        line: dict[str, Any],
        code: str | None,
        acc: dict[str, Any] | None,
        line_amount_types: str,
    ) -> list[str]:
        """Settle the line's tax type (its own, else its account's; none on a NoTax document
        that names none) and say why Xero would refuse it."""
        tax_type = line.get("TaxType") or (acc["TaxType"] if acc else None)
        if line_amount_types == "NoTax" and not line.get("TaxType"):
            tax_type = None
        if not tax_type:
            return []
        line["TaxType"] = tax_type
        rate = self.org.tax_rate(tax_type)
        if rate is None:
            return [
                f"The TaxType code {tax_type} does not exist or cannot be used "
                "with this type of transaction."
            ]
        if acc is not None and not rate.get(_APPLIES_TO[acc["Class"]], True):
            return [f"The TaxType code {tax_type} cannot be used with account code {code}."]
        return []

    def save_document(
        self, kind: str, data: dict[str, Any], *, update: bool, doc_id: str | None = None
    ) -> dict[str, Any]:
        """Create or update an invoice (``kind="invoice"``) or credit note (``"credit_note"``).

        :param update: POST semantics (an existing ID or number updates); PUT refuses a taken one.
        """
        is_inv = kind == "invoice"
        store = self.org.invoices if is_inv else self.org.credit_notes
        id_key, num_key = (
            ("InvoiceID", "InvoiceNumber") if is_inv else ("CreditNoteID", "CreditNoteNumber")
        )
        existing = self._existing_document(
            store, data, is_inv, id_key, num_key, update=update, doc_id=doc_id
        )
        if existing is not None:
            self._check_edit_allowed(existing, data, is_inv, id_key, num_key)
        record = copy.deepcopy(existing) if existing else self._new_document(is_inv, id_key)
        for k, v in data.items():
            if k not in _COMPUTED and k != id_key:
                record[k] = v
        self._check_type_and_currency(record, is_inv)
        lat = self._take_document_fields(record, data, is_new=existing is None)
        if record["Status"] not in ("DRAFT", "DELETED"):
            self.check_lock(record["Date"])
        if not record.get(num_key):
            record[num_key] = self.org.next_number("INV" if is_inv else "CN")
        self._compute_document_totals(record, is_inv, lat)
        record["UpdatedDateUTC"] = self.now
        store[record[id_key]] = record
        return record

    @staticmethod
    def _existing_document(
        store: dict[str, dict[str, Any]],
        data: dict[str, Any],
        is_inv: bool,
        id_key: str,
        num_key: str,
        *,
        update: bool,
        doc_id: str | None,
    ) -> dict[str, Any] | None:
        """The document a request names by ID (or number in the ID's place), or by a number
        already taken: POST updates that one, PUT refuses the number as not unique."""
        number = data.get(num_key)
        key = doc_id or data.get(id_key)
        if key:
            existing = store.get(str(key).lower()) or next(
                (d for d in store.values() if d.get(num_key) == key), None
            )
            if existing is None:
                raise ElementError(f"{'Invoice' if is_inv else 'Credit Note'} could not be found")
            return existing
        if not number:
            return None
        taken = next((d for d in store.values() if d.get(num_key) == number), None)
        if taken is not None and not update:
            raise ElementError(
                "Invoice # must be unique." if is_inv else "Credit Note # must be unique."
            )
        return taken

    @staticmethod
    def _check_edit_allowed(
        existing: dict[str, Any], data: dict[str, Any], is_inv: bool, id_key: str, num_key: str
    ) -> None:
        """Xero's refusals of an edit: a document with money allocated to it, a voided or
        deleted one, and the status moves it does not allow."""
        allocated = (
            existing["AmountPaid"] > 0
            or existing.get("AmountCredited", ZERO) > 0
            or (not is_inv and existing["Total"] - existing["RemainingCredit"] > 0)
        )
        changes = {k for k in data if k not in (id_key, num_key)}
        if allocated and changes:
            raise ElementError(EDIT_BLOCKED)
        if existing["Status"] in ("VOIDED", "DELETED") and changes:
            raise ElementError(
                f"{'Invoice' if is_inv else 'Credit note'} not of valid status for modification"
            )
        _check_status_move(existing["Status"], data.get("Status", existing["Status"]))

    def _new_document(self, is_inv: bool, id_key: str) -> dict[str, Any]:
        """A new invoice or credit note as Xero starts one: a draft in the organisation's
        currency, nothing paid, allocated or credited."""
        own: dict[str, Any] = (
            {
                "AmountCredited": ZERO,
                "CreditNotes": [],
                "Overpayments": [],
                "Prepayments": [],
                "IsDiscounted": False,
            }
            if is_inv
            else {"Allocations": [], "AppliedAmount": ZERO}
        )
        return {
            id_key: str(uuid.uuid4()),
            "Type": "ACCREC" if is_inv else "ACCRECCREDIT",
            "Status": "DRAFT",
            "LineAmountTypes": "Exclusive",
            "CurrencyCode": self.org.currency,
            "CurrencyRate": Decimal("1"),
            "AmountPaid": ZERO,
            "Payments": [],
            "HasAttachments": False,
            "HasErrors": False,
            **own,
        }

    def _check_type_and_currency(self, record: dict[str, Any], is_inv: bool) -> None:
        """A document's type must be one of its kind's, in the organisation's own currency."""
        allowed_types = ("ACCREC", "ACCPAY") if is_inv else ("ACCRECCREDIT", "ACCPAYCREDIT")
        if record["Type"] not in allowed_types:
            raise ElementError(f"Type must be one of {', '.join(allowed_types)}")
        if record["CurrencyCode"] != self.org.currency:
            raise ElementError(
                f"The currency {record['CurrencyCode']} is not set up in this organisation."
            )

    def _take_document_fields(
        self, record: dict[str, Any], data: dict[str, Any], *, is_new: bool
    ) -> str:
        """Resolve the contact, dates, line amount types and lines into ``record``, collecting
        every message that applies (Xero reports them together); returns the line amount types.

        :raises ElementError: with all the messages, when any applies.
        """
        errors: list[str] = []
        if "Contact" in data or is_new:
            try:
                record["Contact"] = self.contact_ref(
                    self.find_contact(data.get("Contact"), create=True)
                )
            except ElementError as exc:
                errors += exc.messages
        try:
            record["Date"] = self.date_of(data.get("Date"), record.get("Date") or self.now.date())
            if data.get("DueDate") is not None:
                record["DueDate"] = self.date_of(data["DueDate"])
        except ElementError as exc:
            errors += exc.messages
        lat = str(record.get("LineAmountTypes") or "Exclusive")
        if lat not in _LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes '{lat}' is not valid")
        if "LineItems" in data or is_new:
            try:
                record["LineItems"] = self.checked_lines(data.get("LineItems") or [], lat)
            except ElementError as exc:
                errors += exc.messages
        if record["Status"] not in _DOCUMENT_STATUSES:
            errors.append(f"Status '{record['Status']}' is not valid")
        if (
            not errors
            and record["Status"] in ("SUBMITTED", "AUTHORISED")
            and not record.get("LineItems")
        ):
            errors.append("A document must have at least one line item to be approved.")
        if errors:
            raise ElementError(*errors)
        return lat

    def _compute_document_totals(self, record: dict[str, Any], is_inv: bool, lat: str) -> None:
        """Xero's totals and what is still due (an invoice) or left to apply (a credit note);
        a voided document owes nothing."""
        rates = {t["TaxType"]: t["EffectiveRate"] for t in self.org.tax_rates}
        sub, tax, total = line_totals(record["LineItems"], lat, rates, self.unit_dp)
        record.update(SubTotal=sub, TotalTax=tax, Total=total, LineAmountTypes=lat)
        if is_inv:
            record["AmountDue"] = total - record["AmountPaid"] - record["AmountCredited"]
        else:
            record["RemainingCredit"] = total - record["AppliedAmount"] - record["AmountPaid"]
        if record["Status"] == "VOIDED":
            record["AmountDue" if is_inv else "RemainingCredit"] = ZERO

    # -- payments ------------------------------------------------------------------------------

    def _invoice(self, ref: dict[str, Any] | None) -> dict[str, Any]:
        ref = ref or {}
        if ref.get("InvoiceID"):
            inv = self.org.invoices.get(str(ref["InvoiceID"]).lower())
        elif ref.get("InvoiceNumber"):
            inv = next(
                (
                    i
                    for i in self.org.invoices.values()
                    if i["InvoiceNumber"] == ref["InvoiceNumber"]
                ),
                None,
            )
        else:
            raise ElementError("An Invoice must be specified by InvoiceID or InvoiceNumber")
        if inv is None:
            raise ElementError("Invoice could not be found")
        return inv

    @staticmethod
    def _settle(inv: dict[str, Any]) -> None:
        inv["AmountDue"] = inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]
        if inv["AmountDue"] <= 0 and inv["Status"] == "AUTHORISED":
            inv["Status"] = "PAID"
        elif inv["AmountDue"] > 0 and inv["Status"] == "PAID":
            inv["Status"] = "AUTHORISED"
            inv.pop("FullyPaidOnDate", None)

    def create_payment(self, data: dict[str, Any]) -> dict[str, Any]:
        """Pay an authorised invoice into a bank account (or one that allows payments), every
        refusal reported together; the invoice is settled (PAID when nothing is left due)."""
        errors: list[str] = []
        inv = acc = None
        try:
            inv = self._invoice(data.get("Invoice"))
        except ElementError as exc:
            errors += exc.messages
        try:
            acc = self.payment_account(data.get("Account"))
        except ElementError as exc:
            errors += exc.messages
        amount = money(data.get("Amount"))
        when = self.date_of(data.get("Date"), self.now.date())
        if amount <= 0:
            errors.append("Payment amount must be greater than zero")
        if inv is not None:
            if inv["Status"] != "AUTHORISED":
                errors.append("Payments can only be made against Authorised documents")
            elif amount > inv["AmountDue"]:
                errors.append("Payment amount exceeds the amount outstanding on this document")
        if errors:
            raise ElementError(*errors)
        assert inv is not None
        assert acc is not None
        self.check_lock(when, "payment")
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": when,
            "Amount": amount,
            "BankAmount": amount,
            "CurrencyRate": Decimal("1"),
            "Reference": data.get("Reference", ""),
            "IsReconciled": bool(data.get("IsReconciled", False)),
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT",
            "HasAccount": True,
            "HasValidationErrors": False,
            "Account": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
            "Invoice": {
                "InvoiceID": inv["InvoiceID"],
                "InvoiceNumber": inv["InvoiceNumber"],
                "Type": inv["Type"],
                "Contact": inv["Contact"],
                "CurrencyCode": inv["CurrencyCode"],
            },
            "UpdatedDateUTC": self.now,
        }
        self.org.payments[payment["PaymentID"]] = payment
        inv["AmountPaid"] += amount
        inv["Payments"].append(
            {
                "PaymentID": payment["PaymentID"],
                "Date": when,
                "Amount": amount,
                "Reference": payment["Reference"],
            }
        )
        self._settle(inv)
        if inv["Status"] == "PAID":
            inv["FullyPaidOnDate"] = when
        inv["UpdatedDateUTC"] = self.now
        return payment

    def payment_to_delete(self, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """The payment a request deletes; Xero's only edit of a payment is Status DELETED.

        :raises KeyError: when there is no such payment.
        """
        payment = self.org.payments.get(payment_id.lower())
        if payment is None:
            raise KeyError(payment_id)
        if data.get("Status") != "DELETED":
            raise ElementError("Payments cannot be edited, only deleted (Status DELETED).")
        return payment

    def delete_payment(self, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Xero's only edit of a payment: Status DELETED, which gives the invoice its amount
        back (deleting twice is harmless)."""
        payment = self.payment_to_delete(payment_id, data)
        if payment["Status"] == "DELETED":
            return payment
        self.check_lock(payment["Date"], "payment")
        inv = self.org.invoices[payment["Invoice"]["InvoiceID"]]
        inv["AmountPaid"] -= payment["Amount"]
        inv["Payments"] = [p for p in inv["Payments"] if p["PaymentID"] != payment["PaymentID"]]
        self._settle(inv)
        inv["UpdatedDateUTC"] = self.now
        payment["Status"] = "DELETED"
        payment["UpdatedDateUTC"] = self.now
        return payment

    # -- overpayments and allocations ------------------------------------------------------------

    def allocate(self, kind: str, source_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Apply a credit note's, overpayment's or prepayment's credit to an invoice.

        A credit note's or prepayment's allocation is dated at the later of the two documents'
        dates, whatever the request says – so a credit in a locked period can still be applied
        to an invoice in an open one (the allocation falls in the open period).
        """
        store = getattr(self.org, _CREDIT_STORES[kind])
        source = store.get(source_id.lower())
        if source is None:
            raise KeyError(source_id)
        inv = self._invoice(data.get("Invoice"))
        amount = money(data.get("Amount"))
        when = self.date_of(data.get("Date"), self.now.date())
        if kind in ("credit_note", "prepayment"):
            when = max(source["Date"], inv["Date"])
        errors = _allocation_errors(source, inv, amount)
        if errors:
            raise ElementError(*errors)
        self.check_lock(when)
        allocation = {
            "AllocationID": str(uuid.uuid4()),
            "Amount": amount,
            "Date": when,
            "Invoice": {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"]},
        }
        source["Allocations"].append(allocation)
        source["AppliedAmount"] += amount
        source["RemainingCredit"] -= amount
        if source["RemainingCredit"] == 0:
            source["Status"] = "PAID"
        source["UpdatedDateUTC"] = self.now
        out = {**allocation, **_credit_on_invoice(kind, source, inv, amount)}
        self._settle(inv)
        if inv["Status"] == "PAID":
            inv["FullyPaidOnDate"] = when
        inv["UpdatedDateUTC"] = self.now
        return out


#: an allocation's kind -> the organisation's store of the credit it draws on
_CREDIT_STORES = {
    "credit_note": "credit_notes",
    "overpayment": "overpayments",
    "prepayment": "prepayments",
}


def _credit_on_invoice(
    kind: str, source: dict[str, Any], inv: dict[str, Any], amount: Decimal
) -> dict[str, Any]:
    """Record ``amount`` of the credit ``source`` on the invoice (a credit note credits it, an
    overpayment or prepayment pays it) and return the allocation's reference to the source."""
    if kind == "credit_note":
        inv["AmountCredited"] += amount
        inv["CreditNotes"].append(
            {
                "CreditNoteID": source["CreditNoteID"],
                "CreditNoteNumber": source["CreditNoteNumber"],
                "AppliedAmount": amount,
                "Total": source["Total"],
            }
        )
        return {
            "CreditNote": {
                "CreditNoteID": source["CreditNoteID"],
                "CreditNoteNumber": source["CreditNoteNumber"],
            }
        }
    id_key, list_key = (
        ("OverpaymentID", "Overpayments")
        if kind == "overpayment"
        else ("PrepaymentID", "Prepayments")
    )
    inv["AmountPaid"] += amount
    inv.setdefault(list_key, []).append(
        {id_key: source[id_key], "AppliedAmount": amount, "Total": source["Total"]}
    )
    return {kind.capitalize(): {id_key: source[id_key]}}
