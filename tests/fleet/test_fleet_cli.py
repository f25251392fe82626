"""``pm-xero worker --data-dir ROOT`` as a process, on a many-practice host's root: one process
serves every practice over HTTP to a served sandbox, and ends with its one-line summary."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fleet_roots import FleetRoot, make_fleet
from support.cli_process import PM_XERO, cli_env, pm_xero

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.host_settings import environment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def served_fleet(tmp_path: Path) -> Iterator[tuple[FleetRoot, dict[str, str]]]:
    """Two practices on a sandbox served on loopback, and the environment that reaches it."""
    sandbox = Sandbox(orgs=4)
    with sandbox.serve(port=0) as server:
        fleet = make_fleet(tmp_path / "fleet", 2, transport=False, url=server.url, sandbox=sandbox)
        env = environment(server.url, sandbox.client_id, sandbox.client_secret)
        yield fleet, env


def test_one_worker_process_serves_every_practice_of_the_root(
    served_fleet: tuple[FleetRoot, dict[str, str]],
) -> None:
    fleet, env = served_fleet
    run = pm_xero("worker", "--data-dir", fleet.root, "--once", "--max-seconds", "90", env=env)

    assert run.returncode == 0, run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("pm-xero worker: synced 18, failed 2, retrying 0,"), run.stdout
    assert summary.endswith("; 2 practices")
    assert "PM_XERO_LEDGER=postgresql://" in run.stderr  # one process on SQLite: said so
    assert "Traceback" not in run.stderr
    for practice_id in fleet.practice_ids:
        assert fleet.open_rows(practice_id) == 0
        tenant = fleet.tenants[practice_id]["syd"]
        tag = fleet.tag(practice_id)
        assert sorted(fleet.numbers_in(tenant)) == sorted(
            f"{tag}{n}" for n in ("C1", "C2", "INV2", "INV3", "CN1", "PAY2")
        )


def test_an_unknown_practice_is_named_with_the_known_ones(
    served_fleet: tuple[FleetRoot, dict[str, str]],
) -> None:
    fleet, env = served_fleet
    run = pm_xero("worker", "--data-dir", fleet.root, "--practice", "practice-7", "--once", env=env)

    assert run.returncode == 2
    assert "unknown practice practice-7" in run.stderr
    assert "known: practice-1, practice-2" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_busy_metrics_port_ends_the_worker_in_one_line(
    served_fleet: tuple[FleetRoot, dict[str, str]],
) -> None:
    fleet, env = served_fleet
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = pm_xero("worker", "--data-dir", fleet.root, "--metrics-port", port, "--once", env=env)

    assert run.returncode == 1
    assert f"the metrics port 127.0.0.1:{port} is already in use" in run.stderr
    assert "Traceback" not in run.stderr
    assert fleet.open_rows("practice-1") == 3  # nothing was sent


def test_practice_options_need_a_fleet_root(
    served_fleet: tuple[FleetRoot, dict[str, str]],
) -> None:
    fleet, env = served_fleet
    one = fleet.folder("practice-1")
    run = pm_xero("worker", "--data-dir", one, "--practice", "practice-1", "--once", env=env)

    assert run.returncode == 2
    assert "need a many-practice host's root" in run.stderr


def test_a_batch_stuck_past_stop_seconds_is_left_to_the_next_worker(
    served_fleet: tuple[FleetRoot, dict[str, str]],
) -> None:
    fleet, env = served_fleet
    sandbox = fleet.sandbox
    tenants = [t for p in fleet.practice_ids for t in fleet.tenants[p].values()]
    gate = threading.Event()
    sandbox.requests.clear()
    args = ["worker", "--data-dir", str(fleet.root), "--threads", "1", "--stop-seconds", "1"]
    worker = subprocess.Popen(
        [*PM_XERO, *args],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: {r["tenant"] for r in list(sandbox.requests)} >= set(tenants))
        for tenant in tenants:  # Xero holds every request from now on
            sandbox.faults(tenant).gate = gate
        assert wait_for(lambda: any(sandbox.in_flight(t) for t in tenants))
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)  # not waiting for the stuck request
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        gate.set()  # Xero answers the request nobody waits for any more
    for tenant in tenants:
        sandbox.faults(tenant).gate = None

    assert worker.returncode == 0, err
    assert "still in flight 1 s after the stop; leaving them to the other workers" in err
    assert out.strip().splitlines()[-1].startswith("pm-xero worker: synced ")
    states = fleet_states(fleet)
    assert 0 < states.get("sending", 0) <= 2  # only the stuck batch (one thread) stays claimed
    assert states.get("ready", 0) == 6 - states["sending"]  # the queued ones went back at once
    # the next worker finds the abandoned rows' owner gone, looks them up in Xero, sends the rest
    run = pm_xero("worker", "--data-dir", fleet.root, "--once", "--max-seconds", "60", env=env)
    assert run.returncode == 0, run.stderr
    for practice_id in fleet.practice_ids:
        assert fleet.open_rows(practice_id) == 0
        numbers = fleet.numbers_in(fleet.tenants[practice_id]["syd"])
        assert len(numbers) == len(set(numbers)) == 6, numbers


def wait_for(done: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.005)
    return done()


def fleet_states(fleet: FleetRoot) -> dict[str, int]:
    """Rows by state over every practice's ledger."""
    from pm_xero_plugin.core.gates import open_ledger

    found: dict[str, int] = {}
    for practice_id in fleet.practice_ids:
        led = open_ledger(fleet.folder(practice_id) / "plugins" / "xero" / "ledger.sqlite3")
        try:
            for count in led.counts():
                found[count["state"]] = found.get(count["state"], 0) + int(count["n"])
        finally:
            led.close()
    return found
