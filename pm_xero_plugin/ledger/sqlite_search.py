"""The dashboard's search over the SQLite ledger (``SqliteLedger.search_rows``), page by page.

The order is the search's :class:`~pm_xero_plugin.ledger.types.RowKey`: business date, number
and row id, newest first, rows without a date last. Every filter is an index range scan, so a
page costs the same at a million rows as at a thousand, and the next page starts *after* the
last row shown (keyset paging, never an offset):

* **state, kind, organisation, date range** walk ``rows_claim`` (tenant, kind, state, priority,
  doc_date, number, id): one range per (organisation, kind, state, priority) that the ``counts``
  table says has rows, each already in the search's order, merged here. The location is checked
  on the rows read (in per-location mode each organisation is one location's anyway).
* **a number** is a look-up in ``rows_number``; **a customer** is a range per word in
  ``customer_words`` (the contacts), then ``rows_dep_contact`` (the documents naming them) and
  ``rows_dep_invoice`` (the payments of those invoices). Both give a small set of rows,
  filtered and ordered whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from pm_xero_plugin.ledger.keyset import date_range, is_after, segments, sort_key
from pm_xero_plugin.ledger.types import RowKey, RowQuery
from pm_xero_plugin.ledger.words import query_words

__all__ = ["MAX_CANDIDATES", "MAX_CUSTOMERS", "Found", "search_keys", "sort_key"]

MAX_CUSTOMERS: Final = 500
"""Customers one word may match (a single letter matches most of them: the page asks for more)."""
MAX_CANDIDATES: Final = 50_000
"""Rows a number or customer search may gather before it is told to narrow."""
_PRIORITIES: Final = (1, 0)
"""``priority`` values a row can have (live, history): ``rows_claim``'s fourth column."""
_ORDER: Final = "ORDER BY doc_date DESC, number DESC, id DESC"

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class Found:
    """The keys of one page plus one (to know whether a next page exists), the total when
    known, and whether the candidate set was cut."""

    def __init__(self, keys: list[RowKey], total: int | None, capped: bool) -> None:
        self.keys = keys
        self.total = total
        self.capped = capped


