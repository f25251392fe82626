"""Xero's rules for money through bank accounts: bank transactions (spend, receive, the
overpayments and prepayments a receipt creates) and bank transfers between two accounts.

Money moves through a *bank account* in Xero's sense: an account of type BANK, or a current
asset with "Enable payments to this account" on – the clearing account card payments are paid
into before the processor pays them out (the vendor's Stripe clearing account). Each operation
takes one element of a request and stores it, or raises `ElementError` with Xero's messages.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal
from typing import Any

from .documents import ZERO, Books, ElementError, line_totals, money
from .orgs import Org

__all__ = [
    "BANK_TRANSACTION_TYPES",
    "create_bank_transaction",
    "create_bank_transfer",
    "is_bank_account",
]

#: the bank transaction types a client may create (the ``*-TRANSFER`` ones come from transfers)
BANK_TRANSACTION_TYPES = ("RECEIVE", "SPEND", "RECEIVE-OVERPAYMENT", "RECEIVE-PREPAYMENT")


def is_bank_account(acc: dict[str, Any]) -> bool:
    """A BANK account, or a current asset that takes payments (a clearing account)."""
    return acc["Type"] == "BANK" or (
        acc["Type"] == "CURRENT"
        and acc["Class"] == "ASSET"
        and bool(acc["EnablePaymentsToAccount"])
    )


def _bank_account(org: Org, ref: Any, field_name: str) -> dict[str, Any]:
    """The bank account ``ref`` names by Code or AccountID, refused in Xero's words when it is
    missing, archived, or neither a bank account nor a clearing account."""
    ref = ref if isinstance(ref, dict) else {}
    acc = None
    if ref.get("Code") or ref.get("AccountID"):
        acc = org.account(code=ref.get("Code"), account_id=ref.get("AccountID"))
    if acc is None:
        raise ElementError(f"A valid {field_name} must be specified")
    if acc["Status"] == "ARCHIVED":
        raise ElementError(f"Account code '{acc['Code']}' has been archived, or has been deleted.")
    if not is_bank_account(acc):
        raise ElementError(
            f"Account code '{acc['Code']}' is not a bank account. {field_name} must be a bank "
            "account, or a current asset account with payments enabled."
        )
    return acc


def _account_ref(acc: dict[str, Any]) -> dict[str, Any]:
    return {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]}


# -- bank transactions ----------------------------------------------------------------------------


def _transaction_lines(books: Books, typ: str, data: dict[str, Any]) -> tuple[str, list[Any]]:
    """The line amount types and checked lines of a bank transaction: an overpayment's lines
    carry no account (the money sits in receivables) and no tax; every other type's lines are
    checked against the chart like an invoice's (a prepayment's name the account it is held in,
    e.g. a customer-deposits liability)."""
    lines = data.get("LineItems") or []
    if typ == "RECEIVE-OVERPAYMENT":
        if any(line.get("AccountCode") for line in lines):
            raise ElementError("Line items on an overpayment cannot have an account code.")
        return "NoTax", [{**line, "LineItemID": str(uuid.uuid4())} for line in lines]
    if typ == "RECEIVE-PREPAYMENT" and not all(line.get("AccountCode") for line in lines):
        raise ElementError("Each line item on a prepayment must have an account code.")
    lat = str(data.get("LineAmountTypes") or "Exclusive")
    return lat, books.checked_lines(lines, lat)


def _credit_document(
    books: Books, txn: dict[str, Any], id_key: str, typ: str, lines: list[Any]
) -> dict[str, Any]:
    """The overpayment or prepayment a receipt creates: a credit of the contact's that an
    allocation applies to an invoice and a refund pays back."""
    return {
        id_key: str(uuid.uuid4()),
        "Type": typ,
        "Contact": txn["Contact"],
        "Date": txn["Date"],
        "Status": "AUTHORISED",
        "LineAmountTypes": txn["LineAmountTypes"],
        "LineItems": copy.deepcopy(lines),
        "SubTotal": txn["SubTotal"],
        "TotalTax": txn["TotalTax"],
        "Total": txn["Total"],
        "RemainingCredit": txn["Total"],
        "AppliedAmount": ZERO,
        "Allocations": [],
        "Payments": [],
        "CurrencyCode": books.org.currency,
        "CurrencyRate": Decimal("1"),
        "HasAttachments": False,
        "UpdatedDateUTC": books.now,
    }


def create_bank_transaction(books: Books, data: dict[str, Any]) -> dict[str, Any]:
    """Money received or spent through a bank (or clearing) account, with a contact as Xero
    requires; ``RECEIVE-OVERPAYMENT`` and ``RECEIVE-PREPAYMENT`` also make the overpayment or
    prepayment a later allocation applies to an invoice.

    Xero documents ``Reference`` as supported only for SPEND and RECEIVE: on an overpayment or a
    prepayment it is not kept (on the transaction nor the credit), so nobody can find one by it.
    """
    typ = data.get("Type")
    if typ not in BANK_TRANSACTION_TYPES:
        raise ElementError(f"The sandbox does not support bank transactions of type {typ}.")
    bank = _bank_account(books.org, data.get("BankAccount"), "BankAccount")
    currency = data.get("CurrencyCode") or books.org.currency
    if currency != books.org.currency:
        raise ElementError(f"The currency {currency} is not set up in this organisation.")
    contact = books.find_contact(data.get("Contact"), create=True)
    when = books.date_of(data.get("Date"), books.now.date())
    lat, lines = _transaction_lines(books, typ, data)
    if not lines:
        raise ElementError("A bank transaction must have at least one line item.")
    rates = {t["TaxType"]: t["EffectiveRate"] for t in books.org.tax_rates}
    sub, tax, total = line_totals(lines, lat, rates, books.unit_dp)
    if total <= 0:
        raise ElementError("The total of a bank transaction must be greater than zero.")
    books.check_lock(when)
    txn: dict[str, Any] = {
        "BankTransactionID": str(uuid.uuid4()),
        "Type": typ,
        "Contact": books.contact_ref(contact),
        "BankAccount": _account_ref(bank),
        "Date": when,
        "Status": "AUTHORISED",
        "LineAmountTypes": lat,
        "LineItems": lines,
        "SubTotal": sub,
        "TotalTax": tax,
        "Total": total,
        "CurrencyCode": books.org.currency,
        "IsReconciled": bool(data.get("IsReconciled", False)),
        "HasAttachments": False,
        "UpdatedDateUTC": books.now,
    }
    if typ in ("SPEND", "RECEIVE"):
        txn["Reference"] = data.get("Reference", "")
    elif typ == "RECEIVE-OVERPAYMENT":
        op = _credit_document(books, txn, "OverpaymentID", typ, lines)
        books.org.overpayments[op["OverpaymentID"]] = op
        txn["OverpaymentID"] = op["OverpaymentID"]
    else:
        pre = _credit_document(books, txn, "PrepaymentID", typ, lines)
        books.org.prepayments[pre["PrepaymentID"]] = pre
        txn["PrepaymentID"] = pre["PrepaymentID"]
    books.org.bank_transactions[txn["BankTransactionID"]] = txn
    return txn


# -- bank transfers -------------------------------------------------------------------------------


def _transfer_accounts(
    org: Org, data: dict[str, Any], errors: list[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Both accounts of a transfer (``None`` for one refused, its message in `errors`); two
    different accounts in one currency."""
    found: list[dict[str, Any] | None] = []
    for field_name in ("FromBankAccount", "ToBankAccount"):
        try:
            found.append(_bank_account(org, data.get(field_name), field_name))
        except ElementError as exc:
            errors += exc.messages
            found.append(None)
    source, target = found
    if source is not None and target is not None:
        if source["AccountID"] == target["AccountID"]:
            errors.append("The FromBankAccount and ToBankAccount must be different accounts.")
        elif source.get("CurrencyCode", org.currency) != target.get("CurrencyCode", org.currency):
            errors.append(
                "The FromBankAccount and ToBankAccount must be in the same currency for this "
                "transfer."
            )
    return source, target


