"""Fixtures for the mapping tests: Xero's spec (loaded once per session) and an org mapping."""

from __future__ import annotations

import pytest
from openapi_core import OpenAPI

from pm_xero_plugin.spec_check import find_xero_spec, load_xero_spec


@pytest.fixture(scope="session")
def xero_openapi_spec() -> OpenAPI:
    """Xero's official Accounting spec; the spec tests skip (saying why) when it is absent."""
    path = find_xero_spec()
    if path is None:
        pytest.skip(
            "Xero's OpenAPI spec not found: set XERO_OPENAPI_SPEC or put xero_accounting.yaml "
            "in ../shared/xero-openapi/ beside the checkout"
        )
    return load_xero_spec(path)
