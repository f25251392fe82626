"""The client layer end to end against the Xero sandbox (in-process transport): the OAuth code
flow, batches with a bad element, lost answers, expired tokens, disconnects, look-ups – with
every outgoing request checked against Xero's OpenAPI spec."""

from __future__ import annotations

import pytest
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import SPEC, Connected, contact, invoice

from pm_xero_plugin.sandbox.spec_location import spec_missing_reason
from pm_xero_plugin.xero.errors import RateLimited, ReconnectRequired

pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_missing_reason())


def test_connect_then_a_batch_where_one_element_fails_alone(connected: Connected) -> None:
    c = connected
    results = c.client.send_batch(
        c.tenant_id,
        CONN,
        "PUT",
        "Contacts",
        [contact(1, "Ann Lee (C1)"), contact(2, "Bob Day (C2)"), contact(3, "Ann Lee (C1)")],
        idempotency_key="contacts-1",
    )
    assert [r.ok for r in results] == [True, True, False]
    assert results[0].xero_id
    assert results[1].xero_id
    assert results[2].xero_id is None
    assert "already assigned to another contact" in results[2].errors[0]
    assert c.checked == ["PUT /api.xro/2.0/Contacts"]


def test_a_lost_answer_is_retried_with_the_same_key_and_creates_one_invoice(
    connected: Connected,
) -> None:
    c = connected
    [made] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", "Contacts", [contact(1, "Ann Lee (C1)")], idempotency_key="c1"
    )
    assert made.xero_id is not None
    c.sandbox.faults(c.tenant_id).script.append("lost")  # committed, then the answer is lost
    [result] = c.client.send_batch(
        c.tenant_id,
        CONN,
        "PUT",
        "Invoices",
        [invoice("INV1", made.xero_id)],
        idempotency_key="inv-batch-1",
    )
    assert result.ok
    assert len(c.sandbox.org(c.tenant_id).invoices) == 1
    # The exactly-once guard after a crash: the look-ups find what exists.
    found = c.client.find_invoices_by_number(c.tenant_id, CONN, ["INV1", "INV2"])
    assert set(found) == {"INV1"}
    assert found["INV1"]["InvoiceID"] == result.xero_id
    contacts = c.client.find_contacts_by_number(c.tenant_id, CONN, ["C1", "C9"])
    assert contacts["C1"]["ContactID"] == made.xero_id
    assert "C9" not in contacts


def test_an_expired_token_is_refreshed_once_and_the_call_goes_through(
    connected: Connected,
) -> None:
    c = connected
    c.sandbox.faults(c.tenant_id).expire_tokens_now()
    assert any(a["Code"] == "201" for a in c.client.accounts(c.tenant_id, CONN))


def test_a_disconnected_organisation_asks_for_a_reconnect_and_the_other_keeps_working(
    connected: Connected,
) -> None:
    c = connected
    c.sandbox.faults(c.tenant_id).disconnect()
    with pytest.raises(ReconnectRequired):
        c.client.tax_rates(c.tenant_id, CONN)
    assert c.client.tax_rates(c.other_tenant_id, CONN)


def test_a_sandbox_429_blocks_only_that_organisation(connected: Connected) -> None:
    c = connected
    c.sandbox.faults(c.tenant_id).script.append("429")
    with pytest.raises(RateLimited) as caught:
        c.client.accounts(c.tenant_id, CONN)
    assert c.client.limiter.blocked_until(c.tenant_id) > 0
    assert caught.value.tenant_id == c.tenant_id
    assert c.client.accounts(c.other_tenant_id, CONN)


