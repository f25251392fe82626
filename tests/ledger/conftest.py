"""Fixtures for the ledger/rules/plugin tests (helpers live in ledger_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import START, Practice

from hookspecs.refhost import ManualClock
from pm_xero_plugin.ledger import SqliteLedger


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def practice(tmp_path: Path, clock: ManualClock) -> Iterator[Practice]:
    p = Practice(tmp_path / "pm", clock)
    yield p
    p.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    led = SqliteLedger(tmp_path / "ledger.sqlite3", clock=lambda: START)
    yield led
    led.close()
