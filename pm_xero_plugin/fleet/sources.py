"""Where a fleet worker learns which organisations have work, and who holds claims.

Two sources, one per kind of ledger:

* :class:`SharedLedger` – one PostgreSQL ledger for every practice and machine: its fleet-wide
  view names the organisations with work, fairly (the least recently claimed first, so a
  practice with a long history does not starve one with five new invoices), and the owners of
  claims in every practice, in one query each.
* :class:`LedgerFiles` – a SQLite ledger in each practice's folder: every practice served is
  opened and each file asked in turn (so one worker process serves them; several processes on
  one machine may share them, as they share one practice's file).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Protocol

from pm_xero_plugin.fleet.practices import OpenPractice, Practices
from pm_xero_plugin.ledger.types import ClaimOwner

__all__ = [
    "READY_LIMIT",
    "RESCAN_SECONDS",
    "FleetView",
    "LedgerFiles",
    "ReadySource",
    "SharedLedger",
]

log = logging.getLogger("pm_xero_plugin.fleet.sources")

RESCAN_SECONDS = 10.0
"""How often a worker on SQLite ledgers looks for practices added under the root."""

READY_LIMIT = 200
"""Organisations asked of the PostgreSQL ledger per loop (the least recently claimed first)."""


class ReadySource(Protocol):
    """Where a fleet worker learns which organisations have work and who holds claims."""

    def ready(self, now: datetime, take_from: Collection[str]) -> list[tuple[str, str]]:
        """``(practice id, tenant id)`` with something to claim now, fairest first."""
        ...

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a claimed row of the practices served."""
        ...

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> bool:
        """Beat once for every practice (``True``: one worker row and every claim renewed), or
        leave it to each practice's own ledger (``False``)."""
        ...

    def queue_depth(self) -> dict[str, int]:
        """Rows by state (ready, sending, retrying …) of the practices served."""
        ...


class FleetView(Protocol):
    """The PostgreSQL ledger's fleet-wide view (:class:`~pm_xero_plugin.ledger.postgres_fleet.
    PostgresFleet`), as far as the worker needs it."""

    def ready_tenants(
        self,
        now: datetime,
        *,
        take_from: Collection[str] = (),
        limit: int = 200,
        practices: Collection[str] | None = None,
    ) -> list[tuple[str, str]]:
        """Organisations (of ``practices``) with claimable work, the least recently claimed
        first."""
        ...

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending``, fleet-wide."""
        ...

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """One beat for the worker in every practice, in one transaction."""
        ...

    def queue_depth(self) -> dict[str, int]:
        """Rows by state, fleet-wide."""
        ...


class SharedLedger:
    """A :class:`ReadySource` on the PostgreSQL ledger every practice and machine shares: it
    names the organisations, fairly, and this worker opens their practices as they come."""

    def __init__(self, fleet: FleetView, practices: Practices, limit: int = READY_LIMIT) -> None:
        self._fleet = fleet
        self._practices = practices
        self._limit = limit

    def ready(self, now: datetime, take_from: Collection[str]) -> list[tuple[str, str]]:
        """The ledger's fair list, only of practices this worker serves."""
        found = self._fleet.ready_tenants(
            now, take_from=take_from, limit=self._limit, practices=self._practices.ids()
        )
        return [(p, t) for p, t in found if self._practices.serves(p)]

    def claim_owners(self) -> list[ClaimOwner]:
        """Owners fleet-wide (one query)."""
        return self._fleet.claim_owners()

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> bool:
        """One beat for every practice (a worker serving a thousand beats once, not a thousand
        times)."""
        self._fleet.beat(worker_id, hostname=hostname, pid=pid, lease_until=lease_until)
        return True

    def queue_depth(self) -> dict[str, int]:
        """Rows by state, fleet-wide, from the ledger's counts."""
        return self._fleet.queue_depth()


class LedgerFiles:
    """A :class:`ReadySource` over practices each with its own SQLite ledger: every practice
    served is opened, and each file is asked in turn."""

    def __init__(
        self, practices: Practices, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._practices = practices
        self._monotonic = monotonic
        self._scanned = float("-inf")

    def _open(self) -> list[OpenPractice]:
        if self._monotonic() - self._scanned >= RESCAN_SECONDS:
            self._scanned = self._monotonic()
            self._practices.open_all()
        return self._practices.opened()

    def ready(self, now: datetime, take_from: Collection[str]) -> list[tuple[str, str]]:
        """Each practice's organisations with work, practice after practice."""
        found: list[tuple[str, str]] = []
        for practice in self._open():
            try:
                tenants = practice.engine.ledger.tenants_with_ready_work(now, take_from=take_from)
            except Exception as exc:  # one practice's full disk must not stop the others
                log.warning("xero: practice %s: its ledger failed: %s", practice.practice_id, exc)
                continue
            found.extend((practice.practice_id, t) for t in tenants)
        return found

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> bool:
        """Each SQLite ledger keeps its own worker rows: beaten practice by practice."""
        return False

    def claim_owners(self) -> list[ClaimOwner]:
        """Owners over every practice's ledger (opened first: the worker judges owners before
        it asks for work); a worker that beats several keeps the highest count (a live one
        beats them all, so its highest count moves)."""
        owners: dict[str, ClaimOwner] = {}
        for practice in self._open():
            for owner in practice.engine.ledger.claim_owners():
                seen = owners.get(owner.worker_id)
                if seen is None or (owner.beat or -1) > (seen.beat or -1):
                    owners[owner.worker_id] = owner
        return list(owners.values())

    def queue_depth(self) -> dict[str, int]:
        """Rows by state, summed over the open practices' counts."""
        depth: dict[str, int] = {}
        for practice in self._practices.opened():
            for count in practice.engine.ledger.counts():
                depth[count["state"]] = depth.get(count["state"], 0) + int(count["n"])
        return depth
