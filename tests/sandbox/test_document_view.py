"""The sandbox's own read-only page of a document (what the dashboard links a record to when
Xero is the sandbox): found in whichever organisation holds it, every value escaped."""

from __future__ import annotations

import httpx
from support.sandbox_helpers import Api
from support.sandbox_money import Money


def test_an_invoice_has_a_page_with_its_number_contact_and_total(
    api: Api, client: httpx.Client
) -> None:
    contact = api.contact("Jane <b>Pawson</b>", "C1")
    made = api.invoice(contact["ContactID"], "INV-7", "55.00")
    invoice = made.json()["Invoices"][0]
    page = client.get(f"/sandbox/view/invoices/{invoice['InvoiceID']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "INV-7" in page.text
    assert "55" in page.text
    assert "Jane &lt;b&gt;Pawson&lt;/b&gt;" in page.text
    assert "<b>Pawson</b>" not in page.text, "a customer's name is escaped"
    assert "read-only" in page.text


def test_a_contact_has_a_page_too(api: Api, client: httpx.Client) -> None:
    contact = api.contact("Oliver King (C13)", "C13")
    page = client.get(f"/sandbox/view/contacts/{contact['ContactID']}")
    assert page.status_code == 200
    assert "Oliver King (C13)" in page.text


def test_an_unknown_document_or_collection_is_a_404_in_words(client: httpx.Client) -> None:
    missing = client.get("/sandbox/view/invoices/0f2a1c8e-4b7d-4c2e-9a51-3e6d7f8a9b0c")
    assert missing.status_code == 404
    assert "No organisation in this sandbox holds it" in missing.text
    wrong = client.get("/sandbox/view/<script>/x")
    assert wrong.status_code == 404
    assert "<script>" not in wrong.text


def test_the_view_changes_nothing(api: Api, client: httpx.Client) -> None:
    contact = api.contact()
    before = client.get("/sandbox/state").json()
    assert client.post(f"/sandbox/view/contacts/{contact['ContactID']}").status_code == 404
    client.get(f"/sandbox/view/contacts/{contact['ContactID']}")
    assert client.get("/sandbox/state").json() == before


def test_prepayments_bank_transactions_and_transfers_have_pages(
    api: Api, client: httpx.Client
) -> None:
    money = Money(api)
    jane = money.contact()
    pre = money.prepayment(jane, "150")
    transfer = money.ok(money.transfer("093", "090", "42.50", reference="PO7"), "BankTransfers")
    page = client.get(f"/sandbox/view/prepayments/{pre['PrepaymentID']}")
    assert page.status_code == 200
    assert "Prepayment" in page.text
    assert "150" in page.text
    page = client.get(f"/sandbox/view/banktransfers/{transfer['BankTransferID']}")
    assert page.status_code == 200
    assert "PO7" in page.text
    page = client.get(f"/sandbox/view/banktransactions/{transfer['FromBankTransactionID']}")
    assert page.status_code == 200
    assert "SPEND-TRANSFER" in page.text
