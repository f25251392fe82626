"""Every rule of the field table holds on every validation path: the marshmallow schemas, the
msgspec layer and the plain-Python layer of the fast check (one definition, three readers).

The probes are made from the table itself: for each field of each record, a value just inside
each of its bounds (accepted by all three, with the schema's payload) and just outside (refused
by all three). A path that stops reading a rule – or a field – of the table fails here.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from marshmallow import ValidationError

from pm_xero_plugin.inputs.fastcheck import C_CHECK, PLAIN_CHECK, STRUCTS
from pm_xero_plugin.inputs.fields import ID_LENGTH, RECORDS, Field, Kind
from pm_xero_plugin.inputs.records import RECORD_SCHEMAS, SCHEMAS, canonical_json

GOOD: dict[str, dict[str, Any]] = {
    "client": {
        "id": "c1",
        "number": 1,
        "location_id": "L1",
        "first_name": "A",
        "last_name": "B",
        "updated_at": "x",
        "address": {"city": "Sydney"},
    },
    "invoice": {
        "id": "i1",
        "number": 1,
        "location_id": "L1",
        "client_id": "c1",
        "date": "2025-02-01",
        "due_date": "2025-02-01",
        "currency": "AUD",
        "line_amount_types": "exclusive",
        "status": "open",
        "total": "11.00",
        "updated_at": "x",
        "lines": [
            {"description": "Night", "category": "boarding", "quantity": "1", "unit_price": "10"}
        ],
    },
    "payment": {
        "id": "p1",
        "number": 1,
        "location_id": "L1",
        "client_id": "c1",
        "paid_date": "2025-02-01",
        "amount": "1000.00",
        "currency": "AUD",
        "method": "card",
        "updated_at": "x",
        "allocations": [{"invoice_id": "i1", "amount": "15.00"}],
    },
}
GOOD["payout"] = {
    "id": "po1",
    "number": 1,
    "location_id": "L1",
    "method": "stripe",
    "paid_date": "2025-02-03",
    "currency": "AUD",
    "gross": "10.00",
    "fees": "0.00",
    "amount": "10.00",
    "payment_ids": ["p1", "p2"],
    "refund_ids": ["r1"],
    "processor_reference": "po_1",
    "updated_at": "x",
}
GOOD["deposit"] = {
    **{key: GOOD["payment"][key] for key in ("location_id", "client_id", "paid_date", "currency")},
    **{key: GOOD["payment"][key] for key in ("method", "updated_at", "allocations", "amount")},
    "id": "d1",
    "number": 1,
    "reference": "Stay 4-8 May",
}
GOOD["refund"] = {
    **{key: GOOD["payment"][key] for key in ("location_id", "client_id", "paid_date", "currency")},
    **{key: GOOD["payment"][key] for key in ("method", "updated_at", "amount")},
    "id": "r1",
    "number": 1,
    "deposit_id": "d1",
    "reason": "Booking cancelled",
}
GOOD["credit_note"] = {
    key: value for key, value in GOOD["invoice"].items() if key not in ("due_date", "status")
}
WHERE = {
    "address": ("client", "address"),
    "line": ("invoice", "lines"),
    "allocation": ("payment", "allocations"),
}
"""Where a nested record is probed: in which record, under which field."""


def _bounds(spec: Field) -> Iterator[tuple[str, Any, bool]]:
    """``(what, value, valid)`` probes of one field, made from its rules."""
    if spec.kind in (Kind.ID, Kind.TEXT):
        yield from _text_bounds(spec)
    elif spec.kind is Kind.NUMBER:
        least = int(spec.minimum or 0)
        yield "least", least, True
        yield "below least", least - 1, False
        yield "a bool", True, False
    elif spec.kind is Kind.DATE:
        yield "a day", "2025-02-01", True
        yield "no such day", "2025-02-30", False
    elif spec.kind is Kind.CURRENCY:
        yield "a code", "AUD", True
        yield "lower case", "aud", False
    elif spec.kind is Kind.CHOICE:
        for choice in spec.choices:
            yield choice, choice, True
        yield "not a choice", "not-a-choice", False
    elif spec.kind is Kind.DECIMAL:
        yield from _decimal_bounds(spec)
    elif spec.kind is Kind.RECORDS:
        yield from _list_bounds(spec)
    elif spec.kind is Kind.IDS:
        yield from _ids_bounds(spec)


def _ids_bounds(spec: Field) -> Iterator[tuple[str, Any, bool]]:
    if spec.min_length:
        yield "too few", [f"k{n}" for n in range(spec.min_length - 1)], False
    else:
        yield "none", [], True
    assert spec.max_length is not None
    yield "most", [f"k{n}" for n in range(spec.max_length)], True
    yield "too many", [f"k{n}" for n in range(spec.max_length + 1)], False
    yield "longest key", ["x" * ID_LENGTH], True
    yield "a key too long", ["x" * (ID_LENGTH + 1)], False
    yield "an empty key", [""], False
    yield "a key not a string", [7], False
    yield "not a list", "k1", False


def _text_bounds(spec: Field) -> Iterator[tuple[str, Any, bool]]:
    yield "not a string", 7, False
    if spec.max_length is not None:
        yield "longest", "x" * spec.max_length, True
        yield "too long", "x" * (spec.max_length + 1), False
    if spec.min_length:
        yield "too short", "x" * (spec.min_length - 1), False


def _list_bounds(spec: Field) -> Iterator[tuple[str, Any, bool]]:
    item = GOOD[WHERE[spec.of][0]][WHERE[spec.of][1]][0]
    if spec.min_length:
        yield "too few", [item] * (spec.min_length - 1), False
    if spec.max_length is not None:
        yield "most", [item] * spec.max_length, True
        yield "too many", [item] * (spec.max_length + 1), False
    yield "not a list", item, False


def _decimal_bounds(spec: Field) -> Iterator[tuple[str, Any, bool]]:
    step = Decimal(1).scaleb(-spec.places)
    yield "a float", 1.5, False
    yield "most places", f"1.{'1' * spec.places}", True
    yield "too many places", f"1.{'1' * (spec.places + 1)}", False
    if spec.minimum is None:
        yield "negative", "-5.00", True
    else:
        yield "least", str(spec.minimum.quantize(step)), True
        yield "below least", str((spec.minimum - step).quantize(step)), False
    if spec.maximum is not None:
        yield "most", str(spec.maximum), True
        yield "above most", str(spec.maximum + step), False


def _probes() -> Iterator[Any]:
    for name, specs in RECORDS.items():
        for spec in specs:
            for what, value, valid in _bounds(spec):
                yield pytest.param(name, spec, value, valid, id=f"{name}.{spec.name}: {what}")
            if spec.required:
                yield pytest.param(name, spec, None, False, id=f"{name}.{spec.name}: null")
            else:
                yield pytest.param(name, spec, None, True, id=f"{name}.{spec.name}: null")


_CREDITS = ("credit_note_id", "payment_id", "deposit_id")


def _record_with(name: str, field: str, value: Any) -> tuple[str, dict[str, Any]]:
    """A good record whose (possibly nested) ``field`` of record ``name`` holds ``value``.

    The record rules that tie fields together are kept where they can be, so that a probe
    tests the field's own rule: a payment's or deposit's own amount is probed without
    allocations, a payout's gross, fees or amount with the others made to add up, and a
    refund's credit alone (a null one beside another credit)."""
    kind, under = WHERE.get(name, (name, None))
    record = copy.deepcopy(GOOD[kind])
    if kind in ("payment", "deposit") and under is None:
        record["allocations"] = []  # the payment's own amount, not its allocations', is probed
    target = record if under is None else record[under]
    target = target[0] if isinstance(target, list) else target
    target[field] = value
    if kind == "refund" and field in _CREDITS:
        _one_credit(record, field, value)
    if kind == "payout" and field in ("gross", "fees", "amount") and isinstance(value, str):
        with contextlib.suppress(ArithmeticError):  # not a number: refused whatever the others
            _adds_up(record, field, Decimal(value))
    return kind, record


