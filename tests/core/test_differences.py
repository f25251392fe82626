"""The comparison of the ledger with Xero's copies: each difference, once, with what fits."""

from __future__ import annotations

from support.books_rows import (
    CONTACT_X,
    INVOICE2_X,
    INVOICE_X,
    NOTE_X,
    OVER_X,
    PAYMENT_X,
    ann,
    book,
    compare,
    found,
    invoice,
    payment,
    row,
    summaries,
)

from pm_xero_plugin.core.books import Difference, TenantBooks
from pm_xero_plugin.inputs.settings import Prefixes


def _only(books: TenantBooks) -> Difference:
    assert len(books.differences) == 1, found(books)
    return books.differences[0]


def test_a_book_xero_agrees_with_has_no_difference_and_every_record_checked() -> None:
    books = compare(book())
    assert books.differences == []
    assert books.differences_total == 0
    assert books.checked == 5
    assert books.not_read == 0
    assert books.kinds_not_checked == []


def test_an_invoice_voided_in_xero_is_one_difference_to_void_it_in_pet_manager_too() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X].update(status="VOIDED", payments={}, credits={})
    d = _only(compare(book(), xero))
    assert (d.label, d.difference, d.actions) == ("INV12 Ann Lee", "voided_in_xero", ("accept",))
    assert d.fix == "Void INV12 Ann Lee in Pet Manager too – Xero cannot un-void it"
    assert d.xero == "VOIDED"
    assert d.key == "2:voided_in_xero"


def test_an_invoice_voided_on_both_sides_agrees() -> None:
    rows = book()
    rows[1] = row(2, "invoice", "inv12", invoice(status="voided"), xero_id=INVOICE_X)
    xero = summaries()
    xero["invoice"][INVOICE_X]["status"] = "VOIDED"
    assert compare(rows, xero).differences == []


def test_a_deleted_invoice_can_only_be_accepted_xero_keeps_its_number() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["status"] = "DELETED"
    d = _only(compare(book(), xero))
    assert (d.difference, d.actions) == ("deleted_in_xero", ("accept",))
    assert "INV12 Ann Lee was deleted in Xero, which keeps its number" in d.fix


def test_an_invoice_xero_no_longer_has_is_missing_and_resent() -> None:
    d = _only(compare(book(), gone=(INVOICE_X,)))
    assert (d.difference, d.actions, d.relink_to) == ("missing_in_xero", ("resend",), None)
    assert d.fix == "INV12 Ann Lee is not in Xero; re-send it"


def test_a_missing_invoice_with_its_provable_twin_in_xero_is_relinked_first() -> None:
    xero = summaries()
    twin = "i0000000-0000-0000-0000-0000000000ff"
    xero["invoice"][twin] = dict(xero["invoice"][INVOICE_X])
    d = _only(compare(book(), xero, gone=(INVOICE_X,)))
    assert (d.difference, d.actions, d.relink_to) == ("missing_in_xero", ("relink", "resend"), twin)


def test_a_twin_another_row_already_holds_is_never_a_relink_target() -> None:
    xero = summaries()
    twin = "i0000000-0000-0000-0000-0000000000ff"
    xero["invoice"][twin] = dict(xero["invoice"][INVOICE_X])
    rows = [*book(), row(9, "invoice", "inv99", invoice(number=99), xero_id=twin)]
    # two host records on one Xero document would post one of them to the wrong place
    found = [d for d in compare(rows, xero, gone=(INVOICE_X,)).differences if d.row_id == 2]
    assert [(d.difference, d.actions, d.relink_to) for d in found] == [
        ("missing_in_xero", ("resend",), None)
    ]


def test_a_twin_on_another_contact_is_no_proof() -> None:
    xero = summaries()
    twin = "i0000000-0000-0000-0000-0000000000ff"
    xero["invoice"][twin] = dict(xero["invoice"][INVOICE_X], contact_id="someone-else")
    assert _only(compare(book(), xero, gone=(INVOICE_X,))).relink_to is None


def test_a_total_within_the_rounding_tolerance_agrees_beyond_it_differs() -> None:
    rows = [book()[0], row(2, "invoice", "inv12", invoice(), xero_id=INVOICE_X)]
    xero = summaries()
    xero["invoice"][INVOICE_X].update(
        status="AUTHORISED", total="120.02", amount_paid="0.00", amount_credited="0.00",
        payments={}, credits={},
    )  # fmt: skip
    assert compare(rows, xero).differences == []
    xero["invoice"][INVOICE_X]["total"] = "120.03"
    d = _only(compare(rows, xero))
    assert (d.difference, d.host_amount, d.xero_amount) == ("amount_changed", "120.00", "120.03")
    assert d.actions == ("resend", "accept")
    assert compare(rows, xero, tolerance="0.05").differences == []


def test_a_paid_invoice_whose_total_changed_cannot_be_resent() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["total"] = "150.00"
    d = _only(compare(book(), xero))
    assert (d.difference, d.actions) == ("amount_changed", ("accept",))
    assert "remove those in Xero first" in d.fix


