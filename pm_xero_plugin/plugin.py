"""The Xero add-on's hook implementations: thin, scoped to a practice, never raising into the host.

The host loads this module through the ``pet_manager`` entry point, so it imports fast and does
nothing at import time. Each practice's add-on – engine, ledger, Xero side, health, background
jobs – is a :class:`~pm_xero_plugin.addon.PracticeAddon`; this module only finds the one a call
is for and hands the call over:

* a host of **one practice** (``pm_startup(host)`` with a plain :class:`hookspecs.host.Host`):
  the one add-on, which exists from import on, so that a record arriving before ``pm_startup`` is
  kept and written once it starts. A call naming another practice than the host's
  ``practice_id`` is refused (logged), never served from this practice's data.
* a host of **many practices** (``host`` is also a :class:`hookspecs.host.Practices`): a
  practice's add-on is opened the first time a call names it (``host.practice(id)``), so a
  process serving thousands does not open them all at start-up. A call that names no practice,
  or one the host does not know, is refused.

A plugin that raises stops pluggy from calling the plugins after it, and breaks the staff
member's save. So every hook here catches everything, logs it on the ``pm_xero_plugin`` logger
and keeps it for that practice's dashboard (``plugin_errors``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import date
from typing import TYPE_CHECKING, Any

from hookspecs import hookimpl
from pm_xero_plugin.addon import PLUGIN, PracticeAddon

if TYPE_CHECKING:
    from hookspecs.host import Host, Practices
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.ledger.backends import LedgerBackends
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = [
    "admin_action",
    "backfill",
    "get_addon",
    "get_engine",
    "get_runtime",
    "on_client_saved",
    "on_credit_note_created",
    "on_deposit_recorded",
    "on_invoice_created",
    "on_invoice_updated",
    "on_invoice_voided",
    "on_payment_recorded",
    "on_payout_recorded",
    "on_refund_recorded",
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

log = logging.getLogger("pm_xero_plugin")

FIRST_OPEN_WAIT = 2.0
"""The longest a practice's first call waits for the practice to open (see ``_Practices.get``)."""

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Practices:
    """Which :class:`PracticeAddon` a call is for (the module's docstring says how)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._single = PracticeAddon(None)
        self._fleet: Practices | None = None
        self._open: dict[str, PracticeAddon] = {}
        self._ledgers: LedgerBackends | None = None

    def _backends(self) -> LedgerBackends | None:
        """The process's PostgreSQL pools (one per URL), made when ``PM_XERO_LEDGER`` is set."""
        if self._ledgers is None:
            try:
                from pm_xero_plugin.ledger.backends import LedgerBackends, ledger_url

                if ledger_url() is None:
                    return None
            except ImportError:  # pragma: no cover - the ledger package always has it
                return None
            except ValueError as exc:
                # Set, but not a URL PostgreSQL reads: each practice's start-up then fails
                # saying so on its health (records kept meanwhile) – never a silent fall-back to
                # SQLite files the fleet's workers would not see.
                log.error("xero: %s", exc)
            self._ledgers = LedgerBackends()
        return self._ledgers

    def start(self, host: Host) -> None:
        """``pm_startup``: a host of one practice starts the one add-on; a host of many opens
        each practice on its first call (and closes those a previous start opened)."""
        from hookspecs.host import Practices, practice_id_of

        self.shutdown()
        if isinstance(host, Practices):
            with self._lock:
                self._fleet = host
            return
        with self._lock:
            self._fleet = None
            addon = self._single
            addon.practice_id = practice_id_of(host)
            addon._ledgers = self._backends()
        addon.start(host)

    def shutdown(self) -> None:
        """``pm_shutdown``: every open practice finishes or releases its work and closes."""
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for addon in [self._single, *opened]:
            addon.shutdown()
        if self._ledgers is not None:
            ledgers, self._ledgers = self._ledgers, None
            try:
                ledgers.close()
            except Exception:
                log.exception("xero: closing the PostgreSQL pools failed")

    def get(self, practice_id: str | None) -> PracticeAddon | None:
        """The add-on of the practice a call names, opened now if it is the practice's first
        call in a many-practice host; ``None`` (logged) when the call is not for a practice
        this host serves."""
        fleet = self._fleet
        if fleet is None:
            own = self._single.practice_id
            if practice_id is None or own is None or practice_id == own:
                return self._single
            log.error(
                "xero: a call for practice %r reached a host of practice %r: refused",
                practice_id,
                own,
            )
            return None
        if practice_id is None:
            log.error("xero: a host of many practices called without practice_id: refused")
            return None
        with self._lock:
            addon = self._open.get(practice_id)
            if addon is not None:
                return addon
            try:
                host = fleet.practice(practice_id)
            except KeyError:
                log.error("xero: the host serves no practice %r: call refused", practice_id)
                return None
            addon = PracticeAddon(practice_id, self._backends())
            self._open[practice_id] = addon
        # Opened off the caller's thread: a PostgreSQL server that does not answer must not
        # hold the staff member's save for its connect timeout. A healthy start is quick and
        # done within the wait; otherwise the call is kept like any before start-up (written
        # once the practice's ledger opens, its health saying why meanwhile).
        opening = threading.Thread(
            target=addon.start, args=(host,), name=f"pm-xero-open-{practice_id}", daemon=True
        )
        opening.start()
        opening.join(FIRST_OPEN_WAIT)
        if opening.is_alive():
            log.warning("xero: practice %r is still opening; its calls are kept", practice_id)
        return addon

    @property
    def many(self) -> bool:
        """Whether the host serves many practices (``pm_startup`` gave it a ``Practices``)."""
        return self._fleet is not None

    @property
    def single(self) -> PracticeAddon:
        """The add-on of a host of one practice."""
        return self._single

    def each(self) -> list[PracticeAddon]:
        """Every add-on open now (the one practice's, or those of a many-practice host)."""
        with self._lock:
            return [self._single] if self._fleet is None else list(self._open.values())


