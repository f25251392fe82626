"""The fleet's drain under Xero's limits, with 1, 2 and 4 ``pm-xero worker`` processes.

A fleet of practices – the fleet end-to-end test's own plan and set-up
(``tests/support/fleet_world.py``: one or two organisations a practice, a few busy ones) – on
the many-practice reference host with the PostgreSQL ledger, every practice's contact sync and
back-sync enqueued; ``pm-xero sandbox`` is served on loopback at Xero's real limits on its own
clock at one sandbox second a second (the workers' limits are kept on real time, so a time scale
would only loosen the sandbox). Then N workers on the fleet's root drain it, each drain on a
fresh fleet in a fresh process. Figures, each against a baseline measured in the same run:

* ``drain_ratio`` (4 workers): seconds from the workers' start until no row is on its way / the
  floor Xero's limits set – the calls the busiest organisation needed (counted by the sandbox
  during the drain) at 60 a minute: organisations drain side by side, the slowest decides. A
  client that spends a whole minute's budget at once can come in under it (by less than a
  minute); one that waits for nothing it need not wait for stays near 1.
* ``cpu_ms_per_document``: the workers' CPU (user + sys, from the resource usage of the reaped
  worker processes) / the documents synced (rows other than contacts; per row in ``details``).
* ``drain_s_by_workers`` and ``speedup_4_vs_1`` = the 1-worker drain / the 4-worker drain.

``python bench/bench_fleet.py [--quick]`` runs it alone and prints the figures; ``bench/run.py``
runs it with the others. ``--quick`` (~90 s) drains a smaller fleet whose busiest organisation
needs less than a minute of Xero's budget, so its ``drain_ratio`` shows headroom under the floor
rather than how close a drain can come to it; the full run's busy organisations need more than one.

The test support it shares is imported from ``tests/`` at run time (as pytest imports it): the
test and the bench measure one and the same fleet.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

__all__ = ["bench_fleet", "bench_fleet_once"]

SIZES: dict[str, dict[str, int]] = {
    "full": {"practices": 100, "busy": 2, "busy_clients": 150},  # busiest: ~78 calls
    "quick": {"practices": 20, "busy": 1, "busy_clients": 80},  # busiest: ~40 calls
}
WORKER_COUNTS = (1, 2, 4)
WORKER_ARGS = ("--batch-size", "5", "--lease-seconds", "30", "--metrics-port", "0")
"""Batches of 5 elements, so a practice's calls are many enough to meet Xero's minute."""
DRAIN_TIMEOUT_S = 600.0


def _support(name: str) -> ModuleType:
    """``support.<name>`` from the test suite (``tests/`` on the path, as pytest puts it)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    os.environ.setdefault("PM_XERO_JOBS", "inline")  # the admin's actions run in the hook
    return importlib.import_module(f"support.{name}")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_fleet_once(workers: int, practices: int, busy: int, busy_clients: int) -> dict[str, Any]:
    """One drain by ``workers`` workers of a fresh fleet (in this process: the add-on serves one
    host per process); returns its figures."""
    import httpx

    from pm_xero_plugin.sandbox.spec_location import find_xero_spec

    fleet_world = _support("fleet_world")
    postgres = _support("postgres")
    spec = find_xero_spec()
    if spec is None:
        raise RuntimeError("Xero's OpenAPI spec is needed: set XERO_OPENAPI_SPEC")
    plans = fleet_world.plan_fleet(practices, busy=busy, busy_clients=busy_clients)
    with (
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp,
        postgres.fresh_database() as ledger_url,
        fleet_world.served_sandbox(fleet_world.organisations_needed(plans), str(spec)) as sandbox,
    ):
        os.environ.update(sandbox.app_environment())
        os.environ["PM_XERO_LEDGER"] = ledger_url
        os.environ["PM_XERO_WORKER"] = "off"
        root = Path(tmp) / "fleet"
        started = time.perf_counter()
        with fleet_world.running_fleet(root, plans, sandbox.tenants) as fleet:
            set_up_s = time.perf_counter() - started
            rows = fleet.open_rows()
            httpx.delete(sandbox.url + "/sandbox/limits/peaks", timeout=30).raise_for_status()
            pool = fleet_world.Workers(
                ["--data-dir", str(root), *WORKER_ARGS],
                fleet_world.worker_environment(sandbox, {"PM_XERO_LEDGER": ledger_url}),
                Path(tmp) / "logs",
            )
            cpu_before = _children_cpu_s()
            began = time.monotonic()
            pool.start(workers)
            try:
                drained = fleet_world.wait_until(
                    lambda: fleet.open_rows() == 0, DRAIN_TIMEOUT_S, every=0.25
                )
                drain_s = time.monotonic() - began
            finally:
                codes = pool.stop()
            cpu_s = _children_cpu_s() - cpu_before
            if not drained:
                raise RuntimeError(f"not drained in {DRAIN_TIMEOUT_S} s:\n{pool.output()}")
            peaks = sandbox.peaks()
            synced = fleet.synced()
            fleet.check_books(sandbox.books())  # what the drain did is right, or no figures
    calls = {t: p["calls"] for t, p in peaks.items()}
    documents = sum(n for kind, n in synced.items() if kind != "contact")
    floor_s = max(calls.values()) / 60 * 60
    return {
        "workers": workers,
        "drain_s": drain_s,
        "floor_s": floor_s,
        "drain_ratio": drain_s / floor_s,
        "cpu_s": cpu_s,
        "documents": documents,
        "rows": rows,
        "cpu_ms_per_document": 1000 * cpu_s / max(1, documents),
        "cpu_ms_per_row": 1000 * cpu_s / max(1, sum(synced.values())),
        "calls": sum(calls.values()),
        "busiest_calls": max(calls.values()),
        "organisations": len(calls),
        "practices": practices,
        "peak_in_flight": max(p["peak_in_flight"] for p in peaks.values()),
        "peak_per_minute": max(p["peak_per_minute"] for p in peaks.values()),
        "set_up_s": set_up_s,
        "exit_codes": codes,
    }


