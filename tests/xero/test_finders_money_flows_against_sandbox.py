"""The money flows found again in the (in-process) Xero sandbox before anything in doubt is sent
again: a deposit by the line that names it (Xero keeps no Reference on a prepayment), its
allocation on the prepayment, each refund, a payout's fees and its transfer – ours adopted
under the id later rows need, a look-alike refused, a deleted one ignored. Every request is
checked against Xero's spec (the ``connected`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from support.money_flow_strategies import deposit as deposit_record
from support.money_flow_strategies import money_flow_mapping
from support.money_flow_strategies import payout as payout_record
from support.money_flow_strategies import refund as refund_record
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import SPEC, Connected, contact, invoice

from pm_xero_plugin.mapping.deposits import deposit_allocation_payload, deposit_payload
from pm_xero_plugin.mapping.payouts import payout_fee_payload, payout_transfer_payload
from pm_xero_plugin.mapping.refunds import refund_payload
from pm_xero_plugin.sandbox.spec_location import spec_missing_reason
from pm_xero_plugin.xero.finders import Match, Wanted, already_in_xero, look_up

pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_missing_reason())


def made(c: Connected, endpoint: str, element: dict[str, Any], key: str) -> str:
    [result] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", endpoint, [element], idempotency_key=key
    )
    assert result.ok, result.errors
    assert result.xero_id is not None
    return result.xero_id


def deposit(contact_id: str, number: int, amount: float, day: str = "2024-03-02") -> dict[str, Any]:
    """What ``mapping.deposits.deposit_payload`` sends: DEP{number} into the card clearing
    account, one NoTax line to the customer deposits liability."""
    return {
        "Type": "RECEIVE-PREPAYMENT",
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": "093"},
        "Date": day,
        "Reference": f"DEP{number}",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": f"DEP{number} deposit – booking {number}",
                "Quantity": 1.0,
                "UnitAmount": amount,
                "AccountCode": "094",
            }
        ],
    }


def test_a_deposit_is_found_by_its_line_under_its_prepayment_id(connected: Connected) -> None:
    c = connected
    ann = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c1")
    maya = made(c, "Contacts", contact(2, "Maya Lee (C2)"), "c2")
    ours = made(c, "BankTransactions", deposit(ann, 12, 40.0), "d12")
    made(c, "BankTransactions", deposit(ann, 123, 40.0), "d123")  # DEP123 is not DEP12
    made(c, "BankTransactions", deposit(maya, 12, 40.0), "d12-maya")
    [prepayment] = c.client.get(c.tenant_id, CONN, f"Prepayments/{ours}")
    assert prepayment["PrepaymentID"] == ours, "a deposit row keeps the prepayment's id"

    found = look_up(
        c.client, c.tenant_id, CONN, "deposit", [Wanted(1, "DEP12", deposit(ann, 12, 40.0))]
    )

    assert found.ours == {1: Match(ours, ("line description", "Contact", "Total", "Date"))}
    for other in (deposit(ann, 12, 41.0), deposit(ann, 12, 40.0, "2024-03-03")):
        assert (
            already_in_xero(c.client, c.tenant_id, CONN, "deposit", [Wanted(1, "DEP12", other)])
            == {}
        )
    # In doubt and edited since: our customer's prepayment naming our deposit is our older
    # version (Xero cannot edit it: the caller fails the row for an admin, never sends twice).
    edited = look_up(
        c.client,
        c.tenant_id,
        CONN,
        "deposit",
        [Wanted(1, "DEP12", deposit(ann, 12, 45.0), in_doubt=True)],
    )
    assert edited.ours[1].xero_id == ours
    assert edited.ours[1].differs == ("Total",)
    assert (
        look_up(
            c.client, c.tenant_id, CONN, "deposit", [Wanted(1, "DEP9", deposit(ann, 9, 40.0))]
        ).ours
        == {}
    )


def test_a_voided_prepayment_is_not_our_deposit(connected: Connected) -> None:
    """Xero keeps a voided (or deleted) bank transaction: it is no deposit of ours any more
    (the sandbox's API has no void for one, so its state is set as Xero would show it)."""
    c = connected
    ann = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c1")
    ours = made(c, "BankTransactions", deposit(ann, 12, 40.0), "d12")
    org = c.sandbox.org(c.tenant_id)
    [txn] = [t for t in org.bank_transactions.values() if t.get("PrepaymentID") == ours]
    txn["Status"] = "VOIDED"

    assert (
        already_in_xero(
            c.client, c.tenant_id, CONN, "deposit", [Wanted(1, "DEP12", deposit(ann, 12, 40.0))]
        )
        == {}
    )


def test_a_deposit_allocation_is_found_on_its_prepayment(connected: Connected) -> None:
    c = connected
    ann = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c1")
    first = made(c, "Invoices", invoice("INV1", ann), "i1")
    second = made(c, "Invoices", invoice("INV2", ann), "i2")
    prepayment = made(c, "BankTransactions", deposit(ann, 12, 40.0), "d12")
    [applied] = c.client.allocate(
        c.tenant_id,
        CONN,
        "Prepayments",
        prepayment,
        [{"Invoice": {"InvoiceID": first}, "Amount": 15.0, "Date": "2024-03-02"}],
        idempotency_key="a",
    )
    assert applied.ok, applied.errors
    wanted = [
        Wanted(1, prepayment, {"Invoice": {"InvoiceID": first}}),
        Wanted(2, prepayment, {"Invoice": {"InvoiceID": second}}),
    ]

    found = look_up(c.client, c.tenant_id, CONN, "deposit_allocation", wanted)

    assert found.ours == {1: Match(prepayment, ("PrepaymentID", "Invoice"))}
    assert "GET /api.xro/2.0/Prepayments/" + prepayment in c.checked


def credit_note(contact_id: str) -> dict[str, Any]:
    note = {**invoice("CN1", contact_id), "Type": "ACCRECCREDIT", "CreditNoteNumber": "CN1"}
    del note["InvoiceNumber"], note["DueDate"]
    return note


def refund(source: str, id_field: str, source_id: str, **changes: Any) -> dict[str, Any]:
    """What ``mapping.refunds.refund_payload`` sends for RF3."""
    element = {
        source: {id_field: source_id},
        "Account": {"Code": "090"},
        "Date": "2024-03-02",
        "Amount": 10.0,
        "Reference": "RF3",
    }
    return {**element, **changes}


def overpayment(contact_id: str) -> dict[str, Any]:
    return {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-01",
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Overpayment of PAY2", "Quantity": 1.0, "UnitAmount": 30.0}],
    }


@pytest.mark.parametrize(
    ("kind", "source", "id_field"),
    [
        ("credit_note_refund", "CreditNote", "CreditNoteID"),
        ("overpayment_refund", "Overpayment", "OverpaymentID"),
        ("deposit_refund", "Prepayment", "PrepaymentID"),
    ],
)
def test_a_refund_is_ours_out_of_our_credit_and_a_deleted_one_never(
    connected: Connected, kind: str, source: str, id_field: str
) -> None:
    c = connected
    ann = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c1")
    credits = {
        "CreditNote": lambda key: made(c, "CreditNotes", credit_note(ann), key),
        "Overpayment": lambda key: made(c, "BankTransactions", overpayment(ann), key),
        "Prepayment": lambda key: made(c, "BankTransactions", deposit(ann, 12, 40.0), key),
    }
    credit = credits[source]("credit")
    other_credit = credits[source]("other") if source != "CreditNote" else None
    paid = made(c, "Payments", refund(source, id_field, credit), "rf")
    wanted = Wanted(1, "RF3", refund(source, id_field, credit))

    found = look_up(c.client, c.tenant_id, CONN, kind, [wanted])

    assert found.ours == {
        1: Match(paid, (source, "Amount", "Date", "Account", "Reference", "PaymentType"))
    }
    look_alikes = [
        refund(source, id_field, credit, Amount=9.0),
        refund(source, id_field, credit, Date="2024-03-03"),
        refund(source, id_field, credit, Account={"Code": "093"}),
    ]
    if other_credit is not None:
        look_alikes.append(refund(source, id_field, other_credit))
    for element in look_alikes:
        assert already_in_xero(c.client, c.tenant_id, CONN, kind, [Wanted(1, "RF3", element)]) == {}
    # The same reference on a refund out of another kind of credit is not this one either.
    others = {"credit_note_refund", "overpayment_refund", "deposit_refund"} - {kind}
    for another in others:
        assert already_in_xero(c.client, c.tenant_id, CONN, another, [wanted]) == {}
    # Deleted in Xero (as an admin removing a duplicate does): no refund of ours any more.
    c.sandbox.org(c.tenant_id).payments[paid.lower()]["Status"] = "DELETED"
    assert already_in_xero(c.client, c.tenant_id, CONN, kind, [wanted]) == {}


def fees(amount: float = 3.45, bank: str = "093", day: str = "2024-03-02") -> dict[str, Any]:
    """What ``mapping.payouts.payout_fee_payload`` sends for PO7's fees."""
    return {
        "Type": "SPEND",
        "Contact": {"Name": "Stripe"},
        "BankAccount": {"Code": bank},
        "Date": day,
        "Reference": "PO7",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": "PO7 card processing fees",
                "Quantity": 1.0,
                "UnitAmount": amount,
                "AccountCode": "406",
            }
        ],
    }


