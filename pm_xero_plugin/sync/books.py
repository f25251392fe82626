"""A reconciliation pass with Xero's books: events, a read when due, the comparison, the report.

:class:`XeroBooks` is what the schedule, the webhooks' wake-up, ``pm-xero reconcile``, the
reconciliation page and ``admin_action("reconcile")`` run. A pass:

1. handles the pending webhook events (:meth:`BooksReader.handle_events`: re-reads by id, our
   own writes free);
2. reads each organisation's books when asked, or when due (``reconcile_hours`` since its last
   read; a first read is always in full), within the day's call budget
   (:mod:`pm_xero_plugin.sync.books_read`);
3. compares the ledger with Xero's copies (:class:`pm_xero_plugin.core.differences.Comparison`,
   pure), a page of rows at a time;
4. applies the ``xero_changes`` setting (:mod:`pm_xero_plugin.core.books_actions`);
5. keeps the :class:`~pm_xero_plugin.core.books.BooksReport` in the ledger's meta, where the
   dashboard, the CLI and the pages read it without calling Xero.

It never raises into its caller (a host's job thread, a page, a hook): an organisation whose
pass failed is listed with the reason as ``incomplete`` and said on health
(``books:<tenant>``), cleared by its next good pass. One pass runs at a time per practice.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from pm_xero_plugin.core.books import REPORT_META_KEY, BooksReport, TenantBooks, load_report
from pm_xero_plugin.inputs.settings import DEFAULT_ROUNDING_TOLERANCE, Prefixes
from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.xero_copies import COPY_KINDS
from pm_xero_plugin.sync.books_read import BooksReader, ReadOutcome
from pm_xero_plugin.xero.client import XeroClient
from pm_xero_plugin.xero.kinds import SEND_ORDER

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = [
    "BOOKS_CONDITION",
    "DAY_LIMIT",
    "DEFAULT_RECONCILE_HOURS",
    "DEFAULT_RECONCILE_SHARE",
    "XeroBooks",
    "books_for",
]

log = logging.getLogger("pm_xero_plugin.sync.books")

DAY_LIMIT: Final = 5000
"""Xero's calls per organisation per day (the Starter tier's 1,000 is lower: pass it)."""

DEFAULT_RECONCILE_SHARE: Final = Decimal("0.2")
DEFAULT_RECONCILE_HOURS: Final = 24

BOOKS_CONDITION: Final = "books:"
"""Health condition ``books:<tenant>``: that organisation's reconciliation failed."""

_ROWS_PAGE = 1000

_REGISTRY: weakref.WeakKeyDictionary[Any, XeroBooks] = weakref.WeakKeyDictionary()


def books_for(
    engine: Engine, client: XeroClient | None = None, connection_for: Any = None
) -> XeroBooks | None:
    """The practice's :class:`XeroBooks` (the add-on's, so one pass runs at a time), made from
    ``client`` and ``connection_for`` when it has none yet; ``None`` without a Xero client."""
    books = _REGISTRY.get(engine)
    if books is None and client is not None and connection_for is not None:
        books = XeroBooks(engine, client, connection_for)
    return books


def _no_connection(tenant_id: str) -> str | None:
    """No Xero app: no organisation is reached."""
    return None


EVENT_RETENTION: Final = timedelta(days=7)
"""How long a handled webhook event is kept: longer than a replay is accepted (48 h, see
:data:`pm_xero_plugin.pages.webhooks.REPLAY_WINDOW`), so an event is still handled only once,
and short enough that a busy practice's ledger does not grow with every event for ever."""


