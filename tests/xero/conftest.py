"""Fixtures for the Xero client layer tests (the doubles live in xero_client_fakes.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from support.xero_client_fakes import FakeClock

from pm_xero_plugin.xero.ratelimit import RateLimiter


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.sqlite3"
