"""The client's reads for a reconciliation, against the sandbox with every request checked
against Xero's spec: an endpoint a page of up to 1,000 at a time with ``If-Modified-Since`` as
Xero takes it, and documents by their ids (``IDs=`` where Xero's spec has it, ``where`` on the
id for the rest; an id with no answer is gone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import Connected, connected_sandbox, contact, invoice

from pm_xero_plugin.xero.client import READ_ORDER, format_if_modified_since
from pm_xero_plugin.xero.dates import parse_xero_datetime

pytestmark = pytest.mark.skipif(
    __import__("support.xero_sandbox_client").xero_sandbox_client.SPEC is None,
    reason="Xero's OpenAPI spec is not available (XERO_OPENAPI_SPEC)",
)


@pytest.fixture
def xero(tmp_path: Path) -> Iterator[Connected]:
    yield from connected_sandbox(tmp_path)


def _contacts(xero: Connected, count: int) -> list[str]:
    made = xero.client.send_batch(
        xero.tenant_id,
        CONN,
        "PUT",
        "Contacts",
        [contact(n, f"Ann Lee{n}") for n in range(1, count + 1)],
        idempotency_key=f"contacts-{count}",
    )
    assert all(r.ok for r in made), made
    return [str(r.xero_id) for r in made]


def test_a_paged_read_asks_for_pages_of_the_size_given_until_a_short_one(
    xero: Connected,
) -> None:
    ids = _contacts(xero, 5)
    sent: list[httpx.Request] = []
    check = xero.client.request_hook
    assert check is not None

    def hook(request: httpx.Request) -> None:
        check(request)
        sent.append(request)

    xero.client.request_hook = hook

    pages = list(
        xero.client.read_pages(xero.tenant_id, CONN, "Contacts", modified_since=None, page_size=2)
    )

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [p.number for p in pages] == [1, 2, 3]
    assert {c["ContactID"] for p in pages for c in p} >= set(ids)
    assert [(r.url.params["page"], r.url.params["pageSize"]) for r in sent] == [
        ("1", "2"),
        ("2", "2"),
        ("3", "2"),
    ]
    assert all("If-Modified-Since" not in r.headers for r in sent)
    assert all(p.server_time is not None for p in pages)


def test_if_modified_since_goes_as_xero_documents_it_and_leaves_out_what_did_not_change(
    xero: Connected,
) -> None:
    _contacts(xero, 3)
    later = xero.sandbox.clock() + timedelta(hours=1)
    sent: list[httpx.Request] = []
    xero.client.request_hook = sent.append

    [page] = xero.client.read_pages(xero.tenant_id, CONN, "Contacts", modified_since=later)

    assert page == []
    assert sent[0].headers["If-Modified-Since"] == format_if_modified_since(later)


def test_if_modified_since_is_utc_to_the_second_without_milliseconds() -> None:
    sydney = timezone(timedelta(hours=11))

    said = format_if_modified_since(datetime(2025, 3, 1, 20, 0, 5, 999_000, tzinfo=sydney))

    assert said == "2025-03-01T09:00:05"
    with pytest.raises(ValueError, match="aware"):
        format_if_modified_since(datetime(2025, 3, 1, 9, 0))


def test_a_read_can_start_at_a_page(xero: Connected) -> None:
    """(Only safe while nothing changes: the reconciliation goes on from a moment instead.)"""
    _contacts(xero, 5)

    pages = list(
        xero.client.read_pages(
            xero.tenant_id, CONN, "Contacts", modified_since=None, page_size=2, start_page=3
        )
    )

    assert [(p.number, len(p)) for p in pages] == [(3, 1)]


def test_a_read_asks_for_the_oldest_change_first_so_a_changed_document_moves_to_the_end(
    xero: Connected,
) -> None:
    first, *others = _contacts(xero, 3)
    xero.sandbox.clock.advance(5)
    [edited] = xero.client.send_batch(
        xero.tenant_id,
        CONN,
        "POST",
        "Contacts",
        [{"ContactID": first, "EmailAddress": "ann.new@example.com"}],
        idempotency_key="edit-first",
    )
    assert edited.ok, edited
    sent: list[httpx.Request] = []
    check = xero.client.request_hook
    assert check is not None

    def hook(request: httpx.Request) -> None:
        check(request)
        sent.append(request)

    xero.client.request_hook = hook

    pages = list(
        xero.client.read_pages(xero.tenant_id, CONN, "Contacts", modified_since=None, page_size=2)
    )

    assert all(r.url.params["order"] == READ_ORDER == "UpdatedDateUTC ASC" for r in sent)
    read = [str(c["ContactID"]).lower() for p in pages for c in p]
    ours = [*sorted(i.lower() for i in others), first.lower()]  # one write's stamp: by id
    assert [i for i in read if i in ours] == ours  # the edited one last
    stamps = [parse_xero_datetime(str(c["UpdatedDateUTC"])) for p in pages for c in p]
    assert stamps == sorted(stamps)
    assert pages[0].last_updated == max(stamps[:2])  # where a stopped read goes on from


def test_every_call_of_a_read_is_told_first_so_a_budget_can_stop_it_before_the_call(
    xero: Connected,
) -> None:
    _contacts(xero, 5)
    told: list[int] = []

    class Spent(Exception):
        pass

    def before() -> None:
        if len(told) == 2:
            raise Spent
        told.append(1)

    got: list[object] = []
    pages = xero.client.read_pages(
        xero.tenant_id, CONN, "Contacts", modified_since=None, page_size=2, before_call=before
    )
    with pytest.raises(Spent):
        got.extend(pages)

    assert len(got) == 2
    assert sum(1 for c in xero.checked if c.endswith("/Contacts")) == 1 + 2  # the PUT, 2 reads


def test_contacts_and_invoices_are_read_by_ids_and_an_unknown_id_is_not_in_the_answer(
    xero: Connected,
) -> None:
    [first, second] = _contacts(xero, 2)
    [made] = xero.client.send_batch(
        xero.tenant_id, CONN, "PUT", "Invoices", [invoice("INV1", first)], idempotency_key="i"
    )
    gone = "0f0f0f0f-0000-4000-8000-000000000000"

    contacts = xero.client.get_by_ids(
        xero.tenant_id, CONN, "Contacts", [first, second.upper(), gone]
    )
    invoices = xero.client.get_by_ids(xero.tenant_id, CONN, "Invoices", [str(made.xero_id), gone])

    assert set(contacts) == {first.lower(), second.lower()}
    assert set(invoices) == {str(made.xero_id).lower()}


def test_payments_are_read_by_where_on_their_id_and_a_single_id_by_its_path_404_as_gone(
    xero: Connected,
) -> None:
    [cid] = _contacts(xero, 1)
    [inv] = xero.client.send_batch(
        xero.tenant_id, CONN, "PUT", "Invoices", [invoice("INV1", cid)], idempotency_key="i"
    )
    payments = xero.client.send_batch(
        xero.tenant_id,
        CONN,
        "PUT",
        "Payments",
        [
            {
                "Invoice": {"InvoiceID": inv.xero_id},
                "Account": {"Code": "090"},
                "Date": "2024-03-02",
                "Amount": amount,
                "Reference": f"PAY{n}",
            }
            for n, amount in ((1, 10.0), (2, 5.0))
        ],
        idempotency_key="p",
    )
    ids = [str(p.xero_id) for p in payments]
    assert all(p.ok for p in payments), payments
    gone = "0f0f0f0f-0000-4000-8000-000000000000"
    sent: list[httpx.Request] = []
    xero.client.request_hook = sent.append

    both = xero.client.get_by_ids(xero.tenant_id, CONN, "Payments", [*ids, gone])
    none = xero.client.get_by_ids(xero.tenant_id, CONN, "Payments", [gone])

    assert set(both) == {i.lower() for i in ids}
    assert none == {}
    assert 'PaymentID==Guid("' in sent[0].url.params["where"]
    assert sent[1].url.path.endswith(f"/Payments/{gone}")


def test_ids_that_are_not_xero_ids_are_refused_before_any_call(xero: Connected) -> None:
    with pytest.raises(ValueError, match="not Xero ids"):
        xero.client.get_by_ids(xero.tenant_id, CONN, "CreditNotes", ['x") OR (1==1'])


def test_the_server_time_of_a_page_is_utc() -> None:
    from pm_xero_plugin.xero.client import Page

    page = Page([], number=1, server_time=datetime(2025, 3, 1, tzinfo=UTC))

    assert page.server_time is not None
    assert page.server_time.tzinfo is UTC
