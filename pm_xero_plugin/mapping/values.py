"""Reading one value of a record or the settings for a payload, failing as :class:`MappingError`.

The host's records were validated on the way in, but the builders still read them defensively:
a value Xero cannot take is a :class:`MappingError` naming the record, the field and what the
admin should do (never a ``KeyError`` deep in a send). Every payload module builds on these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pm_xero_plugin.mapping.config import MappingError, OrgMapping, tax_rate_key
from pm_xero_plugin.mapping.money import (
    normalise_line_amount_types,
    quantize_money,
    to_decimal,
)

__all__ = [
    "clip_text",
    "currency_for",
    "line_amount_types_for",
    "parse_amount",
    "parse_date",
    "payment_account",
    "plain_text",
    "positive_amount",
    "required_code",
    "tax_type_for",
    "tracking_for",
    "xero_number",
]


def xero_number(prefix: str, number: object) -> str:
    """The prefixed number Xero sees (``INV121``): the dedupe key for every document."""
    if isinstance(number, bool) or not isinstance(number, int | str):
        raise MappingError("number", f"record number {number!r} is not a number")
    text = str(number).strip()
    if not (text.isascii() and text.isdigit()):
        raise MappingError("number", f"record number {number!r} is not a number")
    return f"{prefix}{int(text)}"


def parse_amount(where: str, field: str, value: object) -> Decimal:
    """An amount of the record (``where``: the record, for the message)."""
    try:
        return to_decimal(value)
    except ValueError:
        raise MappingError(
            field,
            f"{where}: {field} {value!r} is not an amount; correct the record in Pet Manager",
        ) from None


def parse_date(where: str, field: str, value: object) -> date:
    """A ``YYYY-MM-DD`` date of the record."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(
            field,
            f"{where}: {field} {value!r} is not a YYYY-MM-DD date; correct it in Pet Manager",
        ) from None


def positive_amount(where: str, field: str, value: object) -> Decimal:
    """An amount to the cent that is more than zero: Xero takes no other payment or allocation."""
    amount = quantize_money(parse_amount(where, field, value))
    if amount <= 0:
        raise MappingError(
            field, f"{where}: {field} {amount} must be more than zero; Xero accepts no other"
        )
    return amount


_LINE_BREAKS = re.compile(r"\r\n?|[\n\v\f\x85\u2028\u2029]")
"""Every way of ending a line: CR LF, CR, LF, VT, FF, NEL, and Unicode's line and paragraph
separators."""
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls (BEL, ESC, NUL …; the line breaks and the tab are handled apart) and the
bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)."""


def plain_text(value: object, *, multiline: bool = False) -> str:
    """``value`` as text fit to show a bookkeeper in Xero: no control character (a BEL, an
    escape sequence), no bidirectional override – a ``U+202E`` makes ``Invoice‮fdp.exe``
    read as something else – and, unless the field is ``multiline`` (a line's description), no
    line break. A tab or a line break becomes a space where it cannot stay, so words stay apart;
    a multi-line field keeps ``\n`` alone."""
    text = _CONTROLS.sub("", str(value))
    text = _LINE_BREAKS.sub("\n" if multiline else " ", text).replace("\t", " ")
    if multiline:
        return "\n".join(line.strip() for line in text.split("\n"))
    return text


def clip_text(value: object, limit: int, *, multiline: bool = False) -> str | None:
    """:func:`plain_text`, stripped and cut to Xero's ``limit`` (with an ellipsis), or ``None``
    when blank: Xero refuses a field too long, and an empty one is better left out.

    :param multiline: the field may hold several lines (a line item's description)."""
    if value is None:
        return None
    text = plain_text(value, multiline=multiline).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def currency_for(record: Mapping[str, Any], m: OrgMapping, where: str) -> str:
    """The currency a document goes in: the settings' override, else the record's."""
    code = m.currency or str(record.get("currency") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise MappingError(
            "currency",
            f"{where}: currency {record.get('currency')!r} is not a 3-letter ISO 4217 code; "
            "set the location's currency in Pet Manager or the currency in the Xero settings",
        )
    return code


def tracking_for(m: OrgMapping) -> list[dict[str, str]] | None:
    """The tracking option of this location's lines, when its organisation is shared."""
    if m.tracking is None:
        return None
    return [{"name": m.tracking.name, "option": m.tracking.option}]


def line_amount_types_for(record: Mapping[str, Any], where: str) -> str:
    """Xero's spelling of the record's ``line_amount_types`` (``Exclusive``...)."""
    try:
        return normalise_line_amount_types(str(record.get("line_amount_types") or ""))
    except ValueError:
        raise MappingError(
            "line_amount_types",
            f"{where}: line_amount_types {record.get('line_amount_types')!r} is not "
            "exclusive, inclusive or no_tax; correct the record in Pet Manager",
        ) from None


def tax_type_for(m: OrgMapping, rate: object, where: str) -> str:
    """The Xero ``TaxType`` the admin mapped a line's tax percentage to."""
    try:
        key = tax_rate_key(rate)
    except ValueError:
        raise MappingError(
            "tax_rate",
            f"{where}: tax_rate {rate!r} is not a percentage; correct the record in Pet Manager",
        ) from None
    tax_type = m.tax_types.get(key)
    if not tax_type:
        raise MappingError(
            "account_codes.tax_types",
            f"{where}: tax rate {key}% has no Xero tax type for organisation {m.tenant_id}; "
            f'map "{key}" to a Xero tax type in the Xero settings (Account codes → Tax types)',
        )
    return tax_type


def required_code(code: str | None, setting: str, what: str, where: str, m: OrgMapping) -> str:
    """The mapped account code, or a MappingError saying which mapping to fill in."""
    if not code:
        raise MappingError(
            f"account_codes.{setting}",
            f"{where}: no account code is mapped for {what} in Xero organisation "
            f"{m.tenant_id}; choose one in the Xero settings (Account codes)",
        )
    return code


def payment_account(m: OrgMapping, method: str, where: str) -> str:
    """The bank (or clearing) account the admin mapped a payment method to."""
    label = method.replace("_", " ") or "(no method)"
    return required_code(
        m.payments.get(method), f"payments.{method}", f"{label} payments", where, m
    )
