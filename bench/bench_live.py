"""Live latency: a record created in the host reaches Xero how fast, with nothing queued ahead?

The plugin's worker runs as a thread inside the host (the in-host mode); the sandbox is served on
loopback with Xero's real limits and a real-time clock. After the practice's backlog is drained,
invoices are created one at a time through the host (``RefHost.create_invoice`` fires
``on_invoice_created``), alternating between the two organisations, and each is timed from the
call until its ledger row is ``synced`` (Xero answered with its id).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.world import world

__all__ = ["bench_live"]

_TIMEOUT_S = 30.0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]


def bench_live(records: int = 50, clients: int = 20) -> dict[str, Any]:
    """One run (see the module's docstring); returns its figures."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-live-") as tmp,
        world(Path(tmp), clients=clients, time_scale=1.0) as w,
    ):
        w.runtime.worker.run(until_idle=True)  # the backlog first: nothing queued ahead
        w.runtime.start()  # the in-host worker thread
        customers = {
            loc: next(iter(w.host.iter_history("clients", loc, None)))["id"] for loc in w.tenants
        }
        locations = sorted(w.tenants)
        latencies: list[float] = []
        for k in range(records):
            loc = locations[k % len(locations)]
            invoice = {
                "id": f"live-{k}",
                "location_id": loc,
                "client_id": customers[loc],
                "reference": f"live {k}",
                "lines": [
                    {
                        "description": f"Day care {j}",
                        "category": "daycare",
                        "quantity": "1",
                        "unit_price": f"{20 + j}.50",
                        "tax_rate": "10",
                    }
                    for j in range(5)
                ],
            }
            started = time.perf_counter()
            w.host.create_invoice(invoice)
            while True:
                row = w.engine.ledger.find("invoice", f"live-{k}", w.tenants[loc])
                if row is not None and row.state in ("synced", "failed"):
                    break
                if time.perf_counter() - started > _TIMEOUT_S:
                    raise RuntimeError(f"invoice live-{k} not synced in {_TIMEOUT_S} s")
                time.sleep(0.002)
            if row.state != "synced":
                raise RuntimeError(f"invoice live-{k} failed: {row.message}")
            latencies.append(time.perf_counter() - started)
    return {
        "live_latency_p95_s": _p95(latencies),
        "median_s": statistics.median(latencies),
        "max_s": max(latencies),
        "records": records,
    }


if __name__ == "__main__":
    print(json.dumps(bench_live(int(sys.argv[1]) if len(sys.argv) > 1 else 50)))
