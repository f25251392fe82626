"""Suite-wide settings.

The add-on runs long admin actions (contact sync, backfill, catch-up) on a background thread in
production; the suite runs them inside the hook so that a test can look at the ledger right
after pressing the button. ``tests/ledger/test_background_jobs.py`` and ``pm-xero demo`` (run
as a process by ``tests/demo``) cover the background path.
"""

from __future__ import annotations

import os

os.environ.setdefault("PM_XERO_JOBS", "inline")
