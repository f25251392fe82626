"""Host refunds → Xero payments out of a credit (pure).

Money given back comes out of one credit the customer holds, and Xero books it as a payment on
that credit, from the account the money left by: on a credit note (``ARCREDITPAYMENT``), on the
overpayment a payment left (``AROVERPAYMENTPAYMENT``) or on a deposit's prepayment
(``ARPREPAYMENTPAYMENT``). ``Reference`` is the refund's number ``RF3``, which is how a send in
doubt is found again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.schemas import PaymentPayloadSchema
from pm_xero_plugin.mapping.values import (
    parse_date,
    payment_account,
    positive_amount,
    xero_number,
)

__all__ = ["SourceKind", "refund_number", "refund_payload", "refund_source"]

SourceKind = Literal["credit_note", "overpayment", "deposit"]
"""The kind of credit a refund comes out of (the ledger kind its Xero id is found under)."""

_SOURCES: Final[dict[str, SourceKind]] = {
    "credit_note_id": "credit_note",
    "payment_id": "overpayment",
    "deposit_id": "deposit",
}
"""The refund's field naming its credit -> the credit's kind (a payment's excess is an
overpayment)."""
_REFERENCE: Final[dict[str, tuple[str, str]]] = {
    "credit_note": ("credit_note", "credit_note_id"),
    "overpayment": ("overpayment", "overpayment_id"),
    "deposit": ("prepayment", "prepayment_id"),
}
"""The credit's kind -> the payment's field that names it in Xero, and that field's id key."""


def refund_number(refund: Mapping[str, Any], prefixes: Prefixes) -> str:
    """``RF3``: the refund's ``Reference`` in Xero."""
    return xero_number(prefixes.refund, refund.get("number"))


def refund_source(refund: Mapping[str, Any]) -> tuple[SourceKind, str]:
    """The credit a refund comes out of: ``("credit_note" | "overpayment" | "deposit", host id)``.

    :raises MappingError: unless exactly one of ``credit_note_id``, ``payment_id`` and
        ``deposit_id`` is set.
    """
    given = [(field, refund.get(field)) for field in _SOURCES if refund.get(field)]
    if len(given) != 1:
        named = ", ".join(field for field, _ in given) or "none of them"
        raise MappingError(
            "credit_note_id",
            f"refund {refund.get('number')}: a refund comes out of exactly one credit – set one "
            f"of credit_note_id, payment_id and deposit_id (it has {named}); correct the refund "
            "in Pet Manager",
        )
    field, host_id = given[0]
    return _SOURCES[field], str(host_id)


def refund_payload(
    refund: Mapping[str, Any],
    m: OrgMapping,
    *,
    source_kind: SourceKind,
    source_xero_id: str,
) -> dict[str, Any]:
    """An element of ``PUT /Payments``: the refund paid out of its credit (``source_kind``,
    whose Xero id is ``source_xero_id``) from the account its method is mapped to, dated the
    day the money left, referenced ``RF3``.

    :raises MappingError: when the refund names another kind of credit than ``source_kind``,
        the method has no account, or the amount or date cannot be sent.
    """
    number = refund_number(refund, m.prefixes)
    where = f"refund {number}"
    own_kind, _ = refund_source(refund)
    if own_kind != source_kind:
        raise MappingError(
            "credit_note_id",
            f"{where} comes out of a {own_kind.replace('_', ' ')}, not a "
            f"{source_kind.replace('_', ' ')}",
        )
    target, id_key = _REFERENCE[source_kind]
    data = {
        target: {id_key: source_xero_id},
        "account": {"code": payment_account(m, str(refund.get("method") or ""), where)},
        "date": parse_date(where, "paid_date", refund.get("paid_date")),
        "amount": positive_amount(where, "amount", refund.get("amount")),
        "reference": number,
    }
    payload: dict[str, Any] = PaymentPayloadSchema().dump(data)
    return payload
