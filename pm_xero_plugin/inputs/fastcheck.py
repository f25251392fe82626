"""A fast pre-check for clean host records: the schemas' rules, in plain Python.

Backfill validates every record of a practice's history; marshmallow spends ~90 µs on a
three-line invoice, which would make validation nine tenths of a backfill. This module accepts
only records that are *clearly* valid – exact types, no whitespace to strip, no odd encodings –
and returns exactly the payload the marshmallow schema would. For anything else it returns
``None`` and :func:`pm_xero_plugin.inputs.records.validate_record` asks marshmallow, which decides
and
words the errors. So it may be stricter than the schema, never looser: a property test checks
both directions on generated records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = ["C_CHECK", "FAST"]

# ``\Z``, not ``$``: ``$`` also matches before a final newline, and "1\n" is no canonical decimal
# (marshmallow strips it: the pre-check returned "1\n" where the schema's payload says "1").
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# Decimal strings in their canonical spelling – no leading zeros, no exponent – are exactly what
# ``str(Decimal(text))`` gives back, so a match is returned as is, without making a Decimal
# (that round trip was a fifth of a backfill). Anything else goes to marshmallow.
_DEC4 = re.compile(r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?\Z")
_DEC2 = re.compile(r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?\Z")
_UDEC4 = re.compile(r"^(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?\Z")
"""Non-negative: no sign at all (``-0`` is left to marshmallow)."""
_UDEC2 = re.compile(r"^(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_CATEGORIES = frozenset(
    ("boarding", "daycare", "grooming", "training", "retail", "extras", "voucher", "adjustment")
)
_METHODS = frozenset(("cash", "card", "eftpos", "bank_transfer", "stripe", "voucher"))
_LAT = frozenset(("exclusive", "inclusive", "no_tax"))
_STATUS = frozenset(("open", "paid", "voided"))
_ZERO = Decimal(0)
_CENT = Decimal("0.01")


class _No(Exception):
    """Not clearly valid: let marshmallow decide."""


def _id(value: Any) -> str:
    if type(value) is not str or not 1 <= len(value) <= 100:
        raise _No
    return value


def _text(value: Any, longest: int) -> str:
    if type(value) is not str or len(value) > longest:
        raise _No
    return value


def _opt_text(raw: Mapping[str, Any], key: str, out: dict[str, Any], longest: int) -> None:
    if key in raw:
        value = raw[key]
        out[key] = None if value is None else _text(value, longest)


def _number(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise _No
    return value


def _date(value: Any) -> str:
    if type(value) is not str or not _DATE.match(value):
        raise _No
    try:
        date.fromisoformat(value)  # a real calendar day; the matched text is its ISO form
    except ValueError:
        raise _No from None
    return value


def _dec(value: Any, pattern: re.Pattern[str], minimum: Decimal | None) -> Decimal:
    if not (type(value) is int or (type(value) is str and pattern.match(value))):
        raise _No
    number = Decimal(value)
    if minimum is not None and number < minimum:
        raise _No
    return number


def _dec_text(value: Any, pattern: re.Pattern[str]) -> str:
    """A decimal's canonical text (what ``str(Decimal(value))`` gives) without making one.

    ``pattern`` must only match canonical spellings; pass an unsigned one for a minimum of 0.
    """
    kind = type(value)
    if kind is str:
        if pattern.match(value) is None:
            raise _No
        text: str = value
        return text
    if kind is int and (value >= 0 or pattern is _DEC2 or pattern is _DEC4):
        return str(value)
    raise _No


_match_udec4 = _UDEC4.match
_match_dec2 = _DEC2.match


def _line(raw: Any) -> dict[str, Any]:
    # The hot loop of a backfill (every line of every document): the common all-strings case is
    # checked inline; anything else takes the general helpers.
    if type(raw) is not dict:
        raise _No
    get = raw.get
    category = get("category")
    description = get("description")
    quantity = get("quantity")
    unit_price = get("unit_price")
    if category not in _CATEGORIES or type(description) is not str or len(description) > 4000:
        raise _No
    if type(quantity) is not str or _match_udec4(quantity) is None:
        quantity = _dec_text(quantity, _UDEC4)
    if type(unit_price) is not str or _match_dec2(unit_price) is None:
        unit_price = _dec_text(unit_price, _DEC2)
    out: dict[str, Any] = {
        "description": description,
        "category": category,
        "quantity": quantity,
        "unit_price": unit_price,
    }
    if "tax_rate" in raw:
        value = raw["tax_rate"]
        if value is None:
            out["tax_rate"] = None
        elif type(value) is str and _match_udec4(value) is not None:
            out["tax_rate"] = value
        else:
            out["tax_rate"] = _dec_text(value, _UDEC4)
    if "discount_rate" in raw:
        value = raw["discount_rate"]
        if value is None:
            out["discount_rate"] = None
        else:
            text = _dec_text(value, _UDEC4)
            if Decimal(text) > 100:
                raise _No
            out["discount_rate"] = text
    if "area_type" in raw:
        value = raw["area_type"]
        out["area_type"] = None if value is None else _text(value, 100)
    return out


def _document(raw: Mapping[str, Any]) -> dict[str, Any]:
    lines = raw.get("lines")
    if type(lines) is not list or not 1 <= len(lines) <= 1000:
        raise _No
    currency = raw.get("currency")
    if type(currency) is not str or not _CURRENCY.match(currency):
        raise _No
    if raw.get("line_amount_types") not in _LAT:
        raise _No
    return {
        "id": _id(raw.get("id")),
        "number": _number(raw.get("number")),
        "location_id": _id(raw.get("location_id")),
        "client_id": _id(raw.get("client_id")),
        "date": _date(raw.get("date")),
        "currency": currency,
        "line_amount_types": raw["line_amount_types"],
        "lines": [_line(line) for line in lines],
        "total": _dec_text(raw.get("total"), _UDEC2),
        "updated_at": _text(raw.get("updated_at"), 1_000_000),
    }


def _guard(check: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    def run(raw: Any) -> dict[str, Any] | None:
        try:
            return check(raw)
        except (_No, KeyError, TypeError, ValueError, ArithmeticError):
            return None

    return run


@_guard
def _invoice(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _document(raw)
    out["due_date"] = _date(raw.get("due_date"))
    if out["due_date"] < out["date"] or raw.get("status") not in _STATUS:
        raise _No
    out["status"] = raw["status"]
    _opt_text(raw, "reference", out, 255)
    return out


@_guard
def _credit_note(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _document(raw)
    if "invoice_id" in raw:
        out["invoice_id"] = None if raw["invoice_id"] is None else _id(raw["invoice_id"])
    _opt_text(raw, "reason", out, 4000)
    return out


@_guard
def _payment(raw: Mapping[str, Any]) -> dict[str, Any]:
    allocations = raw.get("allocations")
    if type(allocations) is not list or raw.get("method") not in _METHODS:
        raise _No
    currency = raw.get("currency")
    if type(currency) is not str or not _CURRENCY.match(currency):
        raise _No
    amount = _dec(raw.get("amount"), _DEC2, _CENT)
    allocated = _ZERO
    seen: set[str] = set()
    out_allocations = []
    for allocation in allocations:
        if type(allocation) is not dict:
            raise _No
        part = _dec(allocation.get("amount"), _DEC2, _CENT)
        invoice_id = _id(allocation.get("invoice_id"))
        if invoice_id in seen:
            raise _No
        seen.add(invoice_id)
        allocated += part
        out_allocations.append({"invoice_id": invoice_id, "amount": str(part)})
    if allocated > amount:
        raise _No
    return {
        "id": _id(raw.get("id")),
        "number": _number(raw.get("number")),
        "location_id": _id(raw.get("location_id")),
        "client_id": _id(raw.get("client_id")),
        "paid_date": _date(raw.get("paid_date")),
        "amount": str(amount),
        "currency": currency,
        "method": raw["method"],
        "allocations": out_allocations,
        "updated_at": _text(raw.get("updated_at"), 1_000_000),
    }


@_guard
def _client(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _id(raw.get("id")),
        "number": _number(raw.get("number")),
        "location_id": _id(raw.get("location_id")),
        "first_name": _text(raw.get("first_name"), 255),
        "last_name": _text(raw.get("last_name"), 255),
        "updated_at": _text(raw.get("updated_at"), 1_000_000),
    }
    if not (out["first_name"].strip() or out["last_name"].strip()):
        raise _No
    _opt_text(raw, "email", out, 255)
    _opt_text(raw, "phone", out, 50)
    _opt_text(raw, "customer_type", out, 100)
    if "address" in raw:
        address = raw["address"]
        if address is None:
            out["address"] = None
        elif type(address) is dict:
            kept: dict[str, Any] = {}
            for key, longest in (
                ("line1", 500),
                ("line2", 500),
                ("city", 255),
                ("region", 255),
                ("postcode", 50),
                ("country", 50),
            ):
                _opt_text(address, key, kept, longest)
            out["address"] = kept
        else:
            raise _No
    return out


# -- the same rules at C speed (msgspec) -----------------------------------------------------
#
# msgspec checks types, lengths and enumerations in C and builds the payload dict (``to_builtins``
# leaves out the optional fields a record does not have, as marshmallow does). Its ``pattern``
# constraint calls Python's ``re`` once per value, which made it slower than the plain-Python
# check, so decimal texts, dates and currencies arrive as plain ``str`` and are checked after:
# all the values of one pattern in one ``re`` call (joined by newlines, which no value may hold).
# The plain-Python check above still takes whatever this does not (integers for decimals, str
# subclasses, ...) before marshmallow. The same property tests pin both layers
# (``tests/ledger/test_host_input_fastcheck.py``). Unknown keys are ignored, as the schemas'
# EXCLUDE does; ``bool`` is not an ``int`` to msgspec.

_Id = Annotated[str, Meta(min_length=1, max_length=100)]
_Number = Annotated[int, Meta(ge=0)]
_Text50 = Annotated[str, Meta(max_length=50)]
_Text100 = Annotated[str, Meta(max_length=100)]
_Text255 = Annotated[str, Meta(max_length=255)]
_Text500 = Annotated[str, Meta(max_length=500)]
_Text4000 = Annotated[str, Meta(max_length=4000)]


_MEMO = 16384
"""How many values that passed each pattern (and how many real days) are remembered: a repeated
price or date then costs one set look-up. Bounded, so memory stays flat."""


class _Texts:
    """One pattern over many values in one ``re`` call: the values joined by newlines (which
    the pattern never matches; a value holding one would add a line, which the count catches)."""

    def __init__(self, core: str) -> None:
        self.pattern = re.compile(rf"(?:{core})(?:\n(?:{core}))*")
        self.seen: set[str] = set()

    def all_match(self, values: Sequence[Any]) -> bool:
        if self.seen.issuperset(values):
            return True  # each of them matched before (only exact matches are remembered)
        text = "\n".join(values)
        if text.count("\n") != len(values) - 1 or self.pattern.fullmatch(text) is None:
            return False
        if len(self.seen) < _MEMO:
            self.seen.update(values)
        return True


_UDEC4_ALL = _Texts(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?")
_DEC2_ALL = _Texts(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?")
_UDEC2_ALL = _Texts(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?")
_POSITIVE_ALL = _Texts(r"[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9])")
"""Canonical money of at least 0.01."""
_PERCENT_ALL = _Texts(r"100(?:\.0{1,4})?|[1-9]?[0-9](?:\.[0-9]{1,4})?")
"""A canonical rate from 0 to 100."""
_DAYS: set[str] = set()


def _day(text: str) -> bool:
    """A real calendar day in its canonical ``YYYY-MM-DD`` spelling (ASCII digits only)."""
    if text in _DAYS:
        return True
    try:
        ok = date.fromisoformat(text).isoformat() == text
    except (TypeError, ValueError):
        return False
    if ok and len(_DAYS) < _MEMO:
        _DAYS.add(text)
    return ok


class _Line(Struct):
    description: _Text4000
    category: Literal[
        "boarding", "daycare", "grooming", "training", "retail", "extras", "voucher", "adjustment"
    ]
    quantity: str
    unit_price: str
    discount_rate: str | UnsetType | None = UNSET
    tax_rate: str | UnsetType | None = UNSET
    area_type: _Text100 | UnsetType | None = UNSET


class _Invoice(Struct):
    id: _Id
    number: _Number
    location_id: _Id
    client_id: _Id
    date: str
    due_date: str
    currency: str
    line_amount_types: Literal["exclusive", "inclusive", "no_tax"]
    status: Literal["open", "paid", "voided"]
    lines: Annotated[list[_Line], Meta(min_length=1, max_length=1000)]
    total: str
    updated_at: str
    reference: _Text255 | UnsetType | None = UNSET


class _CreditNote(Struct):
    id: _Id
    number: _Number
    location_id: _Id
    client_id: _Id
    date: str
    currency: str
    line_amount_types: Literal["exclusive", "inclusive", "no_tax"]
    lines: Annotated[list[_Line], Meta(min_length=1, max_length=1000)]
    total: str
    updated_at: str
    invoice_id: _Id | UnsetType | None = UNSET
    reason: _Text4000 | UnsetType | None = UNSET


class _Allocation(Struct):
    invoice_id: _Id
    amount: str


class _Payment(Struct):
    id: _Id
    number: _Number
    location_id: _Id
    client_id: _Id
    paid_date: str
    amount: str
    currency: str
    method: Literal["cash", "card", "eftpos", "bank_transfer", "stripe", "voucher"]
    allocations: list[_Allocation]
    updated_at: str


class _Address(Struct):
    line1: _Text500 | UnsetType | None = UNSET
    line2: _Text500 | UnsetType | None = UNSET
    city: _Text255 | UnsetType | None = UNSET
    region: _Text255 | UnsetType | None = UNSET
    postcode: _Text50 | UnsetType | None = UNSET
    country: _Text50 | UnsetType | None = UNSET


class _Client(Struct):
    id: _Id
    number: _Number
    location_id: _Id
    first_name: _Text255
    last_name: _Text255
    updated_at: str
    email: _Text255 | UnsetType | None = UNSET
    phone: _Text50 | UnsetType | None = UNSET
    customer_type: _Text100 | UnsetType | None = UNSET
    address: _Address | UnsetType | None = UNSET


_convert = msgspec.convert
_to_builtins = msgspec.to_builtins
_C_ERRORS = (msgspec.ValidationError, TypeError, ValueError)


_LINE_DECIMALS = attrgetter("quantity", "unit_price", "tax_rate", "discount_rate")


def _present(values: tuple[Any, ...]) -> list[Any]:
    """The optional values a document's lines have (not null, not absent)."""
    return [value for value in values if value is not None and value is not UNSET]


