"""Backfill throughput and memory: the plugin's ``backfill`` against a raw SQLite insert.

``backfill_ratio`` = records per second streamed through the plugin's ``backfill`` hook
(validation, stable JSON, hashing, rules, ledger rows and counts, committed in batches with a
checkpoint) divided by records per second of a raw ``executemany`` of the same records' JSON into
a plain table, in the same journal mode and ``synchronous`` setting, fed by the same generator.

``backfill_rss_mb`` runs the backfill alone in a fresh process per size (see ``run.py``) and
reports that process's peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import TENANTS, SynthHost

__all__ = ["bench_backfill", "measure_plugin", "measure_raw"]

CLIENTS = 1000


def _start_plugin(host: SynthHost) -> Any:
    """The plugin as the host starts it (no Xero app configured: records stay in the ledger)."""
    for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET"):
        os.environ.pop(name, None)
    from pm_xero_plugin import plugin

    plugin.pm_startup(host=host)
    engine = plugin.get_engine()
    if engine is None:
        raise RuntimeError("the plugin did not start")
    return plugin


def _connected(engine: Any) -> None:
    """Both organisations connected with verified account codes, as after "Connect to Xero":
    the rules then take their full path (dependencies, dates) for every record."""
    for tenant in TENANTS.values():
        engine.ledger.set_tenant(tenant, connected=1, connection_reason=None, codes_state="ok")
    engine.reevaluate()


def measure_plugin(records: int, root: Path) -> dict[str, float]:
    """Backfill ``records`` history records (half invoices, half payments); contacts are synced
    first and not timed. Returns seconds, records/s and the ledger's row count."""
    host = SynthHost(root, invoices=records // 2, clients=CLIENTS)
    plugin = _start_plugin(host)
    try:
        _connected(plugin.get_engine())
        plugin.start_contact_sync(location_id=None, practice_id=None)
        started = time.perf_counter()
        plugin.backfill(location_id=None, since=None, practice_id=None)
        seconds = time.perf_counter() - started
        engine = plugin.get_engine()
        rows = sum(c["n"] for c in engine.ledger.counts())
        failures = list(engine.hook_errors)
    finally:
        plugin.pm_shutdown()
    if failures:
        raise RuntimeError(f"backfill failed: {failures}")
    expected = CLIENTS + records
    if rows != expected:
        raise RuntimeError(f"backfill wrote {rows} rows, expected {expected}")
    return {"seconds": seconds, "per_s": records / seconds, "rows": rows}


def measure_raw(records: int, root: Path) -> dict[str, float]:
    """The baseline: the same records' JSON through one ``executemany`` in one transaction, in
    WAL with ``synchronous=FULL`` (the ledger's settings), from the same generator."""
    host = SynthHost(root, invoices=records // 2, clients=CLIENTS)
    conn = sqlite3.connect(str(root / "raw.sqlite3"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, kind TEXT, host_id TEXT, payload TEXT)")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO raw (kind, host_id, payload) VALUES (?, ?, ?)",
        ((kind, r["id"], json.dumps(r, sort_keys=True)) for kind, r in host.records()),
    )
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "per_s": records / seconds}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_backfill(records: int, repeats: int = 3) -> dict[str, Any]:
    """Plugin and raw rates for ``records`` records, measured in ``repeats`` back-to-back pairs
    (raw, then plugin); the ratio is the median of the pairs' ratios, so that a noisy
    neighbour during one pair does not decide the result."""
    pairs: list[tuple[dict[str, float], dict[str, float]]] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
            raw = measure_raw(records, Path(tmp))
        with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
            pairs.append((measure_plugin(records, Path(tmp)), raw))
    ratios = [p["per_s"] / r["per_s"] for p, r in pairs]
    return {
        "backfill_ratio": statistics.median(ratios),
        "records": records,
        "ratios": ratios,
        "plugin_per_s": [p["per_s"] for p, _ in pairs],
        "raw_per_s": [r["per_s"] for _, r in pairs],
    }


def _rss_main(records: int) -> None:
    """Child-process entry point: one backfill, then its peak RSS as JSON on stdout."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        result = measure_plugin(records, Path(tmp))
    print(json.dumps({"records": records, "peak_rss_mb": peak_rss_mb(), **result}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rss":
        _rss_main(int(sys.argv[2]))
    else:
        print(json.dumps(bench_backfill(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
