"""History: the host's past streamed through intake – back-sync, contact sync, catch-up.

A back-sync replays the invoices, credit notes, payments, deposits, refunds and payouts from
the start date (in that order: each after what it draws on); a contact sync
streams a location's customers into contact rows (its organisation's documents wait until it is
done); a catch-up replays the window once more after it widened or the add-on was switched back
on. All three are the same idempotent replay (a record the ledger has unchanged writes nothing),
resumable (a checkpoint commits with each batch of :data:`BATCH` rows) and bounded in memory
(streamed from :meth:`hookspecs.host.Host.iter_history`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from hookspecs.host import HistoryKind
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.gates import finish_contact_sync_if_done
from pm_xero_plugin.core.intake import Intake
from pm_xero_plugin.core.items import (
    Item,
    chunks,
    contact_item,
    credit_note_items,
    document_item,
    payment_items,
    payout_items,
    refund_item,
)
from pm_xero_plugin.inputs.records import payload_json
from pm_xero_plugin.ledger.states import Gate

__all__ = ["BATCH", "History"]

log = logging.getLogger("pm_xero_plugin")

BATCH = 500
"""Rows per backfill / contact-sync transaction."""

_HISTORY_KINDS: tuple[tuple[HistoryKind, str], ...] = (
    ("invoices", "invoice"),
    ("credit_notes", "credit_note"),
    ("payments", "payment"),
    ("deposits", "deposit"),
    ("refunds", "refund"),
    ("payouts", "payout"),
)

_CLIENTS: tuple[tuple[HistoryKind, str], ...] = (("clients", "client"),)

DEPOSIT_LOOKBACK = timedelta(days=366)
"""How far before the window deposits are read: a booking's deposit is taken weeks (at most
about a year) before the stay, and one taken before the start date for a stay invoiced inside
it is the window's business (its allocation, held with the two ways out)."""


def stream_since(kind: str, since: date | None) -> date | None:
    """The date the host's history of ``kind`` is read from for a window from ``since``."""
    return since - DEPOSIT_LOOKBACK if kind == "deposit" and since is not None else since


