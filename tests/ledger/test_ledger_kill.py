"""The ledger survives the process being killed at any point (SIGKILL, no clean-up)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pm_xero_plugin.ledger import SqliteLedger

CHILD = Path(__file__).with_name("ledger_kill_child.py")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("kill_after", [1, 40, 123])
def test_every_acknowledged_record_survives_sigkill_and_its_claims_can_be_taken(
    tmp_path: Path, kill_after: int
) -> None:
    root = tmp_path / "pm"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        assert child.stdout.readline().strip() == "ready"
        for line in child.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= kill_after:
                os.kill(child.pid, signal.SIGKILL)  # mid-stream: the next write is under way
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    path = root / "plugins" / "xero" / "ledger.sqlite3"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    ledger = SqliteLedger(path)
    try:
        stored = {
            h
            for (h,) in ledger._q(
                "SELECT host_id FROM rows WHERE kind = 'invoice' AND state != 'rejected'"
            )
        }
        assert set(acknowledged) <= stored
        # the counts table agrees with the rows after the crash (same transaction)
        counted = sum(c["n"] for c in ledger.counts() if c["kind"] == "invoice")
        assert counted == len(stored)
        sending = ledger._q("SELECT count(*) FROM rows WHERE state = 'sending'")[0][0]
        later = datetime(2025, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=5)
        reclaimed = ledger.claim(
            "T1", "invoice", limit=10_000, worker_id="after", now=later, take_from={"child"}
        )
        assert len(reclaimed) == len(stored)  # every row, including the leased ones
        assert kill_after < 7 or sending > 0
        ledger.release([r.id for r in reclaimed])
        assert ledger._q("SELECT count(*) FROM rows WHERE state = 'sending'")[0][0] == 0
    finally:
        ledger.close()
