"""Read-side helpers: Xero's ``where`` expressions, list filters and paging.

Xero's ``where`` is a small C#-like language. Clients lean on the parts modelled here:
comparisons (``==  !=  >  >=  <  <=``) of a field path with a string, number, ``true``/``false``/
``null``, ``Guid("…")`` or ``DateTime(2024,02,01)``; ``Name.Contains("x")`` (also ``StartsWith``,
``EndsWith``); joined with ``AND``/``&&`` and ``OR``/``||`` (AND binds tighter), ``NOT``/``!``,
and parentheses. An OR of equalities on one field – how a client looks up 40 numbers in one call
– is compiled to a set look-up, so it stays cheap on large organisations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "PAGE_SIZE",
    "QueryError",
    "Where",
    "matches",
    "order_items",
    "parse_order",
    "parse_where",
]

PAGE_SIZE = 100

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|>=|<=|>|<|&&|\|\||!|\(|\)|,)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = frozenset(["==", "!=", ">", ">=", "<", "<="])
_METHODS = {"contains", "startswith", "endswith"}


class QueryError(ValueError):
    """A ``where`` the sandbox (or Xero) cannot parse: answered as a 400 QueryParseException."""


# -- the expression tree ----------------------------------------------------------------------


class Where:
    """A parsed ``where``; `test` says whether one stored item matches."""

    def test(self, item: dict[str, Any]) -> bool:
        """Whether ``item`` (a stored document) matches this expression."""
        raise NotImplementedError


@dataclass
class _Compare(Where):
    path: list[str]
    op: str
    value: Any

    def test(self, item: dict[str, Any]) -> bool:
        return _compare(_get(item, self.path), self.op, self.value)


@dataclass
class _Method(Where):
    path: list[str]
    method: str
    value: str

    def test(self, item: dict[str, Any]) -> bool:
        stored = _get(item, self.path)
        if not isinstance(stored, str):
            return False
        text, part = stored.lower(), self.value.lower()
        if self.method == "contains":
            return part in text
        return text.startswith(part) if self.method == "startswith" else text.endswith(part)


@dataclass
class _OneOf(Where):
    """``F=="a" OR F=="b" OR …`` on strings, as a set look-up (case-insensitive, like ``==``)."""

    path: list[str]
    values: frozenset[str]

    def test(self, item: dict[str, Any]) -> bool:
        stored = _get(item, self.path)
        return isinstance(stored, str) and stored.lower() in self.values


@dataclass
class _All(Where):
    parts: list[Where]

    def test(self, item: dict[str, Any]) -> bool:
        return all(p.test(item) for p in self.parts)


@dataclass
class _Any(Where):
    parts: list[Where]

    def test(self, item: dict[str, Any]) -> bool:
        return any(p.test(item) for p in self.parts)


@dataclass
class _Not(Where):
    part: Where

    def test(self, item: dict[str, Any]) -> bool:
        return not self.part.test(item)


# -- parsing ------------------------------------------------------------------------------------


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, end = 0, len(expr.rstrip())
    while pos < end:
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Unable to parse where clause near {expr[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "name" and text.upper() in ("AND", "OR", "NOT"):
            kind, text = "op", {"AND": "&&", "OR": "||", "NOT": "!"}[text.upper()]
        out.append((kind, text))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, expr: str) -> None:
        self.toks = _tokens(expr)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (text is not None and tok[1] != text):
            raise QueryError(f"Unable to parse where clause: expected {text or 'more'}")
        self.i += 1
        return tok

    def parse(self) -> Where:
        if not self.toks:
            raise QueryError("The where clause is empty")
        tree = self.or_expr()
        if self.peek()[0] != "end":
            raise QueryError(f"Unable to parse where clause near {self.peek()[1]!r}")
        return tree

    def or_expr(self) -> Where:
        parts = [self.and_expr()]
        while self.peek() == ("op", "||"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _one_of(parts) or _Any(parts)

    def and_expr(self) -> Where:
        parts = [self.unary()]
        while self.peek() == ("op", "&&"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _All(parts)

    def unary(self) -> Where:
        if self.peek() == ("op", "!"):
            self.take()
            return _Not(self.unary())
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_expr()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Where:
        kind, name = self.take()
        if kind != "name":
            raise QueryError(f"Unable to parse where clause: expected a field, got {name!r}")
        path = name.split(".")
        if path[-1].lower() in _METHODS and self.peek() == ("op", "("):
            self.take("(")
            value = self.value()
            self.take(")")
            if not isinstance(value, str) or len(path) < 2:
                raise QueryError(f"{path[-1]} takes a string")
            return _Method(path[:-1], path[-1].lower(), value)
        kind, op = self.take()
        if kind != "op" or op not in _COMPARISONS:
            raise QueryError(f"Unable to parse where clause: expected an operator after {name}")
        return _Compare(path, op, self.value())

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the token pattern only lets numbers in
                raise QueryError(f"Unable to parse number {text!r}") from None
        if kind == "name":
            low = text.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            if low == "guid":
                self.take("(")
                kind, raw = self.take()
                self.take(")")
                if kind != "str" or not re.fullmatch(r'"[0-9a-fA-F-]{36}"', raw):
                    raise QueryError(f"Guid needs a quoted GUID, got {raw!r}")
                return raw[1:-1].lower()
            if low == "datetime":
                return self.datetime_args()
        raise QueryError(f"Unable to parse value {text!r} in where clause")

    def datetime_args(self) -> date | datetime:
        self.take("(")
        nums: list[int] = []
        while True:
            kind, text = self.take()
            if kind != "num" or "." in text:
                raise QueryError("DateTime takes whole numbers: DateTime(2024,02,01)")
            nums.append(int(text))
            if self.take()[1] == ")":
                break
        try:
            if len(nums) == 3:
                return date(nums[0], nums[1], nums[2])
            if len(nums) == 6:
                y, mo, d, h, mi, sec = nums
                return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
        except ValueError as exc:
            raise QueryError(f"Invalid DateTime: {exc}") from None
        raise QueryError("DateTime takes (year, month, day) or (… hour, minute, second)")


def _one_of(parts: list[Where]) -> Where | None:
    """An OR of string equalities on one field, as a set; ``None`` if it is anything else."""
    first = parts[0]
    if not isinstance(first, _Compare):
        return None
    values: set[str] = set()
    for p in parts:
        if not (
            isinstance(p, _Compare)
            and p.op == "=="
            and p.path == first.path
            and isinstance(p.value, str)
        ):
            return None
        values.add(p.value.lower())
    return _OneOf(first.path, frozenset(values))


def parse_where(expr: str) -> Where:
    """``(ContactNumber=="C1" OR ContactNumber=="C2") AND Status!="ARCHIVED"`` → a `Where`.

    :raises QueryError: for anything outside the modelled language.
    """
    return _Parser(expr).parse()


# -- evaluation -------------------------------------------------------------------------------


def _get(item: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(item, dict):
            return None
        if key in item:
            item = item[key]
        else:
            low = key.lower()
            item = next((v for k, v in item.items() if k.lower() == low), None)
    return item


def _as_datetime(value: date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _comparable(stored: Any, wanted: Any) -> tuple[Any, Any] | None:
    """Both sides as one comparable type, or ``None`` when they cannot be compared."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return (stored, wanted) if isinstance(stored, bool) and isinstance(wanted, bool) else None
    if isinstance(wanted, date):
        if not isinstance(stored, date):
            return None
        if not isinstance(wanted, datetime) and isinstance(stored, datetime):
            return stored.date(), wanted  # DateTime(y,m,d) against a timestamp: its day
        return _as_datetime(stored), _as_datetime(wanted)
    if isinstance(wanted, Decimal):
        if isinstance(stored, Decimal | int | float):
            return Decimal(str(stored)), wanted
        return None
    if isinstance(wanted, str) and isinstance(stored, str):
        return stored.lower(), wanted.lower()
    return None