def _lines_ok(lines: list[_Line], total: str) -> bool:
    """The decimal texts of a document: quantities and tax rates (≥ 0, four places), unit
    prices (two places), discount rates (0 to 100), the total (≥ 0, two places)."""
    quantities, prices, rates, discounts = zip(*map(_LINE_DECIMALS, lines), strict=True)
    if rates.count(None) or rates.count(UNSET):
        rates = tuple(_present(rates))
    if discounts.count(UNSET) + discounts.count(None) != len(
        discounts
    ) and not _PERCENT_ALL.all_match(_present(discounts)):
        return False
    return (
        _UDEC4_ALL.all_match(quantities + rates)
        and _DEC2_ALL.all_match(prices)
        and _UDEC2_ALL.all_match((total,))
    )


def _c_invoice(raw: Any) -> dict[str, Any] | None:
    try:
        record = _convert(raw, _Invoice)
        if not (
            record.due_date >= record.date
            and _day(record.date)
            and _day(record.due_date)
            and _CURRENCY.match(record.currency)
            and _lines_ok(record.lines, record.total)
        ):
            return None
        out: dict[str, Any] = _to_builtins(record)
    except _C_ERRORS:
        return None
    return out


def _c_credit_note(raw: Any) -> dict[str, Any] | None:
    try:
        record = _convert(raw, _CreditNote)
        if not (
            _day(record.date)
            and _CURRENCY.match(record.currency)
            and _lines_ok(record.lines, record.total)
        ):
            return None
        out: dict[str, Any] = _to_builtins(record)
    except _C_ERRORS:
        return None
    return out