_practices = _Practices()
"""The only module-level state: which practice's add-on a call goes to."""


def get_addon(practice_id: str | None = None) -> PracticeAddon | None:
    """The add-on of one practice (``None``: the host's one practice)."""
    return _practices.get(practice_id)


def get_engine(practice_id: str | None = None) -> Engine | None:
    """A practice's engine (``None`` before ``pm_startup``, after ``pm_shutdown``, or for a
    practice this host does not serve)."""
    addon = _practices.get(practice_id)
    return addon.engine if addon is not None else None


def get_runtime(practice_id: str | None = None) -> XeroRuntime | None:
    """A practice's Xero side (client, worker, "Connect to Xero"), made at its start-up when the
    Xero app is configured (see :mod:`pm_xero_plugin.sync.runtime`); ``None`` otherwise."""
    addon = _practices.get(practice_id)
    return addon.runtime if addon is not None else None


def wait_for_records(timeout: float | None = None) -> bool:
    """Block until every record kept for later, in every open practice, is in its ledger: for
    operators' scripts and tests. ``False`` if ``timeout`` passed first."""
    return all(addon.kept.wait(timeout) for addon in _practices.each())


def wait_for_jobs(timeout: float | None = None) -> bool:
    """Block until the background jobs (contact sync, backfill, catch-up, those resumed at
    start-up and the reconciliation with the host's records) of every open practice have run:
    for the demo, operators' scripts and tests. ``False`` if ``timeout`` passed first."""
    return all(addon.jobs.wait(timeout) for addon in _practices.each())


def _guarded(hook: str, practice_id: str | None, call: Callable[[PracticeAddon], Any]) -> Any:
    """Run a hook's work on its practice's add-on; never raise into the host."""
    try:
        addon = _practices.get(practice_id)
        if addon is None:
            return None
        return call(addon)
    except Exception:
        log.exception("xero: hook %s failed; the host carries on", hook)
        return None


# -- lifecycle -----------------------------------------------------------------------------------


@hookimpl
def pm_startup(host: Host) -> None:
    """Start the add-on: the one practice's now, or each of many on its first call."""
    try:
        _practices.start(host)
    except Exception:
        log.exception("xero: hook pm_startup failed; the host carries on")


@hookimpl
def pm_shutdown() -> None:
    """Let every practice's background jobs finish, stop its worker, close its ledger."""
    try:
        _practices.shutdown()
    except Exception:
        log.exception("xero: hook pm_shutdown failed; the host carries on")


# -- settings ------------------------------------------------------------------------------------


@hookimpl
def validate_settings(
    plugin: str, settings: dict[str, Any], practice_id: str | None
) -> list[str] | None:
    """The reasons the host must refuse these settings (``[]``: fine; ``None``: not ours)."""
    if plugin != PLUGIN:
        return None
    errors = _guarded("validate_settings", practice_id, lambda a: a.validate_settings(settings))
    if errors is None:
        return [f"settings: the Xero add-on does not serve practice {practice_id!r}"]
    return list(errors)


@hookimpl
def on_settings_saved(plugin: str, settings: dict[str, Any], practice_id: str | None) -> None:
    """Apply the saved settings at once (a replay they call for runs in the background)."""
    if plugin == PLUGIN:
        _guarded("on_settings_saved", practice_id, lambda a: a.settings_saved(settings))


# -- records -------------------------------------------------------------------------------------


@hookimpl
def on_client_saved(client: Any, practice_id: str | None) -> None:
    """Record a client (a contact in each organisation that needs it)."""
    _guarded("on_client_saved", practice_id, lambda a: a.record("on_client_saved", client))


@hookimpl
def on_invoice_created(invoice: Any, practice_id: str | None) -> None:
    """Record a new invoice."""
    _guarded("on_invoice_created", practice_id, lambda a: a.record("on_invoice_created", invoice))


@hookimpl
def on_invoice_updated(invoice: Any, practice_id: str | None) -> None:
    """Record an invoice's new version (sent as an edit once its first one is in Xero)."""
    _guarded("on_invoice_updated", practice_id, lambda a: a.record("on_invoice_updated", invoice))