def test_an_invoice_moved_to_another_contact_is_contact_changed() -> None:
    rows = [book()[0], row(2, "invoice", "inv12", invoice(), xero_id=INVOICE_X)]
    xero = summaries()
    other = "c0000000-0000-0000-0000-0000000000aa"
    xero["contact"][other] = dict(xero["contact"][CONTACT_X], name="Bob Stone (C7)")
    xero["invoice"][INVOICE_X].update(
        contact_id=other, status="AUTHORISED", amount_paid="0.00", amount_credited="0.00",
        payments={}, credits={},
    )  # fmt: skip
    d = _only(compare(rows, xero))
    assert (d.difference, d.actions) == ("contact_changed", ("resend", "accept"))
    assert d.xero == "contact Bob Stone (C7)"
    assert "put it back on Ann Lee" in d.fix


def test_a_payment_only_xero_has_makes_the_invoice_paid_in_xero() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["payments"]["x-bookkeeper"] = "20.00"
    d = _only(compare(book(), xero))
    assert (d.label, d.difference, d.actions) == ("INV12 Ann Lee", "paid_in_xero", ("accept",))
    # never "record it in Pet Manager" alone: the add-on would send it, and Xero would hold it twice
    assert d.fix.startswith("Accept it if the payment of 20.00 on INV12 Ann Lee belongs only in")
    assert "remove it in Xero first and then record it in Pet Manager" in d.fix
    assert d.xero_amount == "20.00"


def test_a_credit_note_not_ours_on_the_invoice_is_paid_in_xero_too() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["credits"]["n-bookkeeper"] = "5.00"
    assert found(compare(book(), xero)) == [("INV12 Ann Lee", "paid_in_xero")]


def test_while_a_payment_of_ours_is_on_its_way_the_invoice_is_not_judged_paid() -> None:
    rows = book()
    rows.append(
        row(6, "payment", "pay6:inv12", dict(payment(), id="pay6", number=6), state="sending",
            dep_invoice="inv12")
    )  # fmt: skip
    xero = summaries()
    xero["invoice"][INVOICE_X]["payments"]["p-ours-in-flight"] = "20.00"
    assert compare(rows, xero).differences == []


def test_a_deleted_payment_is_one_difference_on_the_payment_not_an_underpaid_invoice() -> None:
    xero = summaries()
    xero["payment"][PAYMENT_X]["status"] = "DELETED"
    inv = xero["invoice"][INVOICE_X]
    inv.update(status="AUTHORISED", amount_paid="0.00", amount_due="100.00", payments={})
    d = _only(compare(book(), xero))
    assert (d.label, d.difference) == ("PAY5 Ann Lee (INV12)", "deleted_in_xero")
    assert d.actions == ("resend", "accept")
    assert d.fix == (
        "PAY5 Ann Lee (INV12) was deleted in Xero; delete the payment in Pet Manager too, or "
        "re-send it"
    )


def test_a_payment_part_is_compared_with_its_own_share_of_the_payment() -> None:
    rows = book()
    rows[4] = row(
        5, "payment", "pay5:inv12", payment("150.00", (("inv12", "100.00"), ("inv13", "50.00"))),
        xero_id=PAYMENT_X, dep_invoice="inv12",
    )  # fmt: skip
    assert compare(rows).differences == []
    xero = summaries()
    xero["payment"][PAYMENT_X]["amount"] = "90.00"
    d = _only(compare(rows, xero))
    assert (d.difference, d.actions, d.host_amount) == ("amount_changed", ("accept",), "100.00")


def test_our_credit_note_applied_by_hand_is_reported_on_the_credit_note_only() -> None:
    rows = book()
    rows.append(row(6, "invoice", "inv13", invoice(13, "50.00"), xero_id=INVOICE2_X))
    xero = summaries()
    xero["invoice"][INVOICE2_X] = dict(
        xero["invoice"][INVOICE_X], number="INV13", total="50.00", amount_paid="0.00",
        amount_credited="10.00", status="AUTHORISED", payments={}, credits={NOTE_X: "10.00"},
    )  # fmt: skip
    xero["credit_note"][NOTE_X]["allocations"][INVOICE2_X] = "10.00"
    xero["credit_note"][NOTE_X]["total"] = "20.00"
    d = _only(compare(rows, xero))
    assert (d.label, d.difference, d.actions) == ("CN3 Ann Lee", "allocated_in_xero", ("accept",))
    assert d.fix.startswith("Accept it if CN3 Ann Lee stays applied to INV13 Ann Lee in Xero")
    assert "remove the allocation in Xero first and then apply it in Pet Manager" in d.fix


def test_an_allocation_removed_in_xero_is_missing_and_resent() -> None:
    xero = summaries()
    xero["credit_note"][NOTE_X].update(allocations={}, status="AUTHORISED", remaining="20.00")
    xero["invoice"][INVOICE_X]["credits"] = {}
    d = _only(compare(book(), xero))
    assert (d.label, d.difference, d.actions) == (
        "CN3 on INV12 Ann Lee",
        "missing_in_xero",
        ("resend",),
    )


