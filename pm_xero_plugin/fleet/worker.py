"""One worker for every practice of a fleet: the ordinary worker over practice-scoped keys.

:class:`~pm_xero_plugin.sync.worker.Worker` schedules organisations, claims their batches,
beats, judges owners gone, fences its writes and backs off a failing ledger – all of it written
against one ledger and one sender. :class:`FleetWorker` runs it unchanged over adaptors that
serve many practices:

* :class:`FleetLedger` answers the worker's ledger calls (:class:`~pm_xero_plugin.sync.worker.
  WorkQueue`) for keys ``practice\\x1ftenant`` (:mod:`~pm_xero_plugin.fleet.keys`): which
  organisations have work comes from a :class:`~pm_xero_plugin.fleet.sources.ReadySource` – the
  PostgreSQL ledger's fleet-wide view (fair: the organisation least recently claimed first), or,
  on SQLite ledgers, a look into every practice's file –; a claim, a release, a fenced write
  go to the practice's own ledger, with row ids that tell practices apart.
* :class:`FleetSender` hands each batch to its practice's
  :class:`~pm_xero_plugin.sync.sender.BatchSender` with the real tenant id, and tells the
  metrics what it did. Once the fleet worker stops, a batch not yet begun is given back
  instead of sent (another worker takes it at once).
* :class:`FleetLimits` answers for Xero's limits by organisation: the practice's limiter (one
  shared through PostgreSQL by every practice and machine, or the practice's own), asked with
  the real organisation id – Xero's limits are per organisation.

A practice is opened when it first has work (PostgreSQL) or when the worker first looks
(SQLite); each open practice's settings and time gates are followed at the start of a loop,
as a single-practice worker does (:meth:`~pm_xero_plugin.sync.runtime.XeroRuntime.tick`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from pm_xero_plugin.core.health import Health
from pm_xero_plugin.fleet.keys import fleet_key, fleet_row_id, local_row_id, split_key
from pm_xero_plugin.fleet.practices import OpenPractice, Practices, PracticeUnavailable
from pm_xero_plugin.fleet.sources import LedgerFiles, ReadySource
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.types import ClaimOwner
from pm_xero_plugin.sync.sender import BatchOutcome
from pm_xero_plugin.sync.worker import DEFAULT_LEASE_SECONDS, Worker, WorkerStats
from pm_xero_plugin.xero.ratelimit import CallPermit, Clock, SystemClock, Wait

__all__ = ["FleetLedger", "FleetLimits", "FleetSender", "FleetWorker", "SendObserver"]

log = logging.getLogger("pm_xero_plugin.fleet.worker")

OPENED_PER_LOOP = 16
"""Practices a loop opens at most before it sends for those already open (see
:meth:`FleetLedger.tenants_with_ready_work`)."""

TICK_SECONDS = 1.0
"""How often each open practice follows its saved settings and time gates (every loop, at most
this often: a thousand practices need not be ticked twenty times a second)."""


class FleetLedger:
    """The worker's ledger (:class:`~pm_xero_plugin.sync.worker.WorkQueue`) for a fleet: keys
    ``practice\\x1ftenant``, each call routed to the practice's own ledger."""

    def __init__(self, practices: Practices, source: ReadySource) -> None:
        self.practices = practices
        self.source = source
        self._lock = threading.Lock()
        self._in_flight = 0
        self._unbegun: dict[int, int | None] = {}
        """Rows claimed whose batch has not begun sending (worker's id -> claim token)."""
        self._beat: tuple[str, str, int, datetime] | None = None
        self._beaten: set[int] = set()
        """Practices (by number) this worker has beaten in since its last beat."""
        self._beat_shared = False
        """Whether the source beats once for every practice (PostgreSQL)."""

    # -- routing ---------------------------------------------------------------------------------

    def practice(self, key: str) -> tuple[OpenPractice, str]:
        """The open practice of a worker's key, and the real tenant id."""
        practice_id, tenant_id = split_key(key)
        return self.practices.get(practice_id), tenant_id

    def _by_practice(self, row_ids: Collection[int]) -> dict[int, list[tuple[int, int]]]:
        """``practice number -> [(worker's id, the ledger's id)]``."""
        grouped: dict[int, list[tuple[int, int]]] = {}
        for row_id in row_ids:
            index, local = local_row_id(row_id)
            grouped.setdefault(index, []).append((row_id, local))
        return grouped

    @property
    def in_flight(self) -> int:
        """Rows this worker has claimed and not yet settled or given back."""
        with self._lock:
            return self._in_flight

    def settled(self, n: int) -> None:
        """``n`` claimed rows are done with (settled, given back, or left to another worker)."""
        with self._lock:
            self._in_flight -= n

    def begin(self, row_ids: Collection[int]) -> bool:
        """A batch begins sending: ``False`` if its rows were given back meanwhile (see
        :meth:`give_back_unbegun`), and it must not be sent."""
        with self._lock:
            if any(r not in self._unbegun for r in row_ids):
                return False
            for row_id in row_ids:
                del self._unbegun[row_id]
            return True

    def give_back_unbegun(self) -> int:
        """Give back every claimed row whose batch has not begun (a stopping worker whose
        sending threads are all stuck in requests: the batches queued behind them go back now,
        not after a lease). Returns how many rows went back."""
        with self._lock:
            rows, self._unbegun = self._unbegun, {}
        for index, ids in self._by_practice(rows).items():
            ledger = self.practices.by_index(index).engine.ledger
            tokens = {local: rows[row_id] for row_id, local in ids}
            with ledger.fenced({k: t for k, t in tokens.items() if t is not None}):
                ledger.release(list(tokens))
        return len(rows)

    # -- what the worker calls -------------------------------------------------------------------

    def tenants_with_ready_work(
        self, now: datetime, *, take_from: Collection[str] = ()
    ) -> list[str]:
        """Keys of the organisations with work; their practices opened (those that cannot be
        are left out until they can).

        At most :data:`OPENED_PER_LOOP` practices are opened per call once some organisation
        may go: opening one reads its charts from Xero, and a worker starting on a thousand
        practices sends for the first ones while it opens the others, loop after loop (the
        loop comes back at once: it has dispatched)."""
        keys: list[str] = []
        opened = 0
        for practice_id, tenant_id in self.source.ready(now, take_from):
            new = practice_id not in self.practices.open_ids()
            if new and opened >= OPENED_PER_LOOP and keys:
                continue  # a later loop opens it
            try:
                practice = self.practices.get(practice_id)
            except PracticeUnavailable:
                continue
            opened += new
            self._beat_new(practice)
            keys.append(fleet_key(practice_id, tenant_id))
        return keys

    def has_live_work(
        self, tenant_id: str, now: datetime, *, take_from: Collection[str] = ()
    ) -> bool:
        """The practice's ledger's answer for the organisation."""
        practice, tenant = self.practice(tenant_id)
        return practice.engine.ledger.has_live_work(tenant, now, take_from=take_from)

    def claim_next(
        self,
        tenant_id: str,
        kinds: Sequence[str],
        *,
        limit_for: Callable[[str], int],
        lease_seconds: int = 120,
        worker_id: str,
        now: datetime,
        take_from: Collection[str] = (),
    ) -> tuple[str, list[Row]]:
        """Claim in the practice's ledger; the rows come back under the worker's ids."""
        practice, tenant = self.practice(tenant_id)
        kind, rows = practice.engine.ledger.claim_next(
            tenant,
            kinds,
            limit_for=limit_for,
            lease_seconds=lease_seconds,
            worker_id=worker_id,
            now=now,
            take_from=take_from,
        )
        claimed = [replace(r, id=fleet_row_id(practice.index, r.id)) for r in rows]
        with self._lock:
            self._in_flight += len(rows)
            self._unbegun.update({r.id: r.claim_token for r in claimed})
        return kind, claimed

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """Beat once for every practice on PostgreSQL (one worker row, every claim renewed in
        one transaction), or in every open practice's ledger on SQLite (each keeps its own)."""
        self._beat = (worker_id, hostname, pid, lease_until)
        if self.source.beat(worker_id, hostname=hostname, pid=pid, lease_until=lease_until):
            self._beat_shared = True
            return
        beaten = set()
        for practice in self.practices.opened():
            practice.engine.ledger.beat(
                worker_id, hostname=hostname, pid=pid, lease_until=lease_until
            )
            beaten.add(practice.index)
        self._beaten = beaten

    def _beat_new(self, practice: OpenPractice) -> None:
        """A practice opened since the last beat: beat there now, before claiming in it, so its
        rows never name an owner without a worker row."""
        if self._beat_shared or self._beat is None or practice.index in self._beaten:
            return
        worker_id, hostname, pid, lease_until = self._beat
        practice.engine.ledger.beat(worker_id, hostname=hostname, pid=pid, lease_until=lease_until)
        self._beaten.add(practice.index)

    def claim_owners(self) -> list[ClaimOwner]:
        """The source's owners (fleet-wide, or over every open ledger)."""
        return self.source.claim_owners()

    def retire_worker(self, worker_id: str) -> None:
        """Retire in every open practice's ledger."""
        for practice in self.practices.opened():
            practice.engine.ledger.retire_worker(worker_id)
        self._beat = None
        self._beaten = set()
        self._beat_shared = False

    @contextmanager
    def fenced(self, claims: Mapping[int, int]) -> Iterator[None]:
        """Fence in each practice's ledger the claims of its rows (a batch is one practice's)."""
        with ExitStack() as stack:
            for index, ids in self._by_practice(claims).items():
                ledger = self.practices.by_index(index).engine.ledger
                stack.enter_context(ledger.fenced({local: claims[row_id] for row_id, local in ids}))
            yield

    def release(self, row_ids: Sequence[int]) -> None:
        """Give rows back to their practices' ledgers."""
        for index, ids in self._by_practice(row_ids).items():
            self.practices.by_index(index).engine.ledger.release([local for _, local in ids])

    def mark_retrying(
        self,
        row_id: int,
        next_at: datetime,
        message: str,
        *,
        outcome_known: bool = False,
        status_code: int | None = None,
    ) -> None:
        """Schedule the row's retry in its practice's ledger."""
        index, local = local_row_id(row_id)
        self.practices.by_index(index).engine.ledger.mark_retrying(
            local, next_at, message, outcome_known=outcome_known, status_code=status_code
        )