def _one_credit(refund: dict[str, Any], field: str, value: Any) -> None:
    """The refund's credit is ``field`` alone; a null one stands beside another credit."""
    for other in _CREDITS:
        if other != field:
            refund.pop(other, None)
    if value is None:
        refund["deposit_id" if field != "deposit_id" else "credit_note_id"] = "x1"


def _adds_up(payout: dict[str, Any], field: str, value: Decimal) -> None:
    """The payout's other money made to add up around the probed ``field`` (gross - fees =
    amount)."""
    fees = Decimal(payout["fees"])
    if field == "amount":
        payout["gross"] = str(value + fees)
    elif field == "gross":
        payout["amount"] = str(value - fees)
    else:
        payout["gross"] = str(Decimal(payout["amount"]) + value)


def _schema_payload(kind: str, record: dict[str, Any]) -> dict[str, Any] | None:
    try:
        payload: dict[str, Any] = json.loads(canonical_json(SCHEMAS[kind].load(record)))
    except ValidationError:
        return None
    return payload


@pytest.mark.parametrize(("name", "spec", "value", "valid"), list(_probes()))
def test_every_rule_of_the_table_holds_on_every_path(
    name: str, spec: Field, value: Any, valid: bool
) -> None:
    kind, record = _record_with(name, spec.name, value)
    expected = _schema_payload(kind, record)
    if valid:
        assert expected is not None, "the schema refuses a value the table allows"
    else:
        assert expected is None, "the schema accepts a value the table refuses"
    assert C_CHECK[kind](record) == expected, "msgspec layer differs from the schema"
    assert PLAIN_CHECK[kind](record) == expected, "plain-Python layer differs from the schema"


@pytest.mark.parametrize(
    ("name", "spec"), [(n, s) for n in RECORDS for s in RECORDS[n] if s.required], ids=str
)
def test_a_missing_required_field_is_refused_on_every_path(name: str, spec: Field) -> None:
    kind, record = _record_with(name, spec.name, None)
    target = record if name == kind else record[WHERE[name][1]]
    target = target[0] if isinstance(target, list) else target
    del target[spec.name]
    assert _schema_payload(kind, record) is None
    assert C_CHECK[kind](record) is None
    assert PLAIN_CHECK[kind](record) is None


def test_a_clean_string_record_is_taken_by_the_msgspec_layer_itself() -> None:
    """The backfill's speed: the clean common shape never falls through to slower layers."""
    for kind, record in GOOD.items():
        assert C_CHECK[kind](record) == _schema_payload(kind, record), kind


@pytest.mark.parametrize("name", list(RECORDS))
def test_the_schema_and_the_struct_have_the_fields_of_the_table(name: str) -> None:
    table = {spec.name: spec.required for spec in RECORDS[name]}
    schema = {key: field.required for key, field in RECORD_SCHEMAS[name]().fields.items()}
    struct = {field.name: field.required for field in msgspec.structs.fields(STRUCTS[name])}
    assert schema == table
    assert struct == table
