"""Fixtures for tests on a practice in the reference host with a real ledger (via conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hookspecs.refhost import ManualClock
from pm_xero_plugin.core.gates import open_ledger
from pm_xero_plugin.ledger import SqliteLedger
from support.ledger_helpers import START, Practice


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
    led = open_ledger(tmp_path / "ledger.sqlite3", clock=lambda: START)
    yield led
    led.close()
