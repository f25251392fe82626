"""The bookkeeper API: a person's changes in Xero's web app, with the Accounting API's rules and
answers and its webhooks, but no token, no limits and not counted as the app's calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.sandbox_helpers import Api, connect
from support.sandbox_money import Money
from support.webhook_receiver import Receiver

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock

KEY = "bookkeeper-test-key"


@pytest.fixture
def receiver() -> Receiver:
    return Receiver(KEY)


@pytest.fixture
def books(clock: SandboxClock, spec_path: str, receiver: Receiver) -> Iterator[Sandbox]:
    """Xero's limits (60 calls a minute), which 70 bookkeeper calls would overstep if they
    counted; every answer (the bookkeeper's too) checked against Xero's spec."""
    sandbox = Sandbox(
        clock=clock,
        spec_path=spec_path,
        check_responses=True,
        limits=Limits(per_minute=60),
        webhook_transport=receiver.transport(),
    )
    yield sandbox
    assert sandbox.response_violations == []


@pytest.fixture
def client(books: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=books.transport(), base_url="http://xero.sandbox") as c:
        yield c


@pytest.fixture
def api(client: httpx.Client) -> Api:
    return Api(client, connect(client))


@pytest.fixture
def money(api: Api) -> Money:
    return Money(api)


class Bookkeeper:
    """A person in Xero's web app, on the first organisation."""

    def __init__(self, client: httpx.Client, tenant: str) -> None:
        self.client, self.tenant = client, tenant

    def call(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        return self.client.request(
            method, f"/sandbox/xero/{self.tenant}/{path}", json=body, params=params or None
        )

    def ok(self, method: str, path: str, body: Any, key: str) -> dict[str, Any]:
        resp = self.call(method, path, body)
        assert resp.status_code == 200, resp.text
        element: dict[str, Any] = resp.json()[key][0]
        return element


@pytest.fixture
def person(client: httpx.Client, api: Api) -> Bookkeeper:
    return Bookkeeper(client, api.tenant)


def test_voiding_an_invoice(api: Api, money: Money, person: Bookkeeper) -> None:
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    voided = person.ok("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"}, "Invoices")
    assert voided["Status"] == "VOIDED"
    read = api.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (read["Status"], read["AmountDue"], read["Total"]) == ("VOIDED", 0.0, 100.0)


def test_deleting_a_payment_takes_it_off_its_invoice(
    api: Api, money: Money, person: Bookkeeper
) -> None:
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    payment = money.pay(inv["InvoiceID"], "40.00")
    person.ok("POST", f"Payments/{payment['PaymentID']}", {"Status": "DELETED"}, "Payments")
    read = api.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert read["Payments"] == []
    assert (read["AmountPaid"], read["AmountDue"]) == (0.0, 100.0)
    gone = api.get(f"/Payments/{payment['PaymentID']}").json()["Payments"][0]
    assert gone["Status"] == "DELETED"


def test_editing_a_contacts_email_keeps_its_other_fields(api: Api, person: Bookkeeper) -> None:
    contact = api.contact("Jane Pawson", "C1")
    edited = person.ok(
        "POST", f"Contacts/{contact['ContactID']}", {"EmailAddress": "new@example.com"}, "Contacts"
    )
    assert edited["EmailAddress"] == "new@example.com"
    read = api.get(f"/Contacts/{contact['ContactID']}").json()["Contacts"][0]
    assert (read["Name"], read["ContactNumber"], read["EmailAddress"]) == (
        "Jane Pawson",
        "C1",
        "new@example.com",
    )


def test_a_credit_note_made_and_applied_by_hand(api: Api, money: Money, person: Bookkeeper) -> None:
    cid = money.contact()
    inv = money.invoice(cid, "INV-1", "100.00")
    line = {"Description": "Goodwill", "Quantity": 1, "UnitAmount": 15, "AccountCode": "201"}
    note = person.ok(
        "PUT",
        "CreditNotes",
        {
            "CreditNotes": [
                {
                    "Type": "ACCRECCREDIT",
                    "Contact": {"ContactID": cid},
                    "Date": "2024-03-01",
                    "Status": "AUTHORISED",
                    "LineAmountTypes": "NoTax",
                    "LineItems": [line],
                }
            ]
        },
        "CreditNotes",
    )
    person.ok(
        "PUT",
        f"CreditNotes/{note['CreditNoteID']}/Allocations",
        {
            "Allocations": [
                {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 15, "Date": "2024-03-01"}
            ]
        },
        "Allocations",
    )
    read = api.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert [(c["CreditNoteID"], c["AppliedAmount"]) for c in read["CreditNotes"]] == [
        (note["CreditNoteID"], 15.0)
    ]
    assert (read["AmountCredited"], read["AmountDue"]) == (15.0, 85.0)
    (cn,) = api.get("/CreditNotes").json()["CreditNotes"]
    assert [(a["Invoice"]["InvoiceID"], a["Amount"]) for a in cn["Allocations"]] == [
        (inv["InvoiceID"], 15.0)
    ]


def test_changing_an_invoices_lines_changes_its_total(
    api: Api, money: Money, person: Bookkeeper
) -> None:
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    lines = [{"Description": "Boarding", "Quantity": 2, "UnitAmount": 60, "AccountCode": "201"}]
    person.ok("POST", f"Invoices/{inv['InvoiceID']}", {"LineItems": lines}, "Invoices")
    read = api.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (read["Total"], read["InvoiceNumber"], read["Status"]) == (120.0, "INV-1", "AUTHORISED")


def test_the_same_rules_and_answers_as_the_accounting_api(
    api: Api, money: Money, person: Bookkeeper
) -> None:
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    money.pay(inv["InvoiceID"], "10.00")
    as_app = api.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    as_person = person.call("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    assert as_person.status_code == as_app.status_code == 400
    assert (
        as_person.json()["Elements"][0]["ValidationErrors"]
        == (as_app.json()["Elements"][0]["ValidationErrors"])
    )
    refused = person.call("PUT", "Contacts", {"Contacts": [{"Nmae": "typo"}]})
    assert refused.status_code == 400  # the spec check too
    assert person.call("POST", "Invoices/not-there", {"Status": "VOIDED"}).status_code == 404


def test_it_needs_no_token_and_is_not_the_apps_calls(
    books: Sandbox, api: Api, person: Bookkeeper
) -> None:
    contact = api.contact()
    calls, peaks = books.api_calls(api.tenant), books.peaks()[api.tenant]
    for n in range(70):  # more than the minute's 60: a counted call would meet 429
        email = f"n{n}@example.com"
        resp = person.call("POST", f"Contacts/{contact['ContactID']}", {"EmailAddress": email})
        assert resp.status_code == 200, resp.text
    assert books.api_calls(api.tenant) == calls
    assert books.peaks()[api.tenant] == peaks
    assert api.get("/Contacts").headers["X-MinLimit-Remaining"] == str(60 - calls - 1)
    mine = [r for r in books.requests if r.get("by") == "bookkeeper"]
    assert len(mine) == 70
    assert {r["tenant"] for r in mine} == {api.tenant}
    assert all(r["path"].startswith("/sandbox/xero/") for r in mine)


def test_its_changes_are_announced_by_webhooks(
    books: Sandbox, client: httpx.Client, receiver: Receiver, money: Money, person: Bookkeeper
) -> None:
    subscribed = client.put("/sandbox/webhooks", json={"url": "http://a/x", "key": KEY})
    assert subscribed.json()["status"] == "OK"
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    books.webhooks.flush()
    person.ok("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"}, "Invoices")
    books.webhooks.flush()
    last = receiver.events[-1]
    assert (last["eventCategory"], last["eventType"], last["resourceId"]) == (
        "INVOICE",
        "UPDATE",
        inv["InvoiceID"],
    )


def test_an_unknown_organisation_or_method_is_refused(client: httpx.Client) -> None:
    assert client.post("/sandbox/xero/nope/Contacts", json={}).status_code == 404
    assert client.delete("/sandbox/xero/nope/Contacts").status_code == 405
