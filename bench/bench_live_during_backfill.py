"""Live latency *during* a back-sync, at Xero's real limits (issue 9, item 4).

A two-organisation practice's contact sync and back-sync are enqueued (thousands of documents of
history), then the in-host worker thread starts draining them against the loopback sandbox,
which enforces Xero's limits (5 concurrent, 60 calls a minute per organisation) on its clock
running at ``time_scale`` sandbox seconds per real second; the plugin's limiter and worker read
that clock. While the backlog drains, the practice keeps working: every ``every_s`` sandbox
seconds it makes a new invoice and takes its payment through the host (the hooks fire),
alternating between the organisations. Each live row is timed, in sandbox seconds, from the
host call until its ledger row is ``synced``.

The same run is made twice, each in a fresh process: with live records claimed before history
(the add-on's ordering: live first, one extra slot in flight for them, history pacing its
minute budget) and with all of that switched off (every row history, claimed kind by kind and
oldest first, the budget spent in bursts: the ordering before issue 9), so the ratio is
measured on one machine, in one session. Reported: ``p95_s`` for each (bench/run.py prints
their ratio), and what drained meanwhile.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.world import World, world

__all__ = ["bench_live_during_backfill"]

_TIMEOUT_S = 900.0
"""Sandbox seconds a live row may take before the run is declared broken."""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]


_HELD = ("before_start_date", "invoice_before_start", "lock_date", "contact_name_taken")
"""Gates that keep a row until an admin acts: not part of what drains."""


def _history_left(engine: Any) -> int:
    """Documents still on their way to Xero (ready, sending, retrying, or waiting for contact
    sync or another row): the back-sync is draining while this is above zero."""
    return sum(
        r["n"]
        for r in engine.ledger.counts()
        if r["kind"] != "contact"
        and (
            r["state"] in ("ready", "sending", "retrying")
            or (r["state"] == "waiting" and r["gate"] not in _HELD)
        )
    )


def _line(k: int) -> dict[str, Any]:
    return {
        "description": f"Day care (live {k})",
        "category": "daycare",
        "quantity": "1",
        "unit_price": f"{30 + k % 7}.50",
        "tax_rate": "10",
    }


def _without_live_priority() -> None:
    """The ordering before issue 9: every row history (claimed kind by kind, oldest first) and
    the minute budget spent in bursts (no pacing of history). For this process only."""
    from pm_xero_plugin.core import intake
    from pm_xero_plugin.ledger import sqlite
    from pm_xero_plugin.xero import ratelimit

    for module, name, value in (
        (intake, "LIVE", 0),
        (sqlite, "LIVE", 0),
        (ratelimit, "PACE_BURST", 10**9),
    ):
        setattr(module, name, value)


class _LivePractice:
    """The practice working while the back-sync drains: makes the live records, and times each
    one (in sandbox seconds) from the host call until its ledger row is ``synced``."""

    def __init__(self, w: World, records: int) -> None:
        self.w = w
        self.engine = w.engine
        self.locations = sorted(w.tenants)
        self.customers = {
            loc: [c["id"] for c in w.host.iter_history("clients", loc, None)][:records]
            for loc in self.locations
        }
        self.started_at = w.clock.now()
        self.pending: dict[tuple[str, str, str], float] = {}
        self.latencies: dict[str, list[float]] = {"invoice": [], "payment": []}
        self.during = 0
        """Live records made while history was still draining."""
        self.drained_at: list[float] = []
        self._lock = threading.Lock()

    def sandbox_s(self) -> float:
        """Sandbox seconds since the worker started."""
        return float((self.w.clock.now() - self.started_at).total_seconds())

    def settle(self) -> None:
        """Time the live rows that reached Xero since the last look (a refused one ends the run)."""
        with self._lock:
            for key, created in list(self.pending.items()):
                row = self.engine.ledger.find(*key)
                if row is None or row.state not in ("synced", "failed"):
                    continue
                if row.state == "failed":
                    raise RuntimeError(f"live {key[0]} {key[1]} failed: {row.message}")
                self.latencies[key[0]].append(self.sandbox_s() - created)
                del self.pending[key]

    def watch(self) -> None:
        """Note when the back-sync's history has all drained."""
        if not self.drained_at and _history_left(self.engine) == 0:
            self.drained_at.append(self.sandbox_s())

    def make(self, k: int) -> None:
        """The ``k``-th live record: an invoice and its payment, through the host's hooks."""
        w = self.w
        loc = self.locations[k % len(self.locations)]
        tenant = w.tenants[loc]
        client_id = self.customers[loc][k // len(self.locations) % len(self.customers[loc])]
        if _history_left(self.engine) > 0:
            self.during += 1
        created = self.sandbox_s()
        invoice = w.host.create_invoice(
            {"location_id": loc, "client_id": client_id, "lines": [_line(k)]}
        )
        payment = w.host.record_payment(
            {
                "location_id": loc,
                "client_id": client_id,
                "method": "card",
                "allocations": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
            }
        )
        with self._lock:
            self.pending[("invoice", str(invoice["id"]), tenant)] = created
            self.pending[("payment", f"{payment['id']}:{invoice['id']}", tenant)] = created

    def make_all(self, records: int, every_s: float) -> None:
        """One live record every ``every_s`` sandbox seconds, timing the earlier ones meanwhile."""
        next_at = every_s
        for k in range(records):
            while self.sandbox_s() < next_at:
                self.settle()
                time.sleep(0.002)
            self.watch()
            self.make(k)
            next_at += every_s

    def wait_for_live(self) -> float:
        """Until every live record is in Xero; returns when (sandbox seconds)."""
        while self.pending:
            self.settle()
            self.watch()
            if self.sandbox_s() > _TIMEOUT_S:
                raise RuntimeError(
                    f"live rows not synced in {_TIMEOUT_S} sandbox s: {self.pending}"
                )
            time.sleep(0.005)
        return self.sandbox_s()

    def wait_for_history(self) -> float:
        """Until the back-sync has drained (or the time-out); returns when (sandbox seconds)."""
        while not self.drained_at and self.sandbox_s() < _TIMEOUT_S:
            self.watch()
            time.sleep(0.05)
        return self.drained_at[0] if self.drained_at else self.sandbox_s()


def bench_live_during_backfill(
    clients: int = 300,
    time_scale: float = 8.0,
    records: int = 20,
    every_s: float = 3.0,
    priority: bool = True,
) -> dict[str, Any]:
    """One run; ``priority=False`` measures the ordering without live priority (baseline)."""
    if not priority:
        _without_live_priority()
    with (
        tempfile.TemporaryDirectory(prefix="bench-live-backfill-") as tmp,
        world(Path(tmp), clients=clients, time_scale=time_scale) as w,
    ):
        documents = _history_left(w.engine)
        organisations = sorted(set(w.tenants.values()))
        calls_before = {t: w.sandbox.api_calls(t) for t in organisations}
        live = _LivePractice(w, records)
        w.runtime.start()  # the in-host worker thread: the back-sync starts draining
        live.make_all(records, every_s)
        live_done = live.wait_for_live()
        drained = live.wait_for_history()
        calls = {t: w.sandbox.api_calls(t) - calls_before[t] for t in organisations}
        refused = sum(
            1 for r in w.sandbox.requests if r.get("status") == 429 and r.get("tenant") in calls
        )
    every = live.latencies["invoice"] + live.latencies["payment"]
    return {
        "p95_s": _p95(every),
        "median_s": statistics.median(every),
        "max_s": max(every),
        "invoice_p95_s": _p95(live.latencies["invoice"]),
        "payment_p95_s": _p95(live.latencies["payment"]),
        "live_records": records,
        "live_made_during_backfill": live.during,
        "history_documents": documents,
        "backfill_drained_sandbox_s": round(drained, 1),
        "live_done_sandbox_s": round(live_done, 1),
        "calls_per_organisation": sorted(calls.values()),
        "refused_429": refused,
        "time_scale": time_scale,
        "priority": priority,
    }


if __name__ == "__main__":
    baseline = len(sys.argv) > 1 and sys.argv[1] == "--baseline"
    print(json.dumps(bench_live_during_backfill(priority=not baseline), indent=1))
