"""Marshmallow schemas for what the host passes in: never trust a record, keep it when refused.

The schemas are built from the field table in :mod:`pm_xero_plugin.inputs.fields` (as the fast
pre-check is); only the record rules that tie fields together are written here.

Unknown keys: **EXCLUDE**, deliberately, not RAISE. The host contract says hosts grow their records
over time (a new optional field on an invoice is not a breaking change for them); with RAISE every
such host upgrade would turn every record into a rejection and stop the sync of a whole business.
Missing required fields, wrong types and out-of-range values are refused (RAISE semantics), with
field-level messages (``lines.0.quantity: must be ≥ 0``). Nothing is lost either way: a refused
record is stored as ``rejected`` with its raw payload.

Money must arrive as a decimal string (or an integer), never a float: a float has already lost the
cents the host meant. Two decimal places for money, four for quantities (Xero's ``unitdp=4``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from pm_xero_plugin.inputs.fastcheck import FAST
from pm_xero_plugin.inputs.fields import ID_LENGTH, RECORDS, Field, Kind

__all__ = [
    "MAX_RAW_BYTES",
    "RECORD_KINDS",
    "RECORD_SCHEMAS",
    "SCHEMAS",
    "DecimalString",
    "canonical_json",
    "capped_raw",
    "flatten_errors",
    "payload_json",
    "validate_record",
]

MAX_RAW_BYTES: Final = 64 * 1024
"""How much of a refused record's raw JSON is kept (plus its full size and SHA-256)."""


