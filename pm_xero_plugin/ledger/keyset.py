"""Keyset paging of the dashboard's search, as every backend's SQL spells it.

Rows are listed newest business date first, then number, then id
(:data:`~pm_xero_plugin.ledger.types.RowKey`); a page starts after the previous page's last key.
"Rows after a key" is a row-value range on the index's trailing columns, but a NULL date or
number sorts last and needs its own range: :func:`segments` gives the ranges, each an index
range scan. The SQL differs between backends only in its parameter mark (``?`` for SQLite,
``%s`` for psycopg).
"""

from __future__ import annotations

from typing import Any

from pm_xero_plugin.ledger.types import RowKey, RowQuery

__all__ = ["date_range", "is_after", "segments", "sort_key"]


def sort_key(key: RowKey) -> tuple[bool, str, bool, int, int]:
    """``key`` as Python compares it, the way SQLite orders it (NULL below any value)."""
    return (
        key.doc_date is not None,
        key.doc_date or "",
        key.number is not None,
        key.number if key.number is not None else 0,
        key.id,
    )


def is_after(key: RowKey, after: RowKey | None) -> bool:
    """Whether ``key`` comes after ``after`` in the listing (``None``: the first page)."""
    return after is None or sort_key(key) < sort_key(after)


def segments(after: RowKey | None, mark: str = "?") -> list[tuple[str, list[Any]]]:
    """The rows after ``after`` as index ranges (row values are range constraints on the
    index's trailing columns; a NULL date or number needs its own range)."""
    if after is None:
        return [("", [])]
    d, n, i = after
    if d is not None and n is not None:
        return [
            (f" AND (doc_date, number, id) < ({mark}, {mark}, {mark})", [d, n, i]),
            (f" AND doc_date = {mark} AND number IS NULL", [d]),
            (" AND doc_date IS NULL", []),
        ]
    if d is not None:
        return [
            (f" AND doc_date = {mark} AND number IS NULL AND id < {mark}", [d, i]),
            (f" AND doc_date < {mark}", [d]),
            (" AND doc_date IS NULL", []),
        ]
    if n is not None:
        return [
            (f" AND doc_date IS NULL AND (number, id) < ({mark}, {mark})", [n, i]),
            (" AND doc_date IS NULL AND number IS NULL", []),
        ]
    return [(f" AND doc_date IS NULL AND number IS NULL AND id < {mark}", [i])]


def date_range(query: RowQuery, mark: str = "?") -> tuple[str, list[Any]]:
    """``query``'s from/to business dates as SQL on a row."""
    sql, params = "", list[Any]()
    if query.date_from:
        sql, params = sql + f" AND doc_date >= {mark}", [*params, query.date_from]
    if query.date_to:
        sql, params = sql + f" AND doc_date <= {mark}", [*params, query.date_to]
    return sql, params
