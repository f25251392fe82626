"""Host deposits → a Xero prepayment and its allocations to invoices (pure).

A deposit is money taken before the invoice exists (a booking's deposit, weeks before the
stay), so Xero holds it as a *prepayment*: a RECEIVE-PREPAYMENT bank transaction into the
method's bank (or clearing) account, its one line coded to the ``deposits`` liability. When the
stay is invoiced the host records the deposit again with allocations, and each becomes an
allocation of the prepayment to that invoice (``PUT /Prepayments/{PrepaymentID}/Allocations``).

Xero does not keep a prepayment's ``Reference``, so the deposit's number ``DEP12`` starts the
line's description too: that, the contact and the amount are how a send in doubt is found again.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pm_xero_plugin.inputs.fields import MAX_DESCRIPTION
from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.schemas import AllocationPayloadSchema, BankTransactionPayloadSchema
from pm_xero_plugin.mapping.values import (
    clip_text,
    currency_for,
    parse_date,
    payment_account,
    positive_amount,
    tracking_for,
    xero_number,
)

__all__ = ["deposit_allocation_payload", "deposit_number", "deposit_payload"]


def deposit_number(deposit: Mapping[str, Any], prefixes: Prefixes) -> str:
    """``DEP12``: the deposit's number in Xero (its reference and its line's first word)."""
    return xero_number(prefixes.deposit, deposit.get("number"))


def deposit_payload(
    deposit: Mapping[str, Any], m: OrgMapping, *, contact_id: str
) -> dict[str, Any]:
    """An element of ``PUT /BankTransactions``: the deposit as a RECEIVE-PREPAYMENT into the
    account its method is mapped to, one NoTax line of the whole amount coded to the
    ``deposits`` liability, described ``DEP12 deposit – <booking>``.

    :raises MappingError: when the ``deposits`` code or the method's account is not set, or the
        amount or date cannot be sent.
    """
    number = deposit_number(deposit, m.prefixes)
    where = f"deposit {number}"
    amount = positive_amount(where, "amount", deposit.get("amount"))
    bank = payment_account(m, str(deposit.get("method") or ""), where)
    booking = clip_text(deposit.get("reference"), MAX_DESCRIPTION - len(number) - 12)
    data = {
        "type": "RECEIVE-PREPAYMENT",
        "contact": {"contact_id": contact_id},
        "bank_account": {"code": bank},
        "line_items": [
            {
                "description": f"{number} deposit" + (f" – {booking}" if booking else ""),
                "quantity": Decimal(1),
                "unit_amount": amount,
                "line_amount": amount,
                "account_code": m.require("deposits", where=where),
                "tracking": tracking_for(m),
            }
        ],
        "line_amount_types": "NoTax",
        "date": parse_date(where, "paid_date", deposit.get("paid_date")),
        "reference": number,
        "currency_code": currency_for(deposit, m, where),
    }
    payload: dict[str, Any] = BankTransactionPayloadSchema().dump(data)
    return payload


def deposit_allocation_payload(
    deposit: Mapping[str, Any],
    allocation: Mapping[str, Any],
    *,
    invoice_id: str,
    invoice_date: object = None,
) -> dict[str, Any]:
    """An element of ``PUT /Prepayments/{PrepaymentID}/Allocations``: part of a deposit applied
    to one Xero invoice.

    Dated the later of the deposit's date and ``invoice_date`` (the invoice's; ``None``: not
    known, the deposit's), the date Xero gives the allocation whatever it is sent (as for
    credit notes): what is sent is what Xero books, and a deposit taken in a locked period
    applied to an invoice in an open one lands in the open period.
    """
    where = f"deposit {deposit.get('number')}"
    when = parse_date(where, "paid_date", deposit.get("paid_date"))
    if invoice_date is not None:
        when = max(when, parse_date(where, "invoice date", invoice_date))
    data = {
        "invoice": {"invoice_id": invoice_id},
        "amount": positive_amount(where, "allocations.amount", allocation.get("amount")),
        "date": when,
    }
    payload: dict[str, Any] = AllocationPayloadSchema().dump(data)
    return payload
