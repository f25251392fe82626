"""kill -9 of worker processes at seeded points during a back-sync loses and duplicates nothing.

One sandbox is served on loopback by the test process and lives through every kill (real HTTP:
a request in flight when its client dies is still handled and committed by the sandbox – the
"crash after send" case). The data directory is prepared once (host stopped, rows queued); then
worker processes are started and SIGKILLed, each after a seeded number of further sandbox calls
(0–3) or a seeded delay (landing between requests: after a claim, between ``mark_sent`` and the
request, while settling answers). Finally one worker runs to completion and the sandbox must hold
every eligible host record exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.reliability_practice import (
    Prepared,
    app_env,
    exactly_once_problems,
    expected,
    found_in,
    ledger_problems,
    make_sandbox,
    open_rows,
    prepare,
)

CHILD = Path(__file__).with_name("reliability_worker_child.py")
SEED = 20251125
KILLS = 24
GENERATION = 600.0
"""Seconds each restarted worker's clock runs ahead of the previous one, so the retries a killed
one scheduled are due at once (what it held in sending is taken because its pid is gone, not by
any clock)."""


def _start(root: Path, url: str, generation: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(root), str(generation * GENERATION), "--until-idle"],
        env={**os.environ, **app_env(url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).parents[2],
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkilled_workers_leave_every_eligible_record_in_xero_exactly_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    sandbox = make_sandbox(orgs=2, seed=SEED)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 1000,
            locations=2,
            clients=120,
            days=180,
            window_days=150,
        )
        want = expected(prepared)
        kills: list[str] = []
        held_by_killed = 0
        generation = 0
        while len(kills) < KILLS:
            generation += 1
            child = _start(prepared.root, server.url, generation)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            before = sandbox.api_calls()
            if rng.random() < 0.6:
                calls = rng.randint(0, 2)
                point = f"after {calls} calls"
                deadline = time.monotonic() + 10
                while sandbox.api_calls() < before + calls and child.poll() is None:
                    assert time.monotonic() < deadline, "worker made no progress"
                    time.sleep(0.001)
            else:
                delay = rng.uniform(0.0, 0.03)
                point = f"after {delay * 1000:.0f} ms"
                time.sleep(delay)
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                kills.append(f"{point} (call {sandbox.api_calls() - before})")
            child.wait(timeout=10)
            child.stdout.close()
            held_by_killed += sending_rows_of(prepared)
            if not open_rows_of(prepared):
                break
        assert len(kills) >= 20, (
            f"the back-sync finished after {len(kills)} kills: make the practice bigger"
        )
        # Some kills left claims behind (rows in sending): the next processes took them from
        # the dead owner by its pid, with no clock running out (the end state below proves it).
        assert held_by_killed > 0, "no kill left a claim behind: nothing was taken over"

        for _ in range(5):  # retries may be scheduled later: each run's clock is later still
            generation += 1
            child = _start(prepared.root, server.url, generation)
            out, _ = child.communicate(timeout=60)
            assert child.returncode == 0, out
            if not open_rows_of(prepared):
                break

        ledger = prepared.ledger()
        try:
            assert open_rows(ledger) == {}
            assert ledger_problems(ledger) == []
            failed = ledger._q("SELECT kind, host_id, message FROM rows WHERE state = 'failed'")
            assert failed == []
            adopted = ledger._q("SELECT count(*) FROM rows WHERE reply LIKE '%adopted%'")[0][0]
        finally:
            ledger.close()
        got = found_in(sandbox, set(prepared.tenants.values()))
        assert exactly_once_problems(want, got) == []
        print(
            f"\ncrash test: {len(kills)} kills, {generation} worker processes, "
            f"{held_by_killed} rows in sending after the kills (summed), "
            f"{sandbox.api_calls()} API calls, {want.total()} records in Xero, {adopted} adopted "
            "by look-up after a kill; kill points: " + ", ".join(kills)
        )


def sending_rows_of(prepared: Prepared) -> int:
    ledger = prepared.ledger()
    try:
        return int(ledger._q("SELECT count(*) FROM rows WHERE state = 'sending'")[0][0])
    finally:
        ledger.close()


def open_rows_of(prepared: Prepared) -> dict[str, int]:
    ledger = prepared.ledger()
    try:
        return open_rows(ledger)
    finally:
        ledger.close()
