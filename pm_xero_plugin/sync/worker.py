"""The worker: claims ready work per organisation and sends it, organisations in parallel.

It runs as a thread inside the host (started on ``pm_startup``, stopped on ``pm_shutdown``) or as
``pm-xero worker`` processes. Scheduling rules:

* One organisation's trouble is its own: a tenant that is rate-limited (429 ``Retry-After``),
  failing or slow is skipped until it may go again, while other tenants keep being served.
* At most ``per_tenant`` batches in flight per tenant (Xero allows 5 concurrent calls; the
  minute limit, not concurrency, is what bounds throughput, so 2 keeps latency low without
  provoking concurrency 429s).
* Claims belong to a live worker: it beats every quarter lease on its monotonic clock, and a
  worker that dies leaves rows that another worker takes once it judges the owner gone (its pid
  gone from this machine, or its beat still for a lease: :mod:`pm_xero_plugin.sync.leases`) –
  never by a wall clock, which may jump. Never lost and never sent twice: the sender looks up
  uncertain rows before re-sending, and every write for a claimed row carries the claim's token,
  so a worker that wakes up after its rows were taken changes nothing (fencing).
* New records wake the worker at once: it waits on the engine's
  :class:`~pm_xero_plugin.core.doorbell.Doorbell`, rung when rows become ready, so they reach
  Xero within seconds.
* A ledger error (a full disk, a ledger another process holds) never ends the worker: the loop
  backs off (0.5 s doubling to 30 s, on its monotonic clock), says so on the add-on's health
  (``the add-on cannot write its ledger: disk full at …``) and clears it once a loop succeeds.
  Should the thread end all the same, the health says "the add-on's sender has stopped".
* History fills its batches: a claim of history smaller than the batch size, while its
  organisation has batches in flight, is held (claimed, not sent) for up to
  :data:`FILL_SECONDS` and topped up as more rows of its kind – or of another kind Xero takes at
  the same endpoint (deposits, overpayments and payouts' fees are all ``BankTransactions``) –
  become ready. They become ready a few at a time as gates open (a contact synced opens its
  invoices, an invoice its payments) and as the back-sync enqueues them, and sending each few at
  once spent an organisation's 60 calls a minute on half-empty requests. It goes once full, once
  its time is up, or as soon as nothing of its organisation is in flight (nothing more is about
  to open). Live records never wait: a batch with a live row goes at once (taking along the
  history of its endpoint being held).
* Each loop begins with one ``tick`` (the engine opens time-based gates there; a ``pm-xero
  worker`` process also follows the settings the host saved), then looks at the ledger once.

Everything the worker uses is handed to its constructor; nothing calls into it afterwards but
the doorbell. Of the host it reads only the clock (``now``, as the host contract asks): its
``tick`` in a host is the engine's, and only a ``pm-xero worker`` process (no host running in
it) adds a read of the settings saved in the host's database.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.core.health import Health, ledger_error_condition
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.types import ClaimLost, ClaimOwner
from pm_xero_plugin.sync.leases import LeaseJudge, this_host
from pm_xero_plugin.sync.sender import BatchOutcome
from pm_xero_plugin.xero.client import never_waiting_for_limits
from pm_xero_plugin.xero.kinds import KINDS, SEND_ORDER
from pm_xero_plugin.xero.ratelimit import Limits
from pm_xero_plugin.xero.retry import backoff_delay

__all__ = ["DEFAULT_LEASE_SECONDS", "Sends", "WorkQueue", "Worker", "WorkerStats"]

DEFAULT_LEASE_SECONDS = 600
"""How long a worker's beat may stand still (on the judging worker's monotonic clock) before its
claims are taken. Longer than the client can spend on one request (retries with the same
Idempotency-Key stop after its 300 s window, each try bounded by its timeouts), so a request of a
worker judged gone this way has ended – another worker that takes the rows then looks them up in
Xero before re-sending."""

FILL_SECONDS = 0.5
"""How long (on the worker's monotonic clock) a small batch of history may wait for more rows of
its kind (or of its endpoint) while its organisation has batches in flight (see the module's
docstring). Half a second covers the settling of a batch in flight, which opens the next rows;
each link of a back-sync's chain (contacts, invoices, payments, payouts) may wait that long once
(a whole second made a run of six demos 12 s slower for no call saved)."""

LIVE_PACE_SECONDS = 300.0
"""How long after a live record a tenant's history paces its minute budget (see _dispatch)."""

ERROR_BACKOFF_FIRST = 0.5
"""Seconds the loop waits after its first failed look at the ledger (then doubling)."""

ERROR_BACKOFF_MAX = 30.0
"""The longest wait between two tries of a ledger that keeps failing."""

LEDGER_CONDITION = "sender_ledger"
"""The health condition of a worker that cannot use its ledger (its own name: the worker clears
it when *its* loop succeeds, which says nothing of a hook's write)."""

STOPPED_CONDITION = "sender_stopped"
"""The health condition of a worker thread that ended without being stopped."""

log = logging.getLogger("pm_xero_plugin.sync.worker")


class WorkQueue(Protocol):
    """What the worker asks of its ledger: a :class:`~pm_xero_plugin.ledger.Ledger` is one (the
    methods are its own, documented there); the fleet's adaptor, which serves many practices'
    ledgers under keys ``practice\x1ftenant``, is another (:mod:`pm_xero_plugin.fleet.worker`)."""

    def tenants_with_ready_work(
        self, now: datetime, *, take_from: Collection[str] = ()
    ) -> list[str]:
        """Organisations with something to claim now."""
        ...

    def has_live_work(
        self, tenant_id: str, now: datetime, *, take_from: Collection[str] = ()
    ) -> bool:
        """Whether a live row of the organisation is due now."""
        ...

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
        """Claim one organisation's next batch."""
        ...

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """``worker_id`` is alive: renew its claims."""
        ...

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a claimed row, with its beat counter."""
        ...

    def retire_worker(self, worker_id: str) -> None:
        """A worker stopped: forget it unless it still holds claims."""
        ...

    def fenced(self, claims: Mapping[int, int]) -> AbstractContextManager[None]:
        """Fence this thread's writes to the claimed rows by their tokens."""
        ...

    def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back."""
        ...

    def mark_retrying(
        self,
        row_id: int,
        next_at: datetime,
        message: str,
        *,
        outcome_known: bool = False,
        status_code: int | None = None,
    ) -> None:
        """A transient failure: try again at ``next_at``."""
        ...


class Sends(Protocol):
    """What the worker asks of its sender: a :class:`~pm_xero_plugin.sync.sender.BatchSender`,
    or the fleet's, which hands each batch to its practice's."""

    def send(self, tenant_id: str, kind: str, rows: Sequence[Row]) -> BatchOutcome:
        """Send ``rows`` (one tenant, claimed by the caller: of ``kind``, or of batchable kinds
        sharing its endpoint, each row's ``kind`` saying which) and settle each."""
        ...


@dataclass
class WorkerStats:
    """Running totals, for the demo's progress bar, ``pm-xero worker`` and the benchmarks."""

    batches: int = 0
    synced: int = 0
    failed: int = 0
    retrying: int = 0
    api_calls: int = 0
    by_tenant: dict[str, int] = field(default_factory=dict)
    limit_waits: int = 0
    """Times an organisation was held back for Xero's limits (a full 5 in flight – counted over
    every process on the data directory –, a used-up minute or day, a 429)."""

    def add(self, tenant_id: str, outcome: BatchOutcome) -> None:
        """Count one settled batch of ``tenant_id``."""
        self.batches += 1
        self.synced += outcome.synced
        self.failed += outcome.failed
        self.retrying += outcome.retrying
        self.api_calls += outcome.api_calls
        self.by_tenant[tenant_id] = self.by_tenant.get(tenant_id, 0) + outcome.synced


@dataclass
class _Filling:
    """A batch of history claimed and held while it fills (see :data:`FILL_SECONDS`)."""

    rows: list[Row]
    since: float
    """When its first rows were claimed (the worker's monotonic clock)."""


class _LedgerTrouble:
    """The loop's back-off while its ledger fails, and what the health says meanwhile."""

    def __init__(self, health: Health, path: Path | str, monotonic: Callable[[], float]) -> None:
        self._health = health
        self._path = path
        self._monotonic = monotonic
        self._delay = 0.0
        self.retry_at = 0.0

    def failed(self, exc: Exception) -> None:
        """A loop failed: report it, and wait longer before the next try."""
        self._delay = min(ERROR_BACKOFF_MAX, self._delay * 2 or ERROR_BACKOFF_FIRST)
        self.retry_at = self._monotonic() + self._delay
        condition = ledger_error_condition(exc, self._path)
        self._health.report_condition(replace(condition, name=LEDGER_CONDITION))
        log.warning(
            "xero: the worker's loop failed (%s: %s); trying again in %.1f s",
            type(exc).__name__,
            exc,
            self._delay,
            exc_info=self._delay == ERROR_BACKOFF_FIRST,  # the traceback once per episode
        )

    def succeeded(self) -> None:
        """A loop went through: the condition is gone, the next failure starts afresh."""
        if self._delay:
            log.info("xero: the worker's ledger works again")
            self._delay = 0.0
            self._health.clear(LEDGER_CONDITION)

    def wait_left(self) -> float:
        """Seconds left before the next try (0: try now)."""
        return max(0.0, self.retry_at - self._monotonic())


class Worker:
    """Schedules :class:`~pm_xero_plugin.sync.sender.BatchSender` calls across tenants.

    :param ledger: the ledger (``tenants_with_ready_work``, ``claim_next`` …).
    :param sender: sends one claimed batch and settles its rows.
    :param now: the host clock (lease and retry times are on it).
    :param doorbell: rung when rows become ready (by the engine) or a batch settled: the idle
        loop looks again at once instead of at the next poll.
    :param threads: sending threads shared by all tenants.
    :param per_tenant: batches in flight per tenant at most.
    :param batch_size: rows per batch (Xero recommends at most 50 elements per request).
    :param poll_seconds: how long to sleep when idle before looking again (unless the doorbell
        rings first).
    :param limiter: Xero's per-organisation limits (``None``: none, as in some tests).
    :param tick: called once at the start of every loop, before the ledger is looked at.
    :param health: where the worker says that it cannot use its ledger, or that it stopped
        (the engine's, so the dashboard shows it; a private one by default).
    :param ledger_path: the ledger's file, named in those conditions.
    :param hostname: this machine's identity (hostname, boot id, pid namespace:
        :func:`~pm_xero_plugin.sync.leases.this_host`), recorded with the worker's beats (owners
        of the same identity are judged gone as soon as their pid is).
    """

    def __init__(
        self,
        ledger: WorkQueue,
        sender: Sends,
        *,
        now: Callable[[], datetime],
        doorbell: Doorbell,
        threads: int = 4,
        per_tenant: int = 2,
        batch_size: int = 50,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
        worker_id: str | None = None,
        limiter: Limits | None = None,
        tick: Callable[[], None] | None = None,
        health: Health | None = None,
        ledger_path: Path | str = "the ledger",
        hostname: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.sender = sender
        self._now = now
        self._threads = threads
        self._per_tenant = per_tenant
        self._batch_size = min(batch_size, 50)
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._monotonic = monotonic
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:8]}"
        self._limiter = limiter
        self._tick = tick
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._blocked_until: dict[str, float] = {}
        self._paced_until: dict[str, float] = {}
        self._live_seen: dict[str, float] = {}
        self._filling: dict[str, dict[str, _Filling]] = {}
        """Per tenant and endpoint, history held while it fills (the loop's thread only)."""
        self._doorbell = doorbell
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: set[Future[None]] = set()
        self.health = health or Health()
        # The clock is read through self._monotonic (a test may put the worker on virtual time
        # after construction): the back-off and the judge read it the same way.
        self._trouble = _LedgerTrouble(self.health, ledger_path, lambda: self._monotonic())
        self._hostname = hostname if hostname is not None else this_host()
        self._judge = LeaseJudge(
            ledger,
            worker_id=self.worker_id,
            lease_seconds=lease_seconds,
            monotonic=lambda: self._monotonic(),
            hostname=self._hostname,
        )
        self._next_beat = float("-inf")
        self._stranded: dict[int, int | None] = {}
        """Rows this worker holds but could not give back (the ledger failed): given back as
        soon as it works again – nobody else takes them from a live worker."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a background thread (the in-host mode)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.health.clear(STOPPED_CONDITION)
        self._thread = threading.Thread(
            target=self._run_in_thread, name="pm-xero-worker", daemon=True
        )
        self._thread.start()

    def _run_in_thread(self) -> None:
        """The thread's body: :meth:`run`, and if it ever ends unasked, say so on the health
        instead of leaving the dashboard to believe that records are moving."""
        try:
            self.run()
        except BaseException as exc:
            log.exception("xero: the worker thread died")
            self._report_stopped(f"{type(exc).__name__}: {exc}")
            return
        if not self._stop.is_set():  # pragma: no cover - run() returns only when stopped
            self._report_stopped("its loop ended")

    def _report_stopped(self, why: str) -> None:
        self.health.report(
            STOPPED_CONDITION,
            f"the add-on's sender has stopped: {why}",
            "restart the host (or the pm-xero worker process) to start it again; nothing is "
            "lost: records wait in the ledger and are sent once it runs",
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let in-flight batches finish, and return. Nothing is lost: a batch
        still running at the timeout keeps its claim, taken by another worker once this one is
        gone (its process ended, or its beat stood still for a lease)."""
        self._stop.set()
        self._doorbell.ring()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self, *, until_idle: bool = False, max_seconds: float | None = None) -> WorkerStats:
        """The scheduling loop. With ``until_idle`` it returns once nothing is ready or in flight
        (the demo and tests use that); otherwise it runs until :meth:`stop`."""
        deadline = None if max_seconds is None else self._monotonic() + max_seconds
        # The loop never waits for one organisation's limits (a chart read in the settings
        # follow-up included): it has the others to serve. Sending threads start with no wait.
        with (
            never_waiting_for_limits(),
            ThreadPoolExecutor(self._threads, thread_name_prefix="pm-xero-send") as pool,
        ):
            self._pool = pool
            try:
                while not self._stop.is_set():
                    if deadline is not None and self._monotonic() > deadline:
                        break
                    wait = self._trouble.wait_left()
                    if wait:
                        self._stop.wait(min(wait, self._poll))
                        continue
                    try:
                        dispatched, waiting_on_block = self._loop_once()
                    except Exception as exc:
                        self._trouble.failed(exc)  # never the end of the worker: back off
                        continue
                    self._trouble.succeeded()
                    if until_idle and not dispatched and not self._busy() and not waiting_on_block:
                        break
                    if not dispatched:
                        self._doorbell.wait(self._idle_wait())
            finally:
                self._drain()
                self._pool = None
                self._give_back_filling()
                self._retire()
        return self.stats

    def _retire(self) -> None:
        """Forget this worker's row (kept if it still holds claims); next run beats afresh."""
        self._next_beat = float("-inf")
        try:
            self.ledger.retire_worker(self.worker_id)
        except Exception:
            log.warning("xero: could not retire worker %s", self.worker_id, exc_info=True)

    # -- scheduling ------------------------------------------------------------------------------

    def _busy(self) -> bool:
        with self._lock:
            return any(self._inflight.values()) or bool(self._filling)

    def _idle_wait(self) -> float:
        now = self._monotonic()
        with self._lock:
            pending = [t - now for t in self._blocked_until.values() if t > now]
            pending += [t - now for t in self._paced_until.values() if t > now]
        pending += [
            held.since + FILL_SECONDS - now
            for kinds in self._filling.values()
            for held in kinds.values()
        ]
        return max(0.01, min([self._poll, *pending]))

    def _loop_once(self) -> tuple[bool, bool]:
        """One look at the ledger: give back what the ledger refused to take back, then
        :meth:`_dispatch`."""
        with self._lock:
            stranded = dict(self._stranded)
        if stranded:
            with self.ledger.fenced({i: t for i, t in stranded.items() if t is not None}):
                self.ledger.release(list(stranded))
            with self._lock:
                for row_id in stranded:
                    self._stranded.pop(row_id, None)
        self._beat()
        return self._dispatch()

    def _beat(self) -> None:
        """Say "alive" every quarter lease (on the monotonic clock), renewing the claims."""
        mono = self._monotonic()
        if mono < self._next_beat:
            return
        self.ledger.beat(
            self.worker_id,
            hostname=self._hostname,
            pid=os.getpid(),
            lease_until=self._now() + timedelta(seconds=self._lease),
        )
        self._next_beat = mono + self._lease / 4

    def _dispatch(self) -> tuple[bool, bool]:
        """Claim and submit one batch for each tenant that may go now.

        :return: (whether anything was submitted, whether ready work waits on a blocked tenant)
        """
        if self._tick is not None:
            self._tick()
        now = self._now()
        mono = self._monotonic()
        dispatched = False
        blocked = False
        take = self._judge.gone()
        # A tenant whose only work is history held here is not "ready" in the ledger any more.
        ready = self.ledger.tenants_with_ready_work(now, take_from=take)
        for tenant in sorted({*ready, *self._filling}):
            # Live records (made through a hook) go before the back-sync's history: one slot
            # more in flight than history may take, and while the practice is live (a live
            # record in the last LIVE_PACE_SECONDS) history spreads its minute budget (pace),
            # so a live record does not wait out a window history used up. A back-sync with
            # nobody working (the first one, at night) still spends its budget at once.
            live = self.ledger.has_live_work(tenant, now, take_from=take)
            if live:
                self._live_seen[tenant] = mono
            pace = not live and mono - self._live_seen.get(tenant, -LIVE_PACE_SECONDS) < (
                LIVE_PACE_SECONDS
            )
            with self._lock:
                if self._blocked_until.get(tenant, 0.0) > mono:
                    blocked = True
                    continue
                if self._inflight.get(tenant, 0) >= self._per_tenant + int(live):
                    continue
            if self._limiter is not None:
                wait = self._limiter.wait_for(tenant, pace=pace)
                if not wait.ready:
                    # Rate-limited (429 Retry-After, minute or day budget): skip this tenant
                    # only, and look again when it may go. Paced history looks again soon, or
                    # at once when a live record wakes the worker.
                    with self._lock:
                        if wait.reason == "paced-minute":
                            self._paced_until[tenant] = mono + max(wait.seconds, 0.01)
                        else:
                            self._blocked_until[tenant] = mono + max(wait.seconds, 0.01)
                            self.stats.limit_waits += 1
                    blocked = True
                    continue
            batch = self._next_batch(tenant, now, take, mono)
            if batch is None:
                continue
            kind, rows = batch
            with self._lock:
                self._inflight[tenant] = self._inflight.get(tenant, 0) + 1
            assert self._pool is not None
            future = self._pool.submit(self._send, tenant, kind, rows)
            self._futures.add(future)
            future.add_done_callback(self._futures.discard)
            dispatched = True
        return dispatched, blocked

    def _next_batch(
        self, tenant: str, now: datetime, take: frozenset[str], mono: float
    ) -> tuple[str, list[Row]] | None:
        """The tenant's batch to send now (``None``: nothing, or only history filling).

        Claims until a batch should go: one that is not batchable, one with a live row (with the
        history held so far for its endpoint), or a full one; smaller history is held meanwhile,
        one batch per endpoint (its kinds in claiming order). When nothing more can be claimed,
        a held batch that may not wait any longer (:meth:`_may_fill`) goes – judged only then,
        so that a small batch claimed while the organisation had nothing in flight still waits
        when this pass sends the next kind's batch, whose settling opens more of it.
        """
        filling = self._filling.setdefault(tenant, {})
        try:
            for _ in range(len(SEND_ORDER) + 1):  # each pass holds an endpoint, or returns
                kind, rows = self._claim(tenant, now, take, filling)
                if not rows or not KINDS[kind].batchable:
                    return (kind, rows) if rows else self._due_filling(tenant, filling, mono)
                endpoint = KINDS[kind].endpoint
                held = filling.pop(endpoint, None)
                if held is not None:
                    rows = held.rows + rows
                live = any(r.priority > 0 for r in rows)
                if live or len(rows) >= self._batch_size:
                    return rows[0].kind, rows
                filling[endpoint] = _Filling(rows, held.since if held is not None else mono)
            return self._due_filling(tenant, filling, mono)
        finally:
            if not filling:
                self._filling.pop(tenant, None)

    def _due_filling(
        self, tenant: str, filling: dict[str, _Filling], mono: float
    ) -> tuple[str, list[Row]] | None:
        """A held batch of the tenant that may not wait any longer, taken out of ``filling``."""
        for endpoint, held in list(filling.items()):
            if not self._may_fill(tenant, held.since, mono):
                del filling[endpoint]
                return held.rows[0].kind, held.rows
        return None

    def _may_fill(self, tenant: str, since: float, mono: float) -> bool:
        """Whether held history may wait longer: its time is not up, and something of its
        organisation is in flight (whose settling opens more rows; with nothing in flight
        nothing is about to, and the organisation's slots stand idle)."""
        with self._lock:
            return mono - since < FILL_SECONDS and self._inflight.get(tenant, 0) > 0

    def _give_back_filling(self) -> None:
        """The loop ends: history still held goes back to the ledger (another worker, or the
        next run, sends it)."""
        for kinds in self._filling.values():
            for held in kinds.values():
                claims = {r.id: r.claim_token for r in held.rows if r.claim_token is not None}
                try:
                    with self.ledger.fenced(claims):
                        self._release_quietly(held.rows)
                except Exception:  # the ledger failing: the rows' owner is judged gone later
                    log.exception("could not give %d held rows back", len(held.rows))
        self._filling.clear()

    def _claim(
        self,
        tenant: str,
        now: datetime,
        take: frozenset[str],
        filling: Mapping[str, _Filling],
    ) -> tuple[str, list[Row]]:
        # Live records first, then history, each in SEND_ORDER (ledger.claim_next): a new
        # record does not wait behind a back-sync's backlog of an earlier kind. An endpoint
        # being held is topped up to the batch size, no further.
        def limit_for(kind: str) -> int:
            if not KINDS[kind].batchable:
                return 1
            held = filling.get(KINDS[kind].endpoint)
            return self._batch_size - (len(held.rows) if held is not None else 0)

        kind, rows = self.ledger.claim_next(
            tenant,
            SEND_ORDER,
            limit_for=limit_for,
            lease_seconds=self._lease,
            worker_id=self.worker_id,
            now=now,
            take_from=take,
        )
        return kind, list(rows)

    def _send(self, tenant: str, kind: str, rows: list[Row]) -> None:
        # Every write for these rows – the sender's, its look-ups', the back-off below – is
        # fenced by the claim's token: once another worker has taken a row (this one was judged
        # gone, then woke up) nothing here can settle or re-send it.
        claims = {r.id: r.claim_token for r in rows if r.claim_token is not None}
        outcome = BatchOutcome()
        try:
            with self.ledger.fenced(claims):
                outcome = self._send_fenced(tenant, kind, rows)
        finally:
            with self._lock:
                self._inflight[tenant] -= 1
                if outcome.blocked_for:
                    self._blocked_until[tenant] = self._monotonic() + outcome.blocked_for
                    self.stats.limit_waits += 1
                self.stats.add(tenant, outcome)
            self._doorbell.ring()

    def _send_fenced(self, tenant: str, kind: str, rows: list[Row]) -> BatchOutcome:
        try:
            return self.sender.send(tenant, kind, rows)
        except ClaimLost as lost:
            # Another worker owns (some of) the batch now: leave those rows to it, give back
            # the ones still held (a fenced release skips the others). Not an error of ours.
            log.warning(
                "claim lost: %s; %d %s rows of tenant %s left to the worker that took them",
                lost,
                len(rows),
                kind,
                tenant,
            )
            self._release_quietly(rows)
            return BatchOutcome()
        except Exception as exc:
            # A bug must not kill the worker or strand the rows – nor spin on them: released
            # rows would be claimed and crash again at once, hundreds of times a second. They
            # back off like a transient error instead (any "in doubt" mark is kept, so they are
            # looked up before re-sending) and show the error on the dashboard.
            log.exception("batch of %d %s rows for tenant %s crashed", len(rows), kind, tenant)
            return BatchOutcome(retrying=self._back_off(rows, exc))

    def _release_quietly(self, rows: list[Row]) -> None:
        """Give rows back; if the ledger refuses (a full disk), keep them for the loop to give
        back once it works again (nobody takes rows from a live worker)."""
        try:
            self.ledger.release([r.id for r in rows])
        except Exception:
            log.exception("could not give %d rows back; trying again shortly", len(rows))
            with self._lock:
                self._stranded.update({r.id: r.claim_token for r in rows})

    def _back_off(self, rows: list[Row], exc: Exception) -> int:
        """Schedule crashed rows for a later attempt; returns how many were."""
        attempts = max((int(getattr(r, "attempts", 0)) for r in rows), default=0)
        next_at = self._now() + timedelta(seconds=backoff_delay(attempts + 1))
        message = f"internal error, will retry: {type(exc).__name__}: {exc}"
        done = 0
        for row in rows:
            try:
                self.ledger.mark_retrying(row.id, next_at, message)
                done += 1
            except ClaimLost as lost:
                log.warning("claim lost: %s; left to the worker that took it", lost)
            except Exception:  # already settled by the sender before it crashed, or gone
                log.debug("row %s not rescheduled after the crash", row.id, exc_info=True)
        self._release_quietly(rows)  # anything still leased goes back
        return done

    def _drain(self) -> None:
        for future in list(self._futures):
            future.result()