def _c_payment(raw: Any) -> dict[str, Any] | None:
    try:
        record = _convert(raw, _Payment)
        allocations = record.allocations
        amounts = [a.amount for a in allocations]
        if not (
            _day(record.paid_date)
            and _CURRENCY.match(record.currency)
            and _POSITIVE_ALL.all_match([record.amount, *amounts])
        ):
            return None
        if len(amounts) > 1 or (amounts and amounts[0] != record.amount):
            if len({a.invoice_id for a in allocations}) != len(allocations):
                return None
            if sum((Decimal(amount) for amount in amounts), _ZERO) > Decimal(record.amount):
                return None
        out: dict[str, Any] = _to_builtins(record)
    except _C_ERRORS:
        return None
    return out


def _c_client(raw: Any) -> dict[str, Any] | None:
    try:
        record = _convert(raw, _Client)
        if not (record.first_name.strip() or record.last_name.strip()):
            return None
        out: dict[str, Any] = _to_builtins(record)
    except _C_ERRORS:
        return None
    return out


C_CHECK: dict[str, Callable[[Any], dict[str, Any] | None]] = {
    "client": _c_client,
    "invoice": _c_invoice,
    "credit_note": _c_credit_note,
    "payment": _c_payment,
}
"""The msgspec layer alone (tests pin it on its own, as they pin :data:`FAST`)."""


def _layered(
    c_check: Callable[[Any], dict[str, Any] | None],
    py_check: Callable[[Any], dict[str, Any] | None],
) -> Callable[[Any], dict[str, Any] | None]:
    def check(raw: Any) -> dict[str, Any] | None:
        out = c_check(raw)
        return out if out is not None else py_check(raw)

    return check


FAST: dict[str, Callable[[Any], dict[str, Any] | None]] = {
    "client": _layered(_c_client, _client),
    "invoice": _layered(_c_invoice, _invoice),
    "credit_note": _layered(_c_credit_note, _credit_note),
    "payment": _layered(_c_payment, _payment),
}
"""Per record kind: the payload when the record is clearly valid, else ``None``."""
