"""The Xero add-on's hook implementations: thin, and never raising into the host.

The host loads this module through the ``pet_manager`` entry point, so it imports fast and does
nothing at import time: the :class:`~pm_xero_plugin.core.engine.Engine` (ledger file, settings)
is made in ``pm_startup``. Every hook hands its input to the engine, which validates it with
marshmallow (a malformed record is stored as ``rejected`` with its reason) and records it durably.

A plugin that raises stops pluggy from calling the plugins after it, and breaks the staff member's
save. So every hook here catches everything, logs it on the ``pm_xero_plugin`` logger and keeps it
for the dashboard (``plugin_errors``).

A record the ledger cannot take now – a full disk, a ledger another process holds, a ledger that
cannot be opened, no engine yet – is kept by :mod:`pm_xero_plugin.core.handoff`: in order, in a
spool file beside the ledger, and written by a background thread once the ledger takes writes
(replayed at the next ``pm_startup`` after a restart). A hook waits for the ledger at most
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
from datetime import date
from typing import TYPE_CHECKING, Any

from hookspecs import hookimpl
from pm_xero_plugin.core.handoff import DRAIN_WAIT, STARTUP_BUDGET, HandOff
from pm_xero_plugin.core.health import Health
from pm_xero_plugin.core.jobs import Intent, Jobs, background_jobs_enabled

if TYPE_CHECKING:
    from hookspecs.host import Host
    from pm_xero_plugin.core.doorbell import Doorbell
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.core.startup import Retrying
    from pm_xero_plugin.ledger import SqliteLedger
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = [
    "admin_action",
    "backfill",
    "get_engine",
    "get_runtime",
    "on_client_saved",
    "on_credit_note_created",
    "on_invoice_created",
    "on_invoice_updated",
    "on_invoice_voided",
    "on_payment_recorded",
    "on_settings_saved",
    "pm_shutdown",
    "pm_startup",
    "start_contact_sync",
    "sync_status",
    "validate_settings",
    "wait_for_jobs",
    "wait_for_records",
    "web_app",
]

PLUGIN = "xero"
log = logging.getLogger("pm_xero_plugin")

_engine: Engine | None = None

_runtime: XeroRuntime | None = None

_host: Host | None = None
"""The host given to ``pm_startup`` (its secret keys the pages' CSRF tokens)."""

LEDGER_FILE = "ledger.sqlite3"
"""The ledger's file in the add-on's data directory (the engine's default)."""

_health = Health()
"""What stops the add-on now, in words: kept here, not in the engine, so that a ledger that
cannot be opened (no engine) is still reported; every engine reports to this one."""

_starting: Retrying | None = None
"""Start-up tried again in the background after a ledger that could not be opened."""

_life = threading.RLock()
"""Held while an engine is made or closed (a background start-up against ``pm_shutdown``)."""


def get_engine() -> Engine | None:
    """The engine made at ``pm_startup`` (``None`` before it and after ``pm_shutdown``)."""
    return _engine


def get_runtime() -> XeroRuntime | None:
    """The Xero side (client, worker, "Connect to Xero") made at ``pm_startup`` when the Xero
    app is configured (see :mod:`pm_xero_plugin.sync.runtime`); ``None`` otherwise."""
    return _runtime


def _start(host: Host) -> Engine | None:
    """The engine and, when the Xero app is configured, its Xero side, sharing one doorbell
    (the engine rings it when rows become ready, the worker waits on it); then the records kept
    meanwhile are written (for :data:`~pm_xero_plugin.core.handoff.STARTUP_BUDGET`, the
    background thread does the rest). ``None`` when the ledger cannot be opened: the health
    says why, in words, and the caller tries again later."""
    global _engine
    from pm_xero_plugin.core.doorbell import Doorbell
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.core.gates import open_ledger
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
    ledger: SqliteLedger | None = None
    try:
        ledger = open_ledger(path, clock=host.now, doorbell=doorbell)
        # The engine reads its settings into the ledger as it starts: a ledger another process
        # holds must not hold the host's start-up for the worker's 30 s (tried again later).
        with ledger.transaction(timeout=DRAIN_WAIT):
            engine = Engine(host, ledger, doorbell=doorbell, health=_health)
    except Exception as exc:
        if ledger is not None:
            with suppress(Exception):
                ledger.close()
        condition = open_failure(exc, path)
        waiting = _kept.waiting_text()
        _health.report(
            condition.name,
            condition.message + (f"; {waiting}" if waiting else ""),
            condition.action,
        )
        log.error("xero: the add-on could not start: %s", condition.message)
        return None
    _health.clear(LEDGER_OPEN)
    _engine = engine
    if fresh:
        connections = connected_before(data_dir, host.secret(PLUGIN))
        if connections:
            report_fresh_ledger(_health, engine.ledger, connections)
    try:
        _start_runtime(engine, doorbell)
    except Exception as exc:
        _failed("pm_startup", exc)
    _kept.attach(engine, path)
    _kept.drain(budget=STARTUP_BUDGET)
    return engine


def _start_later(host: Host) -> None:
    """Try the start-up again in the background, with a backoff, until the ledger opens; then
    resume as ``pm_startup`` does."""
    global _starting
    from pm_xero_plugin.core.startup import Retrying

    def attempt() -> bool:
        with _life:
            if starting.stopping:
                return True
            if _engine is not None:
                return True
            if _start(host) is None:
                return False
        log.warning("xero: the add-on has started (its ledger opens now)")
        if not starting.stopping:  # else a new start-up (or the shutdown) took over
            _resume()
        return True

    starting = _starting = Retrying("pm-xero-startup", attempt)
    starting.start()


def _start_runtime(engine: Engine, doorbell: Doorbell) -> None:
    """The Xero side of a new engine, its worker thread started; :func:`_stop` stops it
    (releasing nothing it has not settled) before the engine closes its ledger."""
    global _runtime
    from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime

    config = AppConfig.from_env()
    if config is None:
        log.warning(
            "xero: no Xero app configured (PM_XERO_CLIENT_ID / PM_XERO_CLIENT_SECRET): records "
            "are kept in the ledger and sent once it is"
        )
        return
    host = engine.host
    runtime = XeroRuntime(
        engine,
        config,
        secret=host.secret(PLUGIN),
        data_dir=host.data_dir(PLUGIN),
        doorbell=doorbell,
    )
    _runtime = runtime
    # Re-checking each organisation's connection and chart of accounts calls Xero: not on the
    # host's start-up path. The gates keep their last known state meanwhile.
    _long("refresh_connections", lambda e: runtime.refresh_connections())
    runtime.start()


def _failed(hook: str, exc: BaseException) -> None:
    log.exception("xero: hook %s failed; the host carries on", hook)
    if _engine is not None:
        with suppress(Exception):  # recording the failure must not fail the host
            _engine.note_hook_error(hook, exc)


def _record(
    hook: str, action: Callable[[Engine], None], *, record: Any = None, spoolable: bool = False
) -> None:
    """Hand a hook's action to the engine now, or keep it for later (see
    :class:`~pm_xero_plugin.core.handoff.HandOff`). A record (``spoolable``) is written in one
    transaction waiting at most ``HOOK_WAIT`` and kept in the spool when it cannot be; other
    actions (settings, an admin's button before start-up) run as they are, kept in memory."""
    try:
        _kept.hand_off(hook, action, record=record, spoolable=spoolable, bounded=spoolable)
    except Exception as exc:  # keeping it failed: say so, never raise into the host
        _failed(hook, exc)


def _record_hook(hook: str, raw: Any) -> None:
    """A record hook: ``raw`` handed to the engine as :data:`_RECORD_HOOKS` says."""
    call = _RECORD_HOOKS[hook]
    _record(hook, lambda e: call(e, raw), record=raw, spoolable=True)


_RECORD_HOOKS: dict[str, Callable[[Engine, Any], None]] = {
    "on_client_saved": lambda e, raw: e.record_client(raw),
    "on_invoice_created": lambda e, raw: e.record_invoice(raw, "created"),
    "on_invoice_updated": lambda e, raw: e.record_invoice(raw, "updated"),
    "on_invoice_voided": lambda e, raw: e.record_invoice(raw, "voided"),
    "on_credit_note_created": lambda e, raw: e.record_credit_note(raw),
    "on_payment_recorded": lambda e, raw: e.record_payment(raw),
}
"""How each record hook hands its record to the engine: what the spool replays by name."""


def _records_dropped(count: int) -> None:
    """Records were dropped before reaching the ledger (the memory limit, or failing again and
    again). The hand-off reports it on health and sets ``RECONCILE_META`` in the ledger once it
    takes writes; the next reconciliation with the host's records (start-up, periodic) then
    reads everything covered and finds them."""
    log.error("xero: %d records dropped before the ledger; a reconciliation will find them", count)


_kept = HandOff(_health, replay=_RECORD_HOOKS, on_error=_failed, on_lost=_records_dropped)
"""The records the ledger could not take yet (and those that arrived with no engine)."""


def wait_for_records(timeout: float | None = None) -> bool:
    """Block until every record kept for later is in the ledger: for operators' scripts and
    tests. ``False`` if ``timeout`` passed first."""
    return _kept.wait(timeout)


def _stop() -> None:
    """Stop trying to start, write what is kept while the ledger lets us (briefly), stop the
    worker (in-flight batches finish), then close the engine and its ledger. What is still
    kept stays in the spool for the next start-up."""
    global _engine, _runtime, _starting
    starting, _starting = _starting, None
    if starting is not None:
        starting.stop()
    with _life:
        if _engine is not None and _kept.waiting():
            _kept.drain(budget=DRAIN_WAIT)
        _kept.detach()
        runtime, _runtime = _runtime, None
        engine, _engine = _engine, None
        try:
            if runtime is not None:
                runtime.stop()
            if engine is not None:
                engine.close()
        finally:
            _kept.close_spool()


# -- lifecycle -----------------------------------------------------------------------------------


@hookimpl
def pm_startup(host: Host) -> None:
    """Open the ledger, start sending (when the Xero app is configured) and write the records
    kept before it (the spool's, after a restart); a second start-up replaces the first one's
    engine. A ledger that cannot be opened is said on health, in words, and opening it is
    tried again in the background (records meanwhile go to the spool)."""
    global _host
    _host = host
    try:
        _stop()
        _health.clear_prefix("")  # a new start finds again what still holds
        try:
            _kept.open_spool(host.data_dir(PLUGIN))
        except Exception as exc:  # records are then kept in memory only: still start
            _failed("pm_startup", exc)
        with _life:
            started = _start(host)
        if started is None:
            _start_later(host)
            return
    except Exception as exc:
        _failed("pm_startup", exc)
        return
    _resume()


@hookimpl
def pm_shutdown() -> None:
    """Let the background jobs finish, stop the worker, close the ledger."""
    if not _jobs.wait(timeout=None if _engine is not None else 0):
        log.warning("xero: background jobs still running at shutdown")
    try:
        _stop()
    except Exception as exc:
        _failed("pm_shutdown", exc)


# -- settings ------------------------------------------------------------------------------------


@hookimpl
def validate_settings(plugin: str, settings: dict[str, Any]) -> list[str] | None:
    """The reasons the host must refuse these settings (``[]``: fine; ``None``: not ours)."""
    if plugin != PLUGIN:
        return None
    try:
        if _engine is None:
            from pm_xero_plugin.inputs.settings import parse_settings

            return parse_settings(settings)[1]
        return _engine.validate_settings(settings)
    except Exception as exc:
        _failed("validate_settings", exc)
        return [f"settings: could not be checked ({type(exc).__name__}); try again"]


@hookimpl
def on_settings_saved(plugin: str, settings: dict[str, Any]) -> None:
    """Apply the saved settings at once (a replay they call for runs in the background)."""
    if plugin != PLUGIN:
        return
    _record("on_settings_saved", lambda e: _apply_settings(e, settings))


def _apply_settings(engine: Engine, settings: dict[str, Any]) -> None:
    """Settings take effect at once; the replay they may call for (an earlier start date, a
    switch back on) streams history, so it runs as a background job – written down in the
    ledger before the settings are put in force, so a host killed in between still runs it."""
    intent = None
    if engine.ledger.meta("backfill_started") is not None:
        intent = engine.record_job("catch_up")
    engine.apply_settings(settings, catch_up=False)
    if intent is not None:
        _hand_off(engine, "on_settings_saved", intent)


# -- records -------------------------------------------------------------------------------------


@hookimpl
def on_client_saved(client: Any) -> None:
    """Record a client (a contact in each organisation that needs it)."""
    _record_hook("on_client_saved", client)


@hookimpl
def on_invoice_created(invoice: Any) -> None:
    """Record a new invoice."""
    _record_hook("on_invoice_created", invoice)


@hookimpl
def on_invoice_updated(invoice: Any) -> None:
    """Record an invoice's new version (sent as an edit once its first one is in Xero)."""
    _record_hook("on_invoice_updated", invoice)


@hookimpl
def on_invoice_voided(invoice: Any) -> None:
    """Record that an invoice was voided."""
    _record_hook("on_invoice_voided", invoice)


@hookimpl
def on_credit_note_created(credit_note: Any) -> None:
    """Record a new credit note."""
    _record_hook("on_credit_note_created", credit_note)


@hookimpl
def on_payment_recorded(payment: Any) -> None:
    """Record a payment (a row per invoice it pays, and one for an overpayment)."""
    _record_hook("on_payment_recorded", payment)


# -- admin actions -------------------------------------------------------------------------------


@hookimpl
def start_contact_sync(location_id: str | None) -> None:
    """The admin starts the contact sync (of one location, or all): a background job."""
    _long("start_contact_sync", location_id=location_id)


@hookimpl
def backfill(location_id: str | None, since: date | None) -> None:
    """The admin starts the back-sync of history (from ``since`` or the start date): a
    background job."""
    _long("backfill", location_id=location_id, since=since)


_jobs = Jobs()

RECONCILE = "reconcile with the host"
"""The label of the reconciliation job (``background_jobs`` on the dashboard)."""

RECONCILE_MINUTES = 15.0
"""How often the host's records are reconciled while the host runs (start-up always does);
``PM_XERO_RECONCILE_MINUTES`` overrides it, ``0`` turns the periodic pass off."""


def _long(hook: str, action: Callable[[Engine], None] | None = None, /, **args: Any) -> None:
    """Hand a long action (streaming history) to the background job thread: the hook returns at
    once. Inline with ``PM_XERO_JOBS=inline``; before start-up kept like any record.

    Without ``action`` the hook's own action (``backfill``, ``start_contact_sync``) is written
    down in the ledger first (``Engine.record_job``, with ``args``), so a host killed before or
    while it runs resumes it at the next ``pm_startup``. With ``action`` it runs from memory
    only: for work every start-up does again anyway (re-reading the organisations).
    """
    if action is None:
        _record(hook, lambda e: _hand_off(e, hook, e.record_job(hook, **args)))
        return
    engine = _engine
    if engine is None or not background_jobs_enabled():
        _record(hook, action)
        return
    run = action

    def job() -> None:
        try:
            run(engine)
        except Exception as exc:
            _failed(hook, exc)

    _jobs.submit(hook, job)


def _hand_off(engine: Engine, hook: str, intent: Intent, *, resumed: bool = False) -> None:
    """Run a written-down action on the job thread (inline with ``PM_XERO_JOBS=inline``)."""
    if not background_jobs_enabled():
        _run_job(hook, intent, engine)
        return
    if not resumed:
        _handed.append((engine, intent.id))
    label = f"{intent.label} (resumed)" if resumed else intent.label
    _jobs.submit(label, lambda: _run_job(hook, intent))


_handed: list[tuple[Engine, int]] = []
"""Intents handed to the job thread for an engine (a start-up's resume skips those the hooks
kept before it handed on already: they would only show twice)."""


def _run_job(hook: str, intent: Intent, engine: Engine | None = None) -> None:
    """Run one intent on the engine in place when it runs (a restart's engine resumes what an
    earlier one was handed; one already crossed off is skipped)."""
    engine = engine or _engine
    if engine is None:
        return  # shut down: it stays written down for the next start-up
    try:
        engine.run_job(intent)
    except Exception as exc:
        _failed(hook, exc)


def _reconcile() -> None:
    engine = _engine
    if engine is None:
        return
    try:
        engine.reconcile()
    except Exception as exc:
        _failed("reconcile", exc)


def _reconcile_minutes() -> float:
    raw = os.environ.get("PM_XERO_RECONCILE_MINUTES", "").strip()
    try:
        return float(raw) if raw else RECONCILE_MINUTES
    except ValueError:
        log.warning("xero: PM_XERO_RECONCILE_MINUTES=%r is not a number: every %s min", raw, 15)
        return RECONCILE_MINUTES


def _resume() -> None:
    """The end of ``pm_startup``: the host's records are reconciled with the ledger (what a host
    killed between its commit and ours never told us), then the long actions written down and
    not finished are handed to the job thread again; the reconciliation runs again periodically.

    The reconciliation goes first: what it finds is usually a handful of records, and a lost
    edit must be in the ledger before a payment recorded after the restart is sent against the
    version Xero has (a resumed back-sync may take minutes)."""
    engine = _engine
    if engine is None:
        return
    try:
        background = background_jobs_enabled()
        if background:
            _jobs.submit(RECONCILE, _reconcile)
        else:
            _reconcile()
        _handed[:] = [(e, i) for e, i in _handed if e is engine]
        already = {i for _, i in _handed}
        for intent in engine.pending_jobs():
            if intent.id not in already:
                _hand_off(engine, "pm_startup", intent, resumed=True)
        minutes = _reconcile_minutes()
        if background and minutes > 0:
            engine.on_shutdown.append(_jobs.every(RECONCILE, minutes * 60, _reconcile))
    except Exception as exc:
        _failed("pm_startup", exc)


def wait_for_jobs(timeout: float | None = None) -> bool:
    """Block until the background jobs (contact sync, backfill, catch-up, those resumed at
    start-up and the reconciliation with the host's records) have run: for the demo,
    operators' scripts and tests. ``False`` if ``timeout`` passed first."""
    return _jobs.wait(timeout)


@hookimpl
def sync_status(location_id: str | None) -> dict[str, Any] | None:
    """The dashboard's status (of one location, or all), never an exception. With no engine
    (not started, or its ledger cannot be opened): what is wrong and what to do (``health``),
    and the records kept meanwhile (``records_waiting``; with an engine, the health condition
    that keeps them says how many)."""
    engine = _engine
    if engine is None:
        return _status_without_engine()
    try:
        from pm_xero_plugin.dashboard.status import build

        status = build(engine, location_id)
        status["background_jobs"] = _jobs.pending()
        return status
    except Exception as exc:
        _failed("sync_status", exc)
        return {"plugin": PLUGIN, "error": f"status unavailable: {type(exc).__name__}: {exc}"}


def _status_without_engine() -> dict[str, Any]:
    """``sync_status`` before the engine exists: the first error on health says why (a ledger
    that cannot be opened), else the add-on has simply not started yet."""
    try:
        errors = [c for c in _health.conditions() if c.severity == "error"]
        error = (
            f"the Xero add-on could not start: {errors[0].message}"
            if errors
            else "the Xero add-on has not started yet"
        )
        return {
            "plugin": PLUGIN,
            "error": error,
            "health": _health.as_list(),
            "records_waiting": _kept.status(),
        }
    except Exception as exc:
        _failed("sync_status", exc)
        return {"plugin": PLUGIN, "error": "the Xero add-on has not started yet"}


@hookimpl
def admin_action(plugin: str, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """An admin's button outside the add-on's pages (:mod:`pm_xero_plugin.sync.actions`):
    ``{"ok", "message"}`` in words, never an exception; ``None`` for another plugin's."""
    if plugin != PLUGIN:
        return None
    engine = _engine
    if engine is None:
        return {"ok": False, "message": "the Xero add-on has not started yet; try again shortly"}
    try:
        from pm_xero_plugin.sync.actions import perform

        return perform(engine, _runtime, action, dict(params or {})).as_dict()
    except Exception as exc:
        _failed("admin_action", exc)
        return {"ok": False, "message": f"{action} failed ({type(exc).__name__}); see the log"}


@hookimpl
def web_app() -> Any:
    """The admin's pages (:mod:`pm_xero_plugin.pages`), for the host to mount at its prefix."""
    try:
        from hookspecs.pages import PluginApp
        from pm_xero_plugin.pages.app import build_app

        def secret() -> bytes | None:
            host = _host
            return host.secret(PLUGIN) if host is not None else None

        def practice_id() -> str | None:
            host = _host
            value = getattr(host, "practice_id", None)
            return value if isinstance(value, str) else None

        def sandbox_url() -> str | None:
            # A Xero-compatible root instead of the real Xero is, in practice, the sandbox:
            # the dashboard links each record to the sandbox's own view of it as well.
            runtime = _runtime
            return runtime.config.url if runtime is not None else None

        app = build_app(
            engine=get_engine,
            runtime=get_runtime,
            secret=secret,
            practice_id=practice_id,
            start_contact_sync=start_contact_sync,
            backfill=backfill,
            sandbox_url=sandbox_url,
        )
        return PluginApp(name=PLUGIN, title="Xero", app=app)
    except Exception as exc:
        _failed("web_app", exc)
        return None
