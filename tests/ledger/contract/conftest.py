"""The ledger contract's fixtures: one ``ledger`` per backend, each a fresh, empty ledger.

The tests here see a :class:`pm_xero_plugin.ledger.Ledger` and nothing else (no SQL, no method
of one backend), so a new backend joins by adding its factory to :data:`BACKENDS` (PostgreSQL,
issue 14). Each ledger is opened with the core's :class:`DependantGates`, as the engine opens
it: settling a row moves what waited for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.ledger_helpers import START

from pm_xero_plugin.core.gates import DependantGates
from pm_xero_plugin.ledger import Ledger, SqliteLedger


def _sqlite(tmp_path: Path) -> Ledger:
    return SqliteLedger(
        tmp_path / "ledger.sqlite3", clock=lambda: START, dependants=DependantGates()
    )


BACKENDS: dict[str, Callable[[Path], Ledger]] = {"sqlite": _sqlite}
"""Every ledger backend the contract runs against, by name."""


@pytest.fixture(params=sorted(BACKENDS))
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    led = BACKENDS[request.param](tmp_path)
    yield led
    led.close()
