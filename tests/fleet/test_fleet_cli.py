"""``pm-xero worker --data-dir ROOT`` as a process, on a many-practice host's root: one process
serves every practice over HTTP to a served sandbox, and ends with its one-line summary."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_roots import FleetRoot, make_fleet
from support.cli_process import pm_xero

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
