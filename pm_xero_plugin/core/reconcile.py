"""Reconciliation with the host's records: what the host committed and the ledger never heard of.

Hooks fire after the host's commit, so a host killed between its commit and the add-on's loses
the hook: the record is in the host and not in the ledger, and nothing would ever send it. So at
start-up and periodically (on the job thread, never on a host request) the add-on streams what
the host holds and records whatever its ledger lacks, or holds in an older version, through the
same intake as a back-sync (:meth:`~pm_xero_plugin.core.history.History.write_history`).

Each pass has two parts:

- **What changed since the last pass** (the host's change cursor,
  ``iter_history(changed_since=…)``, from when the last completed pass began minus
  :data:`MARGIN` for the host's transactions in flight, never from before an engine first
  opened this ledger):
  every record, recorded as its hook would have recorded it. This is what a lost hook leaves
  behind, whatever the admin has or has not started.
- **Everything covered**, when there is no usable cursor: documents in the window once "Start
  syncing data" has run, customers of organisations whose contact sync started (what the host
  held before the add-on watched is those actions' to bring, not this one's). It runs on a
  fresh ledger, when what is covered changed (the start date moved, a contact sync started),
  when the host's clock went back, once every :data:`FULL_EVERY`, and at every pass of a host
  without the change cursor.

Within that:

- **Cheap when nothing changed.** A record is validated (the fast pre-check takes clean records
  in microseconds), turned into the rows it would write, and their payload hashes compared with
  the ledger's in one look-up per batch; only a record that is missing or different goes through
  the intake. An unchanged host writes nothing.
- **Never backwards.** A record the ledger holds in a newer version (a hook that arrived while
  the pass was reading) is left alone: ``updated_at`` decides.
- **Bounded memory.** Streamed, :data:`~pm_xero_plugin.core.history.BATCH` records at a time.

The host failing to stream is reported on ``health`` (``host_records``) and the cursor is not
moved, so the next pass covers the same ground.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hookspecs.host import HistoryKind
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.health import Health
from pm_xero_plugin.core.history import BATCH, History, stream_since
from pm_xero_plugin.core.intake import Intake, version_moment
from pm_xero_plugin.core.items import Item, chunks, contact_item, text_hash
from pm_xero_plugin.inputs.records import capped_raw, payload_json
from pm_xero_plugin.ledger import Facts
from pm_xero_plugin.ledger.states import State

__all__ = [
    "CURSOR_META_KEY",
    "DROPPED_CONDITION",
    "FULL_EVERY",
    "HEALTH_CONDITION",
    "MARGIN",
    "WANTED_META_KEY",
    "WATCHING_META_KEY",
    "ReconcileReport",
    "Reconciler",
]

log = logging.getLogger("pm_xero_plugin")

CURSOR_META_KEY = "reconcile_cursor"
"""Ledger meta: when the last completed pass began (host time) and what it covered."""

WATCHING_META_KEY = "reconcile_watching_since"
"""Ledger meta: when an engine first opened this ledger (host time)."""

WANTED_META_KEY = "reconcile_wanted"
"""Ledger meta set by the hand-off (:mod:`pm_xero_plugin.core.handoff`) when it had to drop
records it could not keep: the next pass reads everything covered, then clears it."""

DROPPED_CONDITION = "records_dropped"
"""The hand-off's ``health`` condition for dropped records: cleared once such a pass completed."""

MARGIN = timedelta(minutes=5)
"""Subtracted from the cursor: a host transaction that read its clock before the pass began
and committed after the pass had read past it is found by the next pass."""

FULL_EVERY = timedelta(days=1)
"""A full scan at least this often: whatever a cursor cannot see (a host clock set back by
more than :data:`MARGIN`) is found within a day."""

HEALTH_CONDITION = "host_records"
"""The ``health`` condition of a pass the host's history stream broke."""

_DOCUMENTS: tuple[tuple[HistoryKind, str], ...] = (
    ("invoices", "invoice"),
    ("credit_notes", "credit_note"),
    ("payments", "payment"),
    ("deposits", "deposit"),
    ("refunds", "refund"),
    ("payouts", "payout"),
)


