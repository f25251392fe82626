"""The ledger contract: what keeps a record in its own organisation and the books consistent –
moving a location's unsent rows, giving rows their first organisation, the start-date lock,
what was found in Xero, and live priority."""

from __future__ import annotations

from support.ledger_helpers import START, new_row, put_in

from pm_xero_plugin.ledger import Ledger


def _synced(ledger: Ledger, kind: str, replies: dict[str, dict[str, object] | None]) -> None:
    """Claim every ready row of ``kind`` and settle each as synced with its reply."""
    rows = ledger.claim("T1", kind, worker_id="w", now=START)
    assert {r.host_id for r in rows} == set(replies)
    for row in rows:
        ledger.mark_synced(row.id, f"x-{row.host_id}", replies[row.host_id])


def test_a_location_moved_to_another_organisation_takes_its_unsent_rows_only(
    ledger: Ledger,
) -> None:
    put_in(ledger, "failed", host_id="i-failed")
    put_in(ledger, "synced", host_id="i-synced")
    ledger.insert(
        [
            new_row(host_id="i-unsent"),
            new_row(kind="contact", host_id="c1"),
            new_row(kind="contact", host_id="c1", tenant="T2"),  # T2 has this customer already
        ]
    )
    moved = ledger.rehome("syd", "T1", "T2")
    assert moved == 2
    for host_id in ("i-unsent", "i-failed"):
        assert ledger.find("invoice", host_id, "T1") is None
        row = ledger.find("invoice", host_id, "T2")
        assert row is not None
    synced = ledger.find("invoice", "i-synced", "T1")
    assert synced is not None
    assert synced.state == "synced"  # what reached an organisation stays where it is
    left = ledger.find("contact", "c1", "T1")
    assert left is not None
    assert left.state == "excluded"
    assert "duplicate of the same record in T2" in (left.detail or "")


def test_rows_recorded_before_their_location_had_an_organisation_get_it(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="i1", tenant=""),
            new_row(kind="contact", host_id="c1", tenant=""),
            new_row(kind="contact", host_id="c1", tenant="T1"),  # met at another location
        ]
    )
    assert ledger.assign_tenant("syd", "T1") == 1
    assert ledger.find("invoice", "i1", "T1") is not None
    left = ledger.find("contact", "c1", "")
    assert left is not None
    assert left.state == "excluded"


def test_the_first_document_in_xero_locks_the_start_date_and_a_contact_does_not(
    ledger: Ledger,
) -> None:
    ledger.set_meta("start_date", "2025-01-01")
    ledger.insert([new_row(kind="contact", host_id="c1"), new_row(host_id="i1")])
    _synced(ledger, "contact", {"c1": None})
    assert ledger.meta("locked_start_date") is None
    assert not ledger.data_synced()

    _synced(ledger, "invoice", {"i1": None})
    assert ledger.meta("locked_start_date") == "2025-01-01"
    assert ledger.data_synced()
    ledger.set_meta("start_date", "2024-06-01")  # an earlier date may come; the lock stays
    assert ledger.meta("locked_start_date") == "2025-01-01"


def test_found_in_xero_names_only_what_was_linked_or_matched_not_what_we_created(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(host_id="created"),
            new_row(host_id="linked"),
            new_row(host_id="matched"),
            new_row(host_id="by-admin"),
        ]
    )
    _synced(
        ledger,
        "invoice",
        {
            "created": {"Status": "AUTHORISED"},
            "linked": {"linked_existing": True},
            "matched": {"matched": {"InvoiceNumber": "INV1"}},
            "by-admin": {"linked_by_admin": True},
        },
    )
    wanted = ["created", "linked", "matched", "by-admin", "unknown"]
    assert ledger.found_in_xero("invoice", wanted, "T1") == {"linked", "matched", "by-admin"}
    assert ledger.found_in_xero("invoice", wanted, "T2") == set()


def test_a_live_record_raises_what_it_depends_on(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="i1"),
            new_row(
                kind="payment",
                host_id="p1",
                state="waiting",
                gate="invoice",
                dep_invoice="i1",
            ),
        ]
    )
    raised = ledger.raise_priority([("payment", "p1", "T1")])
    assert raised == 2  # the payment and the invoice it waits for
    invoice = ledger.find("invoice", "i1", "T1")
    payment = ledger.find("payment", "p1", "T1")
    assert invoice is not None
    assert payment is not None
    assert ledger.has_live_work("T1", START)
    assert ledger.raise_priority([("payment", "p1", "T1")]) == 0  # already live
