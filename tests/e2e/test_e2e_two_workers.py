"""Two ``pm-xero worker`` processes on one data directory share the back-sync: claims (each held
by a live, beating worker, and fenced by its token) keep them from sending a row twice, and Xero
ends up with everything exactly once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def test_two_worker_processes_send_everything_exactly_once(large_world: World) -> None:
    world = large_world
    world.set_up()  # contacts synced here; the back-sync's rows wait for the workers
    assert world.open_rows() > 200
    root = world.host.data_dir("xero").parent.parent
    command = [
        sys.executable,
        "-c",
        "from pm_xero_plugin.cli.main import main; main()",
        "worker",
        "--once",
        "--max-seconds",
        "40",
        "--data-dir",
        str(root),
    ]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=50) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    synced = [int(out.split("synced ")[1].split(",")[0]) for out, _ in outputs]
    assert all(n > 0 for n in synced), outputs  # both took part

    check_books(world, expected(world, START_DATE))
    assert world.open_rows() == 0
