"""A fast pre-check for clean host records, built from the same field table as the schemas.

Backfill validates every record of a practice's history; marshmallow spends ~90 µs on a
three-line invoice, which would make validation nine tenths of a backfill. This module accepts
only records that are *clearly* valid – exact types, no whitespace to strip, no odd encodings –
and returns exactly the payload the marshmallow schema would. For anything else it returns
``None`` and :func:`pm_xero_plugin.inputs.records.validate_record` asks marshmallow, which decides
and words the errors. So it may be stricter than the schema, never looser: property tests check
both directions on generated records, and a test walks every rule of the table on both.

Two layers, both generated from :data:`pm_xero_plugin.inputs.fields.RECORDS` (no field's rule is
written here): msgspec Structs, which check types, lengths and enumerations in C, and a
plain-Python check that takes what msgspec does not (integers for decimals, mappings that are not
dicts). The record rules that tie fields together are the only hand-written part, once per layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from pm_xero_plugin.inputs.fields import ID_LENGTH, RECORDS, Field, Kind

__all__ = ["C_CHECK", "FAST", "PLAIN_CHECK", "STRUCTS"]

_Check = Callable[[Any], dict[str, Any] | None]

# ``\Z``, not ``$``: ``$`` also matches before a final newline, and "1\n" is no canonical decimal
# (marshmallow strips it: the pre-check returned "1\n" where the schema's payload says "1").
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
# Decimal strings in their canonical spelling – no leading zeros, no exponent – are exactly what
# ``str(Decimal(text))`` gives back, so a match is returned as is, without making a Decimal
# (that round trip was a fifth of a backfill). Anything else goes to marshmallow.
_DIGITS = r"(?:0|[1-9][0-9]{0,14})"
_SIGNED = {places: re.compile(rf"^-?{_DIGITS}(?:\.[0-9]{{1,{places}}})?\Z") for places in (2, 4)}
_UNSIGNED = {places: re.compile(rf"^{_DIGITS}(?:\.[0-9]{{1,{places}}})?\Z") for places in (2, 4)}
"""Non-negative: no sign at all (``-0`` is left to marshmallow)."""
_ZERO = Decimal(0)
_CREDITS = ("credit_note_id", "payment_id", "deposit_id")
"""What a refund may come out of (exactly one is set)."""


class _No(Exception):
    """Not clearly valid: let marshmallow decide."""


# -- the plain-Python layer --------------------------------------------------------------------


def _text_check(spec: Field) -> Callable[[Any], Any]:
    shortest, longest = spec.min_length, spec.max_length

    def check(value: Any) -> Any:
        if type(value) is not str or len(value) < shortest:
            raise _No
        if longest is not None and len(value) > longest:
            raise _No
        return value

    return check


def _number_check(spec: Field) -> Callable[[Any], Any]:
    least, most = spec.minimum, spec.maximum

    def check(value: Any) -> Any:
        if (
            type(value) is not int
            or (least is not None and value < least)
            or (most is not None and value > most)
        ):
            raise _No
        return value

    return check


def _date_check(value: Any) -> Any:
    if type(value) is not str or not _DATE.match(value):
        raise _No
    try:
        date.fromisoformat(value)  # a real calendar day; the matched text is its ISO form
    except ValueError:
        raise _No from None
    return value


def _currency_check(value: Any) -> Any:
    if type(value) is not str or not _CURRENCY.match(value):
        raise _No
    return value


def _decimal_check(spec: Field) -> Callable[[Any], Any]:
    """A decimal's canonical text (what ``str(Decimal(value))`` gives), made only when a bound
    needs comparing: the pattern matches canonical spellings only."""
    unsigned = spec.minimum is not None and spec.minimum >= 0
    pattern = (_UNSIGNED if unsigned else _SIGNED)[spec.places]
    least = spec.minimum if spec.minimum else None  # 0 is what the unsigned pattern holds
    most = spec.maximum

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            if pattern.match(value) is None:
                raise _No
            text: str = value
        elif kind is int and (value >= 0 or not unsigned):
            text = str(value)
        else:
            raise _No
        if (least is not None or most is not None) and not _within(Decimal(text), least, most):
            raise _No
        return text

    return check


def _within(number: Decimal, least: Decimal | None, most: Decimal | None) -> bool:
    return (least is None or number >= least) and (most is None or number <= most)


def _choice_check(spec: Field) -> Callable[[Any], Any]:
    choices = frozenset(spec.choices)

    def check(value: Any) -> Any:
        if type(value) is not str or value not in choices:
            raise _No
        return value

    return check


def _records_check(spec: Field) -> Callable[[Any], Any]:
    shortest, longest = spec.min_length, spec.max_length
    item = _plain_record(spec.of, top=False)

    def check(value: Any) -> Any:
        if type(value) is not list or len(value) < shortest:
            raise _No
        if longest is not None and len(value) > longest:
            raise _No
        return [item(one) for one in value]

    return check


def _ids_check(spec: Field) -> Callable[[Any], Any]:
    shortest, longest = spec.min_length, spec.max_length

    def check(value: Any) -> Any:
        if type(value) is not list or len(value) < shortest:
            raise _No
        if longest is not None and len(value) > longest:
            raise _No
        for key in value:
            if type(key) is not str or not 0 < len(key) <= ID_LENGTH:
                raise _No
        return list(value)

    return check


def _value_check(spec: Field) -> Callable[[Any], Any]:
    """The plain-Python check of one field: its value, or :class:`_No`."""
    if spec.kind in (Kind.ID, Kind.TEXT):
        return _text_check(spec)
    if spec.kind is Kind.NUMBER:
        return _number_check(spec)
    if spec.kind is Kind.DATE:
        return _date_check
    if spec.kind is Kind.CURRENCY:
        return _currency_check
    if spec.kind is Kind.DECIMAL:
        return _decimal_check(spec)
    if spec.kind is Kind.CHOICE:
        return _choice_check(spec)
    if spec.kind is Kind.RECORD:
        return _plain_record(spec.of, top=False)
    if spec.kind is Kind.IDS:
        return _ids_check(spec)
    return _records_check(spec)


def _plain_record(name: str, *, top: bool) -> Callable[[Any], dict[str, Any]]:
    """The plain-Python check of record ``name``: its payload, or :class:`_No`. A nested record
    must be a dict; the record itself may be any mapping (as marshmallow takes)."""
    plan = [(spec.name, spec.required, _value_check(spec)) for spec in RECORDS[name]]

    def check(raw: Any) -> dict[str, Any]:
        if type(raw) is not dict and not (top and isinstance(raw, Mapping)):
            raise _No
        out: dict[str, Any] = {}
        for key, required, value_check in plan:
            if key in raw:
                value = raw[key]
                if value is not None:
                    out[key] = value_check(value)
                elif required:
                    raise _No
                else:
                    out[key] = None
            elif required:
                raise _No
        return out

    return check


def _plain_client(out: dict[str, Any]) -> bool:
    return bool(out["first_name"].strip() or out["last_name"].strip())


def _plain_invoice(out: dict[str, Any]) -> bool:
    return bool(out["due_date"] >= out["date"])


def _plain_payment(out: dict[str, Any]) -> bool:
    allocations = out["allocations"]
    if len({a["invoice_id"] for a in allocations}) != len(allocations):
        return False
    return sum((Decimal(a["amount"]) for a in allocations), _ZERO) <= Decimal(out["amount"])


def _plain_any(out: dict[str, Any]) -> bool:
    return True


def _plain_payout(out: dict[str, Any]) -> bool:
    if Decimal(out["gross"]) - Decimal(out["fees"]) != Decimal(out["amount"]):
        return False
    refunds = out.get("refund_ids") or ()
    return len(set(out["payment_ids"])) == len(out["payment_ids"]) and len(set(refunds)) == len(
        refunds
    )


def _plain_refund(out: dict[str, Any]) -> bool:
    return [out.get(name) is not None for name in _CREDITS].count(True) == 1


def _plain(name: str, rule: Callable[[dict[str, Any]], bool]) -> _Check:
    check = _plain_record(name, top=True)

    def run(raw: Any) -> dict[str, Any] | None:
        try:
            out = check(raw)
        except (_No, KeyError, TypeError, ValueError, ArithmeticError):
            return None
        return out if rule(out) else None

    return run


# -- the same rules at C speed (msgspec) -----------------------------------------------------
#
# msgspec checks types, lengths and enumerations in C and builds the payload dict (``to_builtins``
# leaves out the optional fields a record does not have, as marshmallow does). Its ``pattern``
# constraint calls Python's ``re`` once per value, which made it slower than the plain-Python
# check, so decimal texts, dates and currencies arrive as plain ``str`` and are checked after:
# all the values of one pattern in one ``re`` call (joined by newlines, which no value may hold).
# Unknown keys are ignored, as the schemas' EXCLUDE does; ``bool`` is not an ``int`` to msgspec.

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


_DECIMAL_TEXTS: dict[tuple[int, Decimal | None, Decimal | None], _Texts] = {
    (4, _ZERO, None): _Texts(rf"{_DIGITS}(?:\.[0-9]{{1,4}})?"),
    (4, _ZERO, Decimal(100)): _Texts(r"100(?:\.0{1,4})?|[1-9]?[0-9](?:\.[0-9]{1,4})?"),
    (4, None, None): _Texts(rf"-?{_DIGITS}(?:\.[0-9]{{1,4}})?"),
    (2, None, None): _Texts(rf"-?{_DIGITS}(?:\.[0-9]{{1,2}})?"),
    (2, _ZERO, None): _Texts(rf"{_DIGITS}(?:\.[0-9]{{1,2}})?"),
    (2, Decimal("0.01"), None): _Texts(
        r"[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9])"
    ),
}
"""The canonical spellings of each decimal rule of the table, (places, least, most): a rate of
0 to 100, money of at least 0.01, a unit price of 4 places, ... A rule not listed here fails at
import, so a new one in the table cannot go unchecked on this layer."""

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


def _length_meta(spec: Field) -> Meta | None:
    if not spec.min_length and spec.max_length is None:
        return None
    return Meta(min_length=spec.min_length or None, max_length=spec.max_length)


def _annotation(spec: Field, structs: Mapping[str, type[Struct]]) -> Any:
    """The msgspec type that keeps ``spec``'s rules (dates, currencies and decimals: ``str``,
    checked after, see :class:`_Texts`)."""
    if spec.kind in (Kind.ID, Kind.TEXT):
        meta = _length_meta(spec)
        return str if meta is None else Annotated[str, meta]
    if spec.kind is Kind.NUMBER:
        if spec.minimum is None and spec.maximum is None:
            return int
        least = None if spec.minimum is None else int(spec.minimum)
        most = None if spec.maximum is None else int(spec.maximum)
        return Annotated[int, Meta(ge=least, le=most)]
    if spec.kind is Kind.CHOICE:
        return Literal.__getitem__(spec.choices)
    if spec.kind is Kind.RECORD:
        return structs[spec.of]
    if spec.kind is Kind.RECORDS:
        meta = _length_meta(spec)
        items = list.__class_getitem__(structs[spec.of])
        return items if meta is None else Annotated[items, meta]
    if spec.kind is Kind.IDS:
        meta = _length_meta(spec)
        keys = list.__class_getitem__(Annotated[str, Meta(min_length=1, max_length=ID_LENGTH)])
        return keys if meta is None else Annotated[keys, meta]
    return str


def _struct(name: str, structs: dict[str, type[Struct]]) -> type[Struct]:
    """The Struct of record ``name`` (required fields first, as msgspec needs)."""
    specs = sorted(RECORDS[name], key=lambda spec: not spec.required)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (spec.name, _annotation(spec, structs))
        if spec.required
        else (spec.name, Union[_annotation(spec, structs), UnsetType, None], UNSET)  # noqa: UP007
        for spec in specs
    ]
    structs[name] = msgspec.defstruct(f"_{name.title()}", fields)
    return structs[name]


def _slot(spec: Field) -> int:
    """Which of :data:`_DECIMAL_TEXTS` checks the decimal ``spec``."""
    return list(_DECIMAL_TEXTS).index((spec.places, spec.minimum, spec.maximum))


def _given_source(expression: str, spec: Field) -> str:
    """The values of ``expression`` that are given (an optional field: not null, not absent)."""
    if spec.required:
        return expression
    missing = f"{expression}.count(None) or {expression}.count(UNSET)"
    return f"({expression} if not ({missing}) else _given({expression}))"


def _list_source(field: Field, parts: dict[int, list[str]], getters: dict[str, Any]) -> list[str]:
    """The lines that take the decimals of a list of records, one tuple per field (the getter
    of the items' decimals goes to ``getters``, made once)."""
    inner = RECORDS[field.of]
    if any(one.kind in (Kind.DATE, Kind.CURRENCY, Kind.RECORDS) for one in inner):
        raise NotImplementedError(f"{field.of}: only decimals are checked in a list")
    decimals = [one for one in inner if one.kind is Kind.DECIMAL]
    if not decimals:
        return []
    columns = [f"{field.name}_{one.name}" for one in decimals]
    for one, column in zip(decimals, columns, strict=True):
        parts.setdefault(_slot(one), []).append(_given_source(column, one))
    getters[f"_get_{field.name}"] = _attrs(*(one.name for one in decimals))
    return [
        f"items = record.{field.name}",
        "if items:",
        f"    {', '.join(columns)}, = zip(*map(_get_{field.name}, items), strict=True)",
        "else:",
        f"    {' = '.join(columns)} = ()",
    ]


def _pattern_check_source(name: str, getters: dict[str, Any]) -> list[str]:
    """The lines that check the values of ``record`` msgspec takes as plain ``str``: every
    date a real day, every currency a code, and the values of each decimal rule joined into one
    ``re`` call (:class:`_Texts`) – its own decimals and those of its lists of records. They
    ``return None`` at the first failure and end with the record rule (``_rule``)."""
    body: list[str] = []
    parts: dict[int, list[str]] = {}  # pattern slot -> expressions giving tuples of values
    for spec in RECORDS[name]:
        if spec.kind is Kind.DATE:
            body.append(f"if not _day(record.{spec.name}): return None")
        elif spec.kind is Kind.CURRENCY:
            body.append(f"if not _currency(record.{spec.name}): return None")
        elif spec.kind is Kind.DECIMAL:
            parts.setdefault(_slot(spec), []).append(_given_source(f"(record.{spec.name},)", spec))
        elif spec.kind is Kind.RECORDS:
            body += _list_source(spec, parts, getters)
    checks = []
    for number, expressions in sorted(parts.items()):
        body.append(f"values_{number} = {' + '.join(expressions)}")
        checks.append(f"(not values_{number} or _texts[{number}].all_match(values_{number}))")
    checks.append("_rule(record)")
    body.append(f"if not ({' and '.join(checks)}): return None")
    return body


def _c(name: str, rule: Callable[[Struct], bool]) -> _Check:
    """The msgspec check of record ``name``: convert to its Struct, check what msgspec took as
    plain ``str`` (:func:`_pattern_check_source`) and the record rule, then the payload.

    Written out as straight-line code from the table (as :mod:`dataclasses` writes ``__init__``):
    this is the hot loop of a backfill, and a loop over the table per record cost a third more.
    """
    scope: dict[str, Any] = {
        "_convert": msgspec.convert,
        "_to_builtins": msgspec.to_builtins,
        "_struct": _struct(name, STRUCTS),
        "_rule": rule,
        "_errors": (msgspec.ValidationError, TypeError, ValueError),
        "_day": _day,
        "_currency": _CURRENCY.match,
        "_given": _given,
        "UNSET": UNSET,
        "_texts": list(_DECIMAL_TEXTS.values()),
    }
    lines = [
        "record = _convert(raw, _struct)",
        *_pattern_check_source(name, scope),
        "return _to_builtins(record)",
    ]
    body = "".join(f"        {line}\n" for line in lines)
    source = f"def check(raw):\n    try:\n{body}    except _errors:\n        return None\n"
    exec(compile(source, f"<fast check of {name}>", "exec"), scope)
    check: _Check = scope["check"]
    return check


def _attrs(*keys: str) -> Callable[[Any], tuple[Any, ...]]:
    """``attrgetter`` that gives a tuple for one key too."""
    if len(keys) > 1:
        return attrgetter(*keys)
    (key,) = keys
    return lambda item: (getattr(item, key),)


def _given(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values of an optional field that are given (not null, not absent)."""
    if values.count(None) + values.count(UNSET) == len(values):
        return ()  # the common case: no line has a discount
    return tuple([value for value in values if value is not None and value is not UNSET])


STRUCTS: dict[str, type[Struct]] = {}
"""The msgspec Struct of every record of the table (built from it, nested ones first)."""
for _name in ("address", "line", "allocation"):  # nested ones first
    _struct(_name, STRUCTS)

_NAMES = attrgetter("first_name", "last_name")
_DATES = attrgetter("date", "due_date")


def _c_any(record: Struct) -> bool:
    return True


def _c_client(record: Struct) -> bool:
    first, last = _NAMES(record)
    return bool(first.strip() or last.strip())


def _c_invoice(record: Struct) -> bool:
    day, due = _DATES(record)
    return bool(due >= day)


def _c_payment(record: Struct) -> bool:
    allocations = getattr(record, "allocations")  # noqa: B009 (a generated Struct)
    amount = getattr(record, "amount")  # noqa: B009
    amounts = [a.amount for a in allocations]
    if len(amounts) > 1 or (amounts and amounts[0] != amount):
        if len({a.invoice_id for a in allocations}) != len(allocations):
            return False
        if sum((Decimal(part) for part in amounts), _ZERO) > Decimal(amount):
            return False
    return True


_MONEY = attrgetter("gross", "fees", "amount")
_SETTLED = attrgetter("payment_ids", "refund_ids")
_CREDIT_IDS = attrgetter(*_CREDITS)


def _c_payout(record: Struct) -> bool:
    gross, fees, amount = _MONEY(record)
    if Decimal(gross) - Decimal(fees) != Decimal(amount):
        return False
    payments, refunds = _SETTLED(record)
    if refunds is UNSET or refunds is None:
        refunds = ()
    return len(set(payments)) == len(payments) and len(set(refunds)) == len(refunds)


def _c_refund(record: Struct) -> bool:
    given = [key for key in _CREDIT_IDS(record) if key is not None and key is not UNSET]
    return len(given) == 1


_RULES: dict[str, tuple[Callable[[Struct], bool], Callable[[dict[str, Any]], bool]]]
_RULES = {
    "client": (_c_client, _plain_client),
    "invoice": (_c_invoice, _plain_invoice),
    "credit_note": (_c_any, _plain_any),
    "payment": (_c_payment, _plain_payment),
    "payout": (_c_payout, _plain_payout),
    "deposit": (_c_payment, _plain_payment),  # allocated as a payment is
    "refund": (_c_refund, _plain_refund),
}
"""The record rules that tie fields together, per layer (the schemas' ``validates_schema``)."""

C_CHECK: dict[str, _Check] = {kind: _c(kind, rules[0]) for kind, rules in _RULES.items()}
"""The msgspec layer alone (tests pin it on its own, as they pin :data:`FAST`)."""

PLAIN_CHECK: dict[str, _Check] = {kind: _plain(kind, rules[1]) for kind, rules in _RULES.items()}
"""The plain-Python layer alone."""


def _layered(c_check: _Check, py_check: _Check) -> _Check:
    def check(raw: Any) -> dict[str, Any] | None:
        out = c_check(raw)
        return out if out is not None else py_check(raw)

    return check


FAST: dict[str, _Check] = {kind: _layered(C_CHECK[kind], PLAIN_CHECK[kind]) for kind in _RULES}
"""Per record kind: the payload when the record is clearly valid, else ``None``."""
