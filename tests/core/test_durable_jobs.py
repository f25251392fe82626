"""Long admin actions survive the host being killed: written down in the ledger before the hook
returns, crossed off when they complete, resumed by the next start-up from their checkpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin
from pm_xero_plugin.addon import RECONCILE
from pm_xero_plugin.core import history as history_module
from pm_xero_plugin.core.jobs import JOBS_META_KEY, JobBook, Jobs
from pm_xero_plugin.ledger import SqliteLedger


def _unheard_history(practice: Practice, invoices: int = 3) -> None:
    """History the add-on has not heard of (made while it was switched off)."""
    practice.host.disable_plugin("xero")
    practice.host.save_client(client("c1", 1))
    for n in range(1, invoices + 1):
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-02-10"))
    practice.host.enable_plugin("xero")


def _restart(practice: Practice) -> None:
    """The host process is gone and starts again (pm_startup on a fresh engine, same ledger)."""
    practice.host.stop()
    practice.host.start()


def test_the_jobs_written_down_are_kept_in_order_until_crossed_off(ledger: SqliteLedger) -> None:
    book = JobBook(ledger)
    first = book.record("backfill", location_id=None, since=date(2025, 1, 1))
    second = book.record("catch_up")
    assert [(i.name, dict(i.args)) for i in JobBook(ledger).pending()] == [
        ("backfill", {"location_id": None, "since": "2025-01-01"}),
        ("catch_up", {}),
    ]
    book.done(first.id)
    assert [i.id for i in book.pending()] == [second.id]
    third = book.record("start_contact_sync", location_id="syd")
    assert third.id > second.id  # ids are not reused
    ledger.set_meta(JOBS_META_KEY, "{not json")
    assert book.pending() == []  # an unreadable list is logged, not raised into the host


def test_a_backfill_whose_hook_returned_before_it_ran_is_resumed_at_the_next_start_up(
    practice: Practice,
) -> None:
    practice.setup()
    _unheard_history(practice)
    # The hook wrote its intent down and returned; the host was killed before the job ran.
    practice.engine.record_job("backfill", location_id=None, since=None)
    assert practice.ledger.find("invoice", "i1", "T1") is None

    _restart(practice)

    assert all(practice.ledger.find("invoice", f"i{n}", "T1") is not None for n in (1, 2, 3))
    assert practice.engine.pending_jobs() == []


def test_a_completed_job_is_crossed_off_and_not_run_again(practice: Practice) -> None:
    practice.setup()
    practice.host.backfill(None, None)
    assert practice.engine.pending_jobs() == []
    assert practice.ledger.meta("backfill_started") is not None


def test_a_job_killed_mid_run_is_reported_then_resumed_from_its_checkpoint(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "BATCH", 2)
    practice.setup()
    _unheard_history(practice, invoices=5)
    real = practice.host.iter_history
    served: list[str] = []

    def dying(
        kind: str, location_id: str | None = None, since: date | None = None, **kw: Any
    ) -> Iterator[Mapping[str, Any]]:
        for n, record in enumerate(real(kind, location_id, since, **kw)):
            if kind == "invoices" and n == 3:
                raise ConnectionError("host went away mid back-sync")
            served.append(record["id"])
            yield record

    monkeypatch.setattr(practice.host, "iter_history", dying)
    practice.host.backfill(None, None)  # the hook never raises into the host
    [left] = practice.engine.pending_jobs()
    assert left.name == "backfill"
    condition = practice.engine.health.get("job:backfill")
    assert condition is not None
    assert "host went away" in condition.message

    monkeypatch.setattr(practice.host, "iter_history", real)
    _restart(practice)
    assert practice.engine.pending_jobs() == []
    assert all(practice.ledger.find("invoice", f"i{n}", "T1") is not None for n in range(1, 6))
    assert practice.engine.health.get("job:backfill") is None


def test_a_catch_up_asked_for_by_a_settings_save_survives_the_host_dying_before_it_ran(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup("2025-02-01")
    practice.host.backfill(None, None)
    practice.host.disable_plugin("xero")
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("early", 1, "c1", "2025-01-10"))
    practice.host.enable_plugin("xero")
    # The catch-up is handed to the job thread, which dies with the host before it runs it.
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    addon = plugin.get_addon()
    assert addon is not None
    monkeypatch.setattr(addon.jobs, "submit", lambda label, job: None)
    from support.ledger_helpers import settings

    assert practice.host.save_plugin_settings("xero", settings("2025-01-01")) == []
    assert [i.name for i in practice.engine.pending_jobs()] == ["catch_up"]
    monkeypatch.undo()

    _restart(practice)
    assert practice.ledger.find("invoice", "early", "T1") is not None
    assert practice.engine.pending_jobs() == []


def test_resumed_work_shows_on_the_dashboard_while_it_runs(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup()
    _unheard_history(practice)
    practice.engine.record_job("backfill", location_id=None, since=None)
    practice.host.stop()
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    release = threading.Event()
    real = practice.host.iter_history

    def slow(*args: Any, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        assert release.wait(10), "the test never released the host's history"
        yield from real(*args, **kwargs)

    monkeypatch.setattr(practice.host, "iter_history", slow)
    practice.host.start()
    status = practice.host.sync_status(None)
    assert status is not None
    assert status["background_jobs"][:2] == [RECONCILE, "backfill (resumed)"]
    release.set()
    assert plugin.wait_for_jobs(10)
    assert practice.ledger.find("invoice", "i1", "T1") is not None
    assert practice.engine.pending_jobs() == []


def test_a_periodic_job_runs_again_and_is_not_stacked_while_one_is_queued() -> None:
    jobs = Jobs("test-jobs")
    ran: list[float] = []
    gate = threading.Event()

    def job() -> None:
        ran.append(time.monotonic())
        gate.wait(0.3)

    stop = jobs.every("periodic", 0.02, job)
    time.sleep(0.25)
    assert 1 <= len(ran) <= 2  # the first still running: the later ticks queued no second one
    gate.set()
    time.sleep(0.2)
    stop()
    assert jobs.wait(5)
    count = len(ran)
    assert count >= 3
    time.sleep(0.1)
    assert len(ran) == count  # stopped
