"""Issue 6's benchmarks (and issue 9's live latency during a back-sync): ``python bench/run.py``
(full, up to ~10 min) or ``--quick`` (CI, < 2 min).

Every target is a ratio against a baseline measured in the same run, or a bound that does not
depend on the machine's speed, because these machines are noisy. Each benchmark runs in a fresh
process (peak RSS is per process: one process per backfill size). Prints a table and writes
``bench/results.json``: every key of ``TARGETS``, plus ``details`` (baselines, sizes, ``quick``).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The benchmarks time the add-on's own work inside the hook: long admin actions (backfill) run
# inline here, not on the job thread production uses. Subprocesses inherit this.
os.environ.setdefault("PM_XERO_JOBS", "inline")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "hook_calls": 300,
        "backfill_records": 100_000,
        "backfill_repeats": 3,
        "rss_records": [10_000, 100_000, 1_000_000],
        "api_clients": 1870,  # about 20,000 documents over two organisations
        "api_time_scale": 4.0,
        "live_records": 50,
        "status_rows": 1_000_000,
        "dashboard_rows": 1_000_000,
        "reconcile_records": 100_000,
        # live latency during a back-sync: ~3,400 documents of history over two organisations
        "backfill_live_clients": 300,
        "backfill_live_time_scale": 2.0,
        "backfill_live_records": 30,
        # the fleet: 1, 2 and 4 pm-xero worker processes on PostgreSQL (bench_fleet.SIZES)
        "fleet": {"practices": 100, "busy": 2, "busy_clients": 150},
        "claim_pg_rows": 10_000_000,  # PostgreSQL ledger rows for the claim latency
        # reconciliation with Xero's books: documents in one organisation, sandbox time scale
        "books_documents": 50_000,
        "books_time_scale": 2.0,
    },
    "quick": {
        "hook_calls": 200,
        "backfill_records": 20_000,
        "backfill_repeats": 3,
        "rss_records": [2_000, 10_000, 50_000],
        "api_clients": 170,  # about 2,000 documents
        "api_time_scale": 10.0,
        "live_records": 50,
        "status_rows": 100_000,
        "dashboard_rows": 100_000,
        "reconcile_records": 10_000,
        "backfill_live_clients": 300,
        "backfill_live_time_scale": 4.0,
        "backfill_live_records": 16,
        "fleet": {"practices": 20, "busy": 1, "busy_clients": 80},
        "claim_pg_rows": 200_000,
        "books_documents": 20_000,
        "books_time_scale": 2.0,
    },
}

TARGETS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "hook_ratio": ("≤ 2.0", lambda v: v <= 2.0),
    "hook_locked_p99_ratio": ("≤ 2.0 (lock held by another process)", lambda v: v <= 2.0),
    "hook_locked_p99_ms": ("≤ 500 ms", lambda v: v <= 500.0),
    "hook_locked_max_ms": ("≤ 500 ms (the first waits 250 ms)", lambda v: v <= 500.0),
    "backfill_ratio": ("≥ 0.5", lambda v: v >= 0.5),
    "backfill_rss_mb": ("largest ≤ 1.2 × smallest", lambda v: _flat(v)),
    "api_calls_ratio": ("≤ 1.05", lambda v: v <= 1.05),
    "drain_ratio": ("≤ 1.10", lambda v: v <= 1.10),
    "live_latency_p95_s": ("≤ 2 s", lambda v: v <= 2.0),
    "live_during_backfill_p95_s": ("≤ 5 s", lambda v: v <= 5.0),
    "live_during_backfill_vs_baseline": ("< 1 (today's ordering = 1)", lambda v: v < 1.0),
    "status_ms_1m": ("≤ 50 ms", lambda v: v <= 50.0),
    "dashboard_pages_max_ms_1m": ("≤ 100 ms (server time, slowest page)", lambda v: v <= 100.0),
    "reconcile_nothing_ratio": ("≤ 8 (full pass, nothing to do)", lambda v: v <= 8.0),
    "reconcile_missing_ratio": ("≤ 10 (full pass, 1% missing)", lambda v: v <= 10.0),
    "reconcile_incremental_ratio": ("≤ 0.1 (from the cursor)", lambda v: v <= 0.1),
    "fleet_drain_ratio": ("≤ 1.10 (4 workers, to Xero's floor)", lambda v: v <= 1.10),
    "fleet_cpu_ms_per_document": ("measured (the workers' CPU)", lambda v: v > 0),
    "fleet_speedup_4_vs_1": ("measured (1-worker drain / 4-worker)", lambda v: v > 0),
    "claim_pg_ratio": ("≤ 2.0 (PostgreSQL claim amid 10M rows / 10k)", lambda v: v <= 2.0),
    "claim_pg_p50_ms": ("measured (claim + release, small practice)", lambda v: v > 0),
    "books_full_calls_per_1000": ("≤ 3 (Xero's books read in full)", lambda v: v <= 3.0),
    "books_full_calls_50k": ("≤ 1,000 (the default 20% of a day's 5,000)", lambda v: v <= 1000),
    "books_full_minutes_50k": ("≤ 10 min (Xero's real limits, sandbox time)", lambda v: v <= 10.0),
    "books_incremental_calls_per_1000": ("≤ 0.5 (1% changed in Xero)", lambda v: v <= 0.5),
    "books_webhook_calls_1000": ("measured (1,000 events handled)", lambda v: v > 0),
    "books_compare_cpu_s_50k": ("measured (the comparison alone, CPU)", lambda v: v > 0),
}


def _flat(rss: dict[str, float]) -> bool:
    sizes = sorted(rss, key=int)
    return rss[sizes[-1]] <= 1.2 * rss[sizes[0]]


def _child(code: str) -> dict[str, Any]:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{code}\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def _call(module: str, function: str, **kwargs: Any) -> dict[str, Any]:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return _child(
        f"import json; from bench.{module} import {function}; print(json.dumps({function}({args})))"
    )


def run(quick: bool) -> dict[str, Any]:
    """Every benchmark, each in a fresh process; returns their results and timings."""
    size = SIZES["quick" if quick else "full"]
    details: dict[str, Any] = {"quick": quick, "sizes": size}
    timings: dict[str, float] = {}

    def timed(name: str, thunk: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        out = thunk()
        timings[name] = round(time.perf_counter() - started, 2)
        print(f"  {name}: done in {timings[name]} s", file=sys.stderr)
        return out

    hook = timed("hook", lambda: _call("bench_hook", "bench_hook", calls=size["hook_calls"]))
    hook_locked = timed(
        "hook, ledger locked",
        lambda: _call("bench_hook_locked", "bench_hook_locked", calls=size["hook_calls"]),
    )
    backfill = timed(
        "backfill",
        lambda: _call(
            "bench_backfill",
            "bench_backfill",
            records=size["backfill_records"],
            repeats=size["backfill_repeats"],
        ),
    )
    rss: dict[str, float] = {}
    rss_runs: dict[str, Any] = {}
    for records in size["rss_records"]:
        code = f"from bench.bench_backfill import _rss_main; _rss_main({records})"
        out = timed(f"rss {records}", functools.partial(_child, code))
        rss[str(records)] = round(out["peak_rss_mb"], 1)
        rss_runs[str(records)] = out
    api = timed(
        "api",
        lambda: _call(
            "bench_api", "bench_api", clients=size["api_clients"], time_scale=size["api_time_scale"]
        ),
    )
    live = timed("live", lambda: _call("bench_live", "bench_live", records=size["live_records"]))
    during = {
        "clients": size["backfill_live_clients"],
        "time_scale": size["backfill_live_time_scale"],
        "records": size["backfill_live_records"],
    }
    # The same run twice, each in a fresh process: live priority on, and off (the baseline).
    backfill_live = timed(
        "live during back-sync",
        lambda: _call("bench_live_during_backfill", "bench_live_during_backfill", **during),
    )
    backfill_live_base = timed(
        "live during back-sync, baseline",
        lambda: _call(
            "bench_live_during_backfill", "bench_live_during_backfill", priority=False, **during
        ),
    )
    status = timed(
        "status", lambda: _call("bench_status", "bench_status", rows=size["status_rows"])
    )
    dashboard = timed(
        "dashboard pages",
        lambda: _call("bench_dashboard", "bench_dashboard", rows=size["dashboard_rows"]),
    )
    reconcile = timed(
        "reconcile",
        lambda: _call("bench_reconcile", "bench_reconcile", records=size["reconcile_records"]),
    )
    fleet = timed("fleet", lambda: _call("bench_fleet", "bench_fleet", **size["fleet"]))
    claim_pg = timed(
        "claim on PostgreSQL",
        lambda: _call("bench_claim_pg", "bench_claim_pg", rows=size["claim_pg_rows"]),
    )
    books = timed(
        "reconciliation with Xero's books",
        lambda: _call(
            "bench_books",
            "bench_books",
            documents=size["books_documents"],
            time_scale=size["books_time_scale"],
        ),
    )

    details.update(
        hook=hook,
        hook_locked=hook_locked,
        backfill=backfill,
        backfill_rss=rss_runs,
        api=api,
        live=live,
        live_during_backfill=backfill_live,
        live_during_backfill_baseline=backfill_live_base,
        status=status,
        dashboard=dashboard,
        reconcile=reconcile,
        fleet=fleet,
        claim_pg=claim_pg,
        books=books,
        seconds=timings,
    )
    return {
        "hook_ratio": round(hook["hook_ratio"], 3),
        "hook_locked_p99_ratio": round(hook_locked["hook_locked_p99_ratio"], 3),
        "hook_locked_p99_ms": round(hook_locked["hook_locked_p99_ms"], 2),
        "hook_locked_max_ms": round(hook_locked["hook_locked_max_ms"], 1),
        "backfill_ratio": round(backfill["backfill_ratio"], 3),
        "backfill_rss_mb": rss,
        "api_calls_ratio": round(api["api_calls_ratio"], 3),
        "drain_ratio": round(api["drain_ratio"], 3),
        "live_latency_p95_s": round(live["live_latency_p95_s"], 4),
        "live_during_backfill_p95_s": round(backfill_live["p95_s"], 2),
        "live_during_backfill_vs_baseline": round(
            backfill_live["p95_s"] / backfill_live_base["p95_s"], 3
        ),
        "status_ms_1m": round(status["status_ms"], 2),
        "dashboard_pages_max_ms_1m": round(dashboard["dashboard_max_ms"], 2),
        "reconcile_nothing_ratio": round(reconcile["reconcile_nothing_ratio"], 3),
        "reconcile_missing_ratio": round(reconcile["reconcile_missing_ratio"], 3),
        "reconcile_incremental_ratio": round(reconcile["reconcile_incremental_ratio"], 4),
        "fleet_drain_ratio": round(fleet["drain_ratio"], 3),
        "fleet_cpu_ms_per_document": round(fleet["cpu_ms_per_document"], 2),
        "fleet_speedup_4_vs_1": round(fleet["speedup_4_vs_1"], 2),
        "claim_pg_ratio": round(claim_pg["claim_ratio"], 3),
        "claim_pg_p50_ms": round(claim_pg["claim_p50_ms"], 2),
        "books_full_calls_per_1000": round(books["full_calls_per_1000"], 3),
        "books_full_calls_50k": books["full_calls"],
        "books_full_minutes_50k": round(books["full_sandbox_s"] / 60, 2),
        "books_incremental_calls_per_1000": round(books["incremental_calls_per_1000"], 3),
        "books_webhook_calls_1000": books["events_calls"],
        "books_compare_cpu_s_50k": round(books["compare_cpu_s"], 3),
        "details": details,
    }


def _table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    quick = results["details"]["quick"]
    table = Table(
        title="pm-xero-plugin benchmarks" + (" (--quick: reduced sizes)" if quick else "")
    )
    for column in ("key", "value", "target", "result"):
        table.add_column(column)
    for key, (target, ok) in TARGETS.items():
        value = results[key]
        shown = json.dumps(value) if isinstance(value, dict) else str(value)
        verdict = "[green]ok[/]" if ok(value) else "[red]MISSED[/]"
        table.add_row(key, shown, target, verdict)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """``python bench/run.py [--quick] [--output FILE]``: run, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="reduced sizes for CI (< 2 min)")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args.quick)
    results["details"]["total_seconds"] = round(time.perf_counter() - started, 1)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    _table(results)
    print(f"wrote {args.output} in {results['details']['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
