"""Calls and time to drain a backlog under Xero's real limits.

A two-organisation practice's contact sync and back-sync are enqueued, then the plugin's worker
drains them against the loopback sandbox, which enforces Xero's limits (5 concurrent, 60 calls a
minute per organisation) on its clock running at ``time_scale`` sandbox seconds per real second;
the plugin's limiter and worker read that same clock.

* ``api_calls_ratio`` = Accounting API calls the sandbox received during the drain (its exact
  counter, every outcome) / the minimum: per organisation and kind ⌈n/50⌉ for the kinds Xero
  takes in batches (contacts, invoices, credit notes, payments, overpayments) and n for credit
  note allocations, which Xero takes one per request.
* ``drain_ratio`` = sandbox seconds from the worker's start to the last row settled / the floor
  the minute limit allows for the calls made: organisations run in parallel, so the larger
  organisation's calls / 60 minutes.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.world import world

__all__ = ["bench_api"]


def bench_api(clients: int = 2000, time_scale: float = 4.0) -> dict[str, Any]:
    """One run (see the module's docstring); returns its figures."""
    from pm_xero_plugin.xero.kinds import KINDS

    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
        world(Path(tmp), clients=clients, time_scale=time_scale) as w,
    ):
        tenants = sorted(set(w.tenants.values()))
        before = {t: w.sandbox.api_calls(t) for t in tenants}
        started = w.clock.now()
        w.runtime.worker.run(until_idle=True)
        ended = w.clock.now()
        calls = {t: w.sandbox.api_calls(t) - before[t] for t in tenants}
        settled: Counter[tuple[str, str]] = Counter()
        open_rows: Counter[str] = Counter()
        for row in w.engine.ledger.counts():
            if row["state"] in ("synced", "failed"):
                settled[(row["tenant_id"], row["kind"])] += row["n"]
            if row["state"] == "failed":
                open_rows["failed"] += row["n"]
            elif row["state"] in ("ready", "sending", "retrying") or (
                row["state"] == "waiting" and row["gate"] in ("contact", "invoice")
            ):
                open_rows[row["state"]] += row["n"]
    minimum: dict[str, int] = dict.fromkeys(tenants, 0)
    for (tenant, kind), n in settled.items():
        minimum[tenant] += math.ceil(n / 50) if KINDS[kind].batchable else n
    documents = sum(n for (_, kind), n in settled.items() if kind != "contact")
    drain_s = (ended - started).total_seconds()
    floor_s = max(calls.values()) / 60 * 60
    return {
        "api_calls_ratio": sum(calls.values()) / sum(minimum.values()),
        "drain_ratio": drain_s / floor_s,
        "documents": documents,
        "contacts": sum(n for (_, kind), n in settled.items() if kind == "contact"),
        "by_kind": {f"{t}:{k}": n for (t, k), n in sorted(settled.items())},
        "calls": calls,
        "minimum_calls": minimum,
        "drain_sandbox_s": drain_s,
        "floor_sandbox_s": floor_s,
        "time_scale": time_scale,
        "unsettled": dict(open_rows),
    }


if __name__ == "__main__":
    print(json.dumps(bench_api(int(sys.argv[1]) if len(sys.argv) > 1 else 200), indent=1))
