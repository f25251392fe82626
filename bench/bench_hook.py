"""The cost of a record hook: what a staff member's save pays for the add-on.

``hook_ratio`` = median time of ``on_invoice_created`` for a five-line invoice called through the
reference host's real pluggy ``PluginManager`` (the plugin validates it, applies the rules and
enqueues it durably: one committed transaction) divided by the median time of a raw SQLite
``INSERT`` + ``COMMIT`` of the same invoice's JSON, in the ledger's journal mode (WAL) and
``synchronous`` setting (FULL), on the same file system. The two are measured interleaved, call
for call, so that a noisy neighbour hurts both alike.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hook_host import hook_practice
from bench.synth import SynthHost

__all__ = ["bench_hook"]


def _ledger_pragmas(conn: sqlite3.Connection) -> tuple[str, int]:
    """The journal mode and synchronous level of a connection (the raw insert copies them)."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return str(mode), int(sync)


def bench_hook(calls: int = 300) -> dict[str, Any]:
    """Median seconds per hook call and per raw insert+commit, and their ratio."""
    from pm_xero_plugin.ledger import SqliteLedger

    with tempfile.TemporaryDirectory(prefix="bench-hook-") as tmp:
        root = Path(tmp)
        synth = SynthHost(root / "synth", invoices=calls + 20, clients=2)
        with hook_practice(root / "host", synth) as (host, engine):
            # The raw insert runs with the SQLite ledger's own durability (WAL, synchronous).
            assert isinstance(engine.ledger, SqliteLedger)
            mode, sync = _ledger_pragmas(engine.ledger._conn)

            raw = sqlite3.connect(str(root / "raw.sqlite3"), isolation_level=None)
            raw.execute(f"PRAGMA journal_mode={mode}")
            raw.execute(f"PRAGMA synchronous={sync}")
            raw.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
            hook = host.pm.hook.on_invoice_created

            for k in range(10):  # warm both paths (imports, page cache, statements)
                hook(invoice=synth.invoice(calls + k), practice_id=None)
                raw.execute("INSERT INTO raw (payload) VALUES (?)", (json.dumps({}),))

            hook_times: list[float] = []
            raw_times: list[float] = []
            for k in range(calls):
                invoice = synth.invoice(k)
                text = json.dumps(invoice, sort_keys=True, separators=(",", ":"))
                t0 = time.perf_counter()
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("INSERT INTO raw (payload) VALUES (?)", (text,))
                raw.execute("COMMIT")
                t1 = time.perf_counter()
                hook(invoice=invoice, practice_id=None)
                t2 = time.perf_counter()
                raw_times.append(t1 - t0)
                hook_times.append(t2 - t1)
            raw.close()
            stored = sum(c["n"] for c in engine.ledger.counts() if c["kind"] == "invoice")
            failures = list(host.hook_failures) + list(engine.hook_errors)
    if failures or stored != calls + 10:
        raise RuntimeError(f"hook bench: {stored} invoices stored, failures {failures}")
    hook_median = statistics.median(hook_times)
    raw_median = statistics.median(raw_times)
    return {
        "hook_ratio": hook_median / raw_median,
        "hook_ms": hook_median * 1000,
        "raw_insert_commit_ms": raw_median * 1000,
        "calls": calls,
        "journal_mode": mode,
        "synchronous": sync,
    }


if __name__ == "__main__":
    print(json.dumps(bench_hook(int(sys.argv[1]) if len(sys.argv) > 1 else 300)))
