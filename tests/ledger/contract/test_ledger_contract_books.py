"""Xero's side of the ledger (``docs/reconciliation.md``, "Ledger"): webhook events kept once
per key until handled, Xero's copies where a newer version is never replaced by an older one,
the admin's marks, and an organisation's rows page by page – the same on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.ledger.types import BooksMark, XeroCopy, XeroEvent


def _event(key: str, *, at: int = 0, tenant: str = "T1", resource: str = "r1") -> XeroEvent:
    return XeroEvent(
        key=key,
        tenant_id=tenant,
        category="INVOICE",
        event_type="UPDATE",
        resource_id=resource,
        event_date="2025-03-01T08:59:00.000",
        received_at=START + timedelta(seconds=at),
    )


def _copy(
    xero_id: str,
    updated: str | None = "2025-03-01T09:00:00",
    *,
    total: str = "10.00",
    kind: str = "invoice",
    tenant: str = "T1",
    gone: bool = False,
    read: int = 0,
) -> XeroCopy:
    return XeroCopy(
        tenant_id=tenant,
        kind=kind,
        xero_id=xero_id,
        summary={"number": "INV-1", "total": total, "payments": {"p1": "5.00"}},
        updated_utc=updated,
        read_at=START + timedelta(seconds=read),
        gone=gone,
    )


def _mark(host_id: str = "i1", *, action: str = "accepted", tenant: str = "T1") -> BooksMark:
    return BooksMark(
        tenant_id=tenant,
        kind="invoice",
        host_id=host_id,
        difference="voided_in_xero",
        action=action,
        xero_fingerprint="f1",
        host_hash="h1",
        at=START,
        by="admin-7",
        note="voided in Xero by the bookkeeper",
    )


def _total(ledger: Ledger, xero_id: str, **where: str) -> str:
    copy = ledger.xero_copies(where.get("tenant", "T1"), where.get("kind", "invoice"))[xero_id]
    return str(copy.summary["total"])


# -- webhook events ---------------------------------------------------------------------------


def test_new_events_are_kept_as_given(ledger: Ledger) -> None:
    events = [_event("e1"), _event("e2", resource="r2")]
    assert ledger.add_xero_events(events) == [True, True]
    assert ledger.pending_xero_events() == events


def test_duplicate_event_keys_keep_the_first_untouched_and_report_false(ledger: Ledger) -> None:
    ledger.add_xero_events([_event("e1")])
    ledger.fail_xero_events(["e1"], "Xero unreachable")
    again = replace(_event("e1", at=60, resource="other"), attempts=9)
    assert ledger.add_xero_events([again, _event("e2"), _event("e2", resource="r9")]) == [
        False,
        True,
        False,
    ]
    kept = {e.key: e for e in ledger.pending_xero_events()}
    assert kept["e1"] == replace(_event("e1"), attempts=1, error="Xero unreachable")
    assert kept["e2"].resource_id == "r1"


def test_an_event_already_handled_is_not_kept_again(ledger: Ledger) -> None:
    ledger.add_xero_events([_event("e1")])
    ledger.finish_xero_events(["e1"], "read", START)
    assert ledger.add_xero_events([_event("e1")]) == [False]
    assert ledger.pending_xero_events() == []
    assert ledger.xero_event_counts() == {"pending": 0, "handled": 1, "read": 1}


def test_pending_events_come_oldest_arrival_first_and_together_in_the_order_given(
    ledger: Ledger,
) -> None:
    ledger.add_xero_events([_event("late", at=30), _event("b", at=10), _event("a", at=10)])
    ledger.add_xero_events([_event("first", at=0)])
    assert [e.key for e in ledger.pending_xero_events()] == ["first", "b", "a", "late"]
    assert [e.key for e in ledger.pending_xero_events(limit=2)] == ["first", "b"]


def test_finished_events_leave_the_pending_ones_with_their_outcome(ledger: Ledger) -> None:
    ledger.add_xero_events([_event("e1"), _event("e2"), _event("e3")])
    ledger.finish_xero_events(["e1", "e3"], "own", START + timedelta(minutes=1))
    assert [e.key for e in ledger.pending_xero_events()] == ["e2"]
    ledger.finish_xero_events(["e1"], "read", START + timedelta(minutes=2))  # already handled
    ledger.add_xero_events([_event("e1")])
    assert ledger.xero_event_counts() == {"pending": 1, "handled": 2, "own": 2}


def test_pruning_forgets_only_events_handled_before_the_moment(ledger: Ledger) -> None:
    ledger.add_xero_events([_event("old"), _event("new"), _event("pending")])
    ledger.finish_xero_events(["old"], "read", START)
    ledger.finish_xero_events(["new"], "own", START + timedelta(days=8))

    assert ledger.prune_xero_events(START + timedelta(days=7)) == 1

    assert [e.key for e in ledger.pending_xero_events()] == ["pending"]
    assert ledger.xero_event_counts() == {"pending": 1, "handled": 1, "own": 1}
    assert ledger.add_xero_events([_event("new")]) == [False]  # still handled once
    assert ledger.prune_xero_events(START) == 0


def test_finishing_with_an_unknown_outcome_is_refused_and_changes_nothing(
    ledger: Ledger,
) -> None:
    ledger.add_xero_events([_event("e1")])
    with pytest.raises(ValueError, match="outcome"):
        ledger.finish_xero_events(["e1"], "done", START)
    assert [e.key for e in ledger.pending_xero_events()] == ["e1"]


def test_a_failed_attempt_is_counted_and_its_error_kept_while_it_stays_pending(
    ledger: Ledger,
) -> None:
    ledger.add_xero_events([_event("e1"), _event("e2")])
    ledger.fail_xero_events(["e1", "e1"], "Xero unreachable")  # named twice: one attempt
    ledger.fail_xero_events(["e1", "e9"], "the call budget is spent")
    pending = {e.key: e for e in ledger.pending_xero_events()}
    assert (pending["e1"].attempts, pending["e1"].error) == (2, "the call budget is spent")
    assert (pending["e2"].attempts, pending["e2"].error) == (0, None)
    ledger.finish_xero_events(["e1"], "given_up", START)
    ledger.fail_xero_events(["e1"], "late failure")  # handled: no longer counted
    assert ledger.xero_event_counts() == {"pending": 1, "handled": 1, "given_up": 1}


def test_event_counts_give_pending_handled_and_one_per_outcome(ledger: Ledger) -> None:
    assert ledger.xero_event_counts() == {"pending": 0, "handled": 0}
    ledger.add_xero_events([_event(f"e{i}") for i in range(6)])
    ledger.finish_xero_events(["e0", "e1"], "read", START)
    ledger.finish_xero_events(["e2"], "not_ours", START)
    ledger.finish_xero_events(["e3"], "unknown_tenant", START)
    assert ledger.xero_event_counts() == {
        "pending": 2,
        "handled": 4,
        "read": 2,
        "not_ours": 1,
        "unknown_tenant": 1,
    }


# -- Xero's copies ----------------------------------------------------------------------------


def test_copies_are_kept_as_given_and_read_back_by_xero_id(ledger: Ledger) -> None:
    copies = [_copy("x1"), _copy("x2", None, gone=True)]
    ledger.store_xero_copies(copies)
    assert ledger.xero_copies("T1", "invoice") == {"x1": copies[0], "x2": copies[1]}


def test_a_newer_copy_replaces_the_kept_one(ledger: Ledger) -> None:
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:00:00", total="10.00")])
    newer = _copy("x1", "2025-03-01T09:05:00", total="12.00", read=60)
    ledger.store_xero_copies([newer])
    assert ledger.xero_copies("T1", "invoice")["x1"] == newer


def test_a_kept_copy_newer_than_the_incoming_one_is_not_replaced(ledger: Ledger) -> None:
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:05:00", total="12.00")])
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:00:00", total="10.00", read=60)])
    kept = ledger.xero_copies("T1", "invoice")["x1"]
    assert (kept.summary["total"], kept.read_at) == ("12.00", START)


def test_newer_wins_within_one_batch_as_across_calls(ledger: Ledger) -> None:
    ledger.store_xero_copies(
        [
            _copy("x1", "2025-03-01T09:05:00", total="12.00"),
            _copy("x1", "2025-03-01T09:00:00", total="10.00"),
            _copy("x2", "2025-03-01T09:00:00", total="10.00"),
            _copy("x2", "2025-03-01T09:05:00", total="12.00"),
        ]
    )
    assert (_total(ledger, "x1"), _total(ledger, "x2")) == ("12.00", "12.00")


def test_times_in_other_iso_forms_compare_as_the_moments_they_are(ledger: Ledger) -> None:
    """As text ``…:00Z`` sorts after ``…:00.500``; as moments it is half a second before."""
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:00:00.500", total="12.00")])
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:00:00Z", total="10.00")])
    assert _total(ledger, "x1") == "12.00"
    ledger.store_xero_copies([_copy("x1", "2025-03-01T10:00:01+01:00", total="13.00")])
    assert ledger.xero_copies("T1", "invoice")["x1"].updated_utc == "2025-03-01T10:00:01+01:00"


def test_the_same_version_read_again_refreshes_when_it_was_read(ledger: Ledger) -> None:
    ledger.store_xero_copies([_copy("x1")])
    ledger.store_xero_copies([_copy("x1", read=300)])
    assert ledger.xero_copies("T1", "invoice")["x1"].read_at == START + timedelta(seconds=300)


def test_a_gone_copy_always_replaces_and_a_document_read_back_replaces_it(
    ledger: Ledger,
) -> None:
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:05:00")])
    ledger.store_xero_copies([_copy("x1", None, gone=True, read=60)])
    assert ledger.xero_copies("T1", "invoice")["x1"].gone
    ledger.store_xero_copies([_copy("x1", "2025-03-01T09:00:00", total="11.00", read=120)])
    back = ledger.xero_copies("T1", "invoice")["x1"]
    assert (back.gone, back.summary["total"]) == (False, "11.00")


def test_a_copy_without_a_time_replaces_only_one_without_a_time(ledger: Ledger) -> None:
    ledger.store_xero_copies([_copy("dated", "2025-03-01T09:00:00"), _copy("undated", None)])
    ledger.store_xero_copies(
        [_copy("dated", None, total="99.00"), _copy("undated", None, total="11.00")]
    )
    assert (_total(ledger, "dated"), _total(ledger, "undated")) == ("10.00", "11.00")


def test_a_time_that_is_not_iso_is_refused_and_nothing_is_stored(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="updated_utc"):
        ledger.store_xero_copies([_copy("x1"), _copy("x2", "/Date(1573755038314+0000)/")])
    assert ledger.xero_copies("T1", "invoice") == {}


def test_copies_are_scoped_per_organisation_and_kind(ledger: Ledger) -> None:
    ledger.store_xero_copies(
        [
            _copy("x1", total="1.00"),
            _copy("x1", total="2.00", tenant="T2"),
            _copy("x1", total="3.00", kind="credit_note"),
        ]
    )
    assert _total(ledger, "x1") == "1.00"
    assert _total(ledger, "x1", tenant="T2") == "2.00"
    assert _total(ledger, "x1", kind="credit_note") == "3.00"
    assert ledger.xero_copies("T3", "invoice") == {}
    assert ledger.xero_copies("T1", "contact") == {}


def test_copies_can_be_read_for_some_xero_ids_however_many(ledger: Ledger) -> None:
    ledger.store_xero_copies([_copy(f"x{i}") for i in range(1200)])
    wanted = [f"x{i}" for i in range(0, 1200, 2)] + ["missing", "x0"]
    found = ledger.xero_copies("T1", "invoice", iter(wanted))
    assert sorted(found) == sorted(f"x{i}" for i in range(0, 1200, 2))
    assert ledger.xero_copies("T1", "invoice", []) == {}


# -- the admin's marks ------------------------------------------------------------------------


def test_a_mark_is_kept_and_replaced_for_the_same_difference(ledger: Ledger) -> None:
    ledger.set_books_mark(_mark())
    resent = replace(_mark(), action="resent", by=None, note=None, at=START + timedelta(hours=1))
    ledger.set_books_mark(resent)
    other = replace(_mark(), difference="amount_changed")
    ledger.set_books_mark(other)
    assert ledger.books_marks() == [other, resent]


def test_a_mark_cleared_is_forgotten_and_clearing_none_changes_nothing(ledger: Ledger) -> None:
    ledger.set_books_mark(_mark("i1"))
    ledger.set_books_mark(_mark("i2"))
    ledger.clear_books_mark("T1", "invoice", "i1", "voided_in_xero")
    ledger.clear_books_mark("T1", "invoice", "i9", "voided_in_xero")
    assert [m.host_id for m in ledger.books_marks()] == ["i2"]


def test_marks_can_be_read_for_one_organisation(ledger: Ledger) -> None:
    ledger.set_books_mark(_mark(tenant="T2"))
    ledger.set_books_mark(_mark(tenant="T1"))
    assert [m.tenant_id for m in ledger.books_marks()] == ["T1", "T2"]
    assert [m.tenant_id for m in ledger.books_marks("T2")] == ["T2"]
    assert ledger.books_marks("T3") == []


# -- an organisation's rows -------------------------------------------------------------------


def test_rows_of_tenant_pages_every_row_exactly_once_in_id_order(ledger: Ledger) -> None:
    kinds = ["invoice", "contact", "payment", "credit_note"]
    ledger.insert(
        [new_row(kind=kinds[i % 4], host_id=f"h{i}", state="ready") for i in range(23)]
        + [
            new_row(kind="invoice", host_id=f"w{i}", state="waiting", gate="contact")
            for i in range(3)
        ]
        + [new_row(kind="invoice", host_id=f"o{i}", tenant="T2") for i in range(4)]
    )
    seen: list[int] = []
    after = 0
    while page := ledger.rows_of_tenant(
        "T1", ["invoice", "contact", "payment"], after_id=after, limit=4
    ):
        assert len(page) <= 4
        seen += [r.id for r in page]
        after = page[-1].id
    wanted = sorted(
        r.id
        for kind in ("invoice", "contact", "payment")
        for r in [ledger.find(kind, f"h{i}", "T1") for i in range(23)]
        + [ledger.find(kind, f"w{i}", "T1") for i in range(3)]
        if r is not None
    )
    assert seen == wanted
    assert len(seen) == 6 + 6 + 6 + 3  # credit notes and T2's rows left out


def test_rows_of_tenant_gives_whole_rows_in_any_state(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="i1", doc_date="2025-02-01", number=7),
            new_row(host_id="i2", state="waiting", gate="contact"),
        ]
    )
    page = ledger.rows_of_tenant("T1", {"invoice"})
    assert [(r.host_id, r.state, r.number) for r in page] == [
        ("i1", "ready", 7),
        ("i2", "waiting", None),
    ]
    assert page[0].payload == {"id": "i1"}
    assert ledger.rows_of_tenant("T1", []) == []
    assert ledger.rows_of_tenant("T1", ["invoice"], after_id=page[-1].id) == []
