"""Who may take a claim: the owner is judged gone by its pid (same machine and pid namespace) or
by a beat counter that stood still for a lease on the judge's own monotonic clock – never by a
wall clock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from support.ledger_helpers import START, one
from support.virtual_time import VirtualTime

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.sync.leases import LeaseJudge, pid_alive, this_host

LEASE = 600.0
HERE = "here|boot-1|pid:[4026531836]"
"""The judge's identity: hostname, boot id, pid namespace (:func:`this_host`)."""

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="boot ids and pid namespaces are Linux's"
)


def _judge(
    ledger: SqliteLedger, vt: VirtualTime, *, me: str = "judge", hostname: str | None = HERE
) -> LeaseJudge:
    return LeaseJudge(
        ledger, worker_id=me, lease_seconds=LEASE, monotonic=vt.monotonic, hostname=hostname
    )


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def _fake_proc(root: Path, *, boot_id: str | None, pid_ns: str | None) -> Path:
    """A ``/proc`` holding what :func:`this_host` reads (``None``: that part is missing)."""
    if boot_id is not None:
        (root / "sys/kernel/random").mkdir(parents=True)
        (root / "sys/kernel/random/boot_id").write_text(boot_id + "\n")
    if pid_ns is not None:
        (root / "self/ns").mkdir(parents=True)
        (root / "self/ns/pid").symlink_to(pid_ns)  # dangling, as /proc's is: readlink reads it
    return root


def _held_by(ledger: SqliteLedger, owner: str, *, hostname: str | None, pid: int = 0) -> int:
    one(ledger)
    if hostname is not None:
        ledger.beat(owner, hostname=hostname, pid=pid, lease_until=START)
    [row] = ledger.claim("T1", "invoice", worker_id=owner, now=START)
    return row.id


def test_an_owner_on_this_machine_whose_process_is_gone_is_gone_at_once(
    ledger: SqliteLedger,
) -> None:
    dead = _dead_pid()
    assert pid_alive(os.getpid())
    _held_by(ledger, "killed", hostname=HERE, pid=dead)
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
    _held_by(ledger, "stuck", hostname=HERE, pid=os.getpid())
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
    row_id = _held_by(ledger, "judge", hostname=HERE, pid=999_999_999)
    judge = _judge(ledger, vt)
    vt.advance(LEASE * 10)
    assert judge.gone() == frozenset()
    # the wall clock far past the lease: still nobody takes the row
    later = START + timedelta(days=3)
    assert ledger.claim("T1", "invoice", worker_id="other", now=later) == []
    held = ledger.get(row_id)
    assert held is not None
    assert held.state == "sending"


def _judged_by_its_beat_only(vt: VirtualTime, judge: LeaseJudge) -> None:
    """The owner (dead pid) is not gone at once, only once a lease passed on the judge's clock."""
    assert judge.gone() == frozenset()
    vt.advance(LEASE - 1)
    assert judge.gone() == frozenset()
    vt.advance(1)
    assert len(judge.gone()) == 1


@linux_only
def test_a_sidecar_of_the_same_hostname_in_another_pid_namespace_is_judged_by_its_beat(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    """A ``pm-xero worker`` sidecar in the same pod: same hostname and boot id, its own pids –
    its pid means nothing here, so a live sidecar is not taken from for a dead-looking pid."""
    mine = this_host()
    boot_id = mine.split("|")[1]
    sidecar = this_host(
        _fake_proc(tmp_path, boot_id=boot_id, pid_ns="pid:[4026532999]"),
        hostname=socket.gethostname(),
    )
    assert sidecar.split("|")[0] == mine.split("|")[0], "the same hostname"
    assert sidecar != mine
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "sidecar", hostname=sidecar, pid=_dead_pid())
    _judged_by_its_beat_only(vt, _judge(ledger, vt, hostname=None))


def test_an_owner_that_recorded_the_hostname_alone_is_judged_by_its_beat(
    ledger: SqliteLedger,
) -> None:
    """A worker of before this check (or any that recorded only the name) shares the hostname
    but not provably the pids."""
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "named", hostname=socket.gethostname(), pid=_dead_pid())
    _judged_by_its_beat_only(vt, _judge(ledger, vt, hostname=None))


@linux_only
def test_an_identity_that_cannot_name_its_pid_namespace_never_trusts_a_pid(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    """``/proc`` not mounted: two containers would both say ``here||`` – equal, yet not one
    machine's pids."""
    blind = this_host(_fake_proc(tmp_path, boot_id=None, pid_ns=None), hostname="here")
    assert blind == "here||"
    vt = VirtualTime(start=0.0)
    _held_by(ledger, "blind", hostname=blind, pid=_dead_pid())
    _judged_by_its_beat_only(vt, _judge(ledger, vt, hostname=blind))


@linux_only
def test_this_host_names_the_hostname_the_boot_and_the_pid_namespace() -> None:
    name, boot_id, pid_ns = this_host().split("|")
    assert name == socket.gethostname()
    assert boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert pid_ns == os.readlink("/proc/self/ns/pid")
    assert pid_ns.startswith("pid:[")
