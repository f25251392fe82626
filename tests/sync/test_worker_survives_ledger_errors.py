"""A ledger error never ends the worker: it backs off, says so on the add-on's health in words,
and clears that once the ledger works again. A thread that ends all the same says so too."""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.ledger_helpers import Practice

from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime
from pm_xero_plugin.sync.worker import LEDGER_CONDITION, STOPPED_CONDITION


@pytest.fixture
def runtime(practice: Practice, tmp_path: Path) -> Iterator[XeroRuntime]:
    practice.setup()
    runtime = XeroRuntime(
        practice.engine,
        AppConfig(client_id="app", client_secret="secret", url="http://127.0.0.1:9"),
        secret=b"k" * 32,
        data_dir=tmp_path,
    )
    yield runtime
    runtime.stop()


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_full_disk_leaves_the_worker_alive_backing_off_and_shown_on_health(
    runtime: XeroRuntime, practice: Practice, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = practice.engine.ledger
    look = ledger.tenants_with_ready_work
    tries: list[float] = []
    full = {"on": True}

    def failing_look(now: datetime, **kw: Any) -> list[str]:
        if full["on"]:
            tries.append(time.monotonic())
            raise sqlite3.OperationalError("database or disk is full")
        return look(now, **kw)

    monkeypatch.setattr(ledger, "tenants_with_ready_work", failing_look)
    health = practice.engine.health
    runtime.worker.start()
    _wait_for(lambda: len(tries) >= 3)

    thread = runtime.worker._thread
    assert thread is not None
    assert thread.is_alive()
    condition = health.get(LEDGER_CONDITION)
    assert condition is not None
    assert condition.message == (
        f"the add-on cannot write its ledger: disk full at {tmp_path / 'ledger.sqlite3'}"
    )
    assert "free space" in condition.action
    assert [c["condition"] for c in practice.status()["health"]] == [LEDGER_CONDITION]
    # backs off (0.5 s, 1 s, 2 s …) instead of spinning on the error
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps[0] >= 0.4
    assert gaps[1] >= 0.9

    full["on"] = False
    _wait_for(lambda: health.get(LEDGER_CONDITION) is None)
    assert thread.is_alive()
    assert health.get(STOPPED_CONDITION) is None


def test_a_worker_thread_that_ends_unasked_says_the_sender_has_stopped(
    runtime: XeroRuntime, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_run(**_: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(runtime.worker, "run", broken_run)
    runtime.worker.start()
    health = practice.engine.health
    _wait_for(lambda: health.get(STOPPED_CONDITION) is not None)

    stopped = health.get(STOPPED_CONDITION)
    assert stopped is not None
    assert stopped.message == "the add-on's sender has stopped: MemoryError: out of memory"
    assert "restart" in stopped.action
    assert "running" not in str(practice.status()["health"])
