"""``pm-xero worker --data-dir ROOT`` on a fleet root: everything one worker process needs.

:func:`open_fleet` builds, and closes again, what ``cli/ops.py`` runs: the practices (on the
ledger ``PM_XERO_LEDGER`` names – PostgreSQL, shared by every process on every machine – or
each practice's SQLite file), the :class:`~pm_xero_plugin.fleet.worker.FleetWorker`, its metrics
and, with a port, the monitoring server. Each refusal is a :class:`FleetRefused` in one line
with what to do; the CLI prints it.

With PostgreSQL, Xero's limits and each practice's tokens are kept in it too, as the host's
add-on keeps them (:mod:`pm_xero_plugin.sync.shared_xero`): every worker on every machine keeps
each organisation within 5 calls in flight and 60 a minute, and uses – and refreshes, one at a
time – the tokens the admin connected on the host. On SQLite each practice's are its own files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from pm_xero_plugin.fleet.metrics import FleetMetrics
from pm_xero_plugin.fleet.practices import LedgerOpener, PracticeOptions, Practices
from pm_xero_plugin.fleet.sources import LedgerFiles, ReadySource, SharedLedger
from pm_xero_plugin.fleet.worker import FleetWorker
from pm_xero_plugin.ledger.interface import Dependants, Ledger
from pm_xero_plugin.xero.ratelimit import Clock, Limits
from pm_xero_plugin.xero.tokens import TokenStorage

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.backends import LedgerBackends
    from pm_xero_plugin.ledger.postgres_store import PgStore
    from pm_xero_plugin.sync.runtime import AppConfig

__all__ = [
    "FleetRefused",
    "FleetSettings",
    "ProgressLines",
    "RunningFleet",
    "Watchdog",
    "open_fleet",
]

log = logging.getLogger("pm_xero_plugin.fleet.run")

SINGLE_PROCESS_NOTE = (
    "serving the practices on their own SQLite ledgers: run one pm-xero worker for them here; "
    "to share the work among several processes or machines, set "
    "PM_XERO_LEDGER=postgresql://user@host/db (the host's ledger too)"
)


class FleetRefused(Exception):
    """The fleet worker cannot start as asked: one line, naming what to change.

    :param usage: the person asked for something that cannot be (exit 2); otherwise the
        environment refused (a busy port, an unreachable database: exit 1).
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class FleetSettings:
    """What ``pm-xero worker`` was asked for, on a fleet root."""

    root: Path
    config: AppConfig
    only: tuple[str, ...] = ()
    threads: int = 4
    batch_size: int = 50
    lease_seconds: int = 600
    metrics_port: int = 0
    """0: no monitoring server."""
    metrics_host: str = "127.0.0.1"


class _BackendLedgers:
    """:class:`~pm_xero_plugin.fleet.practices.LedgerOpener` on the process's ledger backends,
    for one URL (``None``: SQLite files)."""

    def __init__(self, backends: LedgerBackends, url: str | None) -> None:
        self._backends = backends
        self._url = url

    def open(
        self,
        practice_id: str,
        data_dir: Path,
        *,
        clock: Callable[[], datetime],
        dependants: Dependants,
    ) -> Ledger:
        """The practice's ledger at the URL."""
        return self._backends.open(
            practice_id, data_dir, clock=clock, dependants=dependants, url=self._url
        )


def _opener(backends: LedgerBackends, url: str | None) -> LedgerOpener:
    return _BackendLedgers(backends, url)


