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
