"""The engine: what the hook implementations, the worker and the CLI call.

A small facade over the engine's parts, built here and sharing one
:class:`~pm_xero_plugin.core.context.EngineContext` (the host, the ledger, the settings in
force, the locations):

- :mod:`~pm_xero_plugin.core.intake` – a host record validated and written as ledger rows, each
  with the gate the rules give it (:func:`pm_xero_plugin.core.rules.gates_for`), in one durable
  transaction; edits and voids after a sync go through the edit rules;
- :mod:`~pm_xero_plugin.core.regate` – the gates of rows on their way recomputed when what they
  depend on changes (and the start-date gate opened by :meth:`Engine.tick`);
- :mod:`~pm_xero_plugin.core.history` – back-sync, contact sync and catch-up, streamed through
  intake;
- :mod:`~pm_xero_plugin.core.admin` – retry, resolve, exclude and the ways out of a held row;
- :mod:`~pm_xero_plugin.core.books_actions` – re-send, re-link or accept a difference with
  Xero's books (the reconciliation's report, :mod:`~pm_xero_plugin.core.books`);
- :mod:`~pm_xero_plugin.core.configuration` – settings checked and put in force, connections;
- :mod:`~pm_xero_plugin.core.chart` – the charts of accounts the codes are checked against.

It knows nothing of pluggy (:mod:`pm_xero_plugin.plugin` is the thin layer) and nothing of HTTP
(the worker sends what the ledger says is ready). Everything is re-entrant and thread-safe
through the ledger's lock; long operations commit in batches with a checkpoint in the same
transaction, so they are resumable and run in bounded memory.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from hookspecs.host import Host
from pm_xero_plugin.core.admin import Admin
from pm_xero_plugin.core.books_actions import BooksActions
from pm_xero_plugin.core.chart import AccountsSource, Chart
from pm_xero_plugin.core.configuration import Configuration, ConnectionProbe
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.core.gates import open_ledger
from pm_xero_plugin.core.health import Health
from pm_xero_plugin.core.history import History
from pm_xero_plugin.core.intake import Intake
from pm_xero_plugin.core.jobs import Intent, JobBook
from pm_xero_plugin.core.reconcile import Reconciler, ReconcileReport
from pm_xero_plugin.core.regate import Regater
from pm_xero_plugin.inputs.settings import Settings
from pm_xero_plugin.ledger import Ledger, Row
from pm_xero_plugin.ledger.states import Gate

__all__ = ["Engine"]

log = logging.getLogger("pm_xero_plugin")


class Engine:
    """The add-on's core.

    :param host: the host's services (:class:`hookspecs.host.Host`).
    :param ledger: defaults to SQLite at ``host.data_dir("xero") / "ledger.sqlite3"``.
    :param doorbell: rung after a write that made rows ready (the worker waits on the same
        one); a fresh one, rung for nobody, by default.
    :param health: where conditions are reported (a fresh one by default).
    :param accounts_source: reads charts of accounts from Xero; ``None`` until connected (codes
        then stay "not verified": the ``account_codes`` gate holds the data, it is no error).
    """

    def __init__(
        self,
        host: Host,
        ledger: Ledger | None = None,
        *,
        doorbell: Doorbell | None = None,
        accounts_source: AccountsSource | None = None,
        health: Health | None = None,
    ) -> None:
        self.host = host
        self.health = health or Health()
        """What stops the add-on now, in words (shared with the plugin, which keeps it when the
        engine cannot start): the dashboard's ``health`` section."""
        self.doorbell = doorbell or Doorbell()
        self.ledger: Ledger = ledger or open_ledger(
            host.data_dir("xero") / "ledger.sqlite3",
            clock=host.now,
            doorbell=self.doorbell,
        )
        self.chart = Chart(self.ledger, host.now, accounts_source)
        """The organisations' charts of accounts (read from Xero, cached in the ledger)."""
        self.context = EngineContext(host, self.ledger, self.doorbell)
        """The settings in force and the host's locations, shared by the parts below."""
        self.regater = Regater(self.context)
        self.intake = Intake(self.context, self.regater)
        self.history = History(self.context, self.intake)
        self.admin = Admin(self.context, self.intake)
        self.books_actions = BooksActions(self.context)
        """The admin's actions on the differences with Xero's books (re-send, re-link, accept)."""
        self.configuration = Configuration(self.context, self.chart, self.intake, self.history)
        self.jobs = JobBook(self.ledger)
        """The long actions asked for and not finished, written down in the ledger."""
        self.reconciler = Reconciler(self.context, self.intake, self.history, self.health)
        self.connection_probe: ConnectionProbe | None = None
        """Set by the Xero runtime: whether an organisation is reachable now (and why not), asked
        whenever settings map locations to organisations."""
        self.on_shutdown: list[Callable[[], None]] = []
        """Called by :meth:`close` first (the worker thread registers its stop here)."""
        self.hook_errors: deque[dict[str, str]] = deque(maxlen=20)
        """Exceptions caught at the hook boundary, newest last: shown on the dashboard."""
        self.context.refresh_locations()
        self.apply_settings(dict(host.settings("xero") or {}), catch_up=False)

    # -- lifecycle and what the dashboard reads -------------------------------------------------

    def close(self) -> None:
        """Run the shutdown callbacks (the worker stops first), then close the ledger."""
        for callback in list(self.on_shutdown):
            try:
                callback()
            except Exception:
                log.exception("xero: a shutdown callback failed")
        self.ledger.close()

    @property
    def settings(self) -> Settings | None:
        """The settings in force (``None`` until valid ones were saved)."""
        return self.context.settings

    def note_hook_error(self, hook: str, exc: BaseException) -> None:
        """Keep an exception caught at the hook boundary for the dashboard."""
        self.hook_errors.append(
            {
                "hook": hook,
                "error": f"{type(exc).__name__}: {exc}"[:500],
                "at": self.context.iso_now(),
            }
        )

    def locations(self) -> dict[str, Mapping[str, Any]]:
        """The host's locations by id (as last read)."""
        return dict(self.context.locations)

    def today(self, location_id: str) -> date:
        """The host clock's business date in a location's time zone."""
        return self.context.today(location_id)

    def enabled(self) -> bool:
        """Whether records may flow: the add-on is switched on in the host and in its settings."""
        return self.context.enabled()

    # -- settings and connections (core.configuration) ------------------------------------------

    def validate_settings(self, raw: Mapping[str, Any]) -> list[str]:
        """Every problem with ``raw`` an admin can act on (empty: fine)."""
        return self.configuration.validate(raw)

    def start_date_locked(self) -> date | None:
        """The start date in force once data has synced (it may then only move earlier)."""
        return self.configuration.start_date_locked()

    def apply_settings(self, raw: Mapping[str, Any], *, catch_up: bool = True) -> None:
        """Put saved settings in force and re-evaluate every gate they affect.

        :param catch_up: replay the window once a backfill has run (see :meth:`catch_up`);
            off at start-up, where nothing can have been missed.
        """
        self.configuration.apply(raw, catch_up=catch_up, probe=self.connection_probe)

    def set_connection(
        self,
        location_id: str | None,
        tenant_id: str,
        connected: bool,
        reason: str | None = None,
    ) -> None:
        """The auth code reports an organisation (dis)connected; gates are re-evaluated.

        ``location_id`` is informational (connections are per organisation)."""
        self.configuration.set_connection(location_id, tenant_id, connected, reason)

    @property
    def accounts_source(self) -> AccountsSource | None:
        """Where charts of accounts come from (``None``: not connected)."""
        return self.chart.source

    def set_accounts_source(self, source: AccountsSource | None) -> None:
        """Where charts of accounts come from from now on (``None``: not connected)."""
        self.chart.source = source

    # -- gates (core.regate) --------------------------------------------------------------------

    def tick(self) -> None:
        """Open the start-date gate of locations whose local date reached a future start date.

        Cheap when nothing changed (called by the worker's loop, and by every hook). Asks the
        host nothing but the time: the worker's thread calls it. Whatever needs the host (a
        contact to read for a document it opened) is left for the next hook."""
        self.regater.tick()

    def reevaluate(self, tenant_id: str | None = None) -> None:
        """Recompute the gate of every row still on its way (of one organisation, or all)."""
        self.intake.reevaluate(tenant_id)

    # -- recording host events (core.intake) ----------------------------------------------------

    def record_client(self, raw: Any) -> None:
        """A customer was created or changed: its contact row in its home organisation, and the
        new details for every organisation that already has it."""
        self.intake.record_client(raw)

    def record_invoice(self, raw: Any, event: str = "created") -> None:
        """An invoice was created, updated or voided (``event``)."""
        self.intake.record_invoice(raw, event)

    def record_credit_note(self, raw: Any) -> None:
        """A credit note was issued: its row, and its allocation row when it is against an
        invoice (the allocation waits for both the credit note and the invoice)."""
        self.intake.record_credit_note(raw)

    def record_payment(self, raw: Any) -> None:
        """A payment: one row per invoice it pays, and one for an overpayment (the excess)."""
        self.intake.record_payment(raw)

    def record_deposit(self, raw: Any) -> None:
        """A deposit taken (a prepayment), or applied to invoices since (its allocations)."""
        self.intake.record_deposit(raw)

    def record_refund(self, raw: Any) -> None:
        """Money given back out of a credit note, an overpayment or a deposit."""
        self.intake.record_refund(raw)

    def record_payout(self, raw: Any) -> None:
        """A card processor's payout: its fees and the transfer to the bank."""
        self.intake.record_payout(raw)

    # -- contact sync and backfill (core.history) -----------------------------------------------

    def start_contact_sync(self, location_id: str | None) -> None:
        """Stream the location's customers into contact rows; documents of its organisation
        wait until every contact is synced (or failed/excluded), then flow on their own."""
        self.history.start_contact_sync(location_id)

    def backfill(
        self, location_id: str | None, since: date | None, until: date | None = None
    ) -> None:
        """Replay the host's history from ``since`` (default: the start date) through the rules.

        Idempotent, resumable (a checkpoint commits with each batch) and bounded in memory."""
        self.history.backfill(location_id, since, until)

    def catch_up(self) -> None:
        """Replay the window once more (idempotent: only what is new or changed is written).

        Whatever was created or edited while the add-on was switched off is found here."""
        self.history.catch_up()

    # -- durable background jobs (core.jobs) and reconciliation (core.reconcile) ---------------

    def record_job(self, name: str, **args: Any) -> Intent:
        """Write down a long action (``backfill``, ``start_contact_sync``, ``catch_up``) before
        it runs: durable when this returns, so a host killed before it ran resumes it."""
        return self.jobs.record(name, **args)

    def pending_jobs(self) -> list[Intent]:
        """The long actions written down and not finished, oldest first (resumed at start-up)."""
        return self.jobs.pending()

    def run_job(self, intent: Intent) -> bool:
        """Run a written-down long action and cross it off when it completed (``False``: it
        was done already). A failure keeps it, for the next start-up, and says so on health."""
        return self.jobs.run(intent, self, self.health)

    def reconcile(self, *, full: bool = False) -> ReconcileReport:
        """Record what the host holds and the ledger lacks or holds in an older version
        (customers included): incremental from the ledger's cursor, else a full scan
        (``full`` forces one). Writes nothing when nothing changed. Long: a background job.

        Payouts waiting for their payments look again too: a payment that settled in the
        instant a payout's wait was being written (on another machine) cannot leave it waiting
        for longer than one pass."""
        if self.ledger.reopen_gate(Gate.PAYMENTS):
            self.doorbell.ring()
        return self.reconciler.run(full=full)

    # -- admin actions (core.admin) -------------------------------------------------------------

    def retry(
        self, row_id: int | None = None, kind: str | None = None, tenant_id: str | None = None
    ) -> int:
        """Send again: one row, or every failed (or held by Xero, e.g. lock date) row of a kind
        and/or organisation. Rows go through the rules again. Returns how many moved."""
        return self.admin.retry(row_id, kind, tenant_id)

    def resolve(self, row_id: int) -> None:
        """Hide a failure that was fixed by hand in Xero (counted as synced; its dependants go)
        or a rejected record that was dealt with in the host (excluded)."""
        self.admin.resolve(row_id)

    def exclude(self, row_id: int) -> None:
        """Never send this record."""
        self.admin.exclude(row_id)

    def include_parent_invoice(self, row_id: int) -> None:
        """Send the invoice a payment (or credit-note allocation) pays, although it is dated
        before the start date: the second way out of ``invoice_before_start``."""
        self.admin.include_parent_invoice(row_id)

    def link_contact(self, row_id: int, contact_id: str | None = None) -> None:
        """Link a contact held behind ``contact_name_taken`` to the Xero contact that has its
        name (``contact_id``, by default that one): the admin is the proof it is ours."""
        self.admin.link_contact(row_id, contact_id)

    def create_contact_distinct(self, row_id: int, name: str | None = None) -> str:
        """Create a contact held behind ``contact_name_taken`` under a distinct name (by
        default :meth:`distinct_name`); returns the name it will be created under."""
        return self.admin.create_contact_distinct(row_id, name)

    def our_contact(self, row: Row) -> tuple[str | None, str | None]:
        """The contact number and name a contact row goes to Xero with (``None`` where the
        settings do not say yet)."""
        return self.admin.our_contact(row)

    def distinct_name(self, row: Row) -> str:
        """The name :meth:`create_contact_distinct` proposes: the location added to the number
        (:class:`ValueError` while the contact number is not known)."""
        return self.admin.distinct_name(row)

    # -- the reconciliation with Xero's books (core.books_actions) -------------------------------

    def books_act(self, key: str, action: str, *, by: str | None) -> str:
        """An admin's action on a difference of the kept reconciliation report: ``resend``,
        ``relink`` or ``accept`` the difference ``key`` (``<row id>:<difference>``). Returns
        the admin's sentence; :class:`~pm_xero_plugin.core.books_actions.BooksActionRefused`
        (a :class:`ValueError`) says, in the admin's words, why an unknown key or an action
        that does not fit changed nothing."""
        return self.books_actions.act(key, action, by=by)