def _transfer_leg(
    books: Books, typ: str, acc: dict[str, Any], transfer: dict[str, Any], reconciled: bool
) -> dict[str, Any]:
    """One side of a transfer as the bank transaction Xero records on that account."""
    amount = transfer["Amount"]
    return {
        "BankTransactionID": str(uuid.uuid4()),
        "Type": typ,
        "BankAccount": _account_ref(acc),
        "Date": transfer["Date"],
        "Reference": transfer["Reference"],
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [],
        "SubTotal": amount,
        "TotalTax": ZERO,
        "Total": amount,
        "CurrencyCode": books.org.currency,
        "IsReconciled": reconciled,
        "HasAttachments": False,
        "UpdatedDateUTC": books.now,
    }


def create_bank_transfer(books: Books, data: dict[str, Any]) -> dict[str, Any]:
    """Move money from one bank (or clearing) account to another, as Xero does: the transfer,
    a ``SPEND-TRANSFER`` on the from-account and a ``RECEIVE-TRANSFER`` on the to-account.

    Every refusal is reported together; the lock date applies to the transfer's date (today
    when none is given).
    """
    errors: list[str] = []
    source, target = _transfer_accounts(books.org, data, errors)
    amount = money(data.get("Amount"))
    if amount <= 0:
        errors.append("The Amount must be greater than zero.")
    when = None
    try:
        when = books.date_of(data.get("Date"), books.now.date())
    except ElementError as exc:
        errors += exc.messages
    if errors:
        raise ElementError(*errors)
    assert source is not None
    assert target is not None
    assert when is not None
    books.check_lock(when)
    transfer: dict[str, Any] = {
        "BankTransferID": str(uuid.uuid4()),
        "FromBankAccount": _account_ref(source),
        "ToBankAccount": _account_ref(target),
        "Amount": amount,
        "Date": when,
        "Reference": str(data.get("Reference") or ""),
        "CurrencyRate": Decimal("1"),
        "FromIsReconciled": bool(data.get("FromIsReconciled", False)),
        "ToIsReconciled": bool(data.get("ToIsReconciled", False)),
        "HasAttachments": False,
        "Status": "AUTHORISED",
        "CreatedDateUTC": books.now,
    }
    legs = (
        _transfer_leg(books, "SPEND-TRANSFER", source, transfer, transfer["FromIsReconciled"]),
        _transfer_leg(books, "RECEIVE-TRANSFER", target, transfer, transfer["ToIsReconciled"]),
    )
    for leg in legs:
        books.org.bank_transactions[leg["BankTransactionID"]] = leg
    transfer["FromBankTransactionID"] = legs[0]["BankTransactionID"]
    transfer["ToBankTransactionID"] = legs[1]["BankTransactionID"]
    books.org.bank_transfers[transfer["BankTransferID"]] = transfer
    return transfer