def _residual(query: RowQuery) -> tuple[str, list[Any]]:
    """Every filter of ``query`` but number and customer, as SQL on a row."""
    sql, params = date_range(query)
    for column, values in (("state", query.states), ("kind", query.kinds)):
        if values:
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params += list(values)
    for column, value in (("tenant_id", query.tenant_id), ("location_id", query.location_id)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    return sql, params


def _combos(q: Query, query: RowQuery) -> list[tuple[str, str, str, int]]:
    """(organisation, kind, state, rows) with rows, from the counts the triggers keep."""
    where, params = "n > 0", []
    for column, values in (("state", query.states), ("kind", query.kinds)):
        if values:
            where += f" AND {column} IN ({','.join('?' * len(values))})"
            params += list(values)
    for column, value in (("tenant_id", query.tenant_id), ("location_id", query.location_id)):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    found = q(
        f"SELECT tenant_id, kind, state, sum(n) FROM counts WHERE {where} GROUP BY 1, 2, 3",
        params,
    )
    return [(t, k, s, int(n)) for t, k, s, n in found]


def _walk(q: Query, query: RowQuery, after: RowKey | None, limit: int) -> Found:
    """State/kind/organisation/date filters: the merged ranges of ``rows_claim``."""
    combos = _combos(q, query)
    dates, date_params = date_range(query)
    loc = " AND location_id = ?" if query.location_id is not None else ""
    fixed = [*date_params, *([query.location_id] if query.location_id is not None else [])]
    ranges = segments(after)
    if query.date_from or query.date_to:  # only dated rows match: no range of undated ones
        ranges = [s for s in ranges if "doc_date IS NULL" not in s[0]]
    keys: list[RowKey] = []
    for tenant, kind, state, _ in combos:
        for priority in _PRIORITIES:
            for segment, segment_params in ranges:
                found = q(
                    "SELECT doc_date, number, id FROM rows INDEXED BY rows_claim "
                    "WHERE tenant_id = ? AND kind = ? AND state = ? AND priority = ?"
                    f"{dates}{loc}{segment} {_ORDER} LIMIT ?",
                    [tenant, kind, state, priority, *fixed, *segment_params, limit + 1],
                )
                keys.extend(RowKey(d, n, i) for d, n, i in found)
    keys.sort(key=sort_key, reverse=True)
    dated = bool(query.date_from or query.date_to)
    return Found(keys[: limit + 1], None if dated else sum(c[3] for c in combos), False)


def _customer_rows(q: Query, text: str) -> tuple[set[int], bool]:
    """Ids of the contact rows whose customer has every word of ``text`` (as a prefix), and of
    the documents naming those contacts; and whether a word matched too many to read."""
    contacts: set[int] | None = None
    capped = False
    for word in query_words(text):
        found = {
            r[0]
            for r in q(
                "SELECT row_id FROM customer_words WHERE word >= ? AND word < ? LIMIT ?",
                [word, word + "\uffff", MAX_CUSTOMERS * 4 + 1],
            )
        }
        capped = capped or len(found) > MAX_CUSTOMERS * 4
        contacts = found if contacts is None else contacts & found
        if not contacts:
            return set(), capped
    if not contacts:
        return set(), capped
    chosen = sorted(contacts, reverse=True)[:MAX_CUSTOMERS]
    capped = capped or len(contacts) > MAX_CUSTOMERS
    by_tenant: dict[str, list[str]] = {}
    ids: set[int] = set()
    for row_id, tenant, host_id in q(
        "SELECT id, tenant_id, host_id FROM rows WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps(chosen)],
    ):
        ids.add(row_id)
        by_tenant.setdefault(tenant, []).append(host_id)
    for tenant, host_ids in by_tenant.items():
        documents = q(
            "SELECT id, kind, host_id FROM rows INDEXED BY rows_dep_contact WHERE tenant_id = ? "
            "AND dep_contact IN (SELECT value FROM json_each(?)) LIMIT ?",
            [tenant, json.dumps(host_ids), MAX_CANDIDATES + 1],
        )
        ids.update(r[0] for r in documents)
        # A payment names its invoice, not the customer: found through the invoices above.
        invoices = [h for _, kind, h in documents if kind == "invoice"]
        if invoices:
            paying = q(
                "SELECT id FROM rows INDEXED BY rows_dep_invoice WHERE tenant_id = ? "
                "AND dep_invoice IN (SELECT value FROM json_each(?)) LIMIT ?",
                [tenant, json.dumps(invoices), MAX_CANDIDATES + 1],
            )
            ids.update(r[0] for r in paying)
    return ids, capped or len(ids) > MAX_CANDIDATES


def _gathered(q: Query, query: RowQuery, after: RowKey | None, limit: int) -> Found:
    """Number and customer searches: a small candidate set, filtered and ordered whole."""
    ids: set[int] | None = None
    capped = False
    if query.number is not None:
        ids = {
            r[0]
            for r in q(
                "SELECT id FROM rows INDEXED BY rows_number WHERE number = ? LIMIT ?",
                [query.number, MAX_CANDIDATES + 1],
            )
        }
        capped = len(ids) > MAX_CANDIDATES
    if query.customer and query.customer.strip():
        customers, capped_here = _customer_rows(q, query.customer)
        ids = customers if ids is None else ids & customers
        capped = capped or capped_here
    residual, params = _residual(query)
    found = q(
        "SELECT doc_date, number, id FROM rows WHERE id IN (SELECT value FROM json_each(?))"
        f"{residual}",
        [json.dumps(sorted(ids or ())), *params],
    )
    keys = sorted((RowKey(d, n, i) for d, n, i in found), key=sort_key, reverse=True)
    page = [k for k in keys if is_after(k, after)][: limit + 1]
    return Found(page, len(keys), capped)


def search_keys(q: Query, query: RowQuery, after: RowKey | None, limit: int) -> Found:
    """The keys of the page of ``query`` after ``after`` (``limit`` of them, plus one when a
    next page exists)."""
    if query.number is not None or (query.customer and query.customer.strip()):
        return _gathered(q, query, after, limit)
    return _walk(q, query, after, limit)
