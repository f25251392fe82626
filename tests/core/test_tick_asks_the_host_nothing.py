"""``Engine.tick`` runs on the worker's thread once per loop: it opens time-based gates from
the ledger alone and asks the host nothing but the time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice

from hookspecs.refhost import ManualClock

_HOST_CALLS = ("get_record", "is_enabled", "settings", "locations", "iter_history")


def test_a_start_date_reached_opens_its_gate_without_asking_the_host(
    clock: ManualClock, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.setup("2025-03-02")  # 2025-03-01 09:00 UTC: 20:00 in Sydney
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("s", 1, "c1", "2025-03-02"))
    assert practice.state("invoice", "s") == ("waiting", "start_date_future")
    engine = practice.engine
    asked: list[str] = []
    for name in _HOST_CALLS:
        real = getattr(engine.host, name)

        def counting(*args: Any, _name: str = name, _real: Any = real, **kw: Any) -> Any:
            asked.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(engine.host, name, counting)
    clock.set(datetime(2025, 3, 1, 13, 0, tzinfo=UTC))  # midnight in Sydney
    engine.tick()
    assert practice.state("invoice", "s") == ("ready", None)
    assert asked == []
