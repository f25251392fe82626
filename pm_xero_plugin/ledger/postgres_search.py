"""The dashboard's search over the PostgreSQL ledger (``PostgresLedger.search_rows``).

The same plan as :mod:`.sqlite_search`, in one practice: state, kind, organisation and date
filters walk ``rows_claim`` (practice, tenant, kind, state, priority, doc_date, number, id) one
(organisation, kind, state, priority) range at a time – a backward index scan gives the search's
order, newest first with undated rows last – for the combinations the counts say have rows; a
number is a look-up in ``rows_number``, a customer a range per word in ``customer_words``, then
the documents naming those contacts and the payments of their invoices. Every page starts after
the last key shown (keyset paging).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from pm_xero_plugin.ledger.keyset import date_range, is_after, segments
from pm_xero_plugin.ledger.postgres_schema import counts_sql
from pm_xero_plugin.ledger.sqlite_search import MAX_CANDIDATES, MAX_CUSTOMERS, Found, sort_key
from pm_xero_plugin.ledger.types import RowKey, RowQuery
from pm_xero_plugin.ledger.words import query_words

__all__ = ["search_keys"]

_PRIORITIES: Final = (1, 0)
_ORDER: Final = "ORDER BY doc_date DESC NULLS LAST, number DESC NULLS LAST, id DESC"

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def _filters(query: RowQuery) -> tuple[str, list[Any]]:
    """States, kinds, organisation and location of ``query`` as SQL on a row or a count."""
    sql, params = "", list[Any]()
    for column, values in (("state", query.states), ("kind", query.kinds)):
        if values:
            sql += f" AND {column} = ANY(%s::text[])"
            params.append([str(v) for v in values])
    for column, value in (("tenant_id", query.tenant_id), ("location_id", query.location_id)):
        if value is not None:
            sql += f" AND {column} = %s"
            params.append(value)
    return sql, params


def _combos(q: Query, practice: str, query: RowQuery) -> list[tuple[str, str, str, int]]:
    """(organisation, kind, state, rows) with rows, from the counts."""
    where, params = _filters(query)
    found = q(
        f"SELECT tenant_id, kind, state, sum(n) FROM ({counts_sql('practice_id = %s' + where)}) c "
        "GROUP BY 1, 2, 3 HAVING sum(n) > 0 ORDER BY 1, 2, 3",
        [practice, *params, practice, *params],
    )
    return [(t, k, s, int(n)) for t, k, s, n in found]


def _walk(q: Query, practice: str, query: RowQuery, after: RowKey | None, limit: int) -> Found:
    """State/kind/organisation/date filters: the merged ranges of ``rows_claim``."""
    combos = _combos(q, practice, query)
    dates, date_params = date_range(query, "%s")
    loc = " AND location_id = %s" if query.location_id is not None else ""
    fixed = [*date_params, *([query.location_id] if query.location_id is not None else [])]
    ranges = segments(after, "%s")
    if query.date_from or query.date_to:  # only dated rows match: no range of undated ones
        ranges = [s for s in ranges if "doc_date IS NULL" not in s[0]]
    keys: list[RowKey] = []
    for tenant, kind, state, _ in combos:
        for priority in _PRIORITIES:
            for segment, segment_params in ranges:
                found = q(
                    "SELECT doc_date, number, id FROM rows WHERE practice_id = %s "
                    "AND tenant_id = %s AND kind = %s AND state = %s AND priority = %s"
                    f"{dates}{loc}{segment} {_ORDER} LIMIT %s",
                    [practice, tenant, kind, state, priority, *fixed, *segment_params, limit + 1],
                )
                keys.extend(RowKey(d, n, i) for d, n, i in found)
    keys.sort(key=sort_key, reverse=True)
    dated = bool(query.date_from or query.date_to)
    return Found(keys[: limit + 1], None if dated else sum(c[3] for c in combos), False)


def _customer_rows(q: Query, practice: str, text: str) -> tuple[set[int], bool]:
    """Ids of the contact rows whose customer has every word of ``text`` (as a prefix), and of
    the documents naming those contacts; and whether a word matched too many to read."""
    contacts: set[int] | None = None
    capped = False
    for word in query_words(text):
        found = {
            r[0]
            for r in q(
                "SELECT row_id FROM customer_words WHERE practice_id = %s AND word >= %s "
                "AND word < %s LIMIT %s",
                [practice, word, word + "\uffff", MAX_CUSTOMERS * 4 + 1],
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
        "SELECT id, tenant_id, host_id FROM rows WHERE practice_id = %s AND id = ANY(%s::bigint[])",
        [practice, chosen],
    ):
        ids.add(row_id)
        by_tenant.setdefault(tenant, []).append(host_id)
    for tenant, host_ids in by_tenant.items():
        documents = q(
            "SELECT id, kind, host_id FROM rows WHERE practice_id = %s AND tenant_id = %s "
            "AND dep_contact = ANY(%s::text[]) LIMIT %s",
            [practice, tenant, host_ids, MAX_CANDIDATES + 1],
        )
        ids.update(r[0] for r in documents)
        invoices = [h for _, kind, h in documents if kind == "invoice"]
        if invoices:
            paying = q(
                "SELECT id FROM rows WHERE practice_id = %s AND tenant_id = %s "
                "AND dep_invoice = ANY(%s::text[]) LIMIT %s",
                [practice, tenant, invoices, MAX_CANDIDATES + 1],
            )
            ids.update(r[0] for r in paying)
    return ids, capped or len(ids) > MAX_CANDIDATES


def _gathered(q: Query, practice: str, query: RowQuery, after: RowKey | None, limit: int) -> Found:
    """Number and customer searches: a small candidate set, filtered and ordered whole."""
    ids: set[int] | None = None
    capped = False
    if query.number is not None:
        ids = {
            r[0]
            for r in q(
                "SELECT id FROM rows WHERE practice_id = %s AND number = %s LIMIT %s",
                [practice, query.number, MAX_CANDIDATES + 1],
            )
        }
        capped = len(ids) > MAX_CANDIDATES
    if query.customer and query.customer.strip():
        customers, capped_here = _customer_rows(q, practice, query.customer)
        ids = customers if ids is None else ids & customers
        capped = capped or capped_here
    dates, date_params = date_range(query, "%s")
    filters, filter_params = _filters(query)
    found = q(
        "SELECT doc_date, number, id FROM rows WHERE practice_id = %s "
        f"AND id = ANY(%s::bigint[]){dates}{filters}",
        [practice, sorted(ids or ()), *date_params, *filter_params],
    )
    keys = sorted((RowKey(d, n, i) for d, n, i in found), key=sort_key, reverse=True)
    page = [k for k in keys if is_after(k, after)][: limit + 1]
    return Found(page, len(keys), capped)


def search_keys(
    q: Query, practice: str, query: RowQuery, after: RowKey | None, limit: int
) -> Found:
    """The keys of the page of ``query`` in ``practice`` after ``after`` (``limit`` of them,
    plus one when a next page exists)."""
    if query.number is not None or (query.customer and query.customer.strip()):
        return _gathered(q, practice, query, after, limit)
    return _walk(q, practice, query, after, limit)
