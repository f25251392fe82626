"""A many-practice reference host with the add-on in it, on SQLite files or one PostgreSQL
ledger: each practice with Sydney and London, settings saved and both organisations connected
(a fake chart), as ``support.ledger_helpers.Practice`` sets up one practice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from hookspecs.refhost import ManualClock, RefFleet, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.core.engine import Engine
from support.ledger_helpers import LONDON, START, SYDNEY, FakeAccounts, settings

BACKENDS = ("sqlite", "postgresql")
"""The ledgers a many-practice host is tried on."""


def engine_of(practice_id: str) -> Engine:
    """The running add-on's engine of one practice."""
    engine = plugin.get_engine(practice_id)
    assert engine is not None
    return engine


def _set_up(host: RefHost) -> None:
    host.add_location(SYDNEY)
    host.add_location(LONDON)
    assert host.save_plugin_settings("xero", settings("2025-02-01")) == []
    engine = engine_of(host.practice_id)
    engine.set_accounts_source(FakeAccounts())
    for tenant in ("T1", "T2"):
        engine.set_connection(None, tenant, True)


@contextmanager
def practices_on(
    backend: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    ids: Sequence[str] = ("north", "south"),
    clock: ManualClock | None = None,
) -> Iterator[RefFleet]:
    """A started fleet of ``ids`` on ``backend`` (``PM_XERO_LEDGER`` set for PostgreSQL: a fresh
    database), stopped afterwards."""
    with ExitStack() as stack:
        if backend == "postgresql":
            from support.postgres import fresh_database

            monkeypatch.setenv("PM_XERO_LEDGER", stack.enter_context(fresh_database()))
        else:
            monkeypatch.delenv("PM_XERO_LEDGER", raising=False)
        fleet = RefFleet(root, clock=clock or ManualClock(START), load_entrypoints=False)
        fleet.register(plugin, name="xero")
        for practice_id in ids:
            fleet.add_practice(practice_id)
        fleet.start()
        stack.callback(fleet.stop)
        for practice_id in fleet.practices():
            _set_up(fleet.practice(practice_id))
        yield fleet