class History:
    """Streams the host's history into the ledger through ``intake``."""

    def __init__(self, ctx: EngineContext, intake: Intake) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.intake = intake

    def start_contact_sync(self, location_id: str | None) -> None:
        """Stream the location's customers into contact rows; documents of its organisation
        wait until every contact is synced (or failed/excluded), then flow on their own."""
        tenants: set[str] = set()
        for loc in self.ctx.target_locations(location_id):
            tenant = self.ctx.tenant_for(loc)
            if not tenant:
                log.warning("xero: contact sync of %s: no Xero organisation linked", loc)
                continue
            if self.ledger.tenant(tenant).contact_sync == "not_started":
                self.ledger.set_tenant(tenant, contact_sync="running")
                self.intake.regate_waiting(Gate.CONTACT_SYNC_NOT_STARTED, tenant_id=tenant)
            tenants.add(tenant)
            self.stream(f"contacts:{loc}", _CLIENTS, loc, None, until=None)
        for tenant in sorted(tenants):
            finish_contact_sync_if_done(self.ledger, tenant, self.ctx.doorbell)

    def backfill(
        self, location_id: str | None, since: date | None, until: date | None = None
    ) -> None:
        """Replay the host's history from ``since`` (default: the start date) through the rules.

        Idempotent (a replay writes nothing new), resumable (a checkpoint is committed with each
        batch; an interrupted run continues where it stopped) and bounded in memory (streamed,
        written :data:`BATCH` rows at a time).
        """
        settings = self.ctx.settings
        since = since or (settings.start_date if settings else None)
        if since is None:
            log.warning("xero: backfill needs a start date: choose one in the settings first")
            return
        self.ledger.set_meta("backfill_started", self.ctx.iso_now())
        for loc in self.ctx.target_locations(location_id):
            self.stream(f"backfill:{loc}:{since.isoformat()}", _HISTORY_KINDS, loc, since, until)

    def catch_up(self) -> None:
        """Replay the window once more (idempotent: only what is new or changed is written).

        The host calls no hook of a plugin it switched off, and tells it ``on_settings_saved``
        when it is switched on again: whatever was created or edited meanwhile is found here,
        so nothing is lost. Customers are re-read for organisations whose contact sync started.
        """
        for location_id in self.ctx.location_ids():
            tenant = self.ctx.tenant_for(location_id)
            if tenant and self.ledger.tenant(tenant).contact_sync != "not_started":
                self.stream(f"contacts:{location_id}", _CLIENTS, location_id, None, None)
        self.backfill(None, None)

    def stream(
        self,
        checkpoint_key: str,
        kinds: Iterable[tuple[HistoryKind, str]],
        location_id: str,
        since: date | None,
        until: date | None,
    ) -> None:
        """Write one location's history of ``kinds`` from ``since``, a batch per transaction
        with its checkpoint (``checkpoint_key``): an interrupted run resumes after the last
        batch that committed."""
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
            stream = self.ctx.host.iter_history(history, location_id, stream_since(kind, since))
            for _ in zip(range(skip), stream, strict=False):
                pass  # already written by the interrupted run
            for chunk in chunks(stream, BATCH):
                # The batch and its checkpoint commit together: one durable commit per batch,
                # and a resumed run skips exactly what was written.
                with self.ledger.transaction():
                    self.write_history(kind, chunk, until, since=since)
                    done += len(chunk)
                    self.ledger.set_meta(
                        checkpoint_key, json.dumps({"kind": history, "done": done})
                    )
        self.ledger.set_meta(checkpoint_key, None)

    def write_history(
        self, kind: str, records: list[Any], until: date | None, *, since: date | None = None
    ) -> None:
        """Write one batch of history records of ``kind`` (those dated from ``until`` on were
        in the window before it widened, and are skipped; a deposit dated before ``since`` is
        written only when it is applied to an invoice inside the window)."""
        items: list[Item] = []
        voided: list[Item] = []
        for raw in records:
            payload, errors = self.intake.validate(kind, raw)
            if payload is None:
                self.intake.reject("contact" if kind == "client" else kind, raw, errors)
                continue
            if until is not None:
                dated = payload.get("paid_date") or payload.get("date")
                if dated is not None and dated >= until.isoformat():
                    continue  # already in the window before it widened
            if not self.in_window(kind, payload, since):
                continue
            self.intake.ensure_sources(kind, payload)
            if kind == "invoice" and payload.get("status") == "voided":
                # as its hook would: a void, not an edit (sent as an update, Xero would keep
                # the invoice AUTHORISED – a replay of a void whose hook was lost)
                voided += self.items_for(kind, payload)
            else:
                items += self.items_for(kind, payload)
        self.intake.write(items, event="updated", ensure_contacts=True)
        self.intake.write(voided, event="voided", ensure_contacts=True)

    def in_window(self, kind: str, payload: dict[str, Any], since: date | None) -> bool:
        """Whether a history record is the window's: a deposit taken before ``since`` is only
        for an allocation dated inside it (the others are the earlier books')."""
        if kind != "deposit" or since is None or payload["paid_date"] >= since.isoformat():
            return True
        return any(
            item.kind == "deposit_allocation"
            and item.doc_date is not None
            and item.doc_date >= since.isoformat()
            for item in self.items_for(kind, payload)
        )

    def items_for(self, kind: str, payload: dict[str, Any]) -> list[Item]:
        """The rows a validated history record of ``kind`` becomes (in its location's
        organisation): what :meth:`write_history` writes, and what a reconciliation compares."""
        tenant = self.ctx.tenant_for(payload["location_id"])
        if kind == "client":
            text = payload_json(payload)
            return [contact_item(payload, text, tenant, payload["location_id"])]
        if kind == "invoice":
            return [document_item("invoice", payload, tenant)]
        if kind == "credit_note":
            return credit_note_items(payload, tenant)
        if kind == "deposit":
            return self.intake.deposit_items(payload, tenant)
        if kind == "refund":
            return [refund_item(payload, tenant)]
        if kind == "payout":
            return payout_items(payload, tenant)
        return payment_items(payload, tenant)