class SendObserver(Protocol):
    """Told what each batch did (the metrics)."""

    def batch_settled(self, kind: str, outcome: BatchOutcome, latencies: Sequence[float]) -> None:
        """A batch of ``kind`` ended as ``outcome``; ``latencies``: seconds from record to Xero
        of each row it synced."""
        ...


class FleetSender:
    """The worker's sender for a fleet: each batch to its practice's sender, as the practice's
    own rows of the real organisation."""

    def __init__(self, ledger: FleetLedger, observer: SendObserver | None = None) -> None:
        self._ledger = ledger
        self._observer = observer
        self.stopping = threading.Event()
        """Set when the fleet worker stops: batches not yet begun are given back, not sent."""

    def send(self, tenant_id: str, kind: str, rows: Sequence[Row]) -> BatchOutcome:
        """Send (or, once stopping, give back) one claimed batch."""
        try:
            if not self._ledger.begin([r.id for r in rows]):
                return BatchOutcome(released=len(rows))  # given back already
            practice, tenant = self._ledger.practice(tenant_id)
            local = [replace(r, id=local_row_id(r.id)[1]) for r in rows]
            if self.stopping.is_set():
                practice.engine.ledger.release([r.id for r in local])
                return BatchOutcome(released=len(local))
            outcome = practice.runtime.sender.send(tenant, kind, local)
            if self._observer is not None:
                self._observer.batch_settled(
                    kind, outcome, self._latencies(practice, local, outcome)
                )
            return outcome
        finally:
            self._ledger.settled(len(rows))

    def _latencies(
        self, practice: OpenPractice, rows: Sequence[Row], outcome: BatchOutcome
    ) -> list[float]:
        """Seconds from record to Xero of the rows the batch synced (one look-up per batch)."""
        if not outcome.synced:
            return []
        ledger = practice.engine.ledger
        facts = ledger.facts((r.kind, r.host_id, r.tenant_id) for r in rows)
        now = practice.host.now()
        found = []
        for row in rows:
            fact = facts.get((row.kind, row.host_id, row.tenant_id))
            if fact is not None and fact.state == "synced" and row.recorded_at is not None:
                found.append(max(0.0, (now - row.recorded_at).total_seconds()))
        return found


