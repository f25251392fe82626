"""``sync_status`` on a big ledger: the dashboard must not slow down as history grows.

The ledger is filled with plain SQL in large transactions (matching the schema and keeping the
``counts`` table exact, as the ledger's own insert does), in a temporary directory; then the
plugin starts on it and ``dashboard.status.build(engine, None)`` is timed (median of several
calls). The rows are spread like a practice mid-sync: mostly synced, some waiting behind gates,
ready, retrying, and a few hundred failed and rejected rows that the dashboard lists one by one.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import LOCATIONS, TENANTS, filled_engine

__all__ = ["bench_status", "fill_ledger"]

_KINDS = ("invoice", "payment", "contact", "credit_note")


def _state_of(i: int) -> tuple[str, str | None]:
    """A mid-sync spread: 90% synced, then waiting (two gates), ready, retrying, failed,
    rejected."""
    bucket = i % 1000
    if bucket < 900:
        return "synced", None
    if bucket < 950:
        return "waiting", "contact"
    if bucket < 970:
        return "waiting", "before_start_date"
    if bucket < 990:
        return "ready", None
    if bucket < 998:
        return "retrying", None
    return ("failed", None) if bucket == 998 else ("rejected", None)


def _rows(count: int, now: float) -> Iterator[tuple[Any, ...]]:
    payload = json.dumps({"id": "x", "number": 1, "total": "100.00", "lines": [{"d": "night"}]})
    for i in range(count):
        kind = _KINDS[i % 4]
        loc = LOCATIONS[i % 2]
        tenant = TENANTS[loc] if i % 1000 != 999 else ""
        state, gate = _state_of(i)
        yield (
            kind,
            f"h-{i}",
            tenant,
            loc,
            state,
            gate,
            f"{2020 + i % 5}-0{1 + i % 9}-1{i % 10}",
            i,
            f"c-{i % 1000}" if kind != "contact" else None,
            payload,
            f"{i:040x}",
            f"X-{i}" if state == "synced" else None,
            "Xero said no" if state in ("failed", "rejected") else None,
            now,
            now,
        )


def fill_ledger(path: Path, count: int) -> None:
    """Create the ledger schema at ``path`` and put ``count`` rows in it, counts included."""
    from pm_xero_plugin.ledger import SqliteLedger

    SqliteLedger(path).close()  # schema and migrations
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a test fixture: durability is not measured here
    now = time.time()
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    chunk = 100_000
    for start in range(0, count, chunk):
        rows = list(_rows(min(chunk, count - start), now))
        rows = [(r[0], f"{r[1]}-{start}", *r[2:]) for r in rows]
        for r in rows:
            counts[(r[2], r[3], r[0], r[4], r[5] or "")] += 1
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, gate, doc_date, "
            "number, dep_contact, payload, payload_hash, xero_id, message, created_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.execute("COMMIT")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?)", [(*k, n) for k, n in counts.items()]
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def bench_status(rows: int, repeats: int = 9) -> dict[str, Any]:
    """Median milliseconds of ``dashboard.status.build(engine, None)`` over a ledger of
    ``rows`` rows."""
    from pm_xero_plugin.dashboard.status import build as build_status

    with filled_engine("bench-status-", rows, fill_ledger) as (engine, fill_seconds):
        build_status(engine, None)  # warm: first read of the file
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            status = build_status(engine, None)
            times.append((time.perf_counter() - t0) * 1000)
        total = sum(c["n"] for c in engine.ledger.counts())
    if total != rows:
        raise RuntimeError(f"ledger holds {total} rows, expected {rows}")
    return {
        "status_ms": statistics.median(times),
        "rows": rows,
        "status_ms_all": times,
        "fill_seconds": fill_seconds,
        "failures_listed": len(status.get("failures", [])),
    }


if __name__ == "__main__":
    print(json.dumps(bench_status(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
