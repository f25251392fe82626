"""Whether the owner of a claim is gone: judged by liveness, never by a wall clock.

A claim used to expire when the host clock passed its ``lease_until``. A clock that jumps (an
NTP step, a VM resumed, an admin setting the date) then expired the claims of a worker that was
still sending, and the worker – or another – claimed the row again and sent it twice. Now a
worker *beats* (counts up its row in the ledger's ``workers`` table) every quarter lease on its
own monotonic clock, and a row in ``sending`` may be taken from its owner only when this judge,
in the worker that would take it, finds the owner gone:

* the owner is a process on this machine, in this pid namespace, whose pid no longer exists (a
  killed worker: at once). "This machine" is not the hostname alone: a sidecar in the same
  Kubernetes pod, or a container on host networking, has the same hostname but its own pids,
  where ``os.kill(pid, 0)`` fails or finds an unrelated process – a live worker would be judged
  dead and its in-flight rows sent again. So a worker records its identity (hostname, the
  kernel's boot id, the inode of its pid namespace: :func:`this_host`) and the pid is trusted
  only when that identity is complete and equal to the judge's own; any other owner is judged
  by its beats;
* or the judge has seen the owner's beat counter unchanged for a full lease on the judge's own
  monotonic clock (works across machines: no clock is shared, only a counter compared with
  itself);
* or the owner has no worker row (rows claimed before schema v4) and has been seen so for a
  lease.

A worker never judges itself. What is taken from a gone owner keeps its "outcome unknown" mark,
so it is looked up in Xero before it is sent again; and the gone owner, should it wake up, can
no longer write those rows (fencing: :meth:`pm_xero_plugin.ledger.Ledger.fenced`).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pm_xero_plugin.ledger.types import ClaimOwner

__all__ = ["LeaseJudge", "Owners", "pid_alive", "pids_comparable", "this_host"]

_SEP = "|"
"""Between the parts of an identity, stored in the ``workers`` table's ``hostname`` column as
``hostname|boot id|pid namespace`` (a row of an older worker holds the hostname alone: never
equal, so judged by its beats)."""


def this_host(proc: Path = Path("/proc"), *, hostname: str | None = None) -> str:
    """Who "this machine" is for a pid, as workers record (and compare) it in the ``workers``
    table: ``hostname|boot id|pid namespace``.

    The boot id (``/proc/sys/kernel/random/boot_id``) tells a rebooted or another machine of the
    same name; the pid namespace (``/proc/self/ns/pid``, ``pid:[4026531836]``) tells a container
    or pod sidecar sharing the hostname but not the pids. Where Linux cannot say (``/proc`` not
    mounted) a part is left empty and the identity is incomplete: its pids are never trusted.
    Other systems have no pid namespaces; there the platform's name stands for both parts.

    :param proc: where ``/proc`` is (a test gives another).
    :param hostname: the machine's name (default: :func:`socket.gethostname`).
    """
    name = (hostname if hostname is not None else socket.gethostname()).replace(_SEP, "_")
    if not sys.platform.startswith("linux"):
        return _SEP.join((name, sys.platform, sys.platform))
    try:
        boot = (proc / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    try:
        pid_ns = os.readlink(proc / "self/ns/pid")
    except OSError:
        pid_ns = ""
    return _SEP.join((name, boot, pid_ns))


def pids_comparable(owner: str | None, judge: str) -> bool:
    """Whether a pid recorded under identity ``owner`` means the same process to a judge of
    identity ``judge``: both complete, and equal."""
    parts = judge.split(_SEP)
    return owner == judge and len(parts) == 3 and all(parts)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (a zombie – killed, not yet reaped –
    counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return True  # cannot tell (a platform without signals): let the beats decide
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class Owners(Protocol):
    """Where the judge reads who holds claims: a ledger, or the fleet's view of many."""

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending``, with its host, pid and beat counter."""
        ...


class LeaseJudge:
    """Judges, for one worker, which owners of claimed rows are gone.

    :param ledger: where owners and their beats are read.
    :param worker_id: the judging worker (never judged gone by itself).
    :param lease_seconds: how long an owner's beat may stand still before it is gone.
    :param monotonic: the judge's own clock (only differences of it are used).
    :param hostname: this machine's identity (:func:`this_host`; owners of the same complete
        identity are checked by pid as well).
    :param alive: whether a pid exists on this machine.
    """

    def __init__(
        self,
        ledger: Owners,
        *,
        worker_id: str,
        lease_seconds: float,
        monotonic: Callable[[], float],
        hostname: str | None = None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self._ledger = ledger
        self._me = worker_id
        self._lease = lease_seconds
        self._monotonic = monotonic
        self._host = hostname if hostname is not None else this_host()
        self._alive = alive
        self._seen: dict[str, tuple[int | None, float]] = {}
        """Per owner: the beat counter last seen, and when (on our clock) it was first seen so."""

    def gone(self) -> frozenset[str]:
        """The owners whose claims may be taken now (one read of the ledger)."""
        now = self._monotonic()
        seen: dict[str, tuple[int | None, float]] = {}
        gone: set[str] = set()
        for owner in self._ledger.claim_owners():
            if owner.worker_id == self._me:
                continue
            if self._dead_here(owner):
                gone.add(owner.worker_id)
                continue
            beat, since = self._seen.get(owner.worker_id, (owner.beat, now))
            if beat != owner.beat:
                since = now  # it beat since we last looked: alive, watch it afresh
            seen[owner.worker_id] = (owner.beat, since)
            if now - since >= self._lease:
                gone.add(owner.worker_id)
        self._seen = seen  # owners holding nothing any more are forgotten
        return frozenset(gone)

    def _dead_here(self, owner: ClaimOwner) -> bool:
        """A process on this machine, in this pid namespace, that no longer exists."""
        return (
            pids_comparable(owner.hostname, self._host)
            and owner.pid is not None
            and not self._alive(owner.pid)
        )
