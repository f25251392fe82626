"""Who may take a claim: the owner is judged gone by its pid (same machine) or by a beat counter
that stood still for a lease on the judge's own monotonic clock – never by a wall clock."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from support.ledger_helpers import START, one
from support.virtual_time import VirtualTime

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.sync.leases import LeaseJudge, pid_alive

LEASE = 600.0


def _judge(ledger: SqliteLedger, vt: VirtualTime, *, me: str = "judge") -> LeaseJudge:
    return LeaseJudge(
        ledger, worker_id=me, lease_seconds=LEASE, monotonic=vt.monotonic, hostname="here"
    )


def _held_by(ledger: SqliteLedger, owner: str, *, hostname: str | None, pid: int = 0) -> int:
    one(ledger)
    if hostname is not None:
        ledger.beat(owner, hostname=hostname, pid=pid, lease_until=START)
    [row] = ledger.claim("T1", "invoice", worker_id=owner, now=START)
    return row.id


def test_an_owner_on_this_machine_whose_process_is_gone_is_gone_at_once(
    ledger: SqliteLedger,
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())
    _held_by(ledger, "killed", hostname="here", pid=child.pid)
    assert _judge(ledger, VirtualTime(start=0.0)).gone() == {"killed"}


def test_an_owner_whose_beat_stands_still_for_a_lease_is_gone_on_the_judges_clock(
    ledger: SqliteLedger,
) -> None:
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "far", hostname="another-machine", pid=os.getpid())
    judge = _judge(ledger, vt)
    assert judge.gone() == frozenset()  # first seen now
    vt.advance(LEASE - 1)
    assert judge.gone() == frozenset()
    ledger.beat("far", hostname="another-machine", pid=os.getpid(), lease_until=START)
    vt.advance(2)
    assert judge.gone() == frozenset()  # it beat: watched afresh
    vt.advance(LEASE - 1)
    assert judge.gone() == frozenset()
    vt.advance(1)
    assert judge.gone() == {"far"}


def test_an_owner_alive_on_this_machine_is_still_judged_by_its_beat(ledger: SqliteLedger) -> None:
    """An abandoned worker in a live process (or a pid reused by another program)."""
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "stuck", hostname="here", pid=os.getpid())
    judge = _judge(ledger, vt)
    assert judge.gone() == frozenset()
    vt.advance(LEASE)
    assert judge.gone() == {"stuck"}


def test_an_owner_without_a_worker_row_is_gone_after_a_lease_seen_so(
    ledger: SqliteLedger,
) -> None:
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "legacy", hostname=None)
    judge = _judge(ledger, vt)
    assert judge.gone() == frozenset()
    vt.advance(LEASE)
    assert judge.gone() == {"legacy"}


def test_a_judge_never_judges_itself_and_no_wall_clock_moves_it(ledger: SqliteLedger) -> None:
    vt = VirtualTime(start=0.0)
    row_id = _held_by(ledger, "judge", hostname="here", pid=999_999_999)
    judge = _judge(ledger, vt)
    vt.advance(LEASE * 10)
    assert judge.gone() == frozenset()
    # the wall clock far past the lease: still nobody takes the row
    later = START + timedelta(days=3)
    assert ledger.claim("T1", "invoice", worker_id="other", now=later) == []
    held = ledger.get(row_id)
    assert held is not None
    assert held.state == "sending"
