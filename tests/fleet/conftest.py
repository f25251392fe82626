"""Fixtures: a fleet root of three practices on an in-process sandbox (see fleet_roots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_roots import FleetRoot, make_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> FleetRoot:
    """Three practices of two organisations each, on an in-process sandbox."""
    return make_fleet(tmp_path / "fleet", 3)