@hookimpl
def on_invoice_voided(invoice: Any, practice_id: str | None) -> None:
    """Record that an invoice was voided."""
    _guarded("on_invoice_voided", practice_id, lambda a: a.record("on_invoice_voided", invoice))


@hookimpl
def on_credit_note_created(credit_note: Any, practice_id: str | None) -> None:
    """Record a new credit note."""
    _guarded(
        "on_credit_note_created",
        practice_id,
        lambda a: a.record("on_credit_note_created", credit_note),
    )


@hookimpl
def on_payment_recorded(payment: Any, practice_id: str | None) -> None:
    """Record a payment (a row per invoice it pays, and one for an overpayment)."""
    _guarded("on_payment_recorded", practice_id, lambda a: a.record("on_payment_recorded", payment))


@hookimpl
def on_deposit_recorded(deposit: Any, practice_id: str | None) -> None:
    """Record a deposit (a prepayment), or its being applied to invoices since."""
    _guarded("on_deposit_recorded", practice_id, lambda a: a.record("on_deposit_recorded", deposit))


@hookimpl
def on_refund_recorded(refund: Any, practice_id: str | None) -> None:
    """Record money given back out of a credit note, an overpayment or a deposit."""
    _guarded("on_refund_recorded", practice_id, lambda a: a.record("on_refund_recorded", refund))


@hookimpl
def on_payout_recorded(payout: Any, practice_id: str | None) -> None:
    """Record a card processor's payout (its fees, and the transfer to the bank)."""
    _guarded("on_payout_recorded", practice_id, lambda a: a.record("on_payout_recorded", payout))


# -- admin actions -------------------------------------------------------------------------------


@hookimpl
def start_contact_sync(location_id: str | None, practice_id: str | None) -> None:
    """The admin starts the contact sync (of one location, or all): a background job."""
    _guarded("start_contact_sync", practice_id, lambda a: a.start_contact_sync(location_id))


@hookimpl
def backfill(location_id: str | None, since: date | None, practice_id: str | None) -> None:
    """The admin starts the back-sync of history (from ``since`` or the start date): a
    background job."""
    _guarded("backfill", practice_id, lambda a: a.backfill(location_id, since))


@hookimpl
def sync_status(location_id: str | None, practice_id: str | None) -> dict[str, Any] | None:
    """The practice's dashboard status (of one location, or all), never an exception."""
    status = _guarded("sync_status", practice_id, lambda a: a.sync_status(location_id))
    if status is None:
        return {
            "plugin": PLUGIN,
            "error": f"the Xero add-on does not serve practice {practice_id!r}",
        }
    return dict(status)


@hookimpl
def admin_action(
    plugin: str, action: str, params: dict[str, Any], practice_id: str | None
) -> dict[str, Any] | None:
    """An admin's button outside the add-on's pages (:mod:`pm_xero_plugin.sync.actions`):
    ``{"ok", "message"}`` in words, never an exception; ``None`` for another plugin's."""
    if plugin != PLUGIN:
        return None
    answer = _guarded("admin_action", practice_id, lambda a: a.admin_action(action, params))
    if answer is None:
        return {"ok": False, "message": f"the Xero add-on does not serve practice {practice_id!r}"}
    return dict(answer)


# -- pages ---------------------------------------------------------------------------------------


class _PracticePages:
    """The ASGI app the host mounts once: each request goes to the pages of the practice its
    :class:`hookspecs.pages.PageContext` names (built on first use), so no page of one practice
    can show or change another's. A request without a context is the single practice's (its
    guard answers 401), or refused with 401 in a many-practice host."""

    def __init__(self) -> None:
        self._apps: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _app_for(self, addon: PracticeAddon) -> Any:
        with self._lock:
            app = self._apps.get(id(addon))
            if app is None:
                app = self._apps[id(addon)] = addon.web_app()
            return app

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        from hookspecs.pages import SCOPE_KEY, PageContext

        context = scope.get(SCOPE_KEY)
        practice_id = context.practice_id if isinstance(context, PageContext) else None
        addon: PracticeAddon | None
        if not _practices.many:  # one practice: its own guard tells a stranger 401 or 404
            addon = _practices.single
        else:
            addon = _practices.get(practice_id) if context is not None else None
        if addon is None:
            await _refuse(scope, receive, send, 401 if context is None else 404)
            return
        await self._app_for(addon)(scope, receive, send)


async def _refuse(scope: _Scope, receive: _Receive, send: _Send, status: int) -> None:
    """A plain refusal (401 without the host's context, 404 for a practice not served)."""
    if scope.get("type") == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    if scope.get("type") != "http":
        return
    body = b"not signed in" if status == 401 else b"the Xero add-on does not serve this practice"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@hookimpl
def web_app() -> Any:
    """The admin's pages (:mod:`pm_xero_plugin.pages`), for the host to mount at its prefix."""
    try:
        from hookspecs.pages import PluginApp
        from pm_xero_plugin.pages.webhooks import WEBHOOK_PATH

        return PluginApp(
            name=PLUGIN, title="Xero", app=_PracticePages(), public_paths=(WEBHOOK_PATH,)
        )
    except Exception:
        log.exception("xero: hook web_app failed; the host carries on")
        return None