def _compare(stored: Any, op: str, wanted: Any) -> bool:
    if wanted is None or stored is None:
        same = stored is None and wanted is None
        return same if op == "==" else (not same) if op == "!=" else False
    pair = _comparable(stored, wanted)
    if pair is None:
        return op == "!="
    a, b = pair
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if isinstance(a, bool):
        return False
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def matches(item: dict[str, Any], where: Where) -> bool:
    """Whether ``item`` matches the parsed ``where``."""
    return where.test(item)


# -- order ------------------------------------------------------------------------------------

_ORDER_KEY = re.compile(r"\s*([A-Za-z_][\w.]*)(?:\s+(ASC|DESC))?\s*", re.IGNORECASE)


def parse_order(expr: str) -> list[tuple[list[str], bool]]:
    """``UpdatedDateUTC ASC`` (or ``Name DESC, Date``: ASC when not said) → ``[(path,
    descending)]``.

    :raises QueryError: for anything else.
    """
    keys = []
    for part in expr.split(","):
        found = _ORDER_KEY.fullmatch(part)
        if found is None:
            raise QueryError(f"cannot order by {part.strip()!r}")
        keys.append((found[1].split("."), (found[2] or "ASC").upper() == "DESC"))
    return keys


def _order_value(value: Any) -> tuple[int, Any]:
    """A sortable value: absent ones first, then by type (so mixed types never compare)."""
    if value is None:
        return (0, "")
    if isinstance(value, datetime):
        return (1, _as_datetime(value))
    if isinstance(value, date):
        return (1, _as_datetime(value))
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, Decimal | int | float):
        return (3, Decimal(str(value)))
    return (4, str(value).lower())


def order_items(
    items: list[dict[str, Any]], keys: list[tuple[list[str], bool]], id_field: str | None
) -> list[dict[str, Any]]:
    """``items`` in the order asked, ties by the id ascending – the one stable order a client
    paging through a changing list can rely on (Xero's without ``order`` is not promised)."""
    out = list(items)
    if id_field:
        out.sort(key=lambda i: str(i.get(id_field) or "").lower())
    for path, descending in reversed(keys):  # stable sorts: the last key first

        def key(item: dict[str, Any], path: list[str] = path) -> tuple[int, Any]:
            return _order_value(_get(item, path))

        out.sort(key=key, reverse=descending)
    return out
