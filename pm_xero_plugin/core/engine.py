"""The engine: what the hook implementations, the worker and the CLI call.

It owns the ledger, the settings in force and the rules, and turns host events into ledger rows:
validate the record, find the organisation its location goes to, make sure its contact will be
there first, compute the gate that holds it (:func:`pm_xero_plugin.core.rules.gates_for`) and write
it
in one durable transaction. It knows nothing of pluggy (:mod:`pm_xero_plugin.plugin` is the thin
layer) and nothing of HTTP (the worker sends what the ledger says is ready).

Everything is re-entrant and thread-safe through the ledger's lock; long operations (backfill,
contact sync) commit in batches of :data:`BATCH` rows with a checkpoint in the same transaction,
so they are resumable and run in bounded memory.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from hookspecs.host import HistoryKind, Host
from pm_xero_plugin.core import rules
from pm_xero_plugin.core.chart import AccountsSource, Chart
from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.core.gates import (
    dep_facts,
    dep_keys,
    finish_contact_sync_if_done,
    open_ledger,
    tenant_facts,
)
from pm_xero_plugin.core.items import (
    Item,
    chunks,
    contact_item,
    credit_note_items,
    document_item,
    item_facts,
    new_row,
    payment_items,
    text_hash,
)
from pm_xero_plugin.inputs.records import capped_raw, payload_json, validate_record
from pm_xero_plugin.inputs.settings import Settings, parse_settings
from pm_xero_plugin.ledger import LIVE, Facts, Ledger, NewRow, Row
from pm_xero_plugin.ledger.states import EXTERNAL_GATES, RULE_GATES, Gate, State
from pm_xero_plugin.xero.kinds import edit_refusal

__all__ = ["BATCH", "Engine"]

log = logging.getLogger("pm_xero_plugin")

BATCH = 500
"""Rows per backfill / contact-sync transaction."""


_HISTORY_KINDS: tuple[tuple[HistoryKind, str], ...] = (
    ("invoices", "invoice"),
    ("credit_notes", "credit_note"),
    ("payments", "payment"),
)

_MAX_CONTACT_NAME = 255
"""Xero's limit on a contact's name."""


class Engine:
    """The add-on's core.

    :param host: the host's services (:class:`hookspecs.host.Host`).
    :param ledger: defaults to SQLite at ``host.data_dir("xero") / "ledger.sqlite3"``.
    :param doorbell: rung after a write that made rows ready (the worker waits on the same
        one); a fresh one, rung for nobody, by default.
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
    ) -> None:
        self.host = host
        self.doorbell = doorbell or Doorbell()
        self.ledger: Ledger = ledger or open_ledger(
            host.data_dir("xero") / "ledger.sqlite3",
            clock=host.now,
            doorbell=self.doorbell,
        )
        self.chart = Chart(self.ledger, host.now, accounts_source)
        """The organisations' charts of accounts (read from Xero, cached in the ledger)."""
        self.connection_probe: Callable[[str], tuple[bool, str | None]] | None = None
        """Set by the Xero runtime: whether an organisation is reachable now (and why not), asked
        whenever settings map locations to organisations."""
        self.on_shutdown: list[Callable[[], None]] = []
        """Called by :meth:`close` first (the worker thread registers its stop here)."""
        self.hook_errors: deque[dict[str, str]] = deque(maxlen=20)
        """Exceptions caught at the hook boundary, newest last: shown on the dashboard."""
        self._locations: dict[str, Mapping[str, Any]] = {}
        self._start_reached: set[str] = set()
        self._settings: Settings | None = None
        self._enabled_seen = False
        """What :meth:`enabled` said last (what a tick on the worker's thread goes by)."""
        self._contacts_to_ensure: list[tuple[str, str, str]] = []
        """Contacts a tick on the worker's thread found missing: written on the host's."""
        self._any_rejected = any(c["state"] == State.REJECTED for c in self.ledger.counts())
        self._refresh_locations()
        self.apply_settings(dict(host.settings("xero") or {}), catch_up=False)

    # -- lifecycle and small helpers ------------------------------------------------------------

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
        return self._settings

    def note_hook_error(self, hook: str, exc: BaseException) -> None:
        """Keep an exception caught at the hook boundary for the dashboard."""
        self.hook_errors.append(
            {"hook": hook, "error": f"{type(exc).__name__}: {exc}"[:500], "at": self._iso_now()}
        )

    def _iso_now(self) -> str:
        return str(self.host.now().isoformat())

    def _refresh_locations(self) -> None:
        self._locations = {str(loc["id"]): loc for loc in self.host.locations()}

    def locations(self) -> dict[str, Mapping[str, Any]]:
        """The host's locations by id (as last read)."""
        return dict(self._locations)

    def today(self, location_id: str) -> date:
        """The host clock's business date in a location's time zone."""
        return self._today(location_id)

    def _location_ids(self) -> list[str]:
        return list(self._locations)

    def _known_location(self, location_id: str) -> bool:
        if location_id not in self._locations:
            self._refresh_locations()
        return location_id in self._locations

    def _today(self, location_id: str) -> date:
        zone = str(self._locations.get(location_id, {}).get("timezone") or "UTC")
        return rules.local_today(self.host.now(), zone)

    def enabled(self) -> bool:
        """Whether records may flow: the add-on is switched on in the host and in its settings."""
        if self._settings is None or not self._settings.enabled:
            self._enabled_seen = False
            return False
        try:
            self._enabled_seen = bool(self.host.is_enabled("xero"))
        except Exception:  # a host without the toggle: the plugin's own switch decides
            self._enabled_seen = True
        return self._enabled_seen

    def _tenant_for(self, location_id: str) -> str:
        if self._settings is None:
            return ""
        return self._settings.tenant_for(location_id) or ""

    def _context(
        self, dep: rules.DepLookup | None = None, *, ask_host: bool = True
    ) -> rules.RuleContext:
        settings = self._settings
        tenants = {t.tenant_id: tenant_facts(t) for t in self.ledger.tenants()}
        return rules.RuleContext(
            enabled=self.enabled() if ask_host else self._enabled_seen,
            start_date=settings.start_date if settings else None,
            location_enabled={
                loc: bool(settings and settings.connection_enabled(loc)) for loc in self._locations
            },
            today={loc: self._today(loc) for loc in self._locations},
            tenants=tenants,
            dep=dep or self._dep,
        )

    def _missing_invoice(self, kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
        """A parent the ledger has no row for: an invoice dated before the window is looked up
        in the host, so a payment to it is told *why* it waits."""
        if kind == "invoice":
            record = self.host.get_record("invoices", host_id)
            if record is not None:
                return rules.DepFacts(False, str(record.get("date") or "") or None)
        return None

    def _dep(self, kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
        """A dependency from the ledger; an invoice the ledger never saw (dated before the
        window) is looked up in the host, so a payment to it is told *why* it waits."""
        found = self.ledger.dep(kind, host_id, tenant_id)
        if found is None:
            return self._missing_invoice(kind, host_id, tenant_id)
        return dep_facts(found)

    # -- settings -------------------------------------------------------------------------------

    def validate_settings(self, raw: Mapping[str, Any]) -> list[str]:
        """Every problem with ``raw`` an admin can act on (empty: fine)."""
        self._refresh_locations()
        settings, errors = parse_settings(raw, self._location_ids())
        if settings is None:
            return errors
        for tenant_id, codes in sorted(settings.account_codes.items()):
            errors += self.chart.check(tenant_id, codes)
        errors += self._start_date_lock_errors(settings)
        errors += self._move_errors(settings)
        return errors

    def _move_errors(self, new: Settings) -> list[str]:
        """A location whose records already reached one organisation cannot be pointed at
        another: its books would be split, and its unsent records would follow the old one."""
        current = self._settings
        if current is None:
            return []
        errors = []
        for location_id in self._location_ids():
            old, moved = current.tenant_for(location_id), new.tenant_for(location_id)
            if not old or not moved or old == moved:
                continue
            synced = sum(
                c["n"]
                for c in self.ledger.counts(tenant_id=old, location_id=location_id)
                if c["state"] in (State.SYNCED, State.SENDING)
            )
            if synced:
                errors.append(
                    f"locations.{location_id}.tenant_id: {synced} records of this location are "
                    f"already in organisation {old}; it cannot move to {moved} (set up a new "
                    "location for the new organisation, or move it back)"
                )
        return errors

    def start_date_locked(self) -> date | None:
        """The start date in force once data has synced (it may then only move earlier)."""
        if not self.ledger.data_synced():
            return None
        current = self._settings.start_date if self._settings else None
        locked = self.ledger.meta("locked_start_date")
        return current or (date.fromisoformat(locked) if locked else None)

    def _start_date_lock_errors(self, new: Settings) -> list[str]:
        locked = self.start_date_locked()
        if locked is None:
            return []
        if new.start_date is None or new.start_date > locked:
            return [
                f"start_date: data has already synced to Xero from {locked.isoformat()}; the "
                f"start date cannot move later or be cleared (choose {locked.isoformat()} or "
                "earlier: an earlier date back-syncs the extra history)"
            ]
        return []

    def apply_settings(self, raw: Mapping[str, Any], *, catch_up: bool = True) -> None:
        """Put saved settings in force and re-evaluate every gate they affect.

        :param catch_up: replay the window once a backfill has run (see :meth:`catch_up`);
            off at start-up, where nothing can have been missed.
        """
        self._refresh_locations()
        settings, errors = parse_settings(raw, self._location_ids())
        if settings is None:
            log.error("xero: saved settings are not valid, keeping the previous ones: %s", errors)
            return
        # What validate_settings refuses is refused here too: a host that saves without asking
        # (or a save racing the first sync) must not move the start date later or split books.
        refused = self._start_date_lock_errors(settings) + self._move_errors(settings)
        if refused:
            log.error("xero: saved settings refused, keeping the previous ones: %s", refused)
            return
        previous = self._settings
        self._settings = settings
        if previous is not None:
            for location_id in self._locations:
                old, moved = previous.tenant_for(location_id), settings.tenant_for(location_id)
                if old and moved and old != moved:
                    self.ledger.rehome(location_id, old, moved)
        self._start_reached.clear()
        self.ledger.set_meta(
            "start_date", settings.start_date.isoformat() if settings.start_date else None
        )
        for location_id in self._locations:
            tenant = settings.tenant_for(location_id)
            if tenant:
                self.ledger.assign_tenant(location_id, tenant)
        for tenant in sorted(settings.tenants(self._location_ids())):
            self.ledger.set_tenant(tenant)
            if self.connection_probe is not None:
                connected, reason = self.connection_probe(tenant)
                self.ledger.set_tenant(
                    tenant,
                    connected=int(connected),
                    connection_reason=None if connected else reason,
                )
            self._verify_codes(tenant)
        self.reevaluate()

        if catch_up and self.ledger.meta("backfill_started") is not None:
            # A start date moved earlier back-syncs the widened window; a plugin switched back
            # on finds what was created while it was off. Both are the same idempotent replay.
            self.catch_up()

    def catch_up(self) -> None:
        """Replay the window once more (idempotent: only what is new or changed is written).

        The host calls no hook of a plugin it switched off, and tells it ``on_settings_saved``
        when it is switched on again: whatever was created or edited meanwhile is found here,
        so nothing is lost. Customers are re-read for organisations whose contact sync started.
        """
        for location_id in self._location_ids():
            tenant = self._tenant_for(location_id)
            if tenant and self.ledger.tenant(tenant).contact_sync != "not_started":
                self._stream(
                    f"contacts:{location_id}", [("clients", "client")], location_id, None, None
                )
        self.backfill(None, None)

    @property
    def accounts_source(self) -> AccountsSource | None:
        """Where charts of accounts come from (``None``: not connected)."""
        return self.chart.source

    def set_accounts_source(self, source: AccountsSource | None) -> None:
        """Where charts of accounts come from from now on (``None``: not connected)."""
        self.chart.source = source

    def _verify_codes(self, tenant_id: str, refresh: bool = False) -> None:
        codes = self._settings.account_codes.get(tenant_id) if self._settings else None
        self.chart.verify(tenant_id, codes, refresh=refresh)

    def set_connection(
        self,
        location_id: str | None,
        tenant_id: str,
        connected: bool,
        reason: str | None = None,
    ) -> None:
        """The auth code reports an organisation (dis)connected; gates are re-evaluated.

        ``location_id`` is informational (connections are per organisation)."""
        self.ledger.set_tenant(
            tenant_id,
            connected=int(connected),
            connection_reason=None if connected else (reason or "not connected to Xero"),
        )
        if connected:
            self._verify_codes(tenant_id, refresh=True)
        self.reevaluate(tenant_id=tenant_id)

    # -- gates ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Open the start-date gate of locations whose local date reached a future start date.

        Cheap when nothing changed (called by the worker's loop, and by every hook). Asks the
        host nothing but the time: the worker's thread calls it. Whatever needs the host (a
        contact to read for a document it opened) is left for :meth:`_host_tick`."""
        settings = self._settings
        if settings is None or settings.start_date is None:
            return
        for location_id in self._locations:
            if location_id in self._start_reached:
                continue
            if self._today(location_id) >= settings.start_date:
                self._start_reached.add(location_id)
                self._regate_waiting(
                    Gate.START_DATE_FUTURE, location_id=location_id, ask_host=False
                )

    def _host_tick(self) -> None:
        """:meth:`tick` on the host's thread (a hook): also write the contacts a tick on the
        worker's thread found missing."""
        self.tick()
        while self._contacts_to_ensure:
            client_id, tenant, location_id = self._contacts_to_ensure.pop()
            self._ensure_contact(client_id, tenant, location_id)

    def reevaluate(self, tenant_id: str | None = None) -> None:
        """Recompute the gate of every row still on its way (of one organisation, or all)."""
        self._regate(
            lambda after: self.ledger.on_their_way(
                RULE_GATES, tenant_id=tenant_id, after_id=after, limit=BATCH
            )
        )

    def _regate_waiting(
        self,
        gate: Gate,
        *,
        tenant_id: str | None = None,
        location_id: str | None = None,
        ask_host: bool = True,
    ) -> None:
        """Recompute the gates of the rows waiting behind ``gate`` (of an organisation or a
        location)."""
        self._regate(
            lambda after: self.ledger.waiting_behind(
                (gate,), tenant_id=tenant_id, location_id=location_id, after_id=after, limit=BATCH
            ),
            ask_host=ask_host,
        )

    def _batch_dep(
        self, facts: Iterable[Facts | Row], extra: Iterable[Item] = (), *, ask_host: bool = True
    ) -> rules.DepLookup:
        """A dependency look-up for a page of rows: one query, not one per row. Without
        ``ask_host``, an invoice the ledger never saw is known by the date its payments
        recorded at intake (``dep_invoice_date``) instead of asking the host."""
        facts = list(facts)
        keys = dep_keys(facts)
        known: dict[tuple[str, str, str], rules.DepFacts] = {
            key: rules.DepFacts(False, item.doc_date, item.include_before_start)
            for item in extra
            for key in [item.key]
        }
        for key, parent in self.ledger.dep_facts(keys).items():
            known[key] = rules.DepFacts(
                dep_facts(parent).satisfied, parent.doc_date, parent.include_before_start
            )

        if not ask_host:
            for f in facts:
                key = ("invoice", f.dep_invoice or "", f.tenant_id)
                if f.dep_invoice and f.dep_invoice_date and key not in known:
                    known[key] = rules.DepFacts(False, f.dep_invoice_date)
            return lambda kind, host_id, tenant_id: known.get((kind, host_id, tenant_id))

        def lookup(kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
            hit = known.get((kind, host_id, tenant_id))
            return hit if hit is not None else self._dep(kind, host_id, tenant_id)

        return lookup

    def _regate(self, page_of: Callable[[int], list[Facts]], *, ask_host: bool = True) -> None:
        """Recompute the gates of rows, a page per transaction (``page_of(after_id)``).

        Each page is read and written in one write transaction, so a worker cannot claim a row
        between the read and the write (it would otherwise be pulled out from under it).
        Without ``ask_host`` (the worker's thread) it reads the ledger only: the switch as last
        seen, dependencies from their rows, and a missing contact is left for the host's
        thread (:meth:`_host_tick`)."""
        after = 0
        missing_contacts: list[Facts] = []
        while True:
            with self.ledger.transaction():
                page = page_of(after)
                if not page:
                    break
                after = page[-1].id
                ctx = self._context(self._batch_dep(page, ask_host=ask_host), ask_host=ask_host)
                to_ready: list[int] = []
                to_wait: dict[tuple[str, str | None], list[int]] = {}
                for f in page:
                    gate = rules.gates_for(f, ctx)
                    if gate is None:
                        if f.state == State.WAITING:
                            to_ready.append(f.id)
                    elif f.state != State.WAITING or f.gate != gate.name:
                        to_wait.setdefault((gate.name, gate.detail), []).append(f.id)
                    if (
                        gate is not None
                        and gate.name == "contact"
                        and f.dep_contact
                        and ctx.dep("contact", f.dep_contact, f.tenant_id) is None
                    ):
                        missing_contacts.append(f)
                self._make_ready(to_ready)
                for (name, detail), ids in to_wait.items():
                    self.ledger.transition_many(ids, State.WAITING, gate=name, detail=detail)
        for f in missing_contacts:
            assert f.dep_contact is not None
            if ask_host:
                self._ensure_contact(f.dep_contact, f.tenant_id, f.location_id)
            else:
                self._contacts_to_ensure.append((f.dep_contact, f.tenant_id, f.location_id))

    def _make_ready(self, row_ids: Sequence[int], **changes: Any) -> None:
        """Move rows to ``ready`` and ring the doorbell (the worker may be waiting)."""
        if row_ids:
            self.ledger.transition_many(row_ids, State.READY, **changes)
            self.doorbell.ring()

    # -- recording host events ------------------------------------------------------------------

    def record_client(self, raw: Any) -> None:
        """A customer was created or changed: its contact row in its home organisation, and the
        new details for every organisation that already has it."""
        self._host_tick()
        payload, errors = self._validate("client", raw)
        if payload is None:
            self._reject("contact", raw, errors)
            return
        text = payload_json(payload)
        home_tenant = self._tenant_for(payload["location_id"])
        items = [contact_item(payload, text, home_tenant, payload["location_id"])]
        for row in self.ledger.rows_for("contact", payload["id"]):
            if row.tenant_id != home_tenant and row.state != State.REJECTED:
                items.append(contact_item(payload, text, row.tenant_id, row.location_id))
        self._write(items, event="updated", live=True)

    def record_invoice(self, raw: Any, event: str = "created") -> None:
        """An invoice was created, updated or voided (``event``)."""
        self._host_tick()
        payload, errors = self._validate("invoice", raw)
        if payload is None:
            self._reject("invoice", raw, errors)
            return
        if event == "voided" or payload.get("status") == "voided":
            event = "voided"
        tenant = self._tenant_for(payload["location_id"])
        self._ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self._write([document_item("invoice", payload, tenant)], event=event, live=True)

    def record_credit_note(self, raw: Any) -> None:
        """A credit note was issued: its row, and its allocation row when it is against an
        invoice (the allocation waits for both the credit note and the invoice)."""
        self._host_tick()
        payload, errors = self._validate("credit_note", raw)
        if payload is None:
            self._reject("credit_note", raw, errors)
            return
        tenant = self._tenant_for(payload["location_id"])
        self._ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self._write(credit_note_items(payload, tenant), event="created", live=True)

    def record_payment(self, raw: Any) -> None:
        """A payment: one row per invoice it pays, and one for an overpayment (the excess)."""
        self._host_tick()
        payload, errors = self._validate("payment", raw)
        if payload is None:
            self._reject("payment", raw, errors)
            return
        tenant = self._tenant_for(payload["location_id"])
        items = payment_items(payload, tenant)
        if any(item.kind == "overpayment" for item in items):
            self._ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self._write(items, event="created", live=True)
        self._drop_vanished_parts(payload["id"], {(i.kind, i.host_id) for i in items})

    def _drop_vanished_parts(self, payment_id: str, parts: set[tuple[str, str]]) -> None:
        """A payment recorded again without one of its allocations (or its excess): the part
        that is gone must not reach Xero. Not sent yet: excluded. Already in Xero, which cannot
        edit a payment: failed, telling the admin to delete it there."""
        for row in self.ledger.payment_parts(payment_id):
            if (row.kind, row.host_id) in parts or row.state in (
                State.EXCLUDED,
                State.REJECTED,
                State.FAILED,
            ):
                continue
            if row.state in (State.SYNCED, State.SENDING):
                if row.state == State.SYNCED:
                    self.ledger.transition(
                        row.id,
                        State.FAILED,
                        message=f"{row.kind} {row.host_id} was removed from the payment in Pet "
                        f"Manager after it reached Xero ({row.xero_id})",
                        hint="Xero cannot edit a payment: delete it in Xero, then resolve this.",
                    )
                continue  # in flight: the edit rules settle it when the send does
            self.ledger.transition(
                row.id, State.EXCLUDED, detail="removed from the payment in Pet Manager"
            )

    def _validate(self, kind: str, raw: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Validate a host record, including that its location exists (re-reading the host's
        locations once when it is new to us: a location added after start-up is fine)."""
        payload, errors = validate_record(kind, raw)
        if payload is not None and not self._known_location(payload["location_id"]):
            return None, [f"location_id: unknown location '{payload['location_id']}'"]
        return payload, errors

    def _ensure_contact(
        self, client_id: str, tenant: str, location_id: str, *, live: bool = False
    ) -> None:
        """Make sure a contact row exists for this customer in this organisation, so a document
        never reaches an organisation before its customer does (a customer first seen at another
        location is created there first). ``live``: for a record made through a hook (a
        contact row that exists already is raised to live by that record's own write)."""
        if self.ledger.dep("contact", client_id, tenant) is not None:
            return
        payload: dict[str, Any] | None = None
        for row in self.ledger.rows_for("contact", client_id):
            if row.state != State.REJECTED:
                payload = row.payload
                break
        if payload is None:
            record = self.host.get_record("clients", client_id)
            if record is None:
                log.warning("xero: customer %s is unknown to the host", client_id)
                return
            payload, errors = self._validate("client", record)
            if payload is None:
                self._reject("contact", record, errors)
                return
        text = payload_json(payload)
        home = payload["location_id"]
        where = home if self._tenant_for(home) == tenant else location_id
        self._write([contact_item(payload, text, tenant, where)], event="created", live=live)

    # -- writing rows ---------------------------------------------------------------------------

    def _write(
        self, items: list[Item], event: str, *, ensure_contacts: bool = False, live: bool = False
    ) -> None:
        """Insert or update rows for host records, each with its gate, in one transaction.

        ``live``: the records arrive through a hook as the practice works (not a back-sync,
        catch-up or contact sync replay): their rows are claimed before history, and so are the
        rows they depend on that Xero does not have yet (``raise_priority``).

        New rows are inserted first, each with its gate, by ``INSERT … ON CONFLICT DO NOTHING``
        (one light look-up of the rows they depend on, none of their own keys: on a first-time
        backfill they are all new); only the items whose row was already there are then looked
        up and go through the edit rules. With ``ensure_contacts`` a customer missing in an
        item's organisation gets its contact row first (a backfill batch), in the same
        transaction.
        """
        if not items:
            return
        by_key = {item.key: item for item in items}  # one row per key
        items = list(by_key.values())
        with self.ledger.transaction():
            # Looked up inside the write transaction: a worker cannot claim a row between the
            # look-up and the write, so the edit rules see the state they act on.
            deps = {k: dep_facts(p) for k, p in self.ledger.dep_facts(dep_keys(items)).items()}
            self._note_absent_invoices(items, deps, by_key)
            if ensure_contacts:
                missing = sorted(
                    {
                        (item.dep_contact, item.tenant_id, item.location_id)
                        for item in items
                        if item.dep_contact
                        and ("contact", item.dep_contact, item.tenant_id) not in deps
                    }
                )
                for client_id, tenant, location in missing:
                    self._ensure_contact(client_id, tenant, location)
            ctx = self._context(self._dep_lookup(deps, by_key))
            priority = LIVE if live else 0
            new_rows = [new_row(item, rules.gates_for(item, ctx), priority) for item in items]
            inserted = self.ledger.insert_new(new_rows)
            if any(
                new and row.state == State.READY
                for row, new in zip(new_rows, inserted, strict=True)
            ):
                self.doorbell.ring()
            fresh = [item for item, new in zip(items, inserted, strict=True) if new]
            for item in fresh:
                if item.kind == "invoice" and (
                    event == "voided" or item.payload.get("status") == "voided"
                ):
                    # First seen already voided (history, or while the add-on was off):
                    # never send it – Xero would get an authorised invoice nobody owes.
                    found = self.ledger.find(item.kind, item.host_id, item.tenant_id)
                    if found is not None:
                        self.ledger.transition(
                            found.id, State.EXCLUDED, detail="voided before it reached Xero"
                        )
            if len(fresh) < len(items):
                known = [item for item, new in zip(items, inserted, strict=True) if not new]
                existing = self.ledger.facts(item.key for item in known)
                for item in known:
                    current = existing.get(item.key)
                    if current is not None:
                        self._update(current, item, event, ctx, live=live)
            if live:
                self.ledger.raise_priority(
                    key for key in dep_keys(items) if not (deps.get(key) or _NOT_SENT).satisfied
                )
        self._supersede_rejected(items)

    def _note_absent_invoices(
        self,
        items: Iterable[Item],
        deps: dict[tuple[str, str, str], rules.DepFacts],
        batch: Mapping[tuple[str, str, str], Item],
    ) -> None:
        """Ask the host (on its thread) for the invoices these items name that the ledger has
        no row for, add what it says to ``deps`` and record each date on its items."""
        absent: set[tuple[str, str, str]] = set()
        for item in items:
            if not item.dep_invoice:
                continue
            key = ("invoice", item.dep_invoice, item.tenant_id)
            if key in batch:
                continue
            if key not in deps:
                found = self._missing_invoice(*key)
                if found is None:
                    continue
                deps[key] = found
                absent.add(key)
            if key in absent:
                item.dep_invoice_date = deps[key].doc_date

    def _dep_lookup(
        self,
        found: Mapping[tuple[str, str, str], rules.DepFacts],
        batch: Mapping[tuple[str, str, str], Item],
    ) -> rules.DepLookup:
        """:meth:`_batch_dep` over dependencies already fetched (``found``); a row of the
        ``batch`` being written counts as not yet in Xero unless ``found`` knows it; anything else
        is asked of the ledger (and the host) one by one."""

        def lookup(kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
            key = (kind, host_id, tenant_id)
            hit = found.get(key)
            if hit is not None:
                return hit
            item = batch.get(key)
            if item is not None:
                return rules.DepFacts(False, item.doc_date, item.include_before_start)
            return self._dep(kind, host_id, tenant_id)

        return lookup

    def _update(
        self,
        current: Facts,
        item: Item,
        event: str,
        ctx: rules.RuleContext,
        *,
        live: bool = False,
    ) -> None:
        """A new version of a record the ledger already has: the edit rules (an edit made
        through a hook is live work: claimed before history)."""
        same = current.payload_hash == item.payload_hash
        voiding = event == "voided" and item.kind == "invoice"
        if (
            same
            and current.state != State.REJECTED
            and not (voiding and current.operation != "void")
        ):
            return  # a replay: nothing new
        ledger = self.ledger
        fields: dict[str, Any] = {
            "payload": item.payload_text,
            "payload_hash": item.payload_hash,
            "doc_date": item.doc_date,
            "number": item.number,
            "dep_contact": item.dep_contact,
            "dep_invoice": item.dep_invoice,
            "dep_credit_note": item.dep_credit_note,
            "dep_invoice_date": item.dep_invoice_date,
        }
        if live:
            fields["priority"] = LIVE
        if current.state == State.EXCLUDED:
            ledger.set_fields(current.id, **fields)
            return
        if current.state == State.SENDING:
            # In flight: the worker sends what it holds; the new version follows as an update.
            ledger.set_fields(current.id, pending_op="void" if voiding else "update", **fields)
            ledger.add_log(current.id, "edited", "changed while being sent: an update follows")
            return
        sent = current.xero_id is not None or current.state == State.SYNCED
        if not sent:
            if voiding:
                ledger.transition(
                    current.id, State.EXCLUDED, detail="voided before it reached Xero", **fields
                )
                return
            self._regate_one(current, item, ctx, fields)
            return
        refusal = self._refusal(current, item.kind, voiding)
        if item.kind in ("invoice", "credit_note", "contact"):
            # a retry after the admin cleared the way in Xero sends the change as an update;
            # payments cannot be edited in Xero, so theirs is a new payment (old one deleted)
            fields["operation"] = "void" if voiding else "update"
        if refusal is not None:
            ledger.transition(
                current.id, State.FAILED, message=refusal[0], hint=refusal[1], **fields
            )
            return
        self._regate_one(current, item, ctx, fields)
        if item.kind in rules.MONEY_DOCUMENT_KINDS:
            # Payments and allocations already cleared to go against the version Xero has now
            # wait for this edit (rules.dependency_satisfied): sent first, Xero would refuse a
            # payment of the new total, or refuse the edit of an invoice now paid.
            self._regate(
                lambda after: ledger.cleared_against(
                    item.kind,
                    current.host_id,
                    current.tenant_id,
                    ("payment", "allocation", "overpayment"),
                    after_id=after,
                    limit=BATCH,
                )
            )

    def _regate_one(
        self, current: Facts, item: Item, ctx: rules.RuleContext, fields: dict[str, Any]
    ) -> None:
        gate = rules.gates_for(item_facts(item, current.include_before_start), ctx)
        fields.update(message=None, field=None, hint=None)
        if gate is None:
            self.ledger.transition(current.id, State.READY, **fields)
            self.doorbell.ring()
        else:
            self.ledger.transition(
                current.id, State.WAITING, gate=gate.name, detail=gate.detail, **fields
            )

    def _refusal(self, current: Facts, kind: str, voiding: bool) -> tuple[str, str] | None:
        """Why Xero will not take a change to a record it already has, or ``None``."""
        what = "void" if voiding else "change"
        refused = edit_refusal(kind)  # a payment or allocation: Xero edits none in place
        if refused is not None:
            return refused
        if kind in ("invoice", "credit_note"):
            paid = self.ledger.in_xero_against(
                current.host_id, current.tenant_id, ("payment", "allocation")
            )
            if kind == "invoice" and paid:
                return (
                    f"Xero will not {what} this invoice: it has a payment or credit note "
                    "allocated to it in Xero",
                    "Remove the payment/allocation in Xero, then press retry; or resolve this "
                    "if you changed the invoice in Xero by hand.",
                )
        return None

    def _supersede_rejected(self, items: list[Item]) -> None:
        """A readable version of a record arrived: its earlier rejections are no longer news."""
        if not self._any_rejected:
            return
        for item in items:
            kind = "payment" if item.kind == "overpayment" else item.kind
            host_id = item.host_id.split(":", 1)[0] if kind == "payment" else item.host_id
            for row in self.ledger.rows_for(kind, host_id) + self.ledger.rows_for(
                kind, host_id + "#rejected"
            ):
                if row.state == State.REJECTED and row.tenant_id != item.tenant_id:
                    self.ledger.transition(
                        row.id, State.EXCLUDED, detail="superseded by a valid version"
                    )

    def _reject(self, kind: str, raw: Any, errors: list[str]) -> None:
        """Keep a record the plugin cannot read, with its reasons, for the dashboard."""
        kept = capped_raw(raw)
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id):
            host_id = str(raw_id)[:100]
        else:
            host_id = f"invalid:{kept['sha256'][:16]}"
        raw_location = raw.get("location_id") if isinstance(raw, Mapping) else None
        location = raw_location if isinstance(raw_location, str) and raw_location else ""
        location = location if self._known_location(location) else ""
        message = "; ".join(errors)
        if kept["truncated"]:
            message += f" (raw record of {kept['size']} bytes: first 64 KB kept, sha256 kept)"
        log.warning("xero: refused %s %s: %s", kind, host_id, message)
        self._any_rejected = True
        text = json.dumps(kept)
        with self.ledger.transaction():
            current = self.ledger.find(kind, host_id, "")
            if current is not None and current.state != State.REJECTED:
                host_id += "#rejected"
                current = self.ledger.find(kind, host_id, "")
            if current is None:
                self.ledger.insert(
                    [
                        NewRow(
                            kind=kind,
                            host_id=host_id,
                            tenant_id="",
                            location_id=location,
                            state=State.REJECTED,
                            payload=text,
                            payload_hash=text_hash(text),
                            message=message,
                            field=errors[0].split(":", 1)[0] if errors else None,
                        )
                    ]
                )
            else:
                self.ledger.set_fields(
                    current.id, payload=text, payload_hash=text_hash(text), message=message
                )

    # -- contact sync and backfill --------------------------------------------------------------

    def _target_locations(self, location_id: str | None) -> list[str]:
        self._refresh_locations()
        if location_id is None:
            return self._location_ids()
        return [location_id] if location_id in self._locations else []

    def start_contact_sync(self, location_id: str | None) -> None:
        """Stream the location's customers into contact rows; documents of its organisation
        wait until every contact is synced (or failed/excluded), then flow on their own."""
        tenants: set[str] = set()
        for loc in self._target_locations(location_id):
            tenant = self._tenant_for(loc)
            if not tenant:
                log.warning("xero: contact sync of %s: no Xero organisation linked", loc)
                continue
            if self.ledger.tenant(tenant).contact_sync == "not_started":
                self.ledger.set_tenant(tenant, contact_sync="running")
                self._regate_waiting(Gate.CONTACT_SYNC_NOT_STARTED, tenant_id=tenant)
            tenants.add(tenant)
            self._stream(
                f"contacts:{loc}",
                [("clients", "client")],
                loc,
                None,
                until=None,
            )
        for tenant in sorted(tenants):
            finish_contact_sync_if_done(self.ledger, tenant, self.doorbell)

    def backfill(
        self, location_id: str | None, since: date | None, until: date | None = None
    ) -> None:
        """Replay the host's history from ``since`` (default: the start date) through the rules.

        Idempotent (a replay writes nothing new), resumable (a checkpoint is committed with each
        batch; an interrupted run continues where it stopped) and bounded in memory (streamed,
        written :data:`BATCH` rows at a time).
        """
        settings = self._settings
        since = since or (settings.start_date if settings else None)
        if since is None:
            log.warning("xero: backfill needs a start date: choose one in the settings first")
            return
        self.ledger.set_meta("backfill_started", self._iso_now())
        for loc in self._target_locations(location_id):
            self._stream(f"backfill:{loc}:{since.isoformat()}", _HISTORY_KINDS, loc, since, until)

    def _stream(
        self,
        checkpoint_key: str,
        kinds: Iterable[tuple[HistoryKind, str]],
        location_id: str,
        since: date | None,
        until: date | None,
    ) -> None:
        saved = self.ledger.meta(checkpoint_key)
        point: dict[str, Any] = json.loads(saved) if saved else {}
        kinds = list(kinds)
        names = [history for history, _ in kinds]
        saved_kind = point.get("kind")
        resume_at = names.index(saved_kind) if saved_kind in names else 0
        for position, (history, kind) in enumerate(kinds):
            if position < resume_at:
                continue
            skip = int(point.get("done", 0)) if history == saved_kind else 0
            done = skip
            stream = self.host.iter_history(history, location_id, since)
            for _ in zip(range(skip), stream, strict=False):
                pass  # already written by the interrupted run
            for chunk in chunks(stream, BATCH):
                # The batch and its checkpoint commit together: one durable commit per batch,
                # and a resumed run skips exactly what was written.
                with self.ledger.transaction():
                    self._write_history(kind, chunk, until)
                    done += len(chunk)
                    self.ledger.set_meta(
                        checkpoint_key, json.dumps({"kind": history, "done": done})
                    )
        self.ledger.set_meta(checkpoint_key, None)

    def _write_history(self, kind: str, records: list[Any], until: date | None) -> None:
        items: list[Item] = []
        for raw in records:
            payload, errors = self._validate(kind, raw)
            if payload is None:
                self._reject("contact" if kind == "client" else kind, raw, errors)
                continue
            if until is not None:
                dated = payload.get("paid_date") or payload.get("date")
                if dated is not None and dated >= until.isoformat():
                    continue  # already in the window before it widened
            tenant = self._tenant_for(payload["location_id"])
            if kind == "client":
                text = payload_json(payload)
                items.append(contact_item(payload, text, tenant, payload["location_id"]))
            elif kind == "invoice":
                items.append(document_item("invoice", payload, tenant))
            elif kind == "credit_note":
                items += credit_note_items(payload, tenant)
            else:
                items += payment_items(payload, tenant)
        self._write(items, event="updated", ensure_contacts=True)

    # -- admin actions --------------------------------------------------------------------------

    def retry(
        self, row_id: int | None = None, kind: str | None = None, tenant_id: str | None = None
    ) -> int:
        """Send again: one row, or every failed (or held by Xero, e.g. lock date) row of a kind
        and/or organisation. Rows go through the rules again. Returns how many moved."""
        if row_id is not None:
            one = self.ledger.get(row_id)
            retryable = (State.FAILED, State.EXCLUDED, State.RETRYING, State.WAITING)
            found = [one] if one is not None and one.state in retryable else []
            found = [
                r for r in found if kind in (None, r.kind) and tenant_id in (None, r.tenant_id)
            ]
            return self._send_again(found)
        moved = 0
        after = 0
        while True:
            with self.ledger.transaction():  # read and write together: see _regate
                page = self.ledger.retryable(
                    EXTERNAL_GATES, kind=kind, tenant_id=tenant_id, after_id=after, limit=BATCH
                )
                if not page:
                    return moved
                after = page[-1].id
                moved += self._send_again(page)

    def _send_again(self, page: Sequence[Row | Facts]) -> int:
        """Put rows through the rules again (an admin's retry); returns how many moved."""
        with self.ledger.transaction():
            ctx = self._context(self._batch_dep(page))
            for f in page:
                gate = rules.gates_for(f, ctx)
                if gate is None:
                    self._make_ready([f.id], message=None)
                else:
                    self.ledger.transition(
                        f.id, State.WAITING, gate=gate.name, detail=gate.detail, message=None
                    )
                self.ledger.add_log(f.id, "retry", "admin retry")
        return len(page)

    def resolve(self, row_id: int) -> None:
        """Hide a failure that was fixed by hand in Xero (counted as synced; its dependants go)
        or a rejected record that was dealt with in the host (excluded)."""
        row = self._row(row_id)
        if row.state == State.REJECTED:
            self.ledger.transition(row_id, State.EXCLUDED, detail="resolved by an admin")
            return
        self.ledger.mark_synced(row_id, row.xero_id, {"resolved_by_admin": True})
        self.ledger.add_log(row_id, "resolved", "fixed by hand in Xero (admin)")

    def exclude(self, row_id: int) -> None:
        """Never send this record."""
        row = self._row(row_id)
        with self.ledger.transaction():
            self.ledger.transition(row_id, State.EXCLUDED, detail="excluded by an admin")
            self.ledger.add_log(row_id, "excluded", "excluded by an admin")
        if row.kind == "contact":
            finish_contact_sync_if_done(self.ledger, row.tenant_id, self.doorbell)

    def include_parent_invoice(self, row_id: int) -> None:
        """Send the invoice a payment (or credit-note allocation) pays, although it is dated
        before the start date: the second way out of ``invoice_before_start``."""
        row = self._row(row_id)
        if row.dep_invoice is None:
            raise ValueError(f"row {row_id} ({row.kind}) has no parent invoice")
        invoice = self.ledger.find("invoice", row.dep_invoice, row.tenant_id)
        if invoice is not None:
            self.ledger.set_fields(invoice.id, include_before_start=1)
        else:
            record = self.host.get_record("invoices", row.dep_invoice)
            if record is None:
                raise ValueError(f"invoice {row.dep_invoice} is unknown to the host")
            payload, errors = self._validate("invoice", record)
            if payload is None:
                self._reject("invoice", record, errors)
                return
            self._ensure_contact(payload["client_id"], row.tenant_id, payload["location_id"])
            item = document_item("invoice", payload, row.tenant_id)
            item.include_before_start = True
            self._write([item], event="created")
        self.ledger.add_log(row_id, "include_parent_invoice", f"invoice {row.dep_invoice}")
        invoice_id = row.dep_invoice
        self._regate(
            lambda after: self.ledger.invoice_with_dependants(
                invoice_id, row.tenant_id, after_id=after, limit=BATCH
            )
        )

    def link_contact(self, row_id: int, contact_id: str | None = None) -> None:
        """The first way out for a contact whose name Xero already gives to a contact without
        our number: the admin says that contact *is* this customer. The row is linked to it
        (``contact_id``, by default the one Xero has under the name) and its documents go.

        A contact is adopted from Xero only when provably ours; here the admin is the proof.
        When the linked contact has no contact number, ours is written onto it (an update), so
        the next match – a rebuilt ledger, a second connection – is provable without asking.
        """
        row = self._row(row_id)
        if row.kind != "contact":
            raise ValueError(f"only a contact can be linked to a Xero contact, not a {row.kind}")
        match = row.xero_match or {}
        target = (contact_id or str(match.get("ContactID") or "")).strip()
        if not target:
            raise ValueError("no Xero contact to link to: give the ContactID of the one in Xero")
        try:
            target = str(uuid.UUID(target))
        except ValueError:
            raise ValueError(f"{target!r} is not a Xero ContactID (a GUID)") from None
        same = target == str(match.get("ContactID") or "").lower()
        with self.ledger.transaction():
            self.ledger.mark_synced(
                row_id, target, {"linked_by_admin": True, "contact": match if same else None}
            )
            stamp = same and not match.get("ContactNumber")
            if stamp:
                self._make_ready([row_id], operation="update")
            self.ledger.add_log(
                row_id,
                "linked",
                f"linked by an admin to Xero contact {target}"
                + ("; our contact number is written onto it" if stamp else ""),
            )

    def create_contact_distinct(self, row_id: int, name: str | None = None) -> str:
        """The second way out: create ours in Xero under a distinct name (by default the
        location added to the number: ``Oliver King (C13, Sydney)``; later updates keep it).
        Returns the name it will be created under."""
        row = self._row(row_id)
        if row.kind != "contact":
            raise ValueError(f"only a contact has a name in Xero, not a {row.kind}")
        if row.state not in (State.WAITING, State.FAILED) or row.xero_id:
            raise ValueError(f"the contact is {row.state}: only a held or failed one is renamed")
        chosen = " ".join((name or "").split()) or self._distinct_name(row)
        if len(chosen) > _MAX_CONTACT_NAME:
            raise ValueError(f"a Xero contact name has at most {_MAX_CONTACT_NAME} characters")
        taken = str((row.xero_match or {}).get("Name") or "")
        if taken and chosen.casefold() == taken.casefold():
            raise ValueError(f"{chosen!r} is the name Xero already gives to another contact")
        with self.ledger.transaction():
            self.ledger.set_fields(row_id, xero_name=chosen, xero_match=None)
            self.ledger.add_log(row_id, "distinct_name", f"to be created as {chosen!r}")
            self.retry(row_id=row_id)
            self.ledger.describe_contact_wait(row.host_id, row.tenant_id, None)
        return chosen

    def our_contact(self, row: Row) -> tuple[str | None, str | None]:
        """The contact number and name a contact row goes to Xero with (``None`` where the
        settings do not say yet)."""
        from pm_xero_plugin.mapping.config import OrgMapping
        from pm_xero_plugin.mapping.contacts import contact_name
        from pm_xero_plugin.mapping.values import xero_number

        try:
            m = OrgMapping.from_settings(
                dict(self.host.settings("xero") or {}), row.tenant_id, row.location_id
            )
            return (
                xero_number(m.prefixes.client, row.payload.get("number")),
                row.xero_name or contact_name(row.payload, m),
            )
        except Exception:  # no codes mapped yet, a number the mapper refuses: nothing to say
            return None, row.xero_name

    def _distinct_name(self, row: Row) -> str:
        """``Jane Smith (C42)`` -> ``Jane Smith (C42, Sydney)``: the number stays, with the
        location added (the prefix rules' own way of keeping names unique); the name is cut."""
        number, _ = self.our_contact(row)
        if number is None:
            raise ValueError("the contact number is not known yet: map the account codes first")
        where = str(self._locations.get(row.location_id, {}).get("name") or row.location_id)
        parts = [str(row.payload.get(k) or "").strip() for k in ("first_name", "last_name")]
        core = " ".join(part for part in parts if part) or "Customer"
        suffix = f" ({number}, {where})"
        return core[: _MAX_CONTACT_NAME - len(suffix)].rstrip() + suffix

    def _row(self, row_id: int) -> Row:
        row = self.ledger.get(row_id)
        if row is None:
            raise KeyError(f"no ledger row {row_id}")
        return row


_NOT_SENT = rules.DepFacts(False)
"""A dependency the ledger has no row for yet (it is being written with its dependant)."""
