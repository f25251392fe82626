"""Long admin actions leave the host's request path: the hook returns at once, the work runs on
the add-on's job thread, and what it records is all there once it has run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin


def test_backfill_returns_at_once_and_its_job_records_the_history(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    practice.setup()
    practice.connect("T1")
    # History the add-on has not heard of: made while it was switched off.
    practice.host.disable_plugin("xero")
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    practice.host.enable_plugin("xero")
    assert plugin.wait_for_jobs(10)

    release = threading.Event()
    real = practice.host.iter_history

    def slow_history(kind: Any, location_id: Any = None, since: Any = None) -> Iterator[Any]:
        assert release.wait(10), "the test never released the host's history"
        yield from real(kind, location_id, since)

    monkeypatch.setattr(practice.host, "iter_history", slow_history)

    practice.host.backfill(None, None)  # returns while the history cannot be read yet

    status = practice.host.sync_status(None)
    assert status is not None
    assert status["background_jobs"] == ["backfill"]
    assert practice.ledger.find("invoice", "i1", "T1") is None
    release.set()
    assert plugin.wait_for_jobs(10)
    assert practice.ledger.find("invoice", "i1", "T1") is not None
    status = practice.host.sync_status(None)
    assert status is not None
    assert status["background_jobs"] == []
