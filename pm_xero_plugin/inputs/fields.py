"""The rules of every field of a host record, written once.

The add-on checks a host record two ways: marshmallow (:mod:`pm_xero_plugin.inputs.records`),
which decides and words the errors, and a fast pre-check (:mod:`pm_xero_plugin.inputs.fastcheck`)
that accepts the clean common shape at a tenth of the cost. Both are *built* from the table here –
which fields a record has, which are required, their type, their longest length, their allowed
values, their least and greatest value – so the two cannot drift apart; the record rules that tie
fields together (a due date not before the date, allocations within the amount) are the few lines
each path writes itself, and the tests pin them on both.

The enumerations come from the host's published contract (:mod:`hookspecs.records`); the lengths
are Xero's (a line's description: 4000 characters) or the add-on's own bounds on what it stores.
Every optional field may also be ``null`` (the host sends ``None`` for "not given").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Final, get_args

from hookspecs.records import InvoiceStatus, LineAmountTypes, PaymentMethod, RevenueCategory

__all__ = [
    "ID_LENGTH",
    "INVOICE_STATUSES",
    "LINE_AMOUNT_TYPES",
    "MAX_DESCRIPTION",
    "MAX_NUMBER",
    "MAX_SETTLED",
    "PAYMENT_METHODS",
    "RECORDS",
    "REVENUE_CATEGORIES",
    "UNIT_PRICE_PLACES",
    "Field",
    "Kind",
]

REVENUE_CATEGORIES: Final[tuple[str, ...]] = get_args(RevenueCategory)
"""What a line earns for (the host's :data:`hookspecs.records.RevenueCategory`)."""
PAYMENT_METHODS: Final[tuple[str, ...]] = get_args(PaymentMethod)
"""How money was received (the host's :data:`hookspecs.records.PaymentMethod`)."""
LINE_AMOUNT_TYPES: Final[tuple[str, ...]] = get_args(LineAmountTypes)
"""Whether line prices exclude tax, include it or carry none."""
INVOICE_STATUSES: Final[tuple[str, ...]] = get_args(InvoiceStatus)
"""The host's view of an invoice."""

MAX_DESCRIPTION: Final = 4000
"""Xero's limit on a line's description."""
UNIT_PRICE_PLACES: Final = 4
"""Decimals a unit price may have: Xero keeps 4 on ``UnitAmount`` with ``unitdp=4``."""
ID_LENGTH: Final = 100
"""The longest host key the add-on takes (it stores and compares them)."""
MAX_SETTLED: Final = 10_000
"""The most payments (or refunds) one payout may settle: far more than a processor pays out at
once for a resort, few enough that one record stays small."""


class Kind(Enum):
    """The type of a field's value, as the host sends it."""

    ID = "id"
    """A host key: a string of 1 to 100 characters."""
    TEXT = "text"
    """A string, at most ``max_length`` characters (taken as sent: nothing is stripped)."""
    NUMBER = "number"
    """A whole number (never a bool), at least ``minimum``."""
    DATE = "date"
    """A calendar day, ``YYYY-MM-DD``."""
    CURRENCY = "currency"
    """An ISO 4217 code: three capital letters."""
    DECIMAL = "decimal"
    """A decimal string (or an int; never a float) with at most ``places`` decimals."""
    CHOICE = "choice"
    """One of ``choices``."""
    RECORD = "record"
    """A nested record, whose fields are ``RECORDS[of]``."""
    RECORDS = "records"
    """A list of nested records (``RECORDS[of]``), ``min_length`` to ``max_length`` of them."""
    IDS = "ids"
    """A list of host keys (each an ``ID``), ``min_length`` to ``max_length`` of them."""


@dataclass(frozen=True)
class Field:
    """One field of a host record and every rule its value must keep."""

    name: str
    kind: Kind
    required: bool = False
    """Required fields must be present and not ``null``; the others may be absent or ``null``."""
    max_length: int | None = None
    """Characters of a text (or an id), items of a list (the ids of a list of ids: always
    :data:`ID_LENGTH`)."""
    min_length: int = 0
    choices: tuple[str, ...] = ()
    places: int = 2
    """Decimal places a decimal may have: 2 for money, 4 for quantities and rates."""
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    of: str = ""
    """The nested record's name in :data:`RECORDS` (for ``RECORD`` and ``RECORDS``)."""


def _id(name: str, *, required: bool = True) -> Field:
    return Field(name, Kind.ID, required=required, min_length=1, max_length=ID_LENGTH)


def _text(name: str, max_length: int | None = None, *, required: bool = False) -> Field:
    return Field(name, Kind.TEXT, required=required, max_length=max_length)


def _money(name: str, *, required: bool = True, minimum: Decimal | None = None) -> Field:
    return Field(name, Kind.DECIMAL, required=required, places=2, minimum=minimum)


def _unit_price(name: str) -> Field:
    """A price per unit: up to 4 decimals (Xero keeps 4 on ``UnitAmount`` when asked with
    ``unitdp=4``; a line's amount is still rounded to the cent)."""
    return Field(name, Kind.DECIMAL, required=True, places=UNIT_PRICE_PLACES)


def _rate(name: str, *, required: bool = False, maximum: Decimal | None = None) -> Field:
    return Field(
        name, Kind.DECIMAL, required=required, places=4, minimum=Decimal(0), maximum=maximum
    )


def _choice(name: str, choices: tuple[str, ...]) -> Field:
    return Field(name, Kind.CHOICE, required=True, choices=choices)


MAX_NUMBER: Final = 2**53 - 1
"""The largest number a record may carry: every JSON reader keeps it exactly, and the ledger's
integers hold it (a hostile 2**63 overflowed SQLite's and failed the hook)."""
_NUMBER = Field(
    "number", Kind.NUMBER, required=True, minimum=Decimal(0), maximum=Decimal(MAX_NUMBER)
)
_UPDATED_AT = _text("updated_at", required=True)
_CURRENCY = Field("currency", Kind.CURRENCY, required=True)
_PAID_DATE = Field("paid_date", Kind.DATE, required=True)
_METHOD = _choice("method", PAYMENT_METHODS)
_ALLOCATIONS = Field("allocations", Kind.RECORDS, required=True, of="allocation")


def _ids(name: str, *, required: bool) -> Field:
    """A list of host keys a record names (the payments a payout settles)."""
    return Field(
        name, Kind.IDS, required=required, min_length=int(required), max_length=MAX_SETTLED
    )


_DOCUMENT: Final = (
    _id("id"),
    _NUMBER,
    _id("location_id"),
    _id("client_id"),
    Field("date", Kind.DATE, required=True),
    _CURRENCY,
    _choice("line_amount_types", LINE_AMOUNT_TYPES),
    Field("lines", Kind.RECORDS, required=True, min_length=1, max_length=1000, of="line"),
    _money("total", minimum=Decimal(0)),
    _UPDATED_AT,
)

RECORDS: Final[dict[str, tuple[Field, ...]]] = {
    "address": (
        _text("line1", 500),
        _text("line2", 500),
        _text("city", 255),
        _text("region", 255),
        _text("postcode", 50),
        _text("country", 50),
    ),
    "client": (
        _id("id"),
        _NUMBER,
        _id("location_id"),
        _text("first_name", 255, required=True),
        _text("last_name", 255, required=True),
        _text("email", 255),
        _text("phone", 50),
        Field("address", Kind.RECORD, of="address"),
        _text("customer_type", 100),
        _UPDATED_AT,
    ),
    "line": (
        _text("description", MAX_DESCRIPTION, required=True),
        _choice("category", REVENUE_CATEGORIES),
        _rate("quantity", required=True),
        _unit_price("unit_price"),
        _rate("discount_rate", maximum=Decimal(100)),
        _rate("tax_rate"),
        _text("area_type", 100),
    ),
    "invoice": (
        *_DOCUMENT,
        Field("due_date", Kind.DATE, required=True),
        _choice("status", INVOICE_STATUSES),
        _text("reference", 255),
    ),
    "credit_note": (
        *_DOCUMENT,
        _id("invoice_id", required=False),
        _text("reason", 4000),
    ),
    "allocation": (
        _id("invoice_id"),
        _money("amount", minimum=Decimal("0.01")),
    ),
    "payment": (
        _id("id"),
        _NUMBER,
        _id("location_id"),
        _id("client_id"),
        _PAID_DATE,
        _money("amount", minimum=Decimal("0.01")),
        _CURRENCY,
        _METHOD,
        _ALLOCATIONS,
        _UPDATED_AT,
    ),
    "payout": (
        _id("id"),
        _NUMBER,
        _id("location_id"),
        _METHOD,
        _PAID_DATE,
        _CURRENCY,
        _money("gross", minimum=Decimal("0.01")),
        _money("fees", minimum=Decimal(0)),
        _money("amount", minimum=Decimal("0.01")),
        _ids("payment_ids", required=True),
        _ids("refund_ids", required=False),
        _text("processor_reference", 255),
        _UPDATED_AT,
    ),
    "deposit": (
        _id("id"),
        _NUMBER,
        _id("location_id"),
        _id("client_id"),
        _PAID_DATE,
        _money("amount", minimum=Decimal("0.01")),
        _CURRENCY,
        _METHOD,
        _ALLOCATIONS,
        _text("reference", 255),
        _UPDATED_AT,
    ),
    "refund": (
        _id("id"),
        _NUMBER,
        _id("location_id"),
        _id("client_id"),
        _PAID_DATE,
        _money("amount", minimum=Decimal("0.01")),
        _CURRENCY,
        _METHOD,
        _id("credit_note_id", required=False),
        _id("payment_id", required=False),
        _id("deposit_id", required=False),
        _text("reason", 4000),
        _UPDATED_AT,
    ),
}
"""Every host record (and the records nested in them), field by field: the one definition."""