def test_a_payouts_fees_are_ours_on_the_clearing_account_only(connected: Connected) -> None:
    c = connected
    ours = made(c, "BankTransactions", fees(), "fee")
    made(c, "BankTransactions", fees(bank="090"), "fee-bank")  # same reference, the bank

    found = look_up(c.client, c.tenant_id, CONN, "payout_fee", [Wanted(1, "PO7", fees())])

    assert found.ours == {1: Match(ours, ("BankAccount", "Total", "Date", "Reference"))}
    for other in (fees(amount=3.46), fees(day="2024-03-03")):
        assert (
            already_in_xero(c.client, c.tenant_id, CONN, "payout_fee", [Wanted(1, "PO7", other)])
            == {}
        )
    org = c.sandbox.org(c.tenant_id)
    org.bank_transactions[ours.lower()]["Status"] = "DELETED"
    assert (
        already_in_xero(c.client, c.tenant_id, CONN, "payout_fee", [Wanted(1, "PO7", fees())]) == {}
    )


def transfer(amount: float = 196.55, to: str = "090", day: str = "2024-03-02") -> dict[str, Any]:
    """What ``mapping.payouts.payout_transfer_payload`` sends for PO7."""
    return {
        "FromBankAccount": {"Code": "093"},
        "ToBankAccount": {"Code": to},
        "Amount": amount,
        "Date": day,
        "Reference": "PO7",
    }


