"""Reconciliation with the host's records: its cost against just reading them.

The ledger is filled by a contact sync and a back-sync (not timed) of a synthetic practice whose
every hundredth record was hidden meanwhile; then, in the same process:

- **baseline**: every record a full pass reads, streamed through ``iter_history`` and dropped
  (what the host's side of a reconciliation costs at the least);
- **1% missing**: a full pass that finds and records the hidden records;
- **nothing to do**: the same full pass again, on a ledger that has everything;
- **incremental**: a pass from the change cursor, with a tenth of a percent of the invoices
  changed since the last one.

Each pass is reported as a ratio to the baseline (``reconcile_nothing_ratio`` is the one that
runs every 15 minutes in the worst case: a cursor the host cannot answer).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import START, TENANTS, SynthHost

__all__ = ["bench_reconcile"]

CLIENTS = 1000
HIDDEN_EVERY = 100
"""One record in this many is missing from the ledger for the "1% missing" pass."""
TOUCHED_EVERY = 1000
"""One invoice in this many is changed before the incremental pass."""


def _start(host: SynthHost) -> Any:
    """The plugin started by the host, both organisations connected (no Xero app: the ledger
    keeps everything), the contacts and history synced."""
    for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET"):
        os.environ.pop(name, None)
    os.environ["PM_XERO_JOBS"] = "inline"
    from pm_xero_plugin import plugin

    plugin.pm_startup(host=host)
    engine = plugin.get_engine()
    if engine is None:
        raise RuntimeError("the plugin did not start")
    for tenant in TENANTS.values():
        engine.ledger.set_tenant(tenant, connected=1, connection_reason=None, codes_state="ok")
    engine.reevaluate()
    plugin.start_contact_sync(location_id=None, practice_id=None)
    plugin.backfill(location_id=None, since=None, practice_id=None)
    return plugin


def _stream_all(host: SynthHost) -> int:
    """What a full pass reads from the host, read and dropped."""
    read = 0
    for _ in host.iter_history("clients", None, None):
        read += 1
    for kind in ("invoices", "credit_notes", "payments"):
        for _ in host.iter_history(kind, None, START):
            read += 1
    return read


def _timed(thunk: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = thunk()
    return time.perf_counter() - started, out


def measure(records: int, root: Path) -> dict[str, Any]:
    """Every pass on one practice of about ``records`` host records (see the module)."""
    host = SynthHost(root, invoices=records // 2, clients=CLIENTS)
    host.hidden = lambda i: i % HIDDEN_EVERY == HIDDEN_EVERY // 2
    plugin = _start(host)
    try:
        engine = plugin.get_engine()
        host.hidden = None
        baseline_s, read = _timed(lambda: _stream_all(host))
        missing_s, missing = _timed(lambda: engine.reconcile(full=True))
        nothing_s, nothing = _timed(lambda: engine.reconcile(full=True))
        host.touched = frozenset(range(0, host.invoices, TOUCHED_EVERY))
        host._now += timedelta(minutes=15)
        incremental_s, incremental = _timed(lambda: engine.reconcile())
        failures = list(engine.hook_errors)
    finally:
        plugin.pm_shutdown()
    if failures:
        raise RuntimeError(f"the set-up failed: {failures}")
    if nothing.written or incremental.full or missing.written == 0:
        raise RuntimeError(f"unexpected passes: {missing}, {nothing}, {incremental}")
    return {
        "records": read,
        "baseline_s": baseline_s,
        "missing_s": missing_s,
        "missing_written": missing.written,
        "nothing_s": nothing_s,
        "incremental_s": incremental_s,
        "incremental_read": incremental.read,
        "incremental_written": incremental.written,
        "reconcile_missing_ratio": missing_s / baseline_s,
        "reconcile_nothing_ratio": nothing_s / baseline_s,
        "reconcile_incremental_ratio": incremental_s / baseline_s,
    }


def bench_reconcile(records: int) -> dict[str, Any]:
    """:func:`measure` in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        return measure(records, Path(tmp))


if __name__ == "__main__":
    print(json.dumps(bench_reconcile(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)))
