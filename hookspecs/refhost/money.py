"""How the reference host totals a document, so that every generated total is reproducible.

The rule (the same one Xero applies, which is why plugins can compare totals):

1. per line, ``amount = quantity × unit_price × (1 − discount_rate / 100)``, rounded half-up to
   cents;
2. ``inclusive`` documents: the line amounts already contain the tax, the total is their sum;
   ``exclusive`` documents: each line's tax is ``amount × tax_rate / 100`` rounded half-up to
   cents **per line**, and the total is the sum of amounts plus the sum of line taxes;
   ``no_tax``: the total is the sum of amounts.

Everything is :class:`~decimal.Decimal`; records carry money as two-place strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "CARD_FEE_FIXED",
    "CARD_FEE_RATE",
    "CENT",
    "card_fee",
    "cents",
    "document_total",
    "line_amount",
    "line_tax",
    "money",
]

CENT = Decimal("0.01")
_HUNDRED = Decimal(100)
CARD_FEE_RATE = Decimal("1.75")
"""The card processor's fee per payment, in percent of the payment (Stripe's domestic rate)."""
CARD_FEE_FIXED = Decimal("0.30")
"""And its fixed part per payment."""


def cents(value: Decimal) -> Decimal:
    """``value`` rounded half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """A record's money string: two places, no exponent (``"12.50"``)."""
    return f"{cents(value):.2f}"


def _dec(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def line_amount(line: Mapping[str, Any]) -> Decimal:
    """A line's amount after discount, in the document's own tax treatment, rounded to cents."""
    gross = _dec(line.get("quantity"), "1") * _dec(line.get("unit_price"))
    discount = _dec(line.get("discount_rate"))
    return cents(gross * (1 - discount / _HUNDRED))


def line_tax(line: Mapping[str, Any], line_amount_types: str) -> Decimal:
    """The tax a line carries, rounded to cents per line.

    For ``inclusive`` lines it is the tax contained in the amount (``amount × r / (100 + r)``);
    for ``exclusive`` lines the tax added on top; ``no_tax`` lines carry none.
    """
    rate = _dec(line.get("tax_rate"))
    amount = line_amount(line)
    if line_amount_types == "no_tax" or rate == 0:
        return Decimal("0.00")
    if line_amount_types == "inclusive":
        return cents(amount * rate / (_HUNDRED + rate))
    return cents(amount * rate / _HUNDRED)


def document_total(lines: Iterable[Mapping[str, Any]], line_amount_types: str) -> str:
    """The document total including tax, as the host stores it (see the module docstring)."""
    total = Decimal("0.00")
    for line in lines:
        total += line_amount(line)
        if line_amount_types == "exclusive":
            total += line_tax(line, line_amount_types)
    return money(total)


def card_fee(amount: Decimal) -> Decimal:
    """What the processor keeps of one card payment: 1.75 % + 0.30, rounded half-up to cents
    per payment (a payout's fees are the sum over its payments)."""
    return cents(amount * CARD_FEE_RATE / _HUNDRED + CARD_FEE_FIXED)
