"""Reconciliation with the host's records: what the host committed and never handed over (a host
killed between its commit and the add-on's) is recorded – customers included – and an unchanged
host writes nothing; incremental from the change cursor, full when the window widened."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from support.ledger_helpers import START, Practice, client, invoice, payment, settings

from pm_xero_plugin.core.reconcile import (
    CURSOR_META_KEY,
    DROPPED_CONDITION,
    HEALTH_CONDITION,
    WANTED_META_KEY,
    HostUnreadable,
)


@contextmanager
def hooks_lost(practice: Practice) -> Iterator[None]:
    """The host commits, and dies before it calls the add-on's hooks: they never arrive."""
    host = practice.host
    real = host._call
    host._call = lambda hook, kwargs, **kw: []  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        host._call = real  # type: ignore[method-assign]


@pytest.fixture
def synced(practice: Practice) -> Practice:
    """A practice whose contact sync and back-sync ran: the reconciliation covers both."""
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.start_contact_sync(None)
    practice.host.backfill(None, None)
    practice.engine.reconcile()  # the first pass: a full scan, which sets the cursor
    practice.drain()
    practice.clock.advance(timedelta(minutes=1))  # what follows is stored after all that
    return practice


def _rows(practice: Practice) -> list[tuple[Any, ...]]:
    return practice.ledger._q(
        "SELECT id, kind, host_id, tenant_id, state, gate, payload_hash, updated_at FROM rows "
        "ORDER BY id"
    )


def test_records_the_host_committed_but_never_handed_over_are_recorded_customers_included(
    synced: Practice,
) -> None:
    with hooks_lost(synced):
        synced.host.save_client(client("c2", 2))
        synced.host.create_invoice(invoice("i2", 2, "c2", "2025-02-11"))
        synced.host.record_payment(payment("p1", 1, "c2", "2025-02-12", [("i2", "110.00")]))
    assert synced.ledger.find("contact", "c2", "T1") is None

    report = synced.engine.reconcile()

    assert report.written == 3
    assert synced.ledger.find("contact", "c2", "T1") is not None
    assert synced.ledger.find("invoice", "i2", "T1") is not None
    assert synced.ledger.find("payment", "p1:i2", "T1") is not None
    assert synced.drain() == 3  # and they flow to Xero like any other record