def _once_in_child(workers: int, size: dict[str, int], env: dict[str, str]) -> dict[str, Any]:
    """`bench_fleet_once` in a fresh interpreter (the add-on's state is per process)."""
    args = ", ".join(f"{k}={v!r}" for k, v in {"workers": workers, **size}.items())
    code = (
        "import json; from bench.bench_fleet import bench_fleet_once; "
        f"print(json.dumps(bench_fleet_once({args})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {workers}-worker drain failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_fleet(practices: int = 100, busy: int = 2, busy_clients: int = 150) -> dict[str, Any]:
    """The drains by 1, 2 and 4 workers (see the module's docstring), on one PostgreSQL server
    (the tests' own: ``PM_XERO_TEST_POSTGRES``, else a private one for the run)."""
    postgres = _support("postgres")
    env = dict(os.environ)
    env[postgres.ENV] = postgres.server_url()
    size = {"practices": practices, "busy": busy, "busy_clients": busy_clients}
    try:
        runs = {n: _once_in_child(n, size, env) for n in WORKER_COUNTS}
    finally:
        postgres.stop_server()
    four = runs[4]
    return {
        "drain_ratio": four["drain_ratio"],
        "cpu_ms_per_document": four["cpu_ms_per_document"],
        "drain_s_by_workers": {str(n): round(r["drain_s"], 1) for n, r in runs.items()},
        "speedup_4_vs_1": runs[1]["drain_s"] / four["drain_s"],
        "runs": {str(n): r for n, r in runs.items()},
    }


def _print(results: dict[str, Any]) -> None:
    four = results["runs"]["4"]
    print(
        f"fleet: {four['practices']} practices, {four['organisations']} organisations, "
        f"{four['documents']} documents, busiest organisation {four['busiest_calls']} calls"
    )
    print(
        f"  drain (4 workers) {four['drain_s']:.1f} s / floor {four['floor_s']:.1f} s = "
        f"{results['drain_ratio']:.3f} (target <= 1.10)"
    )
    print(f"  add-on CPU per synced document: {results['cpu_ms_per_document']:.2f} ms")
    one = results["runs"]["1"]["drain_s"]
    for n, run in results["runs"].items():
        print(
            f"  {n} worker(s): drain {run['drain_s']:.1f} s = {run['drain_s'] / one:.2f} x the "
            f"1-worker drain, {run['drain_ratio']:.2f} x the floor; CPU {run['cpu_s']:.1f} s; "
            f"peaks {run['peak_in_flight']} in flight, {run['peak_per_minute']} a minute"
        )


def main(argv: list[str] | None = None) -> int:
    """``python bench/bench_fleet.py [--quick]``: the drains, their figures printed and as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller fleet (~90 s)")
    args = parser.parse_args(argv)
    results = bench_fleet(**SIZES["quick" if args.quick else "full"])
    _print(results)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
