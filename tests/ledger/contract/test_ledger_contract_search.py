"""The dashboard's search (``Ledger.search_rows``): every filter finds exactly the rows it
names, pages follow one another without a gap or a repeat, and what was sent is in the history."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support.ledger_helpers import START

from pm_xero_plugin.ledger import Ledger, NewRow, Row, RowKey, RowQuery


def _contact(host_id: str, number: int, first: str, last: str, tenant: str = "T1") -> NewRow:
    payload = {"id": host_id, "number": number, "first_name": first, "last_name": last}
    return NewRow(
        kind="contact",
        host_id=host_id,
        tenant_id=tenant,
        location_id="syd" if tenant == "T1" else "lon",
        state="ready",
        payload=json.dumps(payload),
        payload_hash=host_id,
        number=number,
    )


def _doc(
    kind: str,
    host_id: str,
    number: int | None,
    day: str | None,
    contact: str,
    *,
    tenant: str = "T1",
    state: str = "ready",
) -> NewRow:
    return NewRow(
        kind=kind,
        host_id=host_id,
        tenant_id=tenant,
        location_id="syd" if tenant == "T1" else "lon",
        state=state,
        gate="lock_date" if state == "waiting" else None,
        payload=json.dumps({"id": host_id}),
        payload_hash=host_id,
        number=number,
        doc_date=day,
        dep_contact=contact,
    )


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    """Two organisations: contacts (no date), invoices and payments over two months, some
    waiting, one without a number, live and history rows mixed."""
    ledger.insert(
        [
            _contact("c1", 1, "Ann", "Lee"),
            _contact("c2", 2, "Bob", "Leeming"),
            _contact("c3", 3, "Ängel", "Ortiz"),
            _contact("c1", 1, "Ann", "Lee", tenant="T2"),
        ]
    )
    docs = []
    for k in range(1, 31):
        day = f"2025-0{1 + k % 2}-{10 + k % 15:02d}"
        docs.append(_doc("invoice", f"i{k}", k, day, f"c{1 + k % 3}"))
        docs.append(
            _doc("payment", f"p{k}", k, day, f"c{1 + k % 3}", state="waiting" if k % 4 else "ready")
        )
    docs.append(_doc("invoice", "i-none", None, "2025-01-20", "c1"))
    paying = _doc("payment", "pp-3:i3", 203, "2025-02-14", "")
    paying.dep_contact, paying.dep_invoice = None, "i3"  # as the intake writes a payment
    docs.append(paying)
    docs.append(_doc("invoice", "t2-i1", 1, "2025-01-11", "c1", tenant="T2"))
    ledger.insert(docs)
    ledger.raise_priority([("invoice", "i7", "T1")])
    return ledger


def _all_rows(ledger: Ledger) -> list[Row]:
    rows = [ledger.get(i) for i in range(1, ledger.max_row_id() + 1)]
    return [r for r in rows if r is not None]


def _key(r: Row) -> tuple[bool, str, bool, int, int]:
    return (
        r.doc_date is not None,
        r.doc_date or "",
        r.number is not None,
        r.number or 0,
        r.id,
    )


def _pages(ledger: Ledger, query: RowQuery, limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    after: RowKey | None = None
    while True:
        page = ledger.search_rows(query, after=after, limit=limit)
        pages.append([r.id for r in page.rows])
        if page.next_after is None:
            return pages
        after = page.next_after
        assert len(pages) < 200, "paging does not end"


QUERIES = [
    RowQuery(),
    RowQuery(states=("waiting",)),
    RowQuery(kinds=("invoice",)),
    RowQuery(states=("ready",), kinds=("payment", "contact")),
    RowQuery(date_from="2025-01-15", date_to="2025-02-12"),
    RowQuery(date_from="2025-02-01"),
    RowQuery(tenant_id="T2"),
    RowQuery(location_id="syd", kinds=("invoice",), date_to="2025-01-31"),
    RowQuery(number=7),
    RowQuery(number=7, kinds=("payment",)),
    RowQuery(customer="ann"),
    RowQuery(customer="LEE", states=("waiting",)),
    RowQuery(customer="lee ann", tenant_id="T1"),
    RowQuery(customer="bob", date_from="2025-02-01"),
]


def _matches(
    r: Row,
    q: RowQuery,
    contacts: dict[tuple[str, str], set[str]],
    invoices: dict[tuple[str, str], str | None],
) -> bool:
    checks = [
        q.number is None or r.number == q.number,
        not q.states or r.state in q.states,
        not q.kinds or r.kind in q.kinds,
        q.tenant_id is None or r.tenant_id == q.tenant_id,
        q.location_id is None or r.location_id == q.location_id,
        q.date_from is None or (r.doc_date is not None and r.doc_date >= q.date_from),
        q.date_to is None or (r.doc_date is not None and r.doc_date <= q.date_to),
    ]
    if q.customer:
        words = q.customer.casefold().split()
        host = r.host_id if r.kind == "contact" else r.dep_contact
        if host is None and r.dep_invoice:
            host = invoices.get((r.tenant_id, r.dep_invoice))
        have = contacts.get((r.tenant_id, host or ""), set())
        checks.append(all(any(h.startswith(w) for h in have) for w in words))
    return all(checks)


@pytest.mark.parametrize("query", QUERIES, ids=repr)
@pytest.mark.parametrize("limit", [1, 4, 50])
def test_paging_lists_every_match_once_in_order(books: Ledger, query: RowQuery, limit: int) -> None:
    rows = _all_rows(books)
    contacts = {
        (r.tenant_id, r.host_id): {
            str(r.payload["first_name"]).casefold(),
            str(r.payload["last_name"]).casefold(),
        }
        for r in rows
        if r.kind == "contact"
    }
    invoices = {(r.tenant_id, r.host_id): r.dep_contact for r in rows if r.kind == "invoice"}
    expected = [
        r.id for r in sorted(rows, key=_key, reverse=True) if _matches(r, query, contacts, invoices)
    ]
    pages = _pages(books, query, limit)
    assert [i for page in pages for i in page] == expected
    assert all(len(page) <= limit for page in pages)
    first = books.search_rows(query, limit=limit)
    assert first.total in (None, len(expected))
    assert not first.capped


def test_a_number_finds_each_kind_with_that_number(books: Ledger) -> None:
    found = books.search_rows(RowQuery(number=12)).rows
    assert sorted((r.kind, r.host_id) for r in found) == [("invoice", "i12"), ("payment", "p12")]


def test_a_customer_is_found_by_the_start_of_any_word_whatever_its_case(books: Ledger) -> None:
    found = books.search_rows(RowQuery(customer="ängel", kinds=("contact",))).rows
    assert [r.host_id for r in found] == ["c3"]
    assert [r.host_id for r in books.search_rows(RowQuery(customer="ÄNG ORT")).rows][-1] == "c3"
    assert books.search_rows(RowQuery(customer="leem ann")).rows == []


def test_a_customer_renamed_is_found_by_the_new_name_only(books: Ledger) -> None:
    row = books.find("contact", "c2", "T1")
    assert row is not None
    payload = {**row.payload, "first_name": "Roberta", "last_name": "Stone"}
    books.set_fields(row.id, payload=json.dumps(payload))
    assert [r.host_id for r in books.search_rows(RowQuery(customer="stone")).rows][-1] == "c2"
    assert all(r.dep_contact != "c2" for r in books.search_rows(RowQuery(customer="bob")).rows)


def test_the_total_comes_from_the_counts(books: Ledger) -> None:
    page = books.search_rows(RowQuery(kinds=("payment",), states=("waiting",)), limit=2)
    assert page.total == sum(1 for k in range(1, 31) if k % 4)
    assert len(page.rows) == 2


def test_what_was_sent_is_in_the_history_with_xeros_answer(ledger: Ledger) -> None:
    ledger.insert([_doc("invoice", "i1", 1, "2025-02-01", "c1")])
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    body = json.dumps({"InvoiceNumber": "INV1", "Total": "100.00"})
    ledger.mark_sent([row.id], "pmx-invoice-1", requests={row.id: body})
    ledger.mark_failed(row.id, "Account code '299' is archived", reply={"ok": False})
    history = ledger.log(row.id)
    assert [e["event"] for e in history] == ["sent", "failed"]
    assert json.loads(history[0]["request"]) == {"InvoiceNumber": "INV1", "Total": "100.00"}
    assert history[1]["message"] == "Account code '299' is archived"
    assert ledger.last_reply(row.id) == {"ok": False}


def test_without_a_body_the_history_says_the_attempt(ledger: Ledger) -> None:
    ledger.insert([_doc("invoice", "i1", 1, "2025-02-01", "c1")])
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START + timedelta(seconds=1))
    ledger.mark_sent([row.id], "pmx-invoice-2")
    assert ledger.log(row.id)[0]["request"] == "attempt pmx-invoice-2"
    assert ledger.last_reply(row.id) is None


def test_a_payment_is_found_by_the_customer_of_its_invoice(books: Ledger) -> None:
    found = [
        r.host_id for r in books.search_rows(RowQuery(customer="ann", kinds=("payment",))).rows
    ]
    assert "pp-3:i3" in found  # i3 is Ann Lee's (c1): the payment names only the invoice