class FleetLimits:
    """Xero's limits (:class:`~pm_xero_plugin.xero.ratelimit.Limits`) by the worker's keys:
    asked of the practice's limiter with the real organisation id."""

    def __init__(self, ledger: FleetLedger, clock: Clock | None = None) -> None:
        self._ledger = ledger
        self._clock = clock or SystemClock()

    @property
    def clock(self) -> Clock:
        """The clock the practices' limiters run on."""
        return self._clock

    def try_acquire(self, tenant_id: str) -> CallPermit | None:
        """The practice's limiter's permit for the organisation."""
        practice, tenant = self._ledger.practice(tenant_id)
        return practice.runtime.limiter.try_acquire(tenant)

    def wait_for(self, tenant_id: str, *, pace: bool = False) -> Wait:
        """How long the organisation must wait, by its practice's limiter."""
        practice, tenant = self._ledger.practice(tenant_id)
        return practice.runtime.limiter.wait_for(tenant, pace=pace)

    def record_429(self, tenant_id: str, retry_after: float | None, problem: str) -> None:
        """Block the organisation, in its practice's limiter."""
        practice, tenant = self._ledger.practice(tenant_id)
        practice.runtime.limiter.record_429(tenant, retry_after, problem)


class FleetWorker:
    """One :class:`~pm_xero_plugin.sync.worker.Worker` serving every practice of ``practices``.

    :param practices: the practices (opened on first use).
    :param source: which organisations have work (default: each practice's SQLite ledger in
        turn; a fleet on PostgreSQL passes :class:`SharedLedger`).
    :param observer: told what each batch did (the metrics).
    :param worker_id: this worker's id in the ledger (default: a fresh one).
    The other parameters are the worker's (:class:`~pm_xero_plugin.sync.worker.Worker`).
    """

    def __init__(
        self,
        practices: Practices,
        *,
        source: ReadySource | None = None,
        observer: SendObserver | None = None,
        threads: int = 4,
        batch_size: int = 50,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = 0.5,
        worker_id: str | None = None,
        monotonic: Callable[[], float] | None = None,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        options = practices.options
        self.practices = practices
        self._monotonic = monotonic or (
            options.clock.monotonic if options.clock is not None else time.monotonic
        )
        self.ledger = FleetLedger(
            practices, source or LedgerFiles(practices, monotonic=self._monotonic)
        )
        self.sender = FleetSender(self.ledger, observer)
        self.limits = FleetLimits(self.ledger, options.clock)
        self.health = Health()
        """What stops this worker (its ledger failing), in words."""
        self._tick_seconds = tick_seconds
        self._ticked: dict[str, float] = {}
        self.last_loop: float | None = None
        """When (on the monotonic clock) the worker's loop last began, ``None`` before the first."""
        self.worker = Worker(
            self.ledger,
            self.sender,
            now=self.now,
            doorbell=practices.doorbell,
            threads=threads,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            monotonic=self._monotonic,
            worker_id=worker_id,
            limiter=self.limits,
            tick=self._tick,
            health=self.health,
            ledger_path="the practices' ledgers",
        )

    @property
    def worker_id(self) -> str:
        """This worker's id in the ledger."""
        return self.worker.worker_id

    @property
    def stats(self) -> WorkerStats:
        """The worker's running totals (``by_tenant`` by key ``practice\\x1ftenant``)."""
        return self.worker.stats

    def now(self) -> datetime:
        """The hosts' clock."""
        clock = self.practices.options.host_clock
        return clock.now() if clock is not None else datetime.now(UTC)

    def seconds_since_loop(self) -> float | None:
        """Seconds since the loop last began (``None`` before it first did)."""
        if self.last_loop is None:
            return None
        return max(0.0, self._monotonic() - self.last_loop)

    def _tick(self) -> None:
        """The start of a loop: each open practice follows its host (at most every second)."""
        mono = self._monotonic()
        self.last_loop = mono
        for practice in self.practices.opened():
            if mono - self._ticked.get(practice.practice_id, float("-inf")) < self._tick_seconds:
                continue
            self._ticked[practice.practice_id] = mono
            practice.runtime.tick()  # never raises: it logs what failed

    def run(self, *, until_idle: bool = False, max_seconds: float | None = None) -> WorkerStats:
        """Serve until :meth:`stop` (or, with ``until_idle``, until nothing is ready or in
        flight in any practice); then give back what is left and retire."""
        return self.worker.run(until_idle=until_idle, max_seconds=max_seconds)

    def start(self) -> None:
        """Run in a background thread."""
        self.worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; batches already sending finish, batches not yet begun are given back
        now (released: another worker takes them at once), as is any claimed after this.

        Not from a signal handler: it writes the ledgers (call it from a thread)."""
        self.sender.stopping.set()
        try:
            self.ledger.give_back_unbegun()
        except Exception:  # the ledger failing: the rows go back once this worker is gone
            log.warning("xero: could not give back the batches not begun", exc_info=True)
        self.worker.stop(timeout)