class DecimalString(fields.Decimal):
    """A decimal string (or int) with at most ``max_places`` decimals; floats are refused."""

    def __init__(
        self,
        *,
        max_places: int,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_places = max_places
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a decimal string such as '12.50'")
        try:
            number = Decimal(value) if isinstance(value, int) else Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(f"'{str(value)[:40]}' is not a number") from None
        if not number.is_finite():
            raise ValidationError("must be a finite number")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.max_places:
            raise ValidationError(f"at most {self.max_places} decimal places")
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(f"must be ≥ {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValidationError(f"must be ≤ {self.maximum}")
        return number


class _HostSchema(Schema):
    class Meta:
        unknown = EXCLUDE


def _length(spec: Field) -> validate.Length | None:
    if spec.max_length is None and not spec.min_length:
        return None
    return validate.Length(min=spec.min_length or None, max=spec.max_length)


def _field(spec: Field, schemas: Mapping[str, type[Schema]]) -> fields.Field[Any]:
    """The marshmallow field that keeps ``spec``'s rules."""
    options: dict[str, Any] = {"required": True} if spec.required else {"allow_none": True}
    if spec.kind is Kind.DECIMAL:
        return DecimalString(
            max_places=spec.places, minimum=spec.minimum, maximum=spec.maximum, **options
        )
    if spec.kind is Kind.NUMBER:
        low = None if spec.minimum is None else int(spec.minimum)
        high = None if spec.maximum is None else int(spec.maximum)
        return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **options)
    if spec.kind is Kind.DATE:
        return fields.Date(**options)
    if spec.kind is Kind.RECORD:
        return fields.Nested(schemas[spec.of], **options)
    if spec.kind is Kind.RECORDS:
        return fields.List(fields.Nested(schemas[spec.of]), validate=_length(spec), **options)
    if spec.kind is Kind.IDS:
        key = fields.String(validate=validate.Length(min=1, max=ID_LENGTH))
        return fields.List(key, validate=_length(spec), **options)
    rule: validate.Validator | None = _length(spec)
    if spec.kind is Kind.CURRENCY:
        rule = validate.Regexp(r"^[A-Z]{3}$")
    elif spec.kind is Kind.CHOICE:
        rule = validate.OneOf(spec.choices)
    return fields.String(validate=rule, **options)


def _schema(
    name: str, schemas: dict[str, type[Schema]], rules: type[Schema] = _HostSchema
) -> type[Schema]:
    """The schema of record ``name``, built from :data:`RECORDS`; ``rules`` (a subclass of
    :class:`_HostSchema`) brings the record rules that tie its fields together."""
    declared = {spec.name: _field(spec, schemas) for spec in RECORDS[name]}
    schema = rules.from_dict(declared, name=f"{name.title().replace('_', '')}Schema")
    schemas[name] = schema
    return schema


class _ClientRules(_HostSchema):
    @validates_schema
    def _has_a_name(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not (data.get("first_name", "").strip() or data.get("last_name", "").strip()):
            raise ValidationError("a customer needs a first or last name", "last_name")


class _InvoiceRules(_HostSchema):
    @validates_schema
    def _due_not_before_date(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "date" in data and "due_date" in data and data["due_date"] < data["date"]:
            raise ValidationError("must not be before the invoice date", "due_date")


class _PaymentRules(_HostSchema):
    @validates_schema
    def _allocations_fit(self, data: dict[str, Any], **kwargs: Any) -> None:
        allocations = data.get("allocations") or []
        if (
            "amount" in data
            and sum((a["amount"] for a in allocations), Decimal(0)) > data["amount"]
        ):
            raise ValidationError("the allocations add up to more than the amount", "allocations")
        seen = [a["invoice_id"] for a in allocations]
        if len(seen) != len(set(seen)):
            raise ValidationError("an invoice appears twice", "allocations")


def _twice(keys: list[str]) -> str | None:
    """The first key of ``keys`` that appears in it twice, or ``None``."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None


class _PayoutRules(_HostSchema):
    @validates_schema
    def _adds_up(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not {"gross", "fees", "amount"} <= data.keys():
            return
        net = data["gross"] - data["fees"]
        if net != data["amount"]:
            raise ValidationError(
                f"must be gross less fees ({data['gross']} - {data['fees']} = {net}), "
                f"not {data['amount']}",
                "amount",
            )

    @validates_schema
    def _each_once(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name, what in (("payment_ids", "payment"), ("refund_ids", "refund")):
            again = _twice(data.get(name) or [])
            if again is not None:
                raise ValidationError(f"{what} '{again[:100]}' appears twice", name)


_CREDITS: Final = ("credit_note_id", "payment_id", "deposit_id")
"""What a refund may come out of: a credit note, a payment's excess, a deposit."""


class _RefundRules(_HostSchema):
    @validates_schema
    def _one_credit(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [name for name in _CREDITS if data.get(name) is not None]
        if not given:
            raise ValidationError(
                "a refund comes out of one credit: set credit_note_id, payment_id (its "
                "overpayment) or deposit_id",
                "credit_note_id",
            )
        if len(given) > 1:
            raise ValidationError(
                f"set together with {given[0]}; a refund comes out of exactly one credit, so "
                "give only one of credit_note_id, payment_id and deposit_id",
                given[1],
            )


RECORD_SCHEMAS: dict[str, type[Schema]] = {}
"""The schema of every record of the table (built from it, nested ones first)."""
for _name in ("address", "line", "allocation"):  # nested ones first
    _schema(_name, RECORD_SCHEMAS)
_schema("client", RECORD_SCHEMAS, _ClientRules)
_schema("invoice", RECORD_SCHEMAS, _InvoiceRules)
_schema("credit_note", RECORD_SCHEMAS)
_schema("payment", RECORD_SCHEMAS, _PaymentRules)
_schema("payout", RECORD_SCHEMAS, _PayoutRules)
_schema("deposit", RECORD_SCHEMAS, _PaymentRules)  # allocated as a payment is
_schema("refund", RECORD_SCHEMAS, _RefundRules)

RECORD_KINDS: Final = ("client", "invoice", "credit_note", "payment", "payout", "deposit", "refund")
"""The records the host sends (the others of the table are nested in them)."""

SCHEMAS: Final[dict[str, Schema]] = {kind: RECORD_SCHEMAS[kind]() for kind in RECORD_KINDS}
"""One shared instance per record kind (``load`` keeps no state, so sharing is thread-safe)."""


def flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    """Marshmallow's nested error dict as ``path: message`` lines (``lines.0.quantity: …``)."""
    out: list[str] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key in ("_schema", "value"):  # schema-level, or a dict field's value
                path = prefix
            elif key == "key":  # a dict field's key
                path = f"{prefix} (key)" if prefix else "key"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_errors(value, path))
    elif isinstance(messages, list | tuple):
        for item in messages:
            out.extend(flatten_errors(item, prefix))
    else:
        text = str(messages)
        if text == "Missing data for required field.":
            text = "is required"
        elif text.startswith("Not a valid"):
            text = text.rstrip(".").replace("Not a valid", "must be a valid")
        out.append(f"{prefix or 'record'}: {text}")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_plain)
"""Made once: ``json.dumps`` with options builds a new encoder on every call."""


def canonical_json(data: Any) -> str:
    """Stable JSON (sorted keys, no spaces): what is stored and hashed."""
    return _CANONICAL.encode(data)


def payload_json(payload: Mapping[str, Any]) -> str:
    """:func:`canonical_json` of a validated payload (:func:`validate_record`), the same text,
    at C speed: what every ledger row stores and hashes.

    orjson sorts keys and writes compact JSON like ``json``, but UTF-8 where ``json`` escapes to
    ASCII, so its text is used only when it holds nothing either would escape (printable ASCII,
    no backslash); anything else – and whatever orjson cannot encode – takes
    :func:`canonical_json`. A validated payload holds no floats (money and quantities are
    decimal strings), the one type the two encoders print differently.
    """
    try:
        raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(payload)
    if raw.isascii() and b"\\" not in raw and b"\x7f" not in raw:
        return raw.decode("ascii")
    return canonical_json(payload)


def validate_record(
    kind: str, raw: Any, locations: Collection[str] | None = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate one host record: ``(payload, [])`` or ``(None, errors)``.

    The payload is the record restricted to the fields the contract defines, with decimals as
    decimal strings and dates as ISO strings: JSON-ready, hashable, comparable.

    The marshmallow schema is the authority. A pre-check (:mod:`.fastcheck`) accepts the
    common, clean shape about ten times faster and hands anything else – every record with a
    problem, and anything unusual – to marshmallow, which decides and words the errors. Both are
    built from one table of the fields' rules (:mod:`.fields`); tests prove the pre-check never
    accepts what the schema refuses and yields the same payload
    (``tests/inputs/test_host_input_fastcheck.py``, ``tests/inputs/test_host_input_fields.py``).

    :param locations: the host's location ids; a record of another location is refused.
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return None, [f"record: must be an object, not {type(raw).__name__}"]
    payload = FAST[kind](raw)
    if payload is None:
        try:
            payload = json.loads(canonical_json(SCHEMAS[kind].load(raw)))
        except ValidationError as exc:
            return None, flatten_errors(exc.messages)
    assert payload is not None
    if locations is not None and payload["location_id"] not in locations:
        return None, [f"location_id: unknown location '{payload['location_id'][:100]}'"]
    return payload, []


def capped_raw(raw: Any) -> dict[str, Any]:
    """What is kept of a refused record: its JSON, cut at :data:`MAX_RAW_BYTES`, with the full
    size and SHA-256 so the original can be matched in the host's own logs."""
    try:
        text = json.dumps(raw, sort_keys=True, default=repr)
    except (TypeError, ValueError) as exc:  # circular structure and such
        text = repr(raw)[: MAX_RAW_BYTES * 2] + f" [not JSON: {exc}]"
    encoded = text.encode("utf-8", "replace")
    kept = encoded[:MAX_RAW_BYTES].decode("utf-8", "ignore")
    return {
        "raw": kept,
        "size": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "truncated": len(encoded) > MAX_RAW_BYTES,
    }