def test_a_voided_credit_note_is_one_difference_not_also_its_allocation() -> None:
    xero = summaries()
    xero["credit_note"][NOTE_X].update(status="VOIDED", allocations={})
    xero["invoice"][INVOICE_X]["credits"] = {}
    assert found(compare(book(), xero)) == [("CN3 Ann Lee", "voided_in_xero")]


def test_a_contact_whose_email_was_edited_in_xero_has_its_details_changed() -> None:
    xero = summaries()
    xero["contact"][CONTACT_X]["email"] = "ann@new.example"
    d = _only(compare(book(), xero))
    assert (d.label, d.difference, d.actions) == (
        "C42 Ann Lee",
        "details_changed",
        ("resend", "accept"),
    )
    assert d.xero == "email ann@new.example"
    assert d.host == "email ann@example.com"
    assert d.fix.endswith("or change it in Pet Manager")


def test_an_email_the_add_on_never_sends_is_no_difference() -> None:
    rows = book()
    rows[0] = row(1, "contact", "cl1", dict(ann(), email="not an address"), xero_id=CONTACT_X,
                  doc_date=None)  # fmt: skip
    xero = summaries()
    xero["contact"][CONTACT_X]["email"] = None
    assert compare(rows, xero).differences == []


def test_a_renamed_contact_and_email_case_alone() -> None:
    xero = summaries()
    xero["contact"][CONTACT_X]["email"] = "ANN@example.com"
    assert compare(book(), xero).differences == []
    xero["contact"][CONTACT_X]["name"] = "Ann Lee-Smith"
    d = _only(compare(book(), xero))
    assert (d.difference, d.xero) == ("details_changed", "name Ann Lee-Smith")


def test_an_archived_contact_is_restored_in_xero_or_accepted_and_a_merged_one_relinked() -> None:
    xero = summaries()
    xero["contact"][CONTACT_X]["status"] = "ARCHIVED"
    d = _only(compare(book(), xero))
    # an update never restores a contact (that would undo the bookkeeper's archiving silently)
    assert (d.difference, d.actions) == ("deleted_in_xero", ("accept",))
    assert "restore it there (Contacts, Archived, Restore)" in d.fix
    into = "c0000000-0000-0000-0000-0000000000bb"
    xero["contact"][CONTACT_X]["merged_to"] = into
    xero["contact"][into] = dict(xero["contact"][CONTACT_X], name="Ann Lee", merged_to=None,
                                 status="ACTIVE")  # fmt: skip
    d = _only(compare(book(), xero))
    assert (d.actions, d.relink_to) == (("relink", "accept"), into)
    assert d.fix == "C42 Ann Lee was merged into Ann Lee in Xero; re-link the customer to it"


def test_an_overpayment_deleted_changed_or_applied_in_xero() -> None:
    rows = book()
    over = payment("130.00")
    rows.append(row(6, "overpayment", "pay5", over, xero_id=OVER_X))
    xero = summaries()
    xero["overpayment"] = {
        OVER_X: {
            "contact_id": CONTACT_X, "date": "2025-03-01", "status": "AUTHORISED",
            "total": "30.00", "remaining": "30.00", "allocations": {},
        }
    }  # fmt: skip
    assert compare(rows, xero).differences == []
    xero["overpayment"][OVER_X]["total"] = "25.00"
    assert found(compare(rows, xero)) == [("PAY5 Ann Lee (overpayment)", "amount_changed")]
    xero["overpayment"][OVER_X].update(total="30.00", allocations={INVOICE_X: "30.00"})
    xero["invoice"][INVOICE_X]["overpayments"] = {OVER_X: "30.00"}
    assert found(compare(rows, xero)) == [("PAY5 Ann Lee (overpayment)", "allocated_in_xero")]
    xero["overpayment"][OVER_X]["status"] = "VOIDED"
    d = _only(compare(rows, xero))
    assert (d.difference, d.actions) == ("deleted_in_xero", ("resend", "accept"))


def test_labels_use_the_settings_prefixes() -> None:
    xero = summaries()
    xero["invoice"][INVOICE_X]["status"] = "VOIDED"
    xero["contact"][CONTACT_X]["name"] = "Ann Lee (K-42)"
    prefixes = Prefixes(client="K-", invoice="F-")
    assert found(compare(book(), xero, prefixes=prefixes)) == [("F-12 Ann Lee", "voided_in_xero")]


def test_rows_on_their_way_failed_or_not_read_yet_are_no_differences() -> None:
    rows = book()
    rows[1] = row(2, "invoice", "inv12", invoice(), state="ready", xero_id=INVOICE_X,
                  operation="update")  # fmt: skip
    rows[2] = row(3, "credit_note", "cn3", {**rows[2].payload}, state="failed", xero_id=NOTE_X)
    rows[4] = row(5, "payment", "pay5:inv12", payment(), xero_id="p-not-read", dep_invoice="inv12")
    xero = summaries()
    xero["invoice"][INVOICE_X]["status"] = "VOIDED"
    xero["credit_note"][NOTE_X]["status"] = "VOIDED"
    books = compare(rows, xero)
    assert books.differences == []
    assert books.not_read == 1
    assert books.checked == 2  # the contact and the allocation (its credit note's copy)
