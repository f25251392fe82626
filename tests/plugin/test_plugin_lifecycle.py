"""The plugin owns its Xero side's lifecycle: the worker thread starts with the host and stops
before the ledger it claims from closes, on shutdown and when a second start-up replaces it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ledger_helpers import START, SYDNEY

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pm-xero-worker" and t.is_alive()]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefHost]:
    for name, value in {
        "PM_XERO_CLIENT_ID": "app",
        "PM_XERO_CLIENT_SECRET": "secret",
        "PM_XERO_URL": "http://127.0.0.1:9",  # never reached: nothing is mapped or ready
        "PM_XERO_WORKER": "thread",
    }.items():
        monkeypatch.setenv(name, value)
    made = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    made.add_location(SYDNEY)
    made.register(plugin, name="xero")
    yield made
    made.stop()
    made.close()


def test_shutdown_stops_the_worker_thread_before_the_ledger_closes(host: RefHost) -> None:
    host.start()
    runtime = plugin.get_runtime()
    assert runtime is not None
    assert len(_worker_threads()) == 1

    host.stop()

    assert plugin.get_runtime() is None
    assert plugin.get_engine() is None
    assert _worker_threads() == []


def test_a_second_start_up_replaces_the_worker_instead_of_adding_one(host: RefHost) -> None:
    host.start()
    first = plugin.get_runtime()

    plugin.pm_startup(host=host)

    second = plugin.get_runtime()
    assert second is not None
    assert second is not first
    assert len(_worker_threads()) == 1


def test_a_start_up_checks_each_connection_once(
    host: RefHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-checking connections and charts calls Xero for every organisation: once per start-up."""
    from pm_xero_plugin.sync.runtime import XeroRuntime

    calls: list[int] = []
    monkeypatch.setattr(XeroRuntime, "refresh_connections", lambda self: calls.append(1))
    host.start()
    plugin.wait_for_jobs()

    assert calls == [1]
