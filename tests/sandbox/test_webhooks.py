"""The sandbox sends Xero's webhooks: intent to receive, one event per changed record, signed
deliveries batched per tenant, retried with the same body, kept across a restart.

In-process: the sandbox is mounted as an httpx transport, deliveries go into a WSGI receiver
through ``webhook_transport`` and are sent when the test calls ``sandbox.webhooks.flush()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.sandbox_helpers import Api, connect
from support.sandbox_money import Money
from support.webhook_receiver import Receiver, delivery_problems, verify

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.dates import format_ms
from pm_xero_plugin.sandbox.spec_location import find_xero_spec
from pm_xero_plugin.sandbox.webhooks import event_date

KEY = "test-webhook-key"
URL = "http://addon.test/webhooks/xero"


@pytest.fixture
def receiver() -> Receiver:
    return Receiver(KEY)


@pytest.fixture
def hooked(clock: SandboxClock, receiver: Receiver) -> Sandbox:
    return Sandbox(clock=clock, spec_path=find_xero_spec(), webhook_transport=receiver.transport())


@pytest.fixture
def client(hooked: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=hooked.transport(), base_url="http://xero.sandbox") as c:
        yield c


@pytest.fixture
def wapi(client: httpx.Client) -> Api:
    """The add-on's side: an OAuth'd caller of the hooked sandbox, subscribed with KEY."""
    resp = client.put("/sandbox/webhooks", json={"url": URL, "key": KEY})
    assert resp.json() == {"url": URL, "key": KEY, "status": "OK"}
    return Api(client, connect(client))


def delivered(sandbox: Sandbox, receiver: Receiver) -> list[dict[str, Any]]:
    """Flush, check every delivered body against Xero's spec and its signature, return the
    events of this flush."""
    before = len(receiver.deliveries)
    sandbox.webhooks.flush()
    events = []
    for call in receiver.deliveries[before:]:
        assert verify(call.body, call.signature, KEY)
        assert call.content_type == "application/json"
        assert delivery_problems(call.payload) == []
        events += call.events
    return events


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events]


def test_subscribing_runs_intent_to_receive_and_makes_a_key_when_none_is_given(
    client: httpx.Client, hooked: Sandbox
) -> None:
    calls: list[httpx.Request] = []

    def accept_all(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    hooked.webhooks.transport = httpx.MockTransport(accept_all)
    answer = client.put("/sandbox/webhooks", json={"url": URL}).json()
    assert answer["url"] == URL
    assert len(answer["key"]) >= 32
    assert answer["status"].startswith("failing: a wrongly signed call was answered 200")
    good, wrong = calls
    assert verify(good.content, good.headers["x-xero-signature"], answer["key"])
    assert not verify(wrong.content, wrong.headers["x-xero-signature"], answer["key"])
    assert b'"events":[]' in good.content


def test_an_endpoint_that_fails_intent_to_receive_gets_no_events(
    clock: SandboxClock, client: httpx.Client, hooked: Sandbox
) -> None:
    lax = Receiver(None)  # answers 200 to a wrong signature: fails the check
    hooked.webhooks.transport = lax.transport()
    answer = client.put("/sandbox/webhooks", json={"url": URL, "key": KEY}).json()
    assert answer["status"] == "failing: a wrongly signed call was answered 200, not 401"
    api = Api(client, connect(client))
    api.contact()
    assert hooked.webhooks.flush() == []
    assert len(lax.calls) == 2  # the check's two calls, nothing after
    seen = client.get("/sandbox/webhooks").json()
    assert seen["subscription"]["status"].startswith("failing")
    assert seen["deliveries"] == []


def test_an_unreachable_endpoint_fails_the_check_in_words(
    client: httpx.Client, hooked: Sandbox
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    hooked.webhooks.transport = httpx.MockTransport(refuse)
    answer = client.put("/sandbox/webhooks", json={"url": URL, "key": KEY}).json()
    assert answer["status"] == (
        "failing: a correctly signed call was answered with no status "
        "(ConnectError: Connection refused), not 200"
    )


def test_the_addons_own_writes_make_events_dated_at_the_records_update(
    hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    contact = wapi.contact()
    invoice = wapi.invoice(contact["ContactID"]).json()["Invoices"][0]
    events = delivered(hooked, receiver)
    assert kinds(events) == [
        ("CONTACT", "CREATE", contact["ContactID"]),
        ("INVOICE", "CREATE", invoice["InvoiceID"]),
    ]
    inv_event = events[1]
    assert inv_event["tenantId"] == wapi.tenant
    assert inv_event["tenantType"] == "ORGANISATION"
    assert inv_event["resourceUrl"] == (
        f"http://xero.sandbox/api.xro/2.0/Invoices/{invoice['InvoiceID']}"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", inv_event["eventDateUtc"])
    stored = hooked.org(wapi.tenant).invoices[invoice["InvoiceID"]]["UpdatedDateUTC"]
    assert inv_event["eventDateUtc"] == event_date(stored)
    assert format_ms(stored) == invoice["UpdatedDateUTC"]


def test_an_invoice_naming_a_new_contact_announces_both_and_an_existing_one_neither(
    hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    contact = wapi.contact()
    delivered(hooked, receiver)
    body = {
        "Type": "ACCREC",
        "Contact": {"Name": "New Person"},
        "Status": "DRAFT",
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "201"}],
    }
    made = wapi.put("/Invoices", {"Invoices": [body]}).json()["Invoices"][0]
    wapi.invoice(contact["ContactID"], "INV-2")
    events = delivered(hooked, receiver)
    assert [(c, t) for c, t, _ in kinds(events)] == [
        ("CONTACT", "CREATE"),
        ("INVOICE", "CREATE"),
        ("INVOICE", "CREATE"),
    ]
    assert events[0]["resourceId"] == made["Contact"]["ContactID"]


def test_payments_their_deletion_and_allocations_announce_the_documents_they_touch(
    clock: SandboxClock, hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    money = Money(wapi)
    cid = money.contact()
    inv = money.invoice(cid, "INV-1", "100.00")
    note = money.credit_note(cid, "CN-1", "30.00")
    delivered(hooked, receiver)
    payment = money.pay(inv["InvoiceID"], "20.00")
    assert kinds(delivered(hooked, receiver)) == [("INVOICE", "UPDATE", inv["InvoiceID"])]
    wapi.post(f"/Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert kinds(delivered(hooked, receiver)) == [("INVOICE", "UPDATE", inv["InvoiceID"])]
    money.ok(
        money.allocate("CreditNotes", note["CreditNoteID"], inv["InvoiceID"], "30"), "Allocations"
    )
    events = delivered(hooked, receiver)
    assert kinds(events) == [
        ("INVOICE", "UPDATE", inv["InvoiceID"]),
        ("CREDITNOTE", "UPDATE", note["CreditNoteID"]),
    ]
    assert events[1]["data"] == {"Type": "ACCRECCREDIT", "Status": "PAID"}


def test_a_failed_element_and_a_read_make_no_event(
    hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    contact = wapi.contact()
    delivered(hooked, receiver)

    def invoice(number: str, account: str) -> dict[str, Any]:
        line = {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": account}
        return {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact["ContactID"]},
            "InvoiceNumber": number,
            "Status": "AUTHORISED",
            "LineItems": [line],
        }

    batch = {"Invoices": [invoice("INV-1", "201"), invoice("INV-2", "999")]}
    assert wapi.put("/Invoices", batch).status_code == 400  # the good one is stored, as Xero
    wapi.get("/Invoices")
    wapi.get(f"/Contacts/{contact['ContactID']}")
    (good,) = hooked.org(wapi.tenant).invoices.values()
    assert kinds(delivered(hooked, receiver)) == [("INVOICE", "CREATE", good["InvoiceID"])]


def test_updated_date_moves_forward_on_every_change_even_on_a_frozen_clock(
    clock: SandboxClock, hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    """Two changes at the same sandbox time: the second must read as newer, or the add-on
    would take the bookkeeper's change for the echo of its own write."""
    money = Money(wapi)
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    money.pay(inv["InvoiceID"], "10.00")
    money.pay(inv["InvoiceID"], "10.00")
    events = [e for e in delivered(hooked, receiver) if e["eventCategory"] == "INVOICE"]
    dates = [e["eventDateUtc"] for e in events]
    assert len(dates) == 3
    assert dates == sorted(dates)
    assert len(set(dates)) == 3
    tick = timedelta(milliseconds=1)
    assert dates[0] == event_date(clock() + tick)  # the contact's write came first
    read = wapi.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert read["UpdatedDateUTC"] == format_ms(clock() + 3 * tick)
    clock.advance(60)
    money.pay(inv["InvoiceID"], "10.00")
    (event,) = delivered(hooked, receiver)
    assert event["eventDateUtc"] == event_date(clock())  # a clock that moved on is used as is


