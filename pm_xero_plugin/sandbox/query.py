"""Read-side helpers: Xero's ``where`` (simple equalities), list filters and paging."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["PAGE_SIZE", "QueryError", "matches", "parse_where"]

PAGE_SIZE = 100

_SPLIT = re.compile(r"\s+(?:AND|&&)\s+", re.IGNORECASE)
_CLAUSE = re.compile(r"^\s*([A-Za-z][\w.]*)\s*(==|!=)\s*(.+?)\s*$")
_GUID = re.compile(r'^Guid\("([0-9a-fA-F-]{36})"\)$')
_DATE = re.compile(r"^DateTime\((\d{4}),\s*(\d{1,2}),\s*(\d{1,2})\)$")


class QueryError(ValueError):
    """A ``where`` the sandbox (or Xero) cannot parse: answered as a 400 QueryParseException."""


Clause = tuple[list[str], str, Any]


def _value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    m = _GUID.match(text)
    if m:
        return m.group(1).lower()
    m = _DATE.match(text)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise QueryError(f"Unable to parse value {text!r} in where clause") from None


def parse_where(expr: str) -> list[Clause]:
    """``Status=="AUTHORISED" AND Contact.ContactID==Guid("…")`` → clauses (ANDed)."""
    if re.search(r"\s(OR|\|\|)\s", expr, re.IGNORECASE):
        raise QueryError("The sandbox supports only AND-ed equalities in where clauses")
    clauses: list[Clause] = []
    for part in _SPLIT.split(expr.strip()):
        m = _CLAUSE.match(part)
        if not m:
            raise QueryError(f"Unable to parse where clause: {part!r}")
        clauses.append((m.group(1).split("."), m.group(2), _value(m.group(3))))
    return clauses


def _get(item: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(item, dict):
            return None
        item = next((v for k, v in item.items() if k.lower() == key.lower()), None)
    return item


def _equal(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(wanted, date):
        return stored.date() == wanted
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted
    if isinstance(stored, Decimal | int | float) and isinstance(wanted, Decimal):
        return Decimal(str(stored)) == wanted
    if isinstance(stored, str) and isinstance(wanted, str):
        return stored.lower() == wanted.lower()
    return bool(stored == wanted)


def matches(item: dict[str, Any], clauses: list[Clause]) -> bool:
    for path, op, wanted in clauses:
        equal = _equal(_get(item, path), wanted)
        if equal != (op == "=="):
            return False
    return True
