"""The exactly-once guard's look-ups, table-driven from the kinds: which of Xero's documents
under our number or reference is ours, against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import SPEC, Connected, contact, invoice

from pm_xero_plugin.sandbox.spec_location import spec_missing_reason
from pm_xero_plugin.xero.finders import (
    Match,
    Wanted,
    already_in_xero,
    describe_clash,
    find_by_key,
    look_up,
)
from pm_xero_plugin.xero.kinds import KINDS, SEND_ORDER, edit_refusal

pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_missing_reason())


def made(c: Connected, endpoint: str, element: dict[str, Any], key: str) -> str:
    [result] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", endpoint, [element], idempotency_key=key
    )
    assert result.ok, result.errors
    assert result.xero_id is not None
    return result.xero_id


def payment(invoice_id: str, reference: str) -> dict[str, Any]:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": "090"},
        "Date": "2024-03-02",
        "Amount": 10.0,
        "Reference": reference,
    }


def test_every_kind_says_how_it_is_found_again_in_xero() -> None:
    assert SEND_ORDER == (
        "contact",
        "invoice",
        "credit_note",
        "allocation",
        "payment",
        "overpayment",
        "deposit",
        "deposit_allocation",
        "credit_note_refund",
        "overpayment_refund",
        "deposit_refund",
        "payout_fee",
        "payout",
    )
    for kind, info in KINDS.items():
        assert info.kind == kind
        # A look-up by natural key exactly where there is a natural key (an allocation is found
        # on its credit note instead).
        assert (info.natural_key is None) == (info.lookup is None), kind
    assert KINDS["contact"].natural_key == "ContactNumber"
    assert KINDS["payment"].natural_key == KINDS["overpayment"].natural_key == "Reference"


def test_xero_cannot_edit_payments_or_allocations_and_says_so_once() -> None:
    for kind in ("payment", "overpayment", "allocation"):
        refusal = edit_refusal(kind)
        assert refusal is not None
        assert (
            refusal[0]
            == f"Xero does not allow editing a {kind.replace('_', ' ')} once it is recorded"
        )
        assert refusal[1] == (
            "Delete it in Xero, then press retry to send the new version; or resolve this if "
            "Xero is already right."
        )
    for kind in ("contact", "invoice", "credit_note"):
        assert edit_refusal(kind) is None


def test_an_invoice_is_adopted_for_a_create_but_a_deleted_one_never(connected: Connected) -> None:
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    live = made(c, "Invoices", invoice("INV1", who), "i1")
    gone = made(c, "Invoices", {**invoice("INV2", who), "Status": "DRAFT"}, "i2")
    [deleted] = c.client.send_batch(
        c.tenant_id,
        CONN,
        "POST",
        "Invoices",
        [{"InvoiceID": gone, "InvoiceNumber": "INV2", "Status": "DELETED"}],
        idempotency_key="i2-del",
    )
    assert deleted.ok, deleted.errors
    total = str(find_by_key(c.client, c.tenant_id, CONN, "invoice", ["INV1"])["INV1"][0]["Total"])
    wanted = [Wanted(n, f"INV{n}", invoice(f"INV{n}", who), total=total) for n in (1, 2, 3)]

    found = already_in_xero(c.client, c.tenant_id, CONN, "invoice", wanted)

    assert found == {1: live}
    # An update adopts only the invoice it voided: a live one is an update still to send.
    assert (
        already_in_xero(
            c.client,
            c.tenant_id,
            CONN,
            "invoice",
            [Wanted(1, "INV1", invoice("INV1", who), create=False, total=total)],
        )
        == {}
    )


def test_an_invoice_is_ours_only_with_the_same_contact_total_and_date_and_says_so(
    connected: Connected,
) -> None:
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    maya = made(c, "Contacts", {"Name": "Maya Lee"}, "m")
    live = made(c, "Invoices", invoice("INV1", who), "i1")
    foreign = made(c, "Invoices", invoice("INV2", maya), "i2")
    [hit] = find_by_key(c.client, c.tenant_id, CONN, "invoice", ["INV1"])["INV1"]
    total = str(hit["Total"])
    ours = invoice("INV1", who)

    by_id = look_up(c.client, c.tenant_id, CONN, "invoice", [Wanted(1, "INV1", ours, total=total)])
    # A contact that carries our customer's number is ours too (a rebuilt ledger's contact id
    # is the one it was linked to; the number says so either way).
    by_number = look_up(
        c.client,
        c.tenant_id,
        CONN,
        "invoice",
        [Wanted(1, "INV1", {**ours, "Contact": {}}, total=total, contact_number="C1")],
    )
    assert by_id.ours == {1: Match(live, ("Contact", "Total", "Date"))}
    assert by_number.ours == by_id.ours

    def clash(element: dict[str, Any], key: str = "INV1", **kw: Any) -> tuple[str, ...]:
        found = look_up(
            c.client,
            c.tenant_id,
            CONN,
            "invoice",
            [Wanted(1, key, element, **{"total": total, **kw})],
        )
        assert found.ours == {}
        return found.clashes[1].differs

    assert clash(invoice("INV2", who), "INV2") == ("Contact",)
    assert clash(ours, total="500.00") == ("Total",)
    assert clash({**ours, "Date": "2024-03-04"}) == ("Date",)
    assert clash({**ours, "Contact": {}}) == ("Contact",), "no contact shown proves nothing"
    assert clash(ours, total=None) == ("Total",), "no total to compare proves nothing"
    [theirs] = find_by_key(c.client, c.tenant_id, CONN, "invoice", ["INV2"])["INV2"]
    assert theirs["InvoiceID"] == foreign
    assert describe_clash(
        "invoice",
        "INV2",
        theirs,
        our_customer="Rohan White",
        our_total="500",
        our_date="2024-03-04",
    ) == (
        f"invoice INV2 is already in Xero for Maya Lee ({Decimal(total):.2f}, 2024-03-01); "
        "ours is for Rohan White (500.00, 2024-03-04)"
    )


def test_a_payment_is_ours_only_on_the_same_invoice(connected: Connected) -> None:
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    first = made(c, "Invoices", invoice("INV1", who), "i1")
    second = made(c, "Invoices", invoice("INV2", who), "i2")
    paid = made(c, "Payments", payment(first, "PAY7"), "p1")
    wanted = [
        Wanted(1, "PAY7", payment(first, "PAY7")),
        Wanted(2, "PAY7", payment(second, "PAY7")),  # the same host payment's other part
    ]

    assert already_in_xero(c.client, c.tenant_id, CONN, "payment", wanted) == {1: paid}
    found = look_up(c.client, c.tenant_id, CONN, "payment", wanted)
    assert found.ours[1].decided_by == ("Invoice", "Amount", "Date", "Reference")
    assert found.clashes == {}, "a reference is not unique: another payment is no clash"
    for other in ({"Amount": 9.0}, {"Date": "2024-03-03"}):
        changed = [Wanted(1, "PAY7", {**payment(first, "PAY7"), **other})]
        assert already_in_xero(c.client, c.tenant_id, CONN, "payment", changed) == {}, other
    assert [
        p["PaymentID"]
        for p in find_by_key(c.client, c.tenant_id, CONN, "payment", ["PAY7"])["PAY7"]
    ] == [paid]


def test_an_overpayment_without_its_reference_is_found_by_its_line(connected: Connected) -> None:
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    element = {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": who},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-02",
        "Reference": "PAY2",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": "Overpayment of PAY2",
                "Quantity": 1.0,
                "UnitAmount": 15.0,
                "LineAmount": 15.0,
            }
        ],
    }
    over = made(c, "BankTransactions", element, "o")

    found = already_in_xero(
        c.client, c.tenant_id, CONN, "overpayment", [Wanted(9, "PAY2", element)]
    )

    assert found == {9: over}
    another = {**element, "LineItems": [{**element["LineItems"][0], "LineAmount": 16.0}]}
    assert (
        already_in_xero(c.client, c.tenant_id, CONN, "overpayment", [Wanted(9, "PAY2", another)])
        == {}
    )


def test_an_allocation_is_found_on_its_credit_note(connected: Connected) -> None:
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    inv = made(c, "Invoices", invoice("INV1", who), "i1")
    other = made(c, "Invoices", invoice("INV2", who), "i2")
    note = {**invoice("CN1", who), "Type": "ACCRECCREDIT", "CreditNoteNumber": "CN1"}
    del note["InvoiceNumber"], note["DueDate"]
    note_id = made(c, "CreditNotes", note, "cn")
    [applied] = c.client.allocate(
        c.tenant_id,
        CONN,
        "CreditNotes",
        note_id,
        [{"Invoice": {"InvoiceID": inv}, "Amount": 5.0, "Date": "2024-03-02"}],
        idempotency_key="a",
    )
    assert applied.ok, applied.errors
    wanted = [
        Wanted(1, note_id, {"Invoice": {"InvoiceID": inv}}),
        Wanted(2, note_id, {"Invoice": {"InvoiceID": other}}),
    ]

    assert already_in_xero(c.client, c.tenant_id, CONN, "allocation", wanted) == {1: note_id}
    assert find_by_key(c.client, c.tenant_id, CONN, "allocation", [note_id]) == {}


def test_a_row_in_doubt_edited_since_owns_its_older_version_under_our_contact_only(
    connected: Connected,
) -> None:
    """Its create's answer was lost and the host changed total or date before the retry: the
    copy Xero has under our number, for our contact, is ours (what differs is said, to send as
    an update); a document of another customer under our number stays a clash."""
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    maya = made(c, "Contacts", {"Name": "Maya Lee"}, "m")
    live = made(c, "Invoices", invoice("INV1", who), "i1")
    made(c, "Invoices", invoice("INV2", maya), "i2")
    edited = {**invoice("INV1", who), "Date": "2024-03-04"}

    def found(key: str, element: dict[str, Any], **kw: Any) -> Any:
        return look_up(
            c.client, c.tenant_id, CONN, "invoice", [Wanted(1, key, element, total="500.00", **kw)]
        )

    in_doubt = found("INV1", edited, in_doubt=True)
    assert in_doubt.ours == {1: Match(live, ("Contact",), ("Total", "Date"))}
    assert in_doubt.clashes == {}
    by_number = found("INV1", {**edited, "Contact": {}}, in_doubt=True, contact_number="C1")
    assert by_number.ours == in_doubt.ours, "a contact carrying our number is ours too"
    # Not in doubt (never sent, or refused): the same document is a clash, as before.
    assert found("INV1", edited).clashes[1].differs == ("Total", "Date")
    # Another customer's document under our number is never ours, in doubt or not.
    foreign = found("INV2", invoice("INV2", who), in_doubt=True)
    assert foreign.ours == {}
    assert foreign.clashes[1].differs[0] == "Contact"
    assert found("INV1", {**edited, "Contact": {}}, in_doubt=True).ours == {}, (
        "no contact shown proves nothing"
    )


def test_a_payment_in_doubt_edited_since_is_ours_on_our_invoice_and_reference(
    connected: Connected,
) -> None:
    """A payment whose create's answer was lost, changed before the retry: Xero's payment of
    our invoice under our reference is ours (sent again it would be paid twice); on another
    invoice it is not."""
    c = connected
    who = made(c, "Contacts", contact(1, "Ann Lee (C1)"), "c")
    first = made(c, "Invoices", invoice("INV1", who), "i1")
    second = made(c, "Invoices", invoice("INV2", who), "i2")
    paid = made(c, "Payments", payment(first, "PAY7"), "p1")
    edited = {**payment(first, "PAY7"), "Amount": 9.0}

    def found(element: dict[str, Any], in_doubt: bool) -> Any:
        wanted = [Wanted(1, "PAY7", element, in_doubt=in_doubt)]
        return look_up(c.client, c.tenant_id, CONN, "payment", wanted)

    assert found(edited, True).ours == {
        1: Match(paid, ("Invoice", "Date", "Reference"), ("Amount",))
    }
    assert found(edited, False).ours == {}
    other = found({**payment(second, "PAY7"), "Amount": 9.0}, True)
    assert other.ours == {}
    assert other.clashes == {}