def test_payments_credit_notes_and_overpayments_round_trip_through_look_ups(
    connected: Connected,
) -> None:
    c, t = connected, connected.tenant_id
    [who] = c.client.send_batch(
        t, CONN, "PUT", "Contacts", [contact(5, "Cat Ng (C5)")], idempotency_key="k-c"
    )
    assert who.xero_id is not None
    [inv] = c.client.send_batch(
        t, CONN, "PUT", "Invoices", [invoice("INV5", who.xero_id)], idempotency_key="k-i"
    )
    assert inv.ok
    assert inv.xero_id is not None
    invoice_ref = {"InvoiceID": inv.xero_id}
    [pay] = c.client.send_batch(
        t,
        CONN,
        "PUT",
        "Payments",
        [
            {
                "Invoice": invoice_ref,
                "Account": {"Code": "090"},
                "Date": "2024-03-02",
                "Amount": 20.0,
                "Reference": "PAY1",
            }
        ],
        idempotency_key="k-p",
    )
    assert pay.ok, pay.errors
    credit_note = {**invoice("CN1", who.xero_id), "Type": "ACCRECCREDIT"}
    del credit_note["InvoiceNumber"], credit_note["DueDate"]
    credit_note["CreditNoteNumber"] = "CN1"
    credit_note["LineItems"][0]["UnitAmount"] = 10.0
    [note] = c.client.send_batch(
        t, CONN, "PUT", "CreditNotes", [credit_note], idempotency_key="k-cn"
    )
    assert note.ok, note.errors
    assert note.xero_id is not None, note.errors
    [applied] = c.client.allocate(
        t,
        CONN,
        "CreditNotes",
        note.xero_id,
        [{"Invoice": invoice_ref, "Amount": 5.0, "Date": "2024-03-02"}],
        idempotency_key="k-a",
    )
    assert applied.ok, applied.errors
    assert c.client.credit_note_allocated_to(t, CONN, note.xero_id, inv.xero_id)
    assert not c.client.credit_note_allocated_to(t, CONN, note.xero_id, who.xero_id)
    [over] = c.client.send_batch(
        t,
        CONN,
        "PUT",
        "BankTransactions",
        [
            {
                "Type": "RECEIVE-OVERPAYMENT",
                "Contact": {"ContactID": who.xero_id},
                "BankAccount": {"Code": "090"},
                "Date": "2024-03-02",
                "Reference": "PAY2",
                "LineAmountTypes": "NoTax",
                "LineItems": [{"Description": "Overpayment", "Quantity": 1.0, "UnitAmount": 15.0}],
            }
        ],
        idempotency_key="k-o",
    )
    assert over.ok, over.errors
    assert over.xero_id == over.element["OverpaymentID"], over.errors
    assert over.xero_id is not None
    [used] = c.client.allocate(
        t,
        CONN,
        "Overpayments",
        over.xero_id,
        [{"Invoice": invoice_ref, "Amount": 15.0, "Date": "2024-03-02"}],
        idempotency_key="k-oa",
    )
    assert used.ok, used.errors
    [applied] = c.client.get(t, CONN, f"Overpayments/{over.xero_id}")
    assert [a["Invoice"]["InvoiceID"] for a in applied["Allocations"]] == [inv.xero_id]

    payments = c.client.find_payments_by_reference(t, CONN, ["PAY1", "PAY9"])
    assert [p["PaymentID"] for p in payments["PAY1"]] == [pay.xero_id]
    assert set(c.client.find_credit_notes_by_number(t, CONN, ["CN1", "CN2"])) == {"CN1"}
    # Xero keeps no Reference on an overpayment: the look-up by reference finds nothing, and
    # the one by contact (with its lines) is what finds it.
    assert c.client.find_overpayments_by_reference(t, CONN, ["PAY1", "PAY2"]) == {}
    assert who.xero_id is not None
    [of_contact] = c.client.find_overpayments_of_contact(t, CONN, who.xero_id)
    assert of_contact["OverpaymentID"] == over.xero_id
    assert of_contact["LineItems"][0]["Description"] == "Overpayment"

    assert all(line.startswith(("PUT", "POST", "GET")) for line in c.checked)
    assert any("Allocations" in line for line in c.checked)
