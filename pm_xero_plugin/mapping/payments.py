"""Host payments → Xero payments and overpayments (pure).

One host payment becomes a Xero payment per allocation (each with ``Reference`` ``PAY12``, which
is how an ambiguous send is found again) and, for what is left over, a RECEIVE-OVERPAYMENT bank
transaction: credit the customer holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.money import quantize_money
from pm_xero_plugin.mapping.schemas import (
    BankTransactionPayloadSchema,
    PaymentPayloadSchema,
)
from pm_xero_plugin.mapping.values import (
    currency_for,
    parse_amount,
    parse_date,
    payment_account,
    positive_amount,
    tracking_for,
    xero_number,
)

__all__ = [
    "overpayment_excess",
    "overpayment_payload",
    "payment_payload",
    "payment_reference",
]


def payment_reference(payment: Mapping[str, Any], m: OrgMapping) -> str:
    """``PAY12``: the Xero ``Reference`` that finds a payment (and its overpayment) again."""
    return xero_number(m.prefixes.payment, payment.get("number"))


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
    account = payment_account(m, method, where)
    data = {
        "invoice": {"invoice_id": invoice_id},
        "account": {"code": account},
        "date": parse_date(where, "paid_date", payment.get("paid_date")),
        "amount": positive_amount(where, "amount", allocation.get("amount")),
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
    received = quantize_money(parse_amount(where, "amount", payment.get("amount")))
    allocated = sum(
        (
            quantize_money(parse_amount(where, "allocations.amount", item.get("amount")))
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
    bank = payment_account(m, method, where)
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
                "tracking": tracking_for(m),
            }
        ],
        "line_amount_types": "NoTax",
        "date": parse_date(where, "paid_date", payment.get("paid_date")),
        "reference": reference,
        "currency_code": currency_for(payment, m, where),
    }
    payload: dict[str, Any] = BankTransactionPayloadSchema().dump(data)
    return payload
