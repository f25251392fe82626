"""The worker loop ticks the engine exactly once per look at the ledger: time-based gates open
(a future start date reached) without the ledger calling back into the engine, and no loop pays
for a second tick."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.ledger_helpers import Practice

from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime


def test_each_worker_loop_ticks_the_engine_once_before_it_looks_for_work(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup()
    events: list[str] = []
    tick = Engine.tick

    def counted_tick(self: Engine) -> None:
        events.append("tick")
        tick(self)

    # On the class, before the engine exists: a callback bound at construction counts too.
    monkeypatch.setattr(Engine, "tick", counted_tick)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", clock=practice.host.now)
    engine = Engine(practice.host, ledger)
    look = ledger.tenants_with_ready_work

    def counted_look(now: datetime, **kw: Any) -> list[str]:
        events.append("look")
        return look(now, **kw)

    monkeypatch.setattr(ledger, "tenants_with_ready_work", counted_look)
    runtime = XeroRuntime(
        engine,
        AppConfig(client_id="app", client_secret="secret", url="http://127.0.0.1:9"),
        secret=b"k" * 32,
        data_dir=tmp_path,
    )
    try:
        events.clear()  # the engine ticks on its own writes as well: count the worker's loops

        runtime.worker.run(max_seconds=1.2)  # idle: a look every poll (0.5 s)

        loops = events.count("look")
        assert loops >= 2
        assert events == ["tick", "look"] * loops
    finally:
        runtime.stop()
        engine.close()
