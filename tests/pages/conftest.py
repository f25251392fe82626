"""Fixtures for the server-side page tests: a reference host running the add-on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin


@pytest.fixture
def started_host(tmp_path: Path) -> Iterator[RefHost]:
    """A reference host with one location and the add-on started, no Xero app configured."""
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)),
        load_entrypoints=False,
    )
    host.add_location(
        {
            "id": "loc-1",
            "name": "Sydney",
            "timezone": "Australia/Sydney",
            "currency": "AUD",
            "country": "AU",
        }
    )
    host.register(plugin, name="xero")
    host.start()
    try:
        yield host
    finally:
        host.stop()
        host.close()
