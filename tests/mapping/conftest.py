"""Fixtures for the mapping tests: Xero's spec (loaded once per session) and an org mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_core import OpenAPI

from pm_xero_plugin.sandbox.spec_check import load_xero_spec


@pytest.fixture(scope="session")
def xero_openapi_spec(xero_spec_path: Path) -> OpenAPI:
    """Xero's official Accounting spec (skips with the suite's one reason when it is absent)."""
    return load_xero_spec(xero_spec_path)
