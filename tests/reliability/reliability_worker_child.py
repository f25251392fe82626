"""A ``pm-xero worker`` process with two knobs the CLI does not expose, for the crash test.

    python reliability_worker_child.py DATA_DIR CLOCK_OFFSET_SECONDS [--until-idle]

It opens the data directory exactly as ``pm-xero worker`` does (``open_data_dir``, the Xero app
from ``PM_XERO_*``) and runs the real :class:`~pm_xero_plugin.sync.worker.Worker` on the runtime's
sender, with:

* ``batch_size=10`` – more batches, so more points at which a kill can land;
* the host clock shifted by ``CLOCK_OFFSET_SECONDS``: the test gives every restarted process a
  later clock (as if the operator restarted it some minutes after the crash), so that retries
  the killed process scheduled are due at once. The rows it held in ``sending`` need no clock:
  the next process takes them because the killed one's pid is gone from this machine
  (:mod:`pm_xero_plugin.sync.leases`), and looks them up in Xero before re-sending.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pm_xero_plugin.cli.ops import open_data_dir
from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime
from pm_xero_plugin.sync.worker import Worker


def main() -> int:
    data_dir = Path(sys.argv[1])
    offset = timedelta(seconds=float(sys.argv[2]))
    until_idle = "--until-idle" in sys.argv[3:]
    config = AppConfig.from_env()
    assert config is not None, "PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET not set"

    with open_data_dir(data_dir) as opened:
        opened.host.clock = _ShiftedClock(offset)  # the engine and sender read host.now()
        runtime = XeroRuntime(
            opened.engine,
            config,
            secret=opened.host.secret("xero"),
            data_dir=opened.host.data_dir("xero"),
            worker_threads=2,
        )
        runtime.worker = Worker(
            opened.engine.ledger,
            runtime.sender,
            now=opened.host.now,
            doorbell=opened.engine.doorbell,
            threads=2,
            batch_size=10,
            limiter=runtime.limiter,
            tick=opened.engine.tick,
        )
        try:
            runtime.refresh_connections()
            print("ready", flush=True)
            stats = runtime.worker.run(until_idle=until_idle, max_seconds=60.0)
        finally:
            runtime.stop()
    print(f"done synced={stats.synced} failed={stats.failed} retrying={stats.retrying}", flush=True)
    return 0


class _ShiftedClock:
    """The real clock, ``offset`` later."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


if __name__ == "__main__":
    sys.exit(main())