@dataclass
class RunningFleet:
    """A fleet worker ready to run (``worker.run()``), with what reports on it."""

    worker: FleetWorker
    practices: Practices
    metrics: FleetMetrics
    shared: bool
    """On PostgreSQL (other processes may share the work)."""
    metrics_url: str | None = None

    def status(self) -> dict[str, Any]:
        """What ``/healthz`` says: who this worker is and what it is doing."""
        since = self.worker.seconds_since_loop()
        return {
            "worker_id": self.worker.worker_id,
            "practices_open": len(self.practices.opened()),
            "practices_unavailable": self.practices.unavailable(),
            "in_flight": self.worker.ledger.in_flight,
            "seconds_since_loop": None if since is None else round(since, 3),
            "ledger": "postgresql" if self.shared else "sqlite",
            "health": [c.message for c in self.worker.health.conditions()],
        }

    def progress_line(self) -> str:
        """``synced 120, failed 2, retrying 0, 45 API calls; queued: 40 ready; 12 practices``"""
        stats = self.worker.stats
        parts = [
            f"synced {stats.synced}, failed {stats.failed}, retrying {stats.retrying}, "
            f"{stats.api_calls} API calls"
        ]
        depth = self.metrics.queue.depth() if self.metrics.queue is not None else {}
        queued = {s: n for s, n in depth.items() if s in ("ready", "sending", "retrying") and n}
        parts.append(
            "queued: " + ", ".join(f"{n} {s}" for s, n in sorted(queued.items()))
            if queued
            else "nothing queued (waiting for new records)"
        )
        parts.append(f"{len(self.practices.opened())} practices open")
        return "; ".join(parts)


@contextmanager
def open_fleet(
    settings: FleetSettings,
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    notice: Callable[[str], None] = log.info,
) -> Iterator[RunningFleet]:
    """The fleet worker of ``settings``, its practices closed (and its port freed) afterwards.

    :param env: the environment (``PM_XERO_LEDGER``); default the process's.
    :param transport: an httpx transport for every practice (tests mount the sandbox).
    :param notice: told, in one line, what an operator should know (SQLite: one process).
    :raises FleetRefused: a bad ``PM_XERO_LEDGER``, an unknown ``--practice``, a busy port, an
        unusable database.
    """
    from pm_xero_plugin.ledger.backends import LedgerBackends, ledger_url

    try:
        url = ledger_url(env)
    except ValueError as exc:
        raise FleetRefused(str(exc), usage=True) from None
    with ExitStack() as stack:
        backends = LedgerBackends()
        stack.callback(backends.close)
        limiter: Limits | None = None
        tokens: Callable[[str, bytes, Path], TokenStorage] | None = None
        store: PgStore | None = None
        if url is not None:
            from pm_xero_plugin.sync.shared_xero import shared_tokens

            store = _store(backends, url)
            pool = store.pool
            limiter = _limits_of(store, settings.config.oauth().api_url, clock)

            def tokens(practice_id: str, secret: bytes, data_dir: Path) -> TokenStorage:
                return shared_tokens(pool, practice_id, secret, data_dir)
        else:
            notice(SINGLE_PROCESS_NOTE)
        metrics = FleetMetrics()
        practices = Practices(
            settings.root,
            PracticeOptions(
                config=settings.config,
                transport=transport,
                clock=clock,
                batch_size=settings.batch_size,
                lease_seconds=settings.lease_seconds,
                limiter=limiter,
                tokens=tokens,
                ledgers=_opener(backends, url),
                response_hook=metrics.response,
            ),
            only=settings.only,
        )
        stack.callback(practices.close)
        _check_practices(practices)
        source: ReadySource = (
            SharedLedger(store.fleet(), practices) if store is not None else LedgerFiles(practices)
        )
        worker = FleetWorker(
            practices,
            source=source,
            observer=metrics,
            threads=settings.threads,
            batch_size=settings.batch_size,
            lease_seconds=settings.lease_seconds,
        )
        metrics.watch(
            queue_depth=source.queue_depth,
            in_flight=lambda: worker.ledger.in_flight,
            loop_age=worker.seconds_since_loop,
            practices_open=lambda: len(practices.opened()),
        )
        running = RunningFleet(worker, practices, metrics, shared=store is not None)
        if settings.metrics_port:
            running.metrics_url = _serve(stack, running, settings)
        yield running


