"""The Accounting dashboard page, server-side: health per organisation, counts, the failures
with Xero's message, hint and buttons, the search and its pages, links to Xero, the refresh."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from support.ledger_helpers import Practice, client, invoice, payment
from support.pages_books import ARCHIVED, failed_invoice, open_practice, synced_books, text_of
from support.pages_world import STAFF, client_for

from pm_xero_plugin.pages.search_form import decode_after, encode_after, read_search
from pm_xero_plugin.pages.xero_links import sandbox_link, xero_link


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path) as books:
        yield books


def test_each_organisation_says_its_connection_and_that_data_is_up_to_date(
    practice: Practice,
) -> None:
    synced_books(practice)
    practice.drain()
    answer = client_for(practice.host).get("/dashboard")
    assert answer.status_code == 200
    text = text_of(answer.text)
    assert "Connected" in text
    assert answer.text.count('data-data-sync="up_to_date">Up to date</span>') == 2
    assert "Account codes set and checked" in text
    assert 'data-refresh="0"' in answer.text, "nothing moves: the page stops refreshing"
    assert "Nothing stops the add-on" in text


def test_the_page_refreshes_itself_while_records_are_queued(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    answer = client_for(practice.host).get("/dashboard")
    assert 'data-refresh="3"' in answer.text
    assert "Syncing" in text_of(answer.text) or "Queued" in text_of(answer.text)


def test_counts_by_kind_and_state_per_location(practice: Practice) -> None:
    synced_books(practice, invoices=3)
    practice.drain()
    html = client_for(practice.host).get("/dashboard").text
    section = html[html.index('data-location="syd"') :]
    section = section[: section.index("</section>")]
    assert "Sydney" in section
    row = re.search(r"<td>Invoice</td>(.*?)</tr>", section, re.S)
    assert row is not None
    assert [int(n) for n in re.findall(r">(\d+)<", row.group(1))] == [3]


def test_a_failure_is_shown_with_xeros_message_field_hint_and_buttons(
    practice: Practice,
) -> None:
    synced_books(practice, invoices=1)
    row_id = failed_invoice(practice, "i9", 109)
    html = client_for(practice.host).get("/dashboard").text
    card = html[html.index(f'<article class="card failure" data-row="{row_id}"') :]
    card = card[: card.index("</article>")]
    text = text_of(card)
    assert ARCHIVED in text
    assert "LineItems[0].AccountCode" in text
    assert "Pick an active account code" in text
    for label in ("Retry", "Resolve", "Exclude"):
        assert f">{label}</button>" in card
    assert 'action="http://testserver/actions/retry"' in card
    assert f'name="row_id" value="{row_id}"' in card
    assert 'name="next" value="/dashboard"' in card
    assert f'href="http://testserver/records/{row_id}"' in card


def test_a_payment_before_the_start_date_offers_the_parent_invoice(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i-old", 50, "c1", "2025-01-10"))
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i-old", "100.00")]))
    status = practice.status()
    [held] = [f for f in status["failures"] if f["kind"] == "payment"]
    html = client_for(practice.host).get("/dashboard").text
    card = html[html.index(f'data-row="{held["row_id"]}"') :]
    card = card[: card.index("</article>")]
    assert ">Include parent invoice</button>" in card
    assert 'action="http://testserver/actions/include_parent"' in card
    assert "Widen the start date" in card
    assert ">Exclude</button>" in card


def test_synced_records_link_to_xero_and_to_the_sandbox(practice: Practice) -> None:
    ids = synced_books(practice, invoices=2)
    from pm_xero_plugin import plugin
    from pm_xero_plugin.pages.app import build_app

    app = build_app(
        engine=plugin.get_engine,
        runtime=plugin.get_runtime,
        secret=lambda: b"s" * 32,
        sandbox_url=lambda: "http://127.0.0.1:9999",
    )
    html = client_for(practice.host, app=app).get("/dashboard").text
    for xero_id in ids.values():
        assert f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={xero_id}" in html
        assert f"http://127.0.0.1:9999/sandbox/view/invoices/{xero_id}" in html
    plain = client_for(practice.host).get("/dashboard").text
    assert "/sandbox/view/" not in plain, "no sandbox: no sandbox links"


def test_deep_links_go_through_the_organisation_when_its_short_code_is_known() -> None:
    xero_id = "0f2a1c8e-4b7d-4c2e-9a51-3e6d7f8a9b0c"
    assert xero_link("invoice", xero_id, "!xkY2p") == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=%21xkY2p"
        "&redirecturl=%2FAccountsReceivable%2FView.aspx%3FInvoiceID%3D" + xero_id
    )
    assert xero_link("contact", xero_id) == f"https://go.xero.com/Contacts/View/{xero_id}"
    assert xero_link("allocation", xero_id) is None
    assert xero_link("invoice", "X-invoice-i1") is None, "not a Xero id: no link"
    assert sandbox_link("http://sb/", "credit_note", xero_id) == (
        f"http://sb/sandbox/view/creditnotes/{xero_id}"
    )


def _listed(html: str) -> list[str]:
    if '<table class="records">' not in html:
        assert 'data-results="none"' in html
        return []
    table = html[html.index('<table class="records">') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr data-row="(\d+)"', table)


def test_the_filters_find_the_right_rows(practice: Practice) -> None:
    synced_books(practice, invoices=4)
    failed = failed_invoice(practice, "i9", 109)
    web = client_for(practice.host)
    ledger = practice.ledger

    def ids(**params: str) -> set[int]:
        return {int(i) for i in _listed(web.get("/dashboard", params=params).text)}

    by_number = ids(number="INV102")
    assert {ledger.get(i).host_id for i in by_number} == {"i2"}  # type: ignore[union-attr]
    oliver = {ledger.get(i).host_id for i in ids(customer="oliv")}  # type: ignore[union-attr]
    assert oliver == {"c1", "i1", "i3", "i9"}
    assert ids(state="failed") == {failed}
    dated = {ledger.get(i).host_id for i in ids(**{"from": "2025-02-02", "to": "2025-02-03"})}  # type: ignore[union-attr]
    assert dated == {"i2", "i3"}
    contacts = {ledger.get(i).host_id for i in ids(kind="contact")}  # type: ignore[union-attr]
    assert contacts == {"c1", "c2"}
    assert ids(location="lon") == set()
    assert ids(org="T1", kind="invoice", state="synced", customer="mia") == {
        ledger.find("invoice", h, "T1").id
        for h in ("i2", "i4")  # type: ignore[union-attr]
    }


def test_paging_covers_every_record_once(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.pages import dashboard

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 2)
    synced_books(practice, invoices=5)
    web = client_for(practice.host)
    seen: list[str] = []
    url = "/dashboard?kind="
    for _ in range(20):
        html = web.get(url).text
        seen += _listed(html)
        found = re.search(r'<a class="button" href="([^"]+)#search" rel="next">Next page</a>', html)
        if found is None:
            break
        url = "/dashboard" + unescape(found.group(1))
    everything = practice.ledger.max_row_id()
    assert sorted(int(i) for i in seen) == list(range(1, everything + 1))
    assert len(seen) == len(set(seen))
    assert "First page" in html


def test_a_filter_that_cannot_be_read_is_said_beside_the_form(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    html = (
        client_for(practice.host)
        .get("/dashboard", params={"number": "ZZ7", "from": "2025-13-01", "state": "lost"})
        .text
    )
    assert "is not one of the prefixes in the settings" in html
    assert "a date (YYYY-MM-DD)" in html
    assert "not a state" in html


def test_a_search_reads_into_a_ledger_query_and_back() -> None:
    from pm_xero_plugin.inputs.settings import Prefixes

    search = read_search({"number": "pay7", "from": "2025-03-01", "to": "2025-02-01"}, Prefixes())
    assert search.query.number == 7
    assert search.query.kinds == ("payment", "overpayment", "allocation")
    assert search.errors == {"to": ["on or after the date it starts from"]}
    from pm_xero_plugin.ledger import RowKey

    for k in (RowKey("2025-02-03", 121, 7), RowKey(None, 5, 9), RowKey(None, None, 3)):
        assert decode_after(encode_after(k)) == k
    assert decode_after("garbage") is None


def test_staff_get_403_and_no_token_is_in_the_page(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    assert client_for(practice.host, STAFF).get("/dashboard").status_code == 403
    html = client_for(practice.host).get("/dashboard").text
    store = practice.host.data_dir("xero")
    secrets = [p.readtext_of(errors="ignore") for p in store.rglob("*token*") if p.is_file()]
    for body in secrets:
        for value in re.findall(r'"(?:access|refresh)_token"\s*:\s*"([^"]+)"', body):
            assert value not in html
    assert "access_token" not in html
    assert "refresh_token" not in html


def test_more_failures_than_drawn_point_to_the_search(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.pages import dashboard

    monkeypatch.setattr(dashboard, "FAILURES_SHOWN", 1)
    synced_books(practice, invoices=1)
    first = failed_invoice(practice, "i8", 108)
    newest = failed_invoice(practice, "i9", 109)
    html = client_for(practice.host).get("/dashboard").text
    assert f'<article class="card failure" data-row="{newest}"' in html
    assert f'<article class="card failure" data-row="{first}"' not in html
    assert "The newest 1 of 2" in text_of(html)
    assert 'href="?state=failed#search"' in html
    listed = client_for(practice.host).get("/dashboard?state=failed").text
    assert {int(i) for i in _listed(listed)} == {first, newest}


def test_a_customer_renamed_in_pet_manager_is_found_by_the_new_name(practice: Practice) -> None:
    synced_books(practice, invoices=4)
    practice.host.save_client(client("c2", 2, first_name="Mia", last_name="Tanaka"))
    web = client_for(practice.host)
    found = {
        practice.ledger.get(int(i)).host_id  # type: ignore[union-attr]
        for i in _listed(web.get("/dashboard", params={"customer": "tanaka"}).text)
    }
    assert found == {"c2", "i2", "i4"}
    assert _listed(web.get("/dashboard", params={"customer": "wong"}).text) == []


def test_a_payment_shows_and_is_found_by_its_customer(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    practice.host.record_payment(payment("p1", 7, "c1", "2025-02-05", [("i1", "110.00")]))
    row = practice.ledger.find("payment", "p1:i1", "T1")
    assert row is not None
    html = client_for(practice.host).get("/dashboard", params={"customer": "oliver king"}).text
    assert str(row.id) in _listed(html)
    line = html[html.index(f'<tr data-row="{row.id}"') :]
    assert "Oliver King" in line[: line.index("</tr>")]
