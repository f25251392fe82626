"""Money arithmetic exactly as Xero does it, so our totals and Xero's agree to the cent.

Xero computes each line on its own – ``LineAmount = round(Quantity × UnitAmount × (1 − Discount
/ 100), 2)`` and the line's tax rounded to the cent – and adds the rounded lines. A host that
rounds tax once on the document total ends up a cent or two away; the mapping compares both and
adds a rounding line (see :mod:`pm_xero_plugin.mapping.documents`). The sandbox uses
:func:`expected_total` too, so the two sides cannot drift apart. Everything is
:class:`~decimal.Decimal` with ``ROUND_HALF_UP`` (what Xero does for money): a float never
touches an amount before the final JSON encoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CENT",
    "TaxLine",
    "expected_total",
    "line_amount",
    "line_tax",
    "normalise_line_amount_types",
    "quantize_money",
    "quantize_quantity",
    "to_decimal",
]

CENT = Decimal("0.01")
_QUANTITY_PLACES = Decimal("0.0001")
_HUNDRED = Decimal(100)


def to_decimal(value: object) -> Decimal:
    """A finite Decimal from a decimal string, int or Decimal (floats via their text).

    The host promises decimal strings but the mapping must not crash on ``12`` or ``" 3.50 "``.

    :raises ValueError: for anything else, including ``NaN``/``Infinity`` and booleans.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not an amount")
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an amount") from None
    if not result.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    return result


def quantize_money(value: Decimal) -> Decimal:
    """Round half up to the cent: Xero's 2 decimal places for money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def quantize_quantity(value: Decimal) -> Decimal:
    """Round half up to Xero's 4 decimal places for quantities."""
    return value.quantize(_QUANTITY_PLACES, rounding=ROUND_HALF_UP)


def normalise_line_amount_types(value: str) -> str:
    """Xero's spelling (``Exclusive``/``Inclusive``/``NoTax``) from either side's spelling.

    :raises ValueError: for an unknown kind.
    """
    key = value.strip().lower().replace("_", "").replace("-", "")
    spelled = {"exclusive": "Exclusive", "inclusive": "Inclusive", "notax": "NoTax"}.get(key)
    if spelled is None:
        raise ValueError(f"{value!r} is not exclusive, inclusive or no_tax")
    return spelled


@dataclass(frozen=True)
class TaxLine:
    """One line as Xero totals it: quantity, unit amount, discount % and tax rate %."""

    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)


def line_amount(line: TaxLine) -> Decimal:
    """``round(Quantity × UnitAmount × (1 − DiscountRate/100), 2)`` – Xero's LineAmount."""
    gross = line.quantity * line.unit_amount
    return quantize_money(gross * (_HUNDRED - line.discount_rate) / _HUNDRED)


def line_tax(line: TaxLine, line_amount_types: str) -> Decimal:
    """The tax Xero puts on one line, rounded to the cent on that line.

    Exclusive: ``amount × rate``; Inclusive: the tax inside the amount, ``amount × rate / (1 +
    rate)``; NoTax: nothing.
    """
    kind = normalise_line_amount_types(line_amount_types)
    if kind == "NoTax" or line.tax_rate == 0:
        return Decimal("0.00")
    amount = line_amount(line)
    rate = line.tax_rate / _HUNDRED
    if kind == "Exclusive":
        return quantize_money(amount * rate)
    return quantize_money(amount * rate / (1 + rate))


def expected_total(lines: Iterable[TaxLine], line_amount_types: str) -> Decimal:
    """The document total Xero will compute (tax included), from lines rounded one by one.

    Exclusive: sum of line amounts plus sum of per-line taxes. Inclusive and NoTax: sum of line
    amounts (inclusive tax is carved out of them, so it does not move the total).
    """
    kind = normalise_line_amount_types(line_amount_types)
    total = Decimal("0.00")
    for line in lines:
        total += line_amount(line)
        if kind == "Exclusive":
            total += line_tax(line, kind)
    return total