def _limits_of(store: PgStore, api_url: str, clock: Clock | None) -> Limits:
    """Xero's limits kept in the ledger's database, or why not in words (their tables from a
    newer add-on, the database gone since the ledger opened)."""
    import psycopg

    from pm_xero_plugin.sync.shared_xero import shared_limits
    from pm_xero_plugin.xero.errors import TransientError
    from pm_xero_plugin.xero.pg_schema import SharedTablesTooNew

    try:
        return shared_limits(store.side_pool("limits"), api_url, clock)
    except SharedTablesTooNew as exc:
        raise FleetRefused(str(exc)) from None  # it says to upgrade the add-on
    except (TransientError, psycopg.Error) as exc:
        raise FleetRefused(
            f"Xero's shared limits in {store.server} cannot be set up "
            f"({type(exc).__name__}): is the database up? Try again"
        ) from None


def _store(backends: LedgerBackends, url: str) -> PgStore:
    """The PostgreSQL store, or why not in words."""
    from pm_xero_plugin.ledger.interface import LedgerUnavailable

    try:
        return backends.store(url)
    except LedgerUnavailable as exc:
        raise FleetRefused(f"the ledger's PostgreSQL cannot be used: {exc}") from None


def _check_practices(practices: Practices) -> None:
    """``--practice`` must name practices of the root; the root must hold some."""
    missing = practices.missing()
    if missing:
        known = practices.ids() if not practices.only else _all_ids(practices)
        raise FleetRefused(
            f"unknown practice {', '.join(missing)} under {practices.root} (known: "
            f"{', '.join(known[:20]) or 'none'}{' …' if len(known) > 20 else ''})",
            usage=True,
        )
    if not practices.ids():
        raise FleetRefused(
            f"{practices.root} holds no practice yet (no practices/<id>/host/practice.db): "
            "start the host once, or pass one practice's data directory",
            usage=True,
        )


def _all_ids(practices: Practices) -> list[str]:
    from pm_xero_plugin.fleet.practices import practice_ids

    return practice_ids(practices.root)


def _serve(stack: ExitStack, running: RunningFleet, settings: FleetSettings) -> str:
    """Start the monitoring server (stopped with the stack); its URL."""
    from pm_xero_plugin.fleet.http import MetricsPortBusy, MonitoringServer

    try:
        server = MonitoringServer(
            running.metrics.registry,
            running.status,
            host=settings.metrics_host,
            port=settings.metrics_port,
        )
    except MetricsPortBusy as exc:
        raise FleetRefused(str(exc)) from None
    except OSError as exc:
        raise FleetRefused(
            f"the metrics port {settings.metrics_host}:{settings.metrics_port} cannot be "
            f"opened ({exc.strerror or exc}): choose another --metrics-port, or 0 for none"
        ) from None
    server.start()
    stack.callback(server.stop)
    return server.url


class Watchdog:
    """After a stop was asked, ends the process if the worker has not finished in ``grace``
    seconds (a batch stuck in a request): its claims are taken over as a killed worker's are."""

    def __init__(self, grace: float, abandon: Callable[[], None]) -> None:
        self._grace = grace
        self._abandon = abandon
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start counting (once)."""
        if self._timer is None and self._grace > 0:
            self._timer = threading.Timer(self._grace, self._abandon)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        """The worker finished in time."""
        if self._timer is not None:
            self._timer.cancel()


class ProgressLines:
    """Echoes the fleet's :meth:`RunningFleet.progress_line` every ``every`` seconds when it
    changed, from a thread (``every`` 0: never), as a single-practice worker does."""

    def __init__(self, line: Callable[[], str], echo: Callable[[str], None], every: float) -> None:
        self._line = line
        self._echo = echo
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = ""

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                text = self._line()
            except Exception as exc:  # a report must never stop the worker
                text = f"(progress unavailable: {type(exc).__name__})"
            if text != self._last:
                self._last = text
                self._echo(text)

    def start(self) -> None:
        """Start the thread (not for ``every`` 0)."""
        if self._every > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pm-xero-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
