"""A restarted host loses nothing it committed: ``pm_startup`` resumes the long actions written
down and reconciles the host's records with the ledger, in the background, and
``wait_for_jobs`` waits for both."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin


def _lose_hooks(practice: Practice) -> None:
    """From now on the host commits and never calls the hooks (it is killed right after)."""
    practice.host._call = lambda hook, kwargs, **kw: []  # type: ignore[method-assign,assignment]


def test_a_restart_records_what_the_host_committed_while_the_add_on_died(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup()
    practice.host.start_contact_sync(None)
    practice.host.backfill(None, None)
    real_call = practice.host._call
    _lose_hooks(practice)
    practice.host.save_client(client("c5", 5))
    practice.host.create_invoice(invoice("i5", 5, "c5", "2025-02-15"))
    practice.host._call = real_call  # type: ignore[method-assign]
    assert practice.ledger.find("invoice", "i5", "T1") is None

    monkeypatch.setenv("PM_XERO_JOBS", "background")
    practice.host.stop()
    practice.host.start()
    assert plugin.wait_for_jobs(10)

    assert practice.ledger.find("contact", "c5", "T1") is not None
    assert practice.ledger.find("invoice", "i5", "T1") is not None
    assert practice.drain() >= 2


def test_the_start_up_reconciliation_runs_off_the_host_start_up_path(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup()
    practice.host.backfill(None, None)
    practice.host.stop()
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    threads: list[str] = []
    real = practice.host.iter_history

    def where(*args: Any, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        import threading

        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(practice.host, "iter_history", where)
    practice.host.start()
    assert plugin.wait_for_jobs(10)
    assert threads
    assert set(threads) == {"pm-xero-jobs"}


def test_sending_starts_only_after_the_start_up_reconciliation(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost edit of an invoice must be in the ledger before a payment recorded after the
    restart goes out against it: the worker thread starts after the first reconciliation."""
    practice.setup()
    practice.host.stop()
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "test-app")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "test-secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9")  # never reached: nothing connected
    sending_at_reconcile: list[bool] = []
    from pm_xero_plugin.core.engine import Engine

    real = Engine.reconcile

    def reconcile(self: Engine, **kwargs: Any) -> Any:
        runtime = plugin.get_runtime()
        assert runtime is not None
        sending_at_reconcile.append(runtime.worker._thread is not None)
        return real(self, **kwargs)

    monkeypatch.setattr(Engine, "reconcile", reconcile)
    practice.host.start()
    assert plugin.wait_for_jobs(10)
    runtime = plugin.get_runtime()
    assert runtime is not None
    assert sending_at_reconcile == [False]
    assert runtime.worker._thread is not None  # and it started right after
    practice.host.stop()