class XeroBooks:
    """One practice's reconciliation with Xero (see the module's docstring).

    :param engine: the add-on's engine (ledger, settings, health, host clock).
    :param client: the runtime's Xero client (its limiter and retries apply); ``None`` without
        a Xero app (``pm-xero reconcile --no-read``): the copies kept are compared, nothing is
        read and the events stay pending.
    :param connection_for: the connection key reaching a tenant, ``None`` when none does.
    :param day_limit: Xero's day limit per organisation; the budget is ``reconcile_share`` of it.
    """

    def __init__(
        self,
        engine: Engine,
        client: XeroClient | None,
        connection_for: Callable[[str], str | None] | None,
        *,
        day_limit: int = DAY_LIMIT,
    ) -> None:
        self.engine = engine
        self.client = client
        self.day_limit = day_limit
        self.reader = BooksReader(
            engine.ledger,
            client,
            connection_for or _no_connection,
            budget_for=self.call_budget,
            now=engine.host.now,
        )
        self._lock = threading.Lock()
        if client is not None:
            _REGISTRY[engine] = self

    # -- settings --------------------------------------------------------------------------------

    def _setting(self, name: str, default: Any) -> Any:
        settings = self.engine.settings
        if settings is None:
            return default
        value = getattr(settings, name, None)
        if value is None:
            value = settings.raw.get(name, default)
        return default if value is None else value

    def call_budget(self, tenant_id: str) -> int:
        """The calls a tenant's reconciliation may make per UTC day."""
        try:
            share = Decimal(str(self._setting("reconcile_share", DEFAULT_RECONCILE_SHARE)))
        except InvalidOperation:
            share = DEFAULT_RECONCILE_SHARE
        if not 0 < share <= 1:
            share = DEFAULT_RECONCILE_SHARE
        return int(share * self.day_limit)

    def reconcile_hours(self) -> int:
        """Hours between periodic reads (0: only on demand and on webhooks)."""
        try:
            return max(0, int(self._setting("reconcile_hours", DEFAULT_RECONCILE_HOURS)))
        except (TypeError, ValueError):
            return DEFAULT_RECONCILE_HOURS

    def due(self, tenant_id: str) -> bool:
        """Whether the tenant's books are due a periodic read: never read, an unfinished read
        to go on with, or ``reconcile_hours`` passed since the last (0: never due)."""
        hours = self.reconcile_hours()
        if hours <= 0:
            return False
        read_at, _full = self.reader.state(tenant_id)
        if read_at is None or self.reader.unfinished(tenant_id):
            return True
        last = datetime.fromisoformat(read_at)
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        return self.engine.host.now() - last >= timedelta(hours=hours)

    def tenant_ids(self) -> list[str]:
        """The organisations to reconcile: those the settings send to, else the ledger's."""
        settings = self.engine.settings
        ids = list(settings.tenant_ids()) if settings is not None else []
        if not ids:
            ids = [t.tenant_id for t in self.engine.ledger.tenants()]
        return sorted(set(ids))

    # -- the pass --------------------------------------------------------------------------------

    def report(self) -> BooksReport | None:
        """The last report kept, or ``None``."""
        return load_report(self.engine.ledger.meta)

    def handle_events(self, limit: int = 500) -> int:
        """Handle pending webhook events; how many. Never raises (a failure is logged and the
        events stay pending)."""
        if self.client is None:
            return 0
        try:
            return self.reader.handle_events(limit)
        except Exception:
            log.exception("xero: webhook events could not be handled; they stay pending")
            return 0

    def run_pass(
        self, *, read: bool = True, full: bool = False, tenant_ids: Iterable[str] | None = None
    ) -> BooksReport:
        """Events first, then (``read``) a read of each organisation – in full with ``full`` –
        then the comparison, the ``xero_changes`` setting and the report kept."""
        return self._pass(lambda _t: read or full, full, tenant_ids)

    def periodic_pass(self) -> BooksReport:
        """The schedule's pass: events, a read of the organisations that are due, the rest;
        webhook events handled more than :data:`EVENT_RETENTION` ago are forgotten."""
        try:
            before = self.engine.host.now() - EVENT_RETENTION
            self.engine.ledger.prune_xero_events(before)
        except Exception:  # a ledger that cannot prune now prunes at the next pass
            log.warning("xero: old webhook events could not be pruned", exc_info=True)
        return self._pass(self.due, False, None)

    def events_pass(self) -> BooksReport | None:
        """After a webhook's wake-up: the events handled, and the organisations compared again
        when any was (no read); ``None`` when there was nothing to handle."""
        if not self.engine.ledger.pending_xero_events(1):
            return None
        return self._pass(lambda _t: False, False, None)

    def _pass(
        self, read_for: Callable[[str], bool], full: bool, tenant_ids: Iterable[str] | None
    ) -> BooksReport:
        with self._lock:
            now = self.engine.host.now()
            self.handle_events()
            wanted = list(tenant_ids) if tenant_ids is not None else self.tenant_ids()
            kept = self.report()
            others = [t for t in (kept.tenants if kept else []) if t.tenant_id not in wanted]
            tenants = [self._tenant(t, read_for, full) for t in wanted]
            report = BooksReport(
                generated_at=now.astimezone(UTC).isoformat(timespec="seconds"),
                tenants=sorted([*others, *tenants], key=lambda t: t.tenant_id),
            )
            try:
                self.engine.ledger.set_meta(REPORT_META_KEY, report.to_json())
            except Exception:
                log.exception("xero: the reconciliation's report could not be kept")
                return report
            self._release_holds(report)
            return report

    def _release_holds(self, report: BooksReport) -> None:
        """Edits held at ``xero_changed`` (:mod:`~pm_xero_plugin.sync.overwrite_guard`) whose
        difference this pass no longer lists open – the bookkeeper undid it, or someone
        decided to re-send – go again (the guard looks at each once more before it leaves)."""
        from pm_xero_plugin.sync.overwrite_guard import GATE, GUARDED

        ledger = self.engine.ledger
        try:
            if not any(  # the counts table first: a scan only when an edit is held at all
                c.get("gate") == GATE and c.get("state") == "waiting" and c.get("n")
                for c in ledger.counts()
            ):
                return
            held, _ = ledger.find_rows(held_gates=(GATE,), limit=None)
        except Exception:
            log.exception("xero: the edits held for Xero's changes could not be looked at")
            return
        still = {
            d.row_id
            for t in report.tenants
            for d in t.differences
            if d.difference in GUARDED and d.decided != "resent"
        }
        free = [r.id for r in held if r.state == "waiting" and r.id not in still]
        if free:
            ledger.transition_many(free, "ready")
            self.engine.doorbell.ring()

    def _tenant(self, tenant_id: str, read_for: Callable[[str], bool], full: bool) -> TenantBooks:
        """One organisation's part of a pass; a failure is its ``incomplete`` and on health."""
        health = self.engine.health
        try:
            outcome = None
            if read_for(tenant_id) and self.client is not None:
                outcome = self.reader.read(tenant_id, full=full)
            books = self._compare(tenant_id)
            self._describe(books, outcome)
            self._apply_setting(books)
        except Exception as exc:
            log.exception("xero: the reconciliation of %s failed", tenant_id)
            health.report(
                BOOKS_CONDITION + tenant_id,
                f"the reconciliation with Xero of organisation {tenant_id} failed "
                f"({type(exc).__name__})",
                "it is tried again at the next pass; the add-on's log has the details",
                severity="warning",
            )
            return TenantBooks(
                tenant_id=tenant_id,
                name=self._name(tenant_id),
                incomplete=f"the reconciliation failed ({type(exc).__name__}); see the log",
            )
        health.clear(BOOKS_CONDITION + tenant_id)
        return books

    def _name(self, tenant_id: str) -> str | None:
        """The organisation's name as Xero's connections give it (asked once, not an Accounting
        call), else ``None``."""
        if self.client is None:
            return None
        label = self.client.tenant_label(tenant_id)
        return None if label == tenant_id else label

    def _compare(self, tenant_id: str) -> TenantBooks:
        from pm_xero_plugin.core.differences import Comparison

        ledger = self.engine.ledger
        copies = {kind: ledger.xero_copies(tenant_id, kind) for kind in COPY_KINDS}
        tolerance, prefixes = self._mapping(tenant_id)
        comparison = Comparison(
            tenant_id,
            copies=copies,
            marks=ledger.books_marks(tenant_id),
            tolerance=tolerance,
            prefixes=prefixes,
        )
        after = 0
        while True:
            rows = ledger.rows_of_tenant(tenant_id, SEND_ORDER, after_id=after, limit=_ROWS_PAGE)
            comparison.add(rows)
            if len(rows) < _ROWS_PAGE:
                break
            after = rows[-1].id
        return comparison.finish()

    def _mapping(self, tenant_id: str) -> tuple[Decimal, Prefixes]:
        """The organisation's rounding tolerance and prefixes (its first location's)."""
        settings = self.engine.settings
        if settings is not None:
            for location_id in settings.locations_for_tenant(tenant_id):
                try:
                    mapping = OrgMapping.from_settings(settings, tenant_id, location_id)
                except Exception:  # incomplete settings: the defaults still name the records
                    continue
                return mapping.rounding_tolerance, mapping.prefixes
        return DEFAULT_ROUNDING_TOLERANCE, Prefixes()

    def _describe(self, books: TenantBooks, outcome: ReadOutcome | None) -> None:
        """What the report says of the organisation's reading beside its comparison."""
        tenant_id = books.tenant_id
        books.name = self._name(tenant_id)
        books.read_at, books.full_read_at = self.reader.state(tenant_id)
        budget = self.reader.budget(tenant_id)
        books.calls_today, books.call_budget = budget.used, budget.limit
        books.events_pending = sum(
            1 for e in self.engine.ledger.pending_xero_events(10_000) if e.tenant_id == tenant_id
        )
        if outcome is not None and outcome.incomplete:
            books.incomplete = outcome.incomplete
        elif self.reader.unfinished(tenant_id):
            books.incomplete = "Xero's books were not read to the end yet; the next read goes on"
        elif books.read_at is None:
            books.incomplete = "Xero's books have not been read yet"

    def _apply_setting(self, books: TenantBooks) -> None:
        """The ``xero_changes`` setting on the open differences (``report``: nothing)."""
        mode = str(self._setting("xero_changes", "report"))
        if mode == "report" or not books.differences:
            return
        from pm_xero_plugin.core.books_actions import apply_setting

        for said in apply_setting(self.engine, books, mode):
            log.info("xero: xero_changes=%s: %s", mode, said)