def test_a_customer_saved_while_the_add_on_watched_is_recorded_as_its_hook_would_have(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.start_contact_sync("syd")  # T1 only
    practice.clock.advance(timedelta(minutes=1))
    with hooks_lost(practice):
        practice.host.save_client(client("c8", 8, "lon"))
    practice.engine.reconcile()
    # in its home organisation, waiting for that organisation's contact sync, as record_client
    assert practice.state("contact", "c8", "T2") == ("waiting", "contact_sync_not_started")


def test_what_the_host_held_before_the_add_on_watched_is_left_to_the_admin_actions(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.start_contact_sync("syd")  # T1 only; no back-sync yet
    practice.clock.set(START - timedelta(days=30))  # before the add-on's first start-up
    with hooks_lost(practice):
        practice.host.save_client(client("c7", 7, "lon"))
        practice.host.create_invoice(invoice("old", 7, "c7", "2025-02-03", "lon"))
    practice.clock.set(START + timedelta(hours=1))
    practice.engine.reconcile()
    assert practice.ledger.find("contact", "c7", "T2") is None  # T2's contact sync brings it
    assert practice.ledger.find("invoice", "old", "T2") is None  # "Start syncing data" does
    practice.host.backfill(None, None)
    assert practice.ledger.find("invoice", "old", "T2") is not None


def test_reconciling_an_unchanged_host_writes_nothing(synced: Practice) -> None:
    synced.host.save_client(client("c3", 3, "lon"))
    synced.host.void_invoice("i1")
    synced.host.fire("on_invoice_created", invoice={"id": "bad", "number": "x"})  # rejected
    synced.engine.reconcile(full=True)
    before = _rows(synced)
    changes = synced.ledger._conn.total_changes

    report = synced.engine.reconcile(full=True)

    assert report.full
    assert report.read >= 3
    assert report.written == 0
    assert _rows(synced) == before  # not one row added or touched
    assert synced.ledger._conn.total_changes - changes == 1  # the cursor, and nothing else


def test_an_edit_the_ledger_missed_is_recorded(synced: Practice) -> None:
    synced.clock.advance(timedelta(minutes=10))
    with hooks_lost(synced):
        synced.host.update_invoice({"id": "i1", "reference": "edited while the add-on died"})
        synced.host.save_client({"id": "c1", "last_name": "Renamed"})
    synced.engine.reconcile()
    invoice_row = synced.ledger.find("invoice", "i1", "T1")
    contact_row = synced.ledger.find("contact", "c1", "T1")
    assert invoice_row is not None
    assert contact_row is not None
    assert invoice_row.payload["reference"] == "edited while the add-on died"
    assert contact_row.payload["last_name"] == "Renamed"


def test_a_version_newer_in_the_ledger_than_the_host_streamed_is_kept(
    synced: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = dict(synced.host.get_record("invoices", "i1") or {})
    synced.clock.advance(timedelta(minutes=1))
    synced.host.update_invoice({"id": "i1", "reference": "newer, through its hook"})
    stale = {**older, "reference": "what the host had when the pass read it"}

    def reading_before_the_edit(
        kind: str,
        location_id: str | None = None,
        since: date | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        return iter([stale] if kind == "invoices" else [])

    monkeypatch.setattr(synced.host, "iter_history", reading_before_the_edit)
    report = synced.engine.reconcile(full=True)
    row = synced.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert row.payload["reference"] == "newer, through its hook"
    assert report.written == 0


def test_the_incremental_pass_reads_only_what_the_host_changed_since_the_cursor(
    synced: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced.clock.advance(timedelta(minutes=30))
    synced.engine.reconcile()  # the cursor: this pass's start
    synced.clock.advance(timedelta(minutes=30))
    with hooks_lost(synced):
        synced.host.create_invoice(invoice("i9", 9, "c1", "2025-02-20"))
    asked: list[datetime | None] = []
    real = synced.host.iter_history

    def spy(
        kind: Any, location_id: Any = None, since: Any = None, *, changed_since: Any = None
    ) -> Iterator[Mapping[str, Any]]:
        asked.append(changed_since)
        return real(kind, location_id, since, changed_since=changed_since)

    monkeypatch.setattr(synced.host, "iter_history", spy)
    report = synced.engine.reconcile()
    assert not report.full
    assert report.read == 1  # the new invoice only, not the whole window
    assert report.written == 1
    assert synced.ledger.find("invoice", "i9", "T1") is not None
    assert asked
    assert all(moment is not None for moment in asked)
    # the cursor is the start of the last pass minus the margin for transactions in flight
    assert all(moment == synced.host.now() - timedelta(minutes=35) for moment in asked)


def test_what_the_host_stored_before_the_ledger_was_first_opened_is_never_a_change(
    practice: Practice,
) -> None:
    """A fresh ledger over a busy host (at the same moment of its clock): the host's recent
    records are history for "Start syncing data", not lost hooks to record on their own."""
    practice.setup()
    with hooks_lost(practice):
        practice.host.save_client(client("c4", 4))  # stored when the engine first opened
    report = practice.engine.reconcile()
    assert report.written == 0
    assert practice.ledger.find("contact", "c4", "T1") is None


def test_a_widened_window_is_scanned_in_full(synced: Practice) -> None:
    with hooks_lost(synced):
        synced.host.create_invoice(invoice("old", 5, "c1", "2025-01-15"))
        # the settings save's own hook is lost too: nothing but the reconciliation sees it
        synced.host.save_plugin_settings("xero", settings("2025-01-01"))
    synced.engine.apply_settings(settings("2025-01-01"), catch_up=False)  # as at a start-up
    report = synced.engine.reconcile()
    assert report.full
    assert synced.ledger.find("invoice", "old", "T1") is not None


def test_before_any_back_sync_or_contact_sync_only_what_changed_is_read(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup()
    asked: list[Any] = []
    real = practice.host.iter_history

    def spy(*args: Any, changed_since: Any = None) -> Iterator[Mapping[str, Any]]:
        asked.append(changed_since)
        return real(*args, changed_since=changed_since)

    monkeypatch.setattr(practice.host, "iter_history", spy)
    report = practice.engine.reconcile()
    assert report.read == 0
    assert asked
    assert None not in asked  # never the whole history: that is "Start syncing data"


def test_a_host_that_cannot_stream_is_reported_on_health_and_the_cursor_stays(
    synced: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    cursor = synced.ledger.meta(CURSOR_META_KEY)
    real = synced.host.iter_history

    def broken(*args: Any, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        yield from ()
        raise ConnectionError("host database went away")

    monkeypatch.setattr(synced.host, "iter_history", broken)
    synced.clock.advance(timedelta(minutes=20))
    with pytest.raises(HostUnreadable):
        synced.engine.reconcile()
    condition = synced.engine.health.get(HEALTH_CONDITION)
    assert condition is not None
    assert "host database went away" in condition.message
    assert synced.ledger.meta(CURSOR_META_KEY) == cursor  # the next pass covers the same ground

    monkeypatch.setattr(synced.host, "iter_history", real)
    synced.engine.reconcile()
    assert synced.engine.health.get(HEALTH_CONDITION) is None
    assert synced.ledger.meta(CURSOR_META_KEY) != cursor


def test_a_host_without_the_change_cursor_is_reconciled_in_full(
    synced: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = synced.host.iter_history

    def old_host(
        kind: Any, location_id: Any = None, since: Any = None
    ) -> Iterator[Mapping[str, Any]]:
        return real(kind, location_id, since)

    monkeypatch.setattr(synced.host, "iter_history", old_host)
    with hooks_lost(synced):
        synced.host.create_invoice(invoice("i4", 4, "c1", "2025-02-14"))
    synced.engine.reconcile()
    assert synced.ledger.find("invoice", "i4", "T1") is not None


def test_switched_off_nothing_is_read_and_the_cursor_waits(synced: Practice) -> None:
    cursor = synced.ledger.meta(CURSOR_META_KEY)
    synced.host.disable_plugin("xero")
    report = synced.engine.reconcile()
    assert report.skipped is not None
    assert synced.ledger.meta(CURSOR_META_KEY) == cursor


def test_records_the_hand_off_dropped_are_looked_for_in_full_and_the_flag_cleared(
    synced: Practice,
) -> None:
    with hooks_lost(synced):
        synced.host.create_invoice(invoice("dropped", 6, "c1", "2025-02-16"))
    synced.ledger.set_meta(WANTED_META_KEY, '{"records": 1}')
    synced.engine.health.report(DROPPED_CONDITION, "1 record was dropped", "reconcile")
    report = synced.engine.reconcile()
    assert report.full
    assert synced.ledger.find("invoice", "dropped", "T1") is not None
    assert synced.ledger.meta(WANTED_META_KEY) is None
    assert synced.engine.health.get(DROPPED_CONDITION) is None


def test_a_window_moved_earlier_reads_what_changed_in_it_since_the_add_on_watched(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.start_contact_sync(None)  # no back-sync: only changes are reconciled
    practice.engine.reconcile()
    practice.clock.advance(timedelta(minutes=1))
    with hooks_lost(practice):
        practice.host.create_invoice(invoice("early", 3, "c1", "2025-01-15"))
        practice.host.save_client(client("c1", 1))
    practice.engine.reconcile()
    assert practice.ledger.find("invoice", "early", "T1") is None  # outside the window
    practice.clock.advance(timedelta(minutes=30))
    practice.engine.reconcile()  # the cursor is now past the lost record
    assert practice.host.save_plugin_settings("xero", settings("2025-01-01")) == []
    practice.engine.reconcile()
    assert practice.ledger.find("invoice", "early", "T1") is not None


def test_a_full_pass_runs_in_bounded_memory(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    template = dict(practice.host.create_invoice(invoice("i0", 1, "c1", "2025-02-10")))
    practice.host.backfill(None, None)

    def stream(n: int) -> Iterator[dict[str, Any]]:
        for i in range(n):
            yield {**template, "id": f"i{n}-{i}", "number": 1000 + i}

    def peak(n: int) -> int:
        def history(kind: Any, *args: Any, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
            return stream(n) if kind == "invoices" else iter(())

        monkeypatch.setattr(practice.host, "iter_history", history)
        tracemalloc.start()
        practice.engine.reconcile(full=True)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(1_000), peak(4_000)
    assert large < small * 1.5  # four times the records, not four times the memory


def test_a_void_whose_hook_was_lost_goes_to_xero_as_a_void_not_an_edit(synced: Practice) -> None:
    with hooks_lost(synced):
        synced.host.void_invoice("i1")
    report = synced.engine.reconcile()
    assert report.written == 1
    row = synced.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert (row.state, row.operation) == ("ready", "void")  # an update would stay AUTHORISED
    synced.drain()
    again = synced.engine.reconcile(full=True)
    assert again.written == 0  # voided in Xero: nothing more to do


def test_the_hand_offs_flag_and_condition_are_the_ones_reconciliation_clears() -> None:
    from pm_xero_plugin.core import handoff

    assert (handoff.RECONCILE_META, handoff.DROPPED) == (WANTED_META_KEY, DROPPED_CONDITION)
