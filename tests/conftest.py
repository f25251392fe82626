"""Suite-wide settings.

The add-on runs long admin actions (contact sync, backfill, catch-up) on a background thread in
production; the suite runs them inside the hook so that a test can look at the ledger right
after pressing the button. ``tests/ledger/test_background_jobs.py`` and ``pm-xero demo`` (run
as a process by ``tests/demo``) cover the background path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pm_xero_plugin.sandbox.spec_location import find_xero_spec, spec_missing_reason

os.environ.setdefault("PM_XERO_JOBS", "inline")

# The suite runs as if the venv were activated, so the commands verbs print read ``pm-xero …``
# (pm_xero_plugin.invocation). tests/cli/test_invocation.py and tests/test_readme.py take the
# venv off PATH again to pin what a user who did not activate it is shown.
_VENV_BIN = os.path.dirname(sys.executable)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_VENV_BIN, os.environ.get("PATH", "")])


@pytest.fixture(scope="session")
def xero_spec_path() -> Path:
    """Xero's official Accounting spec, found by the project's one rule (``$XERO_OPENAPI_SPEC``,
    else ``../shared/xero-openapi/`` beside the checkout); every test that needs it skips with the
    same reason when it is absent."""
    path = find_xero_spec()
    if path is None:
        pytest.skip(spec_missing_reason())
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the private PostgreSQL this test process started, if it started one
    (``support.postgres``; CI's own server is left to ``.ci/run``)."""
    from support.postgres import stop_server

    stop_server()
