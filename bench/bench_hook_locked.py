"""What a staff member's save pays while another process holds the ledger's write lock.

A backup tool, a second add-on or an operator's ``sqlite3`` shell can hold the ledger's write
lock for as long as it likes; the hook must still return at once (it waits at most
:data:`pm_xero_plugin.core.handoff.HOOK_WAIT`, then keeps the record in the spool for the
background thread). ``hook_locked_p99_ratio`` = p99 of ``on_invoice_created`` (a five-line
invoice, through the reference host's real pluggy ``PluginManager``) while a subprocess holds
``BEGIN IMMEDIATE`` on the ledger, divided by the p99 of the same hook unlocked, measured in the
same run just before. ``hook_locked_p99_ms`` is the absolute p99 and ``hook_locked_max_ms`` the
slowest call: the first hook of the episode, which waits ``HOOK_WAIT`` before it keeps its record
(every later one queues behind it at once). After the lock is released every record must land
in the ledger (the benchmark fails otherwise).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hook_host import hook_practice
from bench.synth import SynthHost

__all__ = ["bench_hook_locked"]

_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""
"""Another process: holds the ledger's write lock until its stdin closes."""


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


def _timed_calls(hook: Any, invoices: list[dict[str, Any]]) -> list[float]:
    times: list[float] = []
    for invoice in invoices:
        started = time.perf_counter()
        hook(invoice=invoice, practice_id=None)
        times.append(time.perf_counter() - started)
    return times


def _hold(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        raise RuntimeError("the lock holder did not take the ledger's write lock")
    return holder


def bench_hook_locked(calls: int = 200) -> dict[str, Any]:
    """p99 of a record hook with the ledger's write lock held by another process, against the
    same hook's p99 unlocked, and the slowest locked call."""
    from pm_xero_plugin import plugin
    from pm_xero_plugin.ledger import SqliteLedger

    with tempfile.TemporaryDirectory(prefix="bench-hook-locked-") as tmp:
        root = Path(tmp)
        synth = SynthHost(root / "synth", invoices=2 * calls + 20, clients=2)
        with hook_practice(root / "host", synth) as (host, engine):
            assert isinstance(engine.ledger, SqliteLedger)  # the lock is held on its file
            hook = host.pm.hook.on_invoice_created
            _timed_calls(hook, [synth.invoice(2 * calls + k) for k in range(10)])  # warm up

            unlocked = _timed_calls(hook, [synth.invoice(k) for k in range(calls)])
            holder = _hold(engine.ledger.path)
            try:
                locked = _timed_calls(hook, [synth.invoice(calls + k) for k in range(calls)])
            finally:
                assert holder.stdin is not None
                holder.stdin.close()
                holder.wait(timeout=60)
            landed = plugin.wait_for_records(timeout=300)
            stored = sum(c["n"] for c in engine.ledger.counts() if c["kind"] == "invoice")
            failures = list(host.hook_failures)
    if failures or not landed or stored != 2 * calls + 10:
        raise RuntimeError(
            f"locked hook bench: {stored} invoices stored of {2 * calls + 10}, all landed: "
            f"{landed}, failures {failures}"
        )
    return {
        "hook_locked_p99_ratio": _p99(locked) / _p99(unlocked),
        "hook_locked_p99_ms": _p99(locked) * 1000,
        "hook_locked_max_ms": max(locked) * 1000,
        "hook_unlocked_p99_ms": _p99(unlocked) * 1000,
        "hook_locked_median_ms": statistics.median(locked) * 1000,
        "hook_unlocked_median_ms": statistics.median(unlocked) * 1000,
        "calls": calls,
    }


if __name__ == "__main__":
    print(json.dumps(bench_hook_locked(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))