@dataclass
class ReconcileReport:
    """What one pass did."""

    full: bool = False
    """A full scan (no usable cursor), not an incremental one."""
    read: int = 0
    """Host records streamed."""
    written: int = 0
    """Records that were missing or older in the ledger, recorded now."""
    skipped: str | None = None
    """Why nothing was read (nothing covered yet, add-on switched off), or ``None``."""
    written_ids: list[str] = field(default_factory=list)
    """The first records written (for the log and tests; capped)."""


class HostUnreadable(Exception):
    """The host's history stream raised: a host problem, not ours."""


class _NoCursor(Exception):
    """The host's ``iter_history`` takes no ``changed_since`` (a host older than the cursor)."""


class Reconciler:
    """Streams the host's records and records what the ledger lacks (see the module)."""

    def __init__(self, ctx: EngineContext, intake: Intake, history: History, health: Health):
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.intake = intake
        self.history = history
        self.health = health
        try:  # from the moment an engine first opens this ledger, before any hook reaches it
            self._watching_since(ctx.host.now())
        except Exception:
            log.warning("xero: could not note when reconciliation starts; the first pass will")

    # -- one pass -------------------------------------------------------------------------------

    def run(self, *, full: bool = False) -> ReconcileReport:
        """One pass (see the module): what changed since the last one, and everything covered
        when there is no usable cursor (``full`` forces that). The cursor moves only when the
        pass completed."""
        began = self.ctx.host.now()
        watching = self._watching_since(began)
        if self.ctx.settings is None or not self.ctx.enabled():
            # Switched off: the host calls nothing and nothing flows; the cursor stays, so the
            # first pass after the switch covers the time it was off.
            return ReconcileReport(skipped="the add-on is switched off or not set up")
        scope = self._scope()
        saved = self._saved()
        last = version_moment(saved.get("at")) if saved else None
        window = self.ctx.settings.start_date
        window_text = window.isoformat() if window else None
        if saved is not None and saved.get("window", window_text) != window_text:
            last = None  # the window moved: what changed in it since the add-on watched
        # What the host stored before this ledger's first engine is a back-sync's, never a
        # lost hook: the changes start after that moment, however far the margin reaches.
        floor = watching + timedelta(microseconds=1)
        changes = max(floor, (last - MARGIN) if last is not None and last <= began else floor)
        wanted = self.ledger.meta(WANTED_META_KEY)  # records were dropped: look for them
        report = ReconcileReport(
            full=full or wanted is not None or self._full_needed(saved, scope, began)
        )
        try:
            if not self._changes(changes, report):
                report.full = True  # a host without the change cursor: everything, each time
            if report.full:
                self._covered(scope, report)
        except HostUnreadable as exc:
            cause = exc.__cause__ or exc
            self.health.report(
                HEALTH_CONDITION,
                "the add-on cannot read the host's records to check that none was missed: "
                f"{type(cause).__name__}: {cause}"[:500],
                "records saved from now on are still recorded as they are saved; the check "
                "runs again periodically and at the next start-up. If this persists, check "
                "the host's database",
            )
            raise
        self.health.clear(HEALTH_CONDITION)
        if wanted is not None and self.ledger.meta(WANTED_META_KEY) == wanted:
            # (set again meanwhile: those records are the next pass's to find)
            self.ledger.set_meta(WANTED_META_KEY, None)
            self.health.clear(DROPPED_CONDITION)
        previous_full = saved.get("full_at") if saved else None
        self.ledger.set_meta(
            CURSOR_META_KEY,
            json.dumps(
                {
                    "at": began.isoformat(),
                    "full_at": began.isoformat() if report.full else previous_full,
                    "scope": scope,
                    "window": window_text,
                }
            ),
        )
        if report.written:
            log.warning(
                "xero: reconciliation recorded %d host record(s) the ledger lacked or held in "
                "an older version (e.g. %s)",
                report.written,
                ", ".join(report.written_ids[:5]),
            )
        return report

    def _changes(self, since: datetime, report: ReconcileReport) -> bool:
        """Every record the host stored since ``since``, recorded as its hook would have: a
        customer's row in its home organisation, a document dated in the window (one before the
        start date is a widened window's to bring: recorded now, it would make its customer a
        contact of an organisation it never dealt with in the window). ``False`` when the host
        has no change cursor."""
        settings = self.ctx.settings
        window = settings.start_date if settings else None
        try:
            self._clients(None, since, report)
            for history, kind in _DOCUMENTS:
                self._documents(history, kind, window, since, report)
        except _NoCursor:
            return False
        return True

    def _covered(self, scope: Mapping[str, Any], report: ReconcileReport) -> None:
        """Everything the add-on answers for, whenever it changed: the window's documents once
        a back-sync ran, the customers of organisations whose contact sync started."""
        if scope["contacts"]:
            self._clients(set(scope["contacts"]), None, report)
        if scope["since"] is not None:
            since = date.fromisoformat(scope["since"])
            for history, kind in _DOCUMENTS:
                self._documents(history, kind, since, None, report)

    def _scope(self) -> dict[str, Any]:
        """What a full pass covers now: the window's documents once a back-sync ran, the
        customers of organisations whose contact sync started."""
        settings = self.ctx.settings
        since = settings.start_date if settings else None
        documents = since is not None and self.ledger.meta("backfill_started") is not None
        tenants = {self.ctx.tenant_for(loc) for loc in self.ctx.location_ids()} - {""}
        contacts = sorted(t for t in tenants if self.ledger.tenant(t).contact_sync != "not_started")
        return {"since": since.isoformat() if documents and since else None, "contacts": contacts}

    def _watching_since(self, began: datetime) -> datetime:
        """When an engine first opened this ledger: what the host stored after that is what
        its hooks were to deliver (what it held before is a back-sync's to bring)."""
        saved = version_moment(self.ledger.meta(WATCHING_META_KEY))
        if saved is None:
            self.ledger.set_meta(WATCHING_META_KEY, began.isoformat())
            return began
        return saved

    def _saved(self) -> dict[str, Any] | None:
        text = self.ledger.meta(CURSOR_META_KEY)
        try:
            saved = json.loads(text) if text else None
        except ValueError:
            return None
        return saved if isinstance(saved, dict) else None

    @staticmethod
    def _full_needed(
        saved: Mapping[str, Any] | None, scope: Mapping[str, Any], began: datetime
    ) -> bool:
        """Whether this pass must read everything covered, not only what changed."""
        if saved is None or saved.get("scope") != scope:
            return True  # a fresh ledger, or the window widened / a contact sync started
        at, full_at = version_moment(saved.get("at")), version_moment(saved.get("full_at"))
        if at is None or full_at is None:
            return True
        # the host's clock went back (its cursor cannot be trusted), or a day since the last
        return began < at or began - full_at >= FULL_EVERY

    # -- streaming the host ---------------------------------------------------------------------

    def _stream(
        self, history: HistoryKind, since: date | None, cursor: datetime | None
    ) -> Iterator[Mapping[str, Any]]:
        """The host's records, its failures raised as :class:`HostUnreadable`;
        :class:`_NoCursor` when a ``cursor`` is asked of a host that does not know one."""
        host = self.ctx.host
        try:
            if cursor is None:
                stream = host.iter_history(history, None, since)
            else:
                try:
                    stream = host.iter_history(history, None, since, changed_since=cursor)
                except TypeError as exc:
                    log.warning("xero: the host has no change cursor: reconciling in full")
                    raise _NoCursor from exc
            iterator = iter(stream)
        except _NoCursor:
            raise
        except Exception as exc:
            raise HostUnreadable(history) from exc
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise HostUnreadable(history) from exc
            yield record

    # -- documents ------------------------------------------------------------------------------

    def _documents(
        self,
        history: HistoryKind,
        kind: str,
        since: date | None,
        cursor: datetime | None,
        report: ReconcileReport,
    ) -> None:
        for batch in chunks(self._stream(history, stream_since(kind, since), cursor), BATCH):
            report.read += len(batch)
            todo = self._differing_documents(kind, batch, since)
            if todo:
                self.history.write_history(kind, todo, None, since=since)
                self._note(report, todo)

    def _differing_documents(
        self, kind: str, batch: list[Mapping[str, Any]], since: date | None = None
    ) -> list[Any]:
        """The records of a batch the ledger lacks or holds in an older version (of the
        window from ``since``: :meth:`History.in_window`)."""
        todo: list[Any] = []
        candidates: list[tuple[Mapping[str, Any], dict[str, Any], list[Item]]] = []
        for raw in batch:
            payload, _ = self.intake.validate(kind, raw)
            if payload is None:
                if self._rejection_is_news(kind, raw):
                    todo.append(raw)
                continue
            if not self.history.in_window(kind, payload, since):
                continue
            candidates.append((raw, payload, self.history.items_for(kind, payload)))
        held = self.ledger.facts(item.key for _, _, items in candidates for item in items)
        for raw, payload, items in candidates:
            rows = [held.get(item.key) for item in items]
            if any(row is None for row in rows):
                todo.append(raw)
                continue
            voided = kind == "invoice" and payload.get("status") == "voided"
            stale = [
                row
                for row, item in zip(rows, items, strict=True)
                if row is not None
                and (
                    row.payload_hash != item.payload_hash
                    or row.state == State.REJECTED
                    or (voided and row.operation != "void" and row.xero_id is not None)
                )
            ]
            if stale and not self._ledger_is_newer(stale[0], payload):
                todo.append(raw)
        return todo

    # -- customers ------------------------------------------------------------------------------

    def _clients(
        self, started: set[str] | None, cursor: datetime | None, report: ReconcileReport
    ) -> None:
        """Customers into contact rows: a missing one only in its home organisation and only
        where ``started`` (``None``: in every organisation, as its hook would have)."""
        tenants = sorted({self.ctx.tenant_for(loc) for loc in self.ctx.location_ids()} - {""})
        if started is None:
            started = set(tenants)
        for batch in chunks(self._stream("clients", None, cursor), BATCH):
            report.read += len(batch)
            rejected: list[Any] = []
            valid: list[dict[str, Any]] = []
            for raw in batch:
                payload, _ = self.intake.validate("client", raw)
                if payload is not None:
                    valid.append(payload)
                elif self._rejection_is_news("client", raw):
                    rejected.append(raw)
            if rejected:
                self.history.write_history("client", rejected, None)
                self._note(report, rejected)
            items = self._differing_contacts(valid, tenants, started)
            if items:
                self.intake.write(items, event="updated")
                self._note(report, [{"id": item.host_id} for item in items])

    def _differing_contacts(
        self, payloads: list[dict[str, Any]], tenants: list[str], started: set[str]
    ) -> list[Item]:
        """The contact rows to write, as :meth:`Intake.record_client` would: the customer's
        row in its home organisation (where contact sync started), and the new details in
        every organisation that has an older one."""
        held = self.ledger.facts(("contact", p["id"], t) for p in payloads for t in tenants)
        items: list[Item] = []
        for payload in payloads:
            text: str | None = None
            home_location = payload["location_id"]
            home = self.ctx.tenant_for(home_location)
            for tenant in tenants:
                row = held.get(("contact", payload["id"], tenant))
                if row is None and not (tenant == home and tenant in started):
                    continue
                text = text or payload_json(payload)
                if row is None:
                    items.append(contact_item(payload, text, home, home_location))
                elif (
                    row.payload_hash != text_hash(text) or row.state == State.REJECTED
                ) and not self._ledger_is_newer(row, payload):
                    items.append(contact_item(payload, text, tenant, row.location_id))
        return items

    # -- comparing versions ---------------------------------------------------------------------

    def _ledger_is_newer(self, facts: Facts, payload: Mapping[str, Any]) -> bool:
        """Whether the ledger's version of a record is newer than the host's (a hook that
        arrived while this pass was reading): then the host's is not written over it."""
        row = self.ledger.get(facts.id)
        if row is None or row.state == State.REJECTED:
            return False
        ours, theirs = (
            version_moment(row.payload.get("updated_at")),
            version_moment(payload.get("updated_at")),
        )
        return ours is not None and theirs is not None and ours > theirs

    def _rejection_is_news(self, kind: str, raw: Any) -> bool:
        """Whether an unreadable host record differs from the rejection the ledger keeps of it
        (the same unreadable record is not written again on every pass)."""
        stored_kind = "contact" if kind == "client" else kind
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or not str(raw_id):
            return True  # kept under a digest of its text: the intake finds it
        digest = text_hash(json.dumps(capped_raw(raw)))
        for host_id in (str(raw_id)[:100], str(raw_id)[:100] + "#rejected"):
            row = self.ledger.find(stored_kind, host_id, "")
            if row is not None and row.state == State.REJECTED:
                return row.payload_hash != digest
        return True

    @staticmethod
    def _note(report: ReconcileReport, records: list[Any]) -> None:
        report.written += len(records)
        for record in records[: max(0, 20 - len(report.written_ids))]:
            record_id = record.get("id") if isinstance(record, Mapping) else None
            report.written_ids.append(str(record_id))
