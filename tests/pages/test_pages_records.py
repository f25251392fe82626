"""A record's own page, server-side: what the ledger holds of it, its history of what was sent
and what Xero answered, the buttons its state allows; an unknown row is a 404 in words."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ledger_helpers import Practice
from support.pages_books import ARCHIVED, failed_invoice, open_practice, synced_books, text_of
from support.pages_world import STAFF, client_for

from pm_xero_plugin.xero.tokens import TokenSet, TokenStore


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path) as books:
        yield books


def test_a_synced_record_shows_its_facts_and_links_to_xero(practice: Practice) -> None:
    ids = synced_books(practice, invoices=1)
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    answer = client_for(practice.host).get(f"/records/{row.id}")
    assert answer.status_code == 200
    text = text_of(answer.text)
    for expected in ("Invoice INV101", "Synced", "Oliver King", "2025-02-01", "110.00", "i1"):
        assert expected in text
    assert ids["i1"] in text
    assert f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={ids['i1']}" in answer.text
    assert "<button" not in answer.text.split("<h2>History</h2>")[0], "synced: nothing to do"


def test_the_history_lists_what_was_sent_and_what_xero_answered(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    row_id = failed_invoice(practice, "i9", 109)
    html = client_for(practice.host).get(f"/records/{row_id}").text
    history = html[html.index("<h2>History</h2>") :]
    assert history.index('data-event="sent"') < history.index('data-event="failed"')
    sent = history[history.index('data-event="sent"') : history.index('data-event="failed"')]
    assert '<pre class="request">{\n  &#34;InvoiceNumber&#34;: &#34;INV9&#34;\n}</pre>' in sent
    failed = history[history.index('data-event="failed"') :]
    assert '<p class="message">' + ARCHIVED.replace("'", "&#39;") + "</p>" in failed


def test_a_failed_record_offers_its_ways_out(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    row_id = failed_invoice(practice, "i9", 109)
    html = client_for(practice.host).get(f"/records/{row_id}").text
    text = text_of(html)
    assert "Pick an active account code" in text
    assert "LineItems[0].AccountCode" in text
    for label in ("Retry", "Resolve", "Exclude"):
        assert f">{label}</button>" in html
    assert f'name="next" value="/records/{row_id}"' in html


def test_secret_looking_fields_of_a_request_are_hidden(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    practice.host.create_invoice(
        {
            "id": "i5",
            "number": 105,
            "client_id": "c1",
            "location_id": "syd",
            "date": "2025-02-05",
            "due_date": "2025-02-05",
            "lines": [
                {
                    "description": "Night",
                    "category": "boarding",
                    "quantity": "1",
                    "unit_price": "10.00",
                    "tax_rate": "10",
                }
            ],
        }
    )
    [row] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    body = json.dumps({"InvoiceNumber": "INV105", "access_token": "eyJ-SECRET-VALUE"})
    practice.ledger.mark_sent([row.id], "k", requests={row.id: body})
    html = client_for(practice.host).get(f"/records/{row.id}").text
    assert "eyJ-SECRET-VALUE" not in html
    assert "[hidden]" in html


def test_no_token_appears_on_the_dashboard_or_a_record(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    store = TokenStore(
        practice.host.data_dir("xero") / "tokens.sqlite3", practice.host.secret("xero")
    )
    store.save(
        "syd",
        TokenSet("ACCESS-abc123-secret", "REFRESH-def456-secret", time.time() + 1800),
        tenant_ids=["T1"],
    )
    web = client_for(practice.host)
    for path in ("/dashboard", "/records/1", "/records/3", "/dashboard?customer=oliver"):
        html = web.get(path).text
        assert "ACCESS-abc123-secret" not in html
        assert "REFRESH-def456-secret" not in html


def test_an_unknown_record_is_a_404_in_words(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    answer = client_for(practice.host).get("/records/99999")
    assert answer.status_code == 404
    text = text_of(answer.text)
    assert "No record 99999" in text
    assert "ledger has no record number 99999" in text
    assert "Traceback" not in answer.text


def test_staff_get_403_on_a_record(practice: Practice) -> None:
    synced_books(practice, invoices=1)
    assert client_for(practice.host, STAFF).get("/records/1").status_code == 403
