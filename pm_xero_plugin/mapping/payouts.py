"""Card payouts → a Xero bank transfer and a fee spend (pure).

Card payments are received into a *clearing account* (the account the payments' method is
mapped to). When the processor pays out, two things reach Xero: a bank transfer of what reached
the bank (``amount``) from the clearing account to ``payout_bank``, and the processor's ``fees``
as a SPEND on the clearing account coded to ``card_fees``. Together they take ``gross`` out of
the clearing account, so it returns to zero, and the bank deposit in the books equals the
statement line. Both carry the payout's number ``PO7`` as ``Reference``: the natural key a send
in doubt is found again by.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.money import quantize_money
from pm_xero_plugin.mapping.schemas import BankTransactionPayloadSchema, BankTransferPayloadSchema
from pm_xero_plugin.mapping.values import (
    clip_text,
    currency_for,
    parse_amount,
    parse_date,
    payment_account,
    positive_amount,
    tracking_for,
    xero_number,
)

__all__ = [
    "payout_fee_payload",
    "payout_number",
    "payout_transfer_payload",
    "processor_name",
]

PROCESSORS: Final[Mapping[str, str]] = {"stripe": "Stripe"}
"""The contact a payout's fees are paid to, by the method its payments came in by."""
OTHER_PROCESSOR: Final = "Card processor"
"""The contact of any other method's fees."""


def payout_number(payout: Mapping[str, Any], prefixes: Prefixes) -> str:
    """``PO7``: the payout's ``Reference`` in Xero (on the transfer and on the fee spend)."""
    return xero_number(prefixes.payout, payout.get("number"))


def processor_name(payout: Mapping[str, Any]) -> str:
    """The contact a payout's fee spend is to (Xero finds a contact by name, or creates it)."""
    return PROCESSORS.get(str(payout.get("method") or ""), OTHER_PROCESSOR)


def _balanced(payout: Mapping[str, Any], where: str) -> tuple[Decimal, Decimal]:
    """``(amount, fees)`` of a payout whose ``gross`` - ``fees`` is its ``amount``.

    :raises MappingError: when they do not add up, or the fees are negative.
    """
    gross = quantize_money(parse_amount(where, "gross", payout.get("gross")))
    fees = quantize_money(parse_amount(where, "fees", payout.get("fees")))
    amount = quantize_money(parse_amount(where, "amount", payout.get("amount")))
    if fees < 0:
        raise MappingError(
            "fees", f"{where}: fees {fees} are negative; correct the payout in Pet Manager"
        )
    if gross - fees != amount:
        raise MappingError(
            "amount",
            f"{where}: gross {gross} less fees {fees} is {gross - fees}, not the {amount} paid "
            "out; correct the payout in Pet Manager",
        )
    return amount, fees


def payout_transfer_payload(payout: Mapping[str, Any], m: OrgMapping) -> dict[str, Any]:
    """An element of ``PUT /BankTransfers``: what reached the bank, from the clearing account
    (the account the payout's method is mapped to) to ``payout_bank``, dated the day it
    arrived, referenced ``PO7``.

    :raises MappingError: when either account is not set or they are the same account, or the
        payout's amounts do not add up.
    """
    number = payout_number(payout, m.prefixes)
    where = f"payout {number}"
    method = str(payout.get("method") or "")
    clearing = payment_account(m, method, where)
    bank = m.require("payout_bank", where=where)
    if clearing == bank:
        raise MappingError(
            "account_codes.payout_bank",
            f"{where}: the {method.replace('_', ' ')} payments' clearing account and the payout "
            f"bank are both '{bank}'; a payout moves money from the clearing account to the "
            "bank, so map payout_bank to the bank account the processor pays into",
        )
    _balanced(payout, where)
    data = {
        "from_bank_account": {"code": clearing},
        "to_bank_account": {"code": bank},
        "amount": positive_amount(where, "amount", payout.get("amount")),
        "date": parse_date(where, "paid_date", payout.get("paid_date")),
        "reference": number,
    }
    payload: dict[str, Any] = BankTransferPayloadSchema().dump(data)
    return payload


def payout_fee_payload(payout: Mapping[str, Any], m: OrgMapping) -> dict[str, Any]:
    """An element of ``PUT /BankTransactions``: the processor's fees as a SPEND out of the
    clearing account to the processor (a contact by name, ``Stripe``), one NoTax line
    ``PO7 card processing fees`` coded to ``card_fees``, referenced ``PO7``. The processor's own
    id of the payout (``po_1Nx…``), when given, follows on the line.

    :raises MappingError: when the payout has no fees, ``card_fees`` or the clearing account is
        not set, or the payout's amounts do not add up.
    """
    number = payout_number(payout, m.prefixes)
    where = f"payout {number}"
    _, fees = _balanced(payout, where)
    if fees <= 0:
        raise MappingError("fees", f"{where} has no fees to record")
    processor = processor_name(payout)
    their_id = clip_text(payout.get("processor_reference"), 255)
    data = {
        "type": "SPEND",
        "contact": {"name": processor},
        "bank_account": {"code": payment_account(m, str(payout.get("method") or ""), where)},
        "line_items": [
            {
                "description": f"{number} card processing fees"
                + (f" ({processor} {their_id})" if their_id else ""),
                "quantity": Decimal(1),
                "unit_amount": fees,
                "line_amount": fees,
                "account_code": m.require("card_fees", where=where),
                "tracking": tracking_for(m),
            }
        ],
        "line_amount_types": "NoTax",
        "date": parse_date(where, "paid_date", payout.get("paid_date")),
        "reference": number,
        "currency_code": currency_for(payout, m, where),
    }
    payload: dict[str, Any] = BankTransactionPayloadSchema().dump(data)
    return payload
