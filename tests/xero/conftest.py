"""Fixtures for the Xero client layer tests (the doubles live in xero_client_fakes.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.virtual_time import VirtualTime
from support.xero_sandbox_client import Connected, connected_sandbox

from pm_xero_plugin.xero.ratelimit import RateLimiter


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime(start=1000.0)


@pytest.fixture
def limiter(clock: VirtualTime) -> RateLimiter:
    return RateLimiter(clock)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.sqlite3"


@pytest.fixture
def connected(tmp_path: Path) -> Iterator[Connected]:
    yield from connected_sandbox(tmp_path)