def test_a_payout_is_the_transfer_between_the_same_accounts(connected: Connected) -> None:
    c = connected
    ours = made(c, "BankTransfers", transfer(), "po")
    [stored] = c.client.get(c.tenant_id, CONN, f"BankTransfers/{ours}")
    assert stored["BankTransferID"] == ours, "a payout row keeps the transfer's id"

    found = look_up(c.client, c.tenant_id, CONN, "payout", [Wanted(1, "PO7", transfer())])

    assert found.ours == {
        1: Match(ours, ("FromBankAccount", "ToBankAccount", "Amount", "Date", "Reference"))
    }
    for other in (transfer(amount=196.56), transfer(day="2024-03-03"), transfer(to="091")):
        assert (
            already_in_xero(c.client, c.tenant_id, CONN, "payout", [Wanted(1, "PO7", other)]) == {}
        )
    in_doubt = look_up(
        c.client,
        c.tenant_id,
        CONN,
        "payout",
        [Wanted(1, "PO7", transfer(amount=200.0), in_doubt=True)],
    )
    assert in_doubt.ours[1].differs == ("Amount",)
    assert in_doubt.clashes == {}


def test_what_the_mapping_sends_for_each_money_flow_is_found_again_as_ours(
    connected: Connected,
) -> None:
    """The payloads the sender builds (:mod:`pm_xero_plugin.mapping`), sent once and then in
    doubt: each is found again by its own key and adopted under the id its row keeps – the
    finders read the very shape the mapping writes."""
    c = connected
    m = money_flow_mapping()
    ann = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c1")
    inv = made(c, "Invoices", invoice("INV1", ann), "i1")
    dep = deposit_record(
        paid_date="2024-03-02", allocations=[{"invoice_id": "inv-1", "amount": "15.00"}]
    )
    prepaid = deposit_payload(dep, m, contact_id=ann)
    prepayment = made(c, "BankTransactions", prepaid, "dep")
    applied = deposit_allocation_payload(
        dep, dep["allocations"][0], invoice_id=inv, invoice_date="2024-03-01"
    )
    [allocated] = c.client.allocate(
        c.tenant_id, CONN, "Prepayments", prepayment, [applied], idempotency_key="alloc"
    )
    assert allocated.ok, allocated.errors
    refunded = refund_payload(
        refund_record("deposit", paid_date="2024-03-03", amount="10.00"),
        m,
        source_kind="deposit",
        source_xero_id=prepayment,
    )
    paid_back = made(c, "Payments", refunded, "rf")
    out = payout_record(paid_date="2024-03-04")
    fee = payout_fee_payload(out, m)
    fee_id = made(c, "BankTransactions", fee, "fee")
    moved = payout_transfer_payload(out, m)
    transfer_id = made(c, "BankTransfers", moved, "po")

    for kind, key, element, xero_id in (
        ("deposit", prepaid["Reference"], prepaid, prepayment),
        ("deposit_allocation", prepayment, applied, prepayment),
        ("deposit_refund", refunded["Reference"], refunded, paid_back),
        ("payout_fee", fee["Reference"], fee, fee_id),
        ("payout", moved["Reference"], moved, transfer_id),
    ):
        wanted = [Wanted(1, key, element, in_doubt=True)]
        found = look_up(c.client, c.tenant_id, CONN, kind, wanted)
        assert found.ours.keys() == {1}, kind
        assert found.ours[1].xero_id == xero_id, kind
        assert found.ours[1].differs == (), kind
