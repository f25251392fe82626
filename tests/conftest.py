"""Suite-wide settings.

The add-on runs long admin actions (contact sync, backfill, catch-up) on a background thread in
production; the suite runs them inside the hook so that a test can look at the ledger right
after pressing the button. ``tests/ledger/test_background_jobs.py`` and ``pm-xero demo`` (run
as a process by ``tests/demo``) cover the background path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pm_xero_plugin.spec_location import find_xero_spec, spec_missing_reason

os.environ.setdefault("PM_XERO_JOBS", "inline")


@pytest.fixture(scope="session")
def xero_spec_path() -> Path:
    """Xero's official Accounting spec, found by the project's one rule (``$XERO_OPENAPI_SPEC``,
    else ``../shared/xero-openapi/`` beside the checkout); every test that needs it skips with the
    same reason when it is absent."""
    path = find_xero_spec()
    if path is None:
        pytest.skip(spec_missing_reason())
    return path
