"""One practice's add-on: its engine, Xero side, health, hand-off and background jobs.

A host process may serve many practices (Pet Manager is a hosted service), so nothing of a
practice is a module global: each practice the host names gets a :class:`PracticeAddon` of its
own – its own ledger (a SQLite file in its data directory, or its rows of the shared PostgreSQL
ledger), settings, secret, Xero connections and limits – and a hook for one practice only ever
reaches that practice's object (:mod:`pm_xero_plugin.plugin` chooses it).

What each hook does is unchanged from the one-practice add-on, and so is its promise: a hook
never raises into the host. Every failure is logged on the ``pm_xero_plugin`` logger and kept for
the practice's dashboard (``plugin_errors``).

A record the ledger cannot take now – a full disk, a ledger another process holds, a ledger that
cannot be opened, no engine yet – is kept by :mod:`pm_xero_plugin.core.handoff`: in order, in a
spool file in the practice's data directory, and written by a background thread once the ledger
takes writes (replayed at the next start-up after a restart). A hook waits for the ledger at most
:data:`~pm_xero_plugin.core.handoff.HOOK_WAIT`. A ledger that cannot be opened is said in words
on ``sync_status``'s ``health`` and opening it is tried again in the background
(:mod:`pm_xero_plugin.core.startup`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.handoff import DRAIN_WAIT, STARTUP_BUDGET, HandOff
from pm_xero_plugin.core.health import Health
from pm_xero_plugin.core.jobs import Intent, Jobs, background_jobs_enabled

if TYPE_CHECKING:
    from hookspecs.host import Host
    from pm_xero_plugin.core.doorbell import Doorbell
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.core.startup import Retrying
    from pm_xero_plugin.ledger import Ledger
    from pm_xero_plugin.ledger.backends import LedgerBackends
    from pm_xero_plugin.sync.books import XeroBooks
    from pm_xero_plugin.sync.runtime import XeroRuntime
    from pm_xero_plugin.xero.ratelimit import Limits
    from pm_xero_plugin.xero.tokens import TokenStorage

__all__ = ["LEDGER_FILE", "ONE_PRACTICE", "PLUGIN", "PracticeAddon"]

PLUGIN = "xero"
log = logging.getLogger("pm_xero_plugin")

LEDGER_FILE = "ledger.sqlite3"
"""The ledger's file in the add-on's data directory (the engine's default)."""

ONE_PRACTICE = "practice-1"
"""The practice id a host of one practice that names none stands for (the reference host's own
default): the rows of its practice in a shared PostgreSQL ledger, as every verb opens them."""

RECONCILE = "reconcile with the host"
"""The label of the reconciliation job (``background_jobs`` on the dashboard)."""

RECONCILE_MINUTES = 15.0
"""How often the host's records are reconciled while the host runs (start-up always does);
``PM_XERO_RECONCILE_MINUTES`` overrides it, ``0`` turns the periodic pass off."""

BOOKS = "reconcile with Xero's books"
"""The label of the periodic reconciliation with Xero (``background_jobs``)."""

BOOKS_EVENTS = "Xero's webhook events"
"""The label of the pass that handles webhook events soon after they arrive."""

BOOKS_CHECK_MINUTES = 15.0
"""How often the job thread looks whether an organisation's books are due a read
(``reconcile_hours`` decides) and handles events a wake-up missed."""

BOOKS_WAKE_DELAY = 2.0
"""Seconds between a webhook's wake-up and its pass: the deliveries of a burst (Xero batches up
to 50 events, and sends several batches) are handled in one pass, not one each."""

_RECORD_HOOKS: dict[str, Callable[[Engine, Any], None]] = {
    "on_client_saved": lambda e, raw: e.record_client(raw),
    "on_invoice_created": lambda e, raw: e.record_invoice(raw, "created"),
    "on_invoice_updated": lambda e, raw: e.record_invoice(raw, "updated"),
    "on_invoice_voided": lambda e, raw: e.record_invoice(raw, "voided"),
    "on_credit_note_created": lambda e, raw: e.record_credit_note(raw),
    "on_payment_recorded": lambda e, raw: e.record_payment(raw),
    "on_deposit_recorded": lambda e, raw: e.record_deposit(raw),
    "on_refund_recorded": lambda e, raw: e.record_refund(raw),
    "on_payout_recorded": lambda e, raw: e.record_payout(raw),
}
"""How each record hook hands its record to the engine: what the spool replays by name."""

RECORD_HOOKS = frozenset(_RECORD_HOOKS)
"""The hooks that carry one host record."""


def _reconcile_minutes() -> float:
    raw = os.environ.get("PM_XERO_RECONCILE_MINUTES", "").strip()
    try:
        return float(raw) if raw else RECONCILE_MINUTES
    except ValueError:
        log.warning("xero: PM_XERO_RECONCILE_MINUTES=%r is not a number: every %s min", raw, 15)
        return RECONCILE_MINUTES


class PracticeAddon:
    """The add-on for one practice (see the module's docstring).

    :param practice_id: the practice's id as the host names it (``None``: a host of one practice
        that names none).
    :param ledgers: where PostgreSQL ledgers are opened (one pool per URL for the process), when
        ``PM_XERO_LEDGER`` names one; ``None`` for SQLite only.
    """

    def __init__(self, practice_id: str | None, ledgers: LedgerBackends | None = None) -> None:
        self.practice_id = practice_id
        self.host: Host | None = None
        self.engine: Engine | None = None
        self.runtime: XeroRuntime | None = None
        self.books: XeroBooks | None = None
        """The reconciliation with Xero's books (with the runtime: it reads through its
        client)."""
        self._wake_lock = threading.Lock()
        self._wake_timer: threading.Timer | None = None
        self._events_queued = False
        self.health = Health()
        """What stops this practice's add-on now, in words: kept here, not in the engine, so
        that a ledger that cannot be opened (no engine) is still reported."""
        self.jobs = Jobs()
        self._ledgers = ledgers
        self._starting: Retrying | None = None
        self._life = threading.RLock()
        """Held while an engine is made or closed (a background start-up against shutdown)."""
        self._handed: list[tuple[Engine, int]] = []
        """Intents handed to the job thread for an engine (a start-up's resume skips those the
        hooks kept before it handed on already: they would only show twice)."""
        self.kept = HandOff(
            self.health, replay=_RECORD_HOOKS, on_error=self.failed, on_lost=self._dropped
        )
        """The records the ledger could not take yet (and those that arrived with no engine)."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: Host) -> None:
        """Open the ledger, start sending (when the Xero app is configured) and write the
        records kept before it (the spool's, after a restart); a second start-up replaces the
        first one's engine. A ledger that cannot be opened is said on health, in words, and
        opening it is tried again in the background (records meanwhile go to the spool)."""
        self.host = host
        try:
            self._stop()
            self.health.clear_prefix("")  # a new start finds again what still holds
            try:
                self.kept.open_spool(host.data_dir(PLUGIN))
            except Exception as exc:  # records are then kept in memory only: still start
                self.failed("pm_startup", exc)
            with self._life:
                started = self._start(host)
            if started is None:
                self._start_later(host)
                return
        except Exception as exc:
            self.failed("pm_startup", exc)
            return
        self._resume()

    def shutdown(self) -> None:
        """Let the background jobs finish, stop the worker, close the ledger."""
        if not self.jobs.wait(timeout=None if self.engine is not None else 0):
            log.warning("xero: background jobs still running at shutdown")
        try:
            self._stop()
        except Exception as exc:
            self.failed("pm_shutdown", exc)

    def _open_ledger(self, host: Host, path: Path, doorbell: Doorbell) -> Ledger:
        """The practice's ledger: its rows of the PostgreSQL ledger ``PM_XERO_LEDGER`` names,
        else the SQLite file in its data directory."""
        from pm_xero_plugin.core.gates import DependantGates, open_ledger

        if self._ledgers is not None:
            from pm_xero_plugin.ledger.backends import ledger_url

            url = ledger_url()
            if url is not None:
                return self._ledgers.open(
                    self.practice_id or ONE_PRACTICE,
                    path.parent,
                    clock=host.now,
                    dependants=DependantGates(doorbell),
                    url=url,
                )
        return open_ledger(path, clock=host.now, doorbell=doorbell)

    def _start(self, host: Host) -> Engine | None:
        """The engine and, when the Xero app is configured, its Xero side, sharing one doorbell
        (the engine rings it when rows become ready, the worker waits on it); then the records
        kept meanwhile are written (for :data:`~pm_xero_plugin.core.handoff.STARTUP_BUDGET`,
        the background thread does the rest). ``None`` when the ledger cannot be opened: the
        health says why, in words, and the caller tries again later."""
        from pm_xero_plugin.core.doorbell import Doorbell
        from pm_xero_plugin.core.engine import Engine
        from pm_xero_plugin.core.startup import (
            LEDGER_OPEN,
            connected_before,
            ledger_exists,
            open_failure,
            report_fresh_ledger,
        )

        data_dir = host.data_dir(PLUGIN)
        path = data_dir / LEDGER_FILE
        fresh = not ledger_exists(path)
        doorbell = Doorbell()
        ledger: Ledger | None = None
        try:
            ledger = self._open_ledger(host, path, doorbell)
            fresh = fresh and ledger_exists(path)  # a PostgreSQL ledger makes no file
            # The engine reads its settings into the ledger as it starts: a ledger another
            # process holds must not hold the host's start-up for the worker's 30 s.
            with ledger.transaction(timeout=DRAIN_WAIT):
                engine = Engine(host, ledger, doorbell=doorbell, health=self.health)
        except Exception as exc:
            if ledger is not None:
                with suppress(Exception):
                    ledger.close()
            condition = open_failure(exc, path)
            waiting = self.kept.waiting_text()
            self.health.report(
                condition.name,
                condition.message + (f"; {waiting}" if waiting else ""),
                condition.action,
            )
            log.error("xero: the add-on could not start: %s", condition.message)
            return None
        self.health.clear(LEDGER_OPEN)
        self.engine = engine
        if fresh:
            connections = connected_before(data_dir, host.secret(PLUGIN))
            if connections:
                report_fresh_ledger(self.health, engine.ledger, connections)
        try:
            self._start_runtime(engine, doorbell)
        except Exception as exc:
            self.failed("pm_startup", exc)
        self.kept.attach(engine, path)
        self.kept.drain(budget=STARTUP_BUDGET)
        return engine

    def _start_later(self, host: Host) -> None:
        """Try the start-up again in the background, with a backoff, until the ledger opens;
        then resume as the start-up does."""
        from pm_xero_plugin.core.startup import Retrying

        def attempt() -> bool:
            with self._life:
                if starting.stopping:
                    return True
                if self.engine is not None:
                    return True
                if self._start(host) is None:
                    return False
            log.warning("xero: the add-on has started (its ledger opens now)")
            if not starting.stopping:  # else a new start-up (or the shutdown) took over
                self._resume()
            return True

        starting = self._starting = Retrying("pm-xero-startup", attempt)
        starting.start()

    def _start_runtime(self, engine: Engine, doorbell: Doorbell) -> None:
        """The Xero side of a new engine, its worker thread started; :meth:`_stop` stops it
        (releasing nothing it has not settled) before the engine closes its ledger."""
        from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime

        config = AppConfig.from_env()
        if config is None:
            log.warning(
                "xero: no Xero app configured (PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET): "
                "records are kept in the ledger and sent once it is"
            )
            return
        host = engine.host
        secret = host.secret(PLUGIN)
        limiter, tokens = self._shared_xero(config.oauth().api_url, secret, host.data_dir(PLUGIN))
        runtime = XeroRuntime(
            engine,
            config,
            secret=secret,
            data_dir=host.data_dir(PLUGIN),
            doorbell=doorbell,
            limiter=limiter,
            tokens=tokens,
        )
        self.runtime = runtime
        from pm_xero_plugin.sync.books import XeroBooks

        self.books = XeroBooks(engine, runtime.client, runtime.connection_for)
        # Re-checking each organisation's connection and chart of accounts calls Xero: not on
        # the host's start-up path. The gates keep their last known state meanwhile.
        self.long("refresh_connections", lambda e: runtime.refresh_connections())
        runtime.start()

    def _shared_xero(
        self, api_url: str, secret: bytes, data_dir: Path
    ) -> tuple[Limits | None, TokenStorage | None]:
        """On a PostgreSQL ledger, Xero's limits and the practice's tokens kept in its database
        for every process on every machine (:mod:`pm_xero_plugin.sync.shared_xero`); ``None``
        each (the data directory's own) on SQLite."""
        if self._ledgers is None:
            return None, None
        from pm_xero_plugin.ledger.backends import ledger_url
        from pm_xero_plugin.sync.shared_xero import shared_limits, shared_tokens

        url = ledger_url()
        if url is None:
            return None, None
        store = self._ledgers.store(url)
        practice = self.practice_id or ONE_PRACTICE
        return (
            shared_limits(store.side_pool("limits"), api_url),
            shared_tokens(store.pool, practice, secret, data_dir),
        )

    def _stop(self) -> None:
        """Stop trying to start, write what is kept while the ledger lets us (briefly), stop
        the worker (in-flight batches finish), then close the engine and its ledger. What is
        still kept stays in the spool for the next start-up."""
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.stop()
        with self._life:
            if self.engine is not None and self.kept.waiting():
                self.kept.drain(budget=DRAIN_WAIT)
            self.kept.detach()
            runtime, self.runtime = self.runtime, None
            engine, self.engine = self.engine, None
            self.books = None
            with self._wake_lock:
                timer, self._wake_timer = self._wake_timer, None
            if timer is not None:
                timer.cancel()
            try:
                if runtime is not None:
                    runtime.stop()
                if engine is not None:
                    engine.close()
            finally:
                self.kept.close_spool()

    # -- failures --------------------------------------------------------------------------------

    def failed(self, hook: str, exc: BaseException) -> None:
        """A hook (or its background part) failed: log it, keep it for the dashboard."""
        log.exception("xero: hook %s failed; the host carries on", hook, exc_info=exc)
        if self.engine is not None:
            with suppress(Exception):  # recording the failure must not fail the host
                self.engine.note_hook_error(hook, exc)

    def _dropped(self, count: int) -> None:
        """Records were dropped before reaching the ledger (the memory limit, or failing again
        and again). The hand-off reports it on health and sets ``RECONCILE_META`` in the ledger
        once it takes writes; the next reconciliation with the host's records (start-up,
        periodic) then reads everything covered and finds them."""
        log.error(
            "xero: %d records dropped before the ledger; a reconciliation will find them", count
        )

    # -- hooks -----------------------------------------------------------------------------------

    def keep(
        self,
        hook: str,
        action: Callable[[Engine], None],
        *,
        record: Any = None,
        spoolable: bool = False,
    ) -> None:
        """Hand a hook's action to the engine now, or keep it for later (see
        :class:`~pm_xero_plugin.core.handoff.HandOff`). A record (``spoolable``) is written in
        one transaction waiting at most ``HOOK_WAIT`` and kept in the spool when it cannot be;
        other actions (settings, an admin's button before start-up) run as they are, kept in
        memory."""
        try:
            self.kept.hand_off(hook, action, record=record, spoolable=spoolable, bounded=spoolable)
        except Exception as exc:  # keeping it failed: say so, never raise into the host
            self.failed(hook, exc)

    def record(self, hook: str, raw: Any) -> None:
        """A record hook: ``raw`` handed to the engine as ``_RECORD_HOOKS`` says."""
        call = _RECORD_HOOKS[hook]
        self.keep(hook, lambda e: call(e, raw), record=raw, spoolable=True)

    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        """The reasons the host must refuse these settings (``[]``: fine)."""
        try:
            if self.engine is None:
                from pm_xero_plugin.inputs.settings import parse_settings

                return parse_settings(settings)[1]
            return self.engine.validate_settings(settings)
        except Exception as exc:
            self.failed("validate_settings", exc)
            return [f"settings: could not be checked ({type(exc).__name__}); try again"]

    def settings_saved(self, settings: dict[str, Any]) -> None:
        """Apply the saved settings at once (a replay they call for runs in the background)."""
        self.keep("on_settings_saved", lambda e: self._apply_settings(e, settings))

    def _apply_settings(self, engine: Engine, settings: dict[str, Any]) -> None:
        """Settings take effect at once; the replay they may call for (an earlier start date, a
        switch back on) streams history, so it runs as a background job – written down in the
        ledger before the settings are put in force, so a host killed in between still runs
        it."""
        intent = None
        if engine.ledger.meta("backfill_started") is not None:
            intent = engine.record_job("catch_up")
        engine.apply_settings(settings, catch_up=False)
        if intent is not None:
            self._hand_off(engine, "on_settings_saved", intent)

    def start_contact_sync(self, location_id: str | None) -> None:
        """The admin starts the contact sync (of one location, or all): a background job."""
        self.long("start_contact_sync", location_id=location_id)

    def backfill(self, location_id: str | None, since: date | None) -> None:
        """The admin starts the back-sync of history (from ``since`` or the start date): a
        background job."""
        self.long("backfill", location_id=location_id, since=since)

    # -- long actions ----------------------------------------------------------------------------

    def long(
        self, hook: str, action: Callable[[Engine], None] | None = None, /, **args: Any
    ) -> None:
        """Hand a long action (streaming history) to the background job thread: the hook
        returns at once. Inline with ``PM_XERO_JOBS=inline``; before start-up kept like any
        record.

        Without ``action`` the hook's own action (``backfill``, ``start_contact_sync``) is
        written down in the ledger first (``Engine.record_job``, with ``args``), so a host
        killed before or while it runs resumes it at the next start-up. With ``action`` it runs
        from memory only: for work every start-up does again anyway (re-reading the
        organisations).
        """
        if action is None:
            self.keep(hook, lambda e: self._hand_off(e, hook, e.record_job(hook, **args)))
            return
        engine = self.engine
        if engine is None or not background_jobs_enabled():
            self.keep(hook, action)
            return
        run = action

        def job() -> None:
            try:
                run(engine)
            except Exception as exc:
                self.failed(hook, exc)

        self.jobs.submit(hook, job)

    def _hand_off(
        self, engine: Engine, hook: str, intent: Intent, *, resumed: bool = False
    ) -> None:
        """Run a written-down action on the job thread (inline with ``PM_XERO_JOBS=inline``)."""
        if not background_jobs_enabled():
            self._run_job(hook, intent, engine)
            return
        if not resumed:
            self._handed.append((engine, intent.id))
        label = f"{intent.label} (resumed)" if resumed else intent.label
        self.jobs.submit(label, lambda: self._run_job(hook, intent))

    def _run_job(self, hook: str, intent: Intent, engine: Engine | None = None) -> None:
        """Run one intent on the engine in place when it runs (a restart's engine resumes what
        an earlier one was handed; one already crossed off is skipped)."""
        engine = engine or self.engine
        if engine is None:
            return  # shut down: it stays written down for the next start-up
        try:
            engine.run_job(intent)
        except Exception as exc:
            self.failed(hook, exc)

    def _reconcile(self) -> None:
        """The periodic pass: time's gates first (a future start date reached opens even in a
        practice no hook has reached since, and whose worker runs elsewhere: a fleet worker
        opens a practice only once it has work that may go), then the host's records."""
        engine = self.engine
        if engine is None:
            return
        try:
            engine.tick()
            engine.reconcile()
        except Exception as exc:
            self.failed("reconcile", exc)

    def _resume(self) -> None:
        """The end of the start-up: the host's records are reconciled with the ledger (what a
        host killed between its commit and ours never told us), then the long actions written
        down and not finished are handed to the job thread again; the reconciliation runs again
        periodically.

        The reconciliation goes first: what it finds is usually a handful of records, and a
        lost edit must be in the ledger before a payment recorded after the restart is sent
        against the version Xero has (a resumed back-sync may take minutes)."""
        engine = self.engine
        if engine is None:
            return
        try:
            background = background_jobs_enabled()
            if background:
                self.jobs.submit(RECONCILE, self._reconcile)
            else:
                self._reconcile()
            self._handed[:] = [(e, i) for e, i in self._handed if e is engine]
            already = {i for _, i in self._handed}
            for intent in engine.pending_jobs():
                if intent.id not in already:
                    self._hand_off(engine, "pm_startup", intent, resumed=True)
            minutes = _reconcile_minutes()
            if background and minutes > 0:
                engine.on_shutdown.append(self.jobs.every(RECONCILE, minutes * 60, self._reconcile))
            if background and self.books is not None:
                engine.on_shutdown.append(
                    self.jobs.every(BOOKS, BOOKS_CHECK_MINUTES * 60, self._books_pass)
                )
        except Exception as exc:
            self.failed("pm_startup", exc)

    # -- the reconciliation with Xero's books ----------------------------------------------------

    def _books_pass(self) -> None:
        """The periodic pass (on the job thread): events a wake-up missed, a read of the
        organisations that are due, the comparison."""
        books = self.books
        if books is None:
            return
        try:
            books.periodic_pass()
        except Exception as exc:  # XeroBooks never raises; this is the last guard
            self.failed("reconcile_books", exc)

    def _reconcile_later(self, engine: Engine, params: dict[str, Any]) -> dict[str, Any]:
        """``reconcile`` reads Xero within its limits (a minute or more for a big practice):
        on the job thread, never holding the host's request or the page."""
        from pm_xero_plugin.sync.actions import perform

        def job() -> None:
            try:
                said = perform(engine, self.runtime, "reconcile", params)
                log.info("admin's reconciliation: %s", said.message)
            except Exception as exc:
                self.failed("reconcile_books", exc)

        self.jobs.submit(BOOKS, job)
        return {
            "ok": True,
            "message": "reconciliation started: the Books page and the dashboard show what it "
            "finds when it is done",
        }

    def wake_books(self) -> None:
        """A webhook kept new events: handle them soon, on the job thread, never on the request.
        Wake-ups within :data:`BOOKS_WAKE_DELAY` (and while a pass is queued) make one pass."""
        with self._wake_lock:
            if self._wake_timer is not None or self._events_queued or self.books is None:
                return
            timer = self._wake_timer = threading.Timer(BOOKS_WAKE_DELAY, self._queue_events)
            timer.daemon = True
        timer.start()

    def _queue_events(self) -> None:
        with self._wake_lock:
            self._wake_timer = None
            if self._events_queued:
                return
            self._events_queued = True
        self.jobs.submit(BOOKS_EVENTS, self._events_pass)

    def _events_pass(self) -> None:
        with self._wake_lock:
            self._events_queued = False  # events kept from now on wake another pass
        books = self.books
        if books is None:
            return
        try:
            books.events_pass()
        except Exception as exc:
            self.failed("webhook_events", exc)

    def _now(self) -> datetime:
        """The host's clock (what the ledger's times and a webhook's replay window are read
        on), or the real one before the host started."""
        host = self.host
        return host.now() if host is not None else datetime.now(UTC)

    def _webhook_key(self) -> str | None:
        """The Xero app's webhook key (``PM_XERO_WEBHOOK_KEY``), never logged or shown."""
        runtime = self.runtime
        if runtime is not None:
            return runtime.config.webhook_key
        from pm_xero_plugin.sync.runtime import AppConfig

        config = AppConfig.from_env()
        return config.webhook_key if config is not None else None

    # -- the dashboard and the admin's buttons ---------------------------------------------------

    def sync_status(self, location_id: str | None) -> dict[str, Any]:
        """The dashboard's status (of one location, or all), never an exception. With no
        engine (not started, or its ledger cannot be opened): what is wrong and what to do
        (``health``), and the records kept meanwhile (``records_waiting``; with an engine, the
        health condition that keeps them says how many)."""
        engine = self.engine
        if engine is None:
            return self._status_without_engine()
        try:
            from pm_xero_plugin.dashboard.status import build

            status = build(engine, location_id)
            status["background_jobs"] = self.jobs.pending()
            return status
        except Exception as exc:
            self.failed("sync_status", exc)
            return {"plugin": PLUGIN, "error": f"status unavailable: {type(exc).__name__}: {exc}"}

    def _status_without_engine(self) -> dict[str, Any]:
        """``sync_status`` before the engine exists: the first error on health says why (a
        ledger that cannot be opened), else the add-on has simply not started yet."""
        try:
            errors = [c for c in self.health.conditions() if c.severity == "error"]
            error = (
                f"the Xero add-on could not start: {errors[0].message}"
                if errors
                else "the Xero add-on has not started yet"
            )
            return {
                "plugin": PLUGIN,
                "error": error,
                "health": self.health.as_list(),
                "records_waiting": self.kept.status(),
            }
        except Exception as exc:
            self.failed("sync_status", exc)
            return {"plugin": PLUGIN, "error": "the Xero add-on has not started yet"}

    def admin_action(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """An admin's button outside the add-on's pages (:mod:`pm_xero_plugin.sync.actions`):
        ``{"ok", "message"}`` in words, never an exception."""
        engine = self.engine
        if engine is None:
            return {
                "ok": False,
                "message": "the Xero add-on has not started yet; try again shortly",
            }
        try:
            from pm_xero_plugin.sync.actions import perform

            if action == "reconcile" and background_jobs_enabled():
                return self._reconcile_later(engine, dict(params or {}))
            return perform(engine, self.runtime, action, dict(params or {})).as_dict()
        except Exception as exc:
            self.failed("admin_action", exc)
            return {"ok": False, "message": f"{action} failed ({type(exc).__name__}); see the log"}

    def web_app(self) -> Any:
        """This practice's pages (:mod:`pm_xero_plugin.pages`), an ASGI app."""
        from pm_xero_plugin.pages.app import build_app
        from pm_xero_plugin.pages.webhooks import LedgerWebhookSink

        def secret() -> bytes | None:
            host = self.host
            return host.secret(PLUGIN) if host is not None else None

        def practice_id() -> str | None:
            if self.practice_id is not None:
                return self.practice_id
            from hookspecs.host import practice_id_of

            return practice_id_of(self.host) if self.host is not None else None

        def sandbox_url() -> str | None:
            # A Xero-compatible root instead of the real Xero is, in practice, the sandbox:
            # the dashboard links each record to the sandbox's own view of it as well.
            runtime = self.runtime
            return runtime.config.url if runtime is not None else None

        return build_app(
            engine=lambda: self.engine,
            runtime=lambda: self.runtime,
            secret=secret,
            practice_id=practice_id,
            start_contact_sync=lambda location_id: self.start_contact_sync(location_id),
            backfill=lambda location_id, since: self.backfill(location_id, since),
            sandbox_url=sandbox_url,
            reconcile=lambda params: str(self.admin_action("reconcile", params)["message"]),
            webhooks=LedgerWebhookSink(
                lambda: self.engine, self._webhook_key, wake=self.wake_books, clock=self._now
            ),
        )