def test_deliveries_hold_at_most_50_events_with_increasing_sequences(
    hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    contacts = [{"Name": f"Person {n}", "ContactNumber": f"N{n}"} for n in range(60)]
    assert wapi.put("/Contacts", {"Contacts": contacts}).status_code == 200
    wapi.contact("One more", "N60")
    sent = hooked.webhooks.flush()
    assert [(d.first, d.last, d.count) for d in sent] == [(1, 50, 50), (51, 61, 11)]
    bodies = [c.payload for c in receiver.deliveries]
    assert [(b["firstEventSequence"], b["lastEventSequence"]) for b in bodies] == [
        (1, 50),
        (51, 61),
    ]
    assert all(re.fullmatch(r"[A-Z]{20}", b["entropy"]) for b in bodies)
    assert all(delivery_problems(b) == [] for b in bodies)


def test_each_tenant_gets_its_own_deliveries(
    client: httpx.Client, hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    second = wapi.tokens.tenant_ids[1]
    wapi.contact()
    wapi.contact(tenant=second)
    delivered(hooked, receiver)
    assert [{e["tenantId"] for e in c.events} for c in receiver.deliveries] == [
        {wapi.tenant},
        {second},
    ]


def test_a_failed_delivery_is_sent_again_with_the_same_body_and_keeps_its_tenants_order(
    hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    receiver.script.extend([500, 503])
    first = wapi.contact("A", "A1")
    assert [d.state for d in hooked.webhooks.flush()] == ["pending"]
    second = wapi.contact("B", "B1")
    sent = hooked.webhooks.flush()  # the first again (503); the second waits behind it
    assert [d.first for d in sent] == [1]
    sent = hooked.webhooks.flush()
    assert [(d.first, d.state) for d in sent] == [(1, "delivered"), (2, "delivered")]
    bodies = [c.body for c in receiver.calls if c.events]
    assert bodies[0] == bodies[1] == bodies[2]
    assert [e["resourceId"] for e in receiver.events] == [first["ContactID"], second["ContactID"]]
    seen = hooked.webhooks.view()["deliveries"]
    assert [a.get("status") for a in seen[1]["attempts"]] == [500, 503, 200]


def test_a_delivery_is_given_up_after_its_attempts_and_the_next_one_goes(
    clock: SandboxClock, receiver: Receiver
) -> None:
    sandbox = Sandbox(clock=clock, webhook_transport=receiver.transport(), webhook_attempts=2)
    with httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox") as c:
        c.put("/sandbox/webhooks", json={"url": URL, "key": KEY})
        api = Api(c, connect(c))
        receiver.script.extend([500, 500])
        api.contact("A", "A1")
        sandbox.webhooks.flush()
        assert [d.state for d in sandbox.webhooks.flush()] == ["failed"]
        api.contact("B", "B1")
        assert [d.state for d in sandbox.webhooks.flush()] == ["delivered"]
    assert [(d["first_sequence"], d["state"]) for d in sandbox.webhooks.view()["deliveries"]] == [
        (2, "delivered"),
        (1, "failed"),
    ]


def test_the_subscription_and_its_deliveries_are_shown_and_delete_unsubscribes(
    client: httpx.Client, hooked: Sandbox, receiver: Receiver, wapi: Api
) -> None:
    wapi.contact()
    hooked.webhooks.flush()
    seen = client.get("/sandbox/webhooks").json()
    assert seen["subscription"] == {"url": URL, "key": KEY, "status": "OK"}
    (delivery,) = seen["deliveries"]
    assert delivery["first_sequence"] == delivery["last_sequence"] == 1
    assert delivery["events"] == 1
    assert delivery["state"] == "delivered"
    assert delivery["attempts"][0]["status"] == 200
    assert "time" in delivery["attempts"][0]
    assert client.delete("/sandbox/webhooks").json()["subscription"] is None
    wapi.contact("Other", "C2")
    assert hooked.webhooks.flush() == []
    assert "Webhooks" in client.get("/").text
    assert "/sandbox/xero/" in client.get("/").text


def test_a_bad_subscription_request_is_refused(client: httpx.Client) -> None:
    assert client.put("/sandbox/webhooks", json={"url": "ftp://x"}).status_code == 400
    assert client.put("/sandbox/webhooks", json={"url": URL, "key": 5}).status_code == 400
    assert client.put("/sandbox/webhooks", content=b"nope").status_code == 400


def test_a_restarted_sandbox_keeps_its_subscription_and_sequence(
    tmp_path: Path, receiver: Receiver
) -> None:
    state = tmp_path / "sandbox.json"
    clock = SandboxClock(datetime(2024, 3, 1, 9, 0, tzinfo=UTC))
    first = Sandbox(clock=clock, state_path=state, webhook_transport=receiver.transport())
    with httpx.Client(transport=first.transport(), base_url="http://xero.sandbox") as c:
        c.put("/sandbox/webhooks", json={"url": URL, "key": KEY})
        Api(c, connect(c)).contact()
        first.webhooks.flush()
    again = Sandbox(clock=clock, state_path=state, webhook_transport=receiver.transport())
    assert again.webhooks.view()["subscription"] == {"url": URL, "key": KEY, "status": "OK"}
    with httpx.Client(transport=again.transport(), base_url="http://xero.sandbox") as c:
        Api(c, connect(c)).contact("Second", "C2")
        (delivery,) = again.webhooks.flush()
    assert (delivery.first, delivery.state) == (2, "delivered")
    assert KEY not in repr(again.webhooks.subscription)


def test_deliveries_reach_an_asgi_app_in_process(clock: SandboxClock) -> None:
    got: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        ok = verify(body, headers.get(b"x-xero-signature", b"").decode(), KEY)
        if ok:
            got.append(body)
        await send({"type": "http.response.start", "status": 200 if ok else 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sandbox = Sandbox(clock=clock, webhook_transport=httpx.ASGITransport(app=app))
    with httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox") as c:
        assert c.put("/sandbox/webhooks", json={"url": URL, "key": KEY}).json()["status"] == "OK"
        Api(c, connect(c)).contact()
        assert [d.state for d in sandbox.webhooks.flush()] == ["delivered"]
    assert len(got) == 2
    assert b"CONTACT" in got[1]
