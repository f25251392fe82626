"""The dashboard's search form: what the admin typed, read into a ledger query, and back.

Fields (all optional, GET – a search changes nothing and can be bookmarked): ``number`` (``121``
or ``INV121``: a known prefix also picks the kind), ``customer`` (words of the name or email),
``state``, ``kind``, ``from`` and ``to`` (business dates, inclusive), ``org``, ``location`` and
``after`` (where the page starts: the previous page's last row, see
:class:`~pm_xero_plugin.ledger.types.RowKey`). A field that cannot be read is said beside the
form and left out of the query, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode

from pm_xero_plugin.ledger import KINDS, STATES, RowKey, RowQuery

if TYPE_CHECKING:
    from pm_xero_plugin.inputs.settings import Prefixes

__all__ = ["FIELDS", "Search", "decode_after", "encode_after", "read_search"]

FIELDS: Final = ("number", "customer", "state", "kind", "from", "to", "org", "location")
"""The form's fields (``after`` is the paging cursor, not a field the admin fills)."""

_NUMBER: Final = re.compile(r"^\s*([A-Za-z]*)\s*-?\s*([0-9]{1,15})\s*$")
_PAYMENT_KINDS: Final = ("payment", "overpayment", "allocation")


@dataclass
class Search:
    """The form as read: the ledger query, where the page starts, and what could not be read."""

    query: RowQuery
    after: RowKey | None
    values: dict[str, str]
    """What the admin typed, to show in the form again."""
    errors: dict[str, list[str]] = field(default_factory=dict)
    """Field -> what is wrong with it (the shape ``macros.field_error`` shows)."""

    @property
    def narrowed(self) -> bool:
        """Whether any field narrows the list (else it is every record, newest first)."""
        return any(self.values.get(name) for name in FIELDS)

    def link(self, **changes: str | None) -> str:
        """The query string of this search with ``changes`` (``None`` drops a field)."""
        params = {k: v for k, v in self.values.items() if v}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return f"?{urlencode(params)}" if params else "?"


def encode_after(key: RowKey) -> str:
    """A page's last row as the ``after`` parameter (``2025-02-03~121~7``)."""
    return f"{key.doc_date or ''}~{'' if key.number is None else key.number}~{key.id}"


_ID = re.compile(r"[0-9]{1,18}")
_AFTER_NUMBER = re.compile(r"-?[0-9]{1,16}")
"""ASCII digits that fit the ledger's 64-bit integers (``str.isdigit`` also takes "²")."""


def decode_after(text: str) -> RowKey | None:
    """The ``after`` parameter back into a key, or ``None`` when it is not one."""
    parts = text.split("~")
    if len(parts) != 3 or not _ID.fullmatch(parts[2]):
        return None
    day, number, row_id = parts
    if day and not _is_date(day):
        return None
    if number and not _AFTER_NUMBER.fullmatch(number):
        return None
    return RowKey(day or None, int(number) if number else None, int(row_id))


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _number(text: str, prefixes: Prefixes | None) -> tuple[int | None, tuple[str, ...], str | None]:
    """``INV121`` -> (121, ("invoice",), None); an unreadable number -> its error."""
    found = _NUMBER.match(text)
    if found is None:
        return None, (), "a number, with or without its prefix (121 or INV121)"
    prefix, digits = found.group(1).upper(), int(found.group(2))
    if not prefix:
        return digits, (), None
    known: dict[str, tuple[str, ...]] = {}
    if prefixes is not None:
        known = {
            prefixes.invoice.upper(): ("invoice",),
            prefixes.credit_note.upper(): ("credit_note", "allocation"),
            prefixes.payment.upper(): _PAYMENT_KINDS,
            prefixes.client.upper(): ("contact",),
        }
    if prefix not in known:
        return None, (), f"{prefix!r} is not one of the prefixes in the settings"
    return digits, known[prefix], None


def read_search(params: Mapping[str, str], prefixes: Prefixes | None) -> Search:
    """The search the query string asks for."""
    values = {name: str(params.get(name, "")).strip()[:200] for name in FIELDS}
    errors: dict[str, list[str]] = {}
    number: int | None = None
    kinds: tuple[str, ...] = ()
    if values["number"]:
        number, kinds, problem = _number(values["number"], prefixes)
        if problem:
            errors["number"] = [problem]
    if values["kind"]:
        if values["kind"] in KINDS:
            kinds = (values["kind"],) if not kinds or values["kind"] in kinds else ("-",)
        else:
            errors["kind"] = ["not a kind of record"]
    states: tuple[str, ...] = ()
    if values["state"]:
        if values["state"] in STATES:
            states = (values["state"],)
        else:
            errors["state"] = ["not a state"]
    dates: dict[str, str | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if values[name]:
            if _is_date(values[name]):
                dates[name] = values[name]
            else:
                errors[name] = ["a date (YYYY-MM-DD)"]
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = ["on or after the date it starts from"]
        dates["to"] = None
    after_text = str(params.get("after", "")).strip()
    after = decode_after(after_text) if after_text else None
    query = RowQuery(
        number=number,
        customer=values["customer"] or None,
        states=states,
        kinds=kinds,
        date_from=dates["from"],
        date_to=dates["to"],
        tenant_id=values["org"] or None,
        location_id=values["location"] or None,
    )
    return Search(query=query, after=after, values=values, errors=errors)
