"""Reading Xero's side of the books within its limits: periodic reads and webhook events.

A reconciliation compares the ledger with Xero's versions of the documents the add-on sent
(:class:`~pm_xero_plugin.ledger.types.XeroCopy`). Xero allows an organisation 5,000 calls a day,
and the sync needs most of them, so reading is rationed:

* **Periodic reads** ask for a whole endpoint a page of 1,000 at a time, oldest change first
  – in full the first time and every :data:`FULL_READ_DAYS` (or when asked), else with
  ``If-Modified-Since`` set to the previous read's start (on *Xero's* clock, read from its
  answers) less :data:`MARGIN` – so a quiet day costs about one call per endpoint. Only
  documents the ledger holds a Xero id for are kept (ours; an invoice's payments and credits,
  the bookkeeper's too, are inside its copy).
* **Gone documents** never appear in a read. After a full read (hence the periodic ones), a
  document of ours that it did not return (and that reached Xero before it started) is asked
  for by id; Xero answering for none of them marks its copy ``gone``.
* **Webhook events** (:meth:`BooksReader.handle_events`) are re-read by id, in bulk per
  organisation and category; an event no later than the copy kept (an answer to the add-on's
  own write) costs nothing.
* **A budget**: at most ``reconcile_share`` of the organisation's day limit per UTC day, counted
  durably in the ledger (every process on it shares the count); webhook re-reads count too. A
  read that meets the end of it stops where it is (:class:`BudgetSpent`), says so, and goes on
  the next day from the last ``UpdatedDateUTC`` it read (``If-Modified-Since``, page 1), not
  from a page number: pages move when documents change in between, and one could slide past
  the boundary unread. What changed meanwhile is at the end, so nothing is skipped; what is
  read twice is kept twice, harmlessly.

Failures never escape as anything but :class:`~pm_xero_plugin.xero.errors.XeroError` or
:class:`BudgetSpent`; events that meet one stay pending for the next pass.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pm_xero_plugin.ledger import Ledger, Row
from pm_xero_plugin.ledger.types import XeroCopy, XeroEvent
from pm_xero_plugin.mapping.xero_copies import summarise
from pm_xero_plugin.xero.client import READ_PAGE_SIZE, XeroClient
from pm_xero_plugin.xero.dates import parse_xero_datetime
from pm_xero_plugin.xero.errors import XeroError

__all__ = [
    "CALLS_META",
    "FULL_READ_DAYS",
    "MARGIN",
    "READS",
    "READ_META",
    "BooksReader",
    "BudgetSpent",
    "CallBudget",
    "EndpointRead",
    "ReadOutcome",
]

log = logging.getLogger("pm_xero_plugin.sync.books_read")

MARGIN: Final = timedelta(minutes=5)
"""How far before the previous read's start an incremental read asks from: a document saved
while the previous read ran (or stamped a little out of order) is read again rather than
missed."""

FULL_READ_DAYS: Final = 7
"""Every this many days an organisation's read is in full (no ``If-Modified-Since``), and the
documents of ours it did not return are looked up by id: an incremental read never returns a
document Xero no longer has, so without it ``missing_in_xero`` would be found only once."""

READ_META: Final = "books_read:"
"""Ledger meta ``books_read:<tenant>``: the reads' state (JSON): per endpoint the start of its
last completed read (Xero's clock), the last full read, and where an unfinished read stopped."""

CALLS_META: Final = "books_calls:"
"""Ledger meta ``books_calls:<tenant>``: ``{"day": "YYYY-MM-DD", "calls": n}`` (UTC day)."""


@dataclass(frozen=True)
class EndpointRead:
    """One endpoint a reconciliation reads, and the copy kind its elements are."""

    kind: str
    endpoint: str
    id_field: str
    params: Mapping[str, str] = field(default_factory=dict)


READS: Final = (
    EndpointRead("contact", "Contacts", "ContactID", {"includeArchived": "true"}),
    EndpointRead("invoice", "Invoices", "InvoiceID", {"where": 'Type=="ACCREC"'}),
    EndpointRead("credit_note", "CreditNotes", "CreditNoteID", {"where": 'Type=="ACCRECCREDIT"'}),
    EndpointRead("payment", "Payments", "PaymentID"),
    EndpointRead("overpayment", "Overpayments", "OverpaymentID"),
)
"""What a read covers, in order (contacts first: documents name them)."""

_BY_KIND = {r.kind: r for r in READS}

_CATEGORY_KIND = {"CONTACT": "contact", "INVOICE": "invoice", "CREDITNOTE": "credit_note"}
"""A webhook event's category -> the copy kind it is about."""


class BudgetSpent(Exception):
    """The organisation's reconciliation budget for the UTC day is used up (nothing was
    called): what is left is read the next day."""

    def __init__(self, tenant_id: str, budget: int) -> None:
        super().__init__(
            f"the day's budget for reading Xero ({budget} calls) is used up; the rest is read "
            "after midnight UTC"
        )
        self.tenant_id = tenant_id
        self.budget = budget


class CallBudget:
    """The calls a reconciliation may still make to one organisation today (UTC), counted in
    the ledger's meta so every process on the ledger, and a restart, share the count."""

    def __init__(self, ledger: Ledger, tenant_id: str, limit: int, now: Callable[[], datetime]):
        self.ledger = ledger
        self.tenant_id = tenant_id
        self.limit = limit
        self._now = now

    def _day(self) -> str:
        return self._now().astimezone(UTC).date().isoformat()

    @property
    def used(self) -> int:
        """Calls made today."""
        raw = self.ledger.meta(CALLS_META + self.tenant_id)
        try:
            kept = json.loads(raw) if raw else {}
        except ValueError:
            kept = {}
        if not isinstance(kept, dict) or kept.get("day") != self._day():
            return 0
        calls = kept.get("calls")
        return calls if isinstance(calls, int) else 0

    def take(self) -> None:
        """Count one call about to be made.

        :raises BudgetSpent: none is left today (nothing is counted)."""
        day = self._day()
        with self.ledger.transaction():
            used = self.used
            if used >= self.limit:
                raise BudgetSpent(self.tenant_id, self.limit)
            self.ledger.set_meta(
                CALLS_META + self.tenant_id, json.dumps({"day": day, "calls": used + 1})
            )


@dataclass
class ReadOutcome:
    """What one organisation's read did."""

    tenant_id: str
    full: bool
    calls: int = 0
    elements: int = 0
    """Elements Xero returned (ours or not)."""
    copies: int = 0
    """Copies kept (ours)."""
    gone: int = 0
    incomplete: str | None = None
    """Why the read stopped before the end (the budget, Xero unreachable), ``None``: done."""
    read_at: str | None = None


@dataclass
class _ReadState:
    """``books_read:<tenant>``, as kept."""

    cursors: dict[str, str] = field(default_factory=dict)
    full_at: str | None = None
    read_at: str | None = None
    unfinished: dict[str, Any] | None = None
    """``{"full", "started", "endpoint", "since", "cursors"}`` of a read that stopped (``since``:
    the last ``UpdatedDateUTC`` its endpoint read, where it goes on)."""

    @classmethod
    def load(cls, raw: str | None) -> _ReadState:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(
            cursors=dict(data.get("cursors") or {}),
            full_at=data.get("full_at"),
            read_at=data.get("read_at"),
            unfinished=data.get("unfinished") or None,
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "cursors": self.cursors,
                "full_at": self.full_at,
                "read_at": self.read_at,
                "unfinished": self.unfinished,
            },
            sort_keys=True,
        )


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_xero_datetime(text).astimezone(UTC)
    except ValueError:
        return None


MAX_EVENT_ATTEMPTS: Final = 20
"""Failed attempts after which a webhook event is given up (``given_up``): it is only a hint –
the next read of the organisation covers what it named – and one that cannot be followed must
not stay at the head of the queue for ever."""


class BooksReader:
    """Reads one practice's organisations' books (see the module's docstring).

    :param ledger: where copies, cursors and the call counts are kept.
    :param client: the Xero client (its limiter and retries apply to every call).
    :param connection_for: the connection key that reaches a tenant, ``None`` when none does.
    :param budget_for: the calls a tenant's reconciliation may make per UTC day.
    :param now: the host's clock (the budget's day, when copies were read).
    """

    page_size: int = READ_PAGE_SIZE
    """Elements a periodic read asks for per call (Xero's largest page; smaller in tests)."""

    def __init__(
        self,
        ledger: Ledger,
        client: XeroClient | None,
        connection_for: Callable[[str], str | None],
        *,
        budget_for: Callable[[str], int],
        now: Callable[[], datetime],
    ) -> None:
        self.ledger = ledger
        self.client = client
        self._connection_for = connection_for
        self._budget_for = budget_for
        self._now = now

    def _xero(self) -> XeroClient:
        if self.client is None:
            raise XeroError("no Xero app is configured: Xero's books cannot be read")
        return self.client

    def budget(self, tenant_id: str) -> CallBudget:
        """The tenant's call budget for today."""
        return CallBudget(self.ledger, tenant_id, self._budget_for(tenant_id), self._now)

    def state(self, tenant_id: str) -> tuple[str | None, str | None]:
        """When the tenant was last read (any read) and last read in full (ISO), or ``None``."""
        state = _ReadState.load(self.ledger.meta(READ_META + tenant_id))
        return state.read_at, state.full_at

    def unfinished(self, tenant_id: str) -> bool:
        """Whether a read of the tenant stopped before its end (it goes on from there)."""
        return _ReadState.load(self.ledger.meta(READ_META + tenant_id)).unfinished is not None

    # -- which documents are ours ----------------------------------------------------------------

    def ours(self, tenant_id: str) -> dict[str, dict[str, Row]]:
        """The ledger's rows with a Xero id, per copy kind, by lower-case Xero id (walked a
        page at a time: the ledger, not Xero, says what is ours)."""
        found: dict[str, dict[str, Row]] = {r.kind: {} for r in READS}
        after = 0
        while True:
            rows = self.ledger.rows_of_tenant(tenant_id, list(found), after_id=after, limit=1000)
            for row in rows:
                if row.xero_id:
                    found[row.kind][row.xero_id.lower()] = row
            if len(rows) < 1000:
                return found
            after = rows[-1].id

    # -- periodic reads --------------------------------------------------------------------------

    def read(self, tenant_id: str, *, full: bool = False) -> ReadOutcome:
        """Read the tenant's endpoints (in full when asked, or when it was not for
        :data:`FULL_READ_DAYS`; else what changed since the last read) and keep the copies of
        ours; after a full read, look up by id the documents of ours it did not return. Never
        raises: a stop is ``incomplete``.
        """
        key = self._connection_for(tenant_id) if self.client is not None else None
        state = _ReadState.load(self.ledger.meta(READ_META + tenant_id))
        resume = state.unfinished
        full = bool(resume["full"]) if resume else (full or self._full_due(state))
        outcome = ReadOutcome(tenant_id, full)
        if key is None:
            outcome.incomplete = "not connected to Xero: its books cannot be read"
            return outcome
        budget = self.budget(tenant_id)
        started = (resume or {}).get("started") or self._now().astimezone(UTC).isoformat()
        progress: dict[str, Any] = resume or {
            "full": full,
            "started": started,
            "endpoint": READS[0].endpoint,
            "since": None,
            "cursors": {},
        }
        ours = self.ours(tenant_id)

        def counted() -> None:
            budget.take()
            outcome.calls += 1

        try:
            names = [r.endpoint for r in READS]
            first = names.index(progress["endpoint"]) if progress["endpoint"] in names else 0
            for read in READS[first:]:
                self._read_endpoint(tenant_id, key, read, state, progress, ours, counted, outcome)
            if full:
                outcome.gone += self._look_for_gone(tenant_id, key, ours, started, counted)
        except (XeroError, BudgetSpent) as exc:
            outcome.incomplete = str(exc)
            state.unfinished = progress
            self.ledger.set_meta(READ_META + tenant_id, state.dump())
            return outcome
        state.cursors.update(progress["cursors"])
        state.unfinished = None
        state.read_at = started
        if full:
            state.full_at = started
        self.ledger.set_meta(READ_META + tenant_id, state.dump())
        outcome.read_at = started
        return outcome

    def _full_due(self, state: _ReadState) -> bool:
        """Whether the next read is in full: never read in full, or not for FULL_READ_DAYS."""
        full_at = _when(state.full_at)
        if full_at is None:
            return True
        return self._now().astimezone(UTC) - full_at >= timedelta(days=FULL_READ_DAYS)

    def _read_endpoint(
        self,
        tenant_id: str,
        key: str,
        read: EndpointRead,
        state: _ReadState,
        progress: dict[str, Any],
        ours: Mapping[str, Mapping[str, Row]],
        counted: Callable[[], None],
        outcome: ReadOutcome,
    ) -> None:
        """One endpoint's pages, each page's copies kept and the progress saved as it goes."""
        if progress["endpoint"] != read.endpoint:
            progress.update(endpoint=read.endpoint, since=None)
        since = None
        if not progress["full"]:
            cursor = _when(state.cursors.get(read.endpoint))
            since = cursor - MARGIN if cursor is not None else None
        went_to = _when(progress.get("since"))  # a read that stopped goes on from there
        if went_to is not None and (since is None or went_to > since):
            since = went_to
        mine = ours.get(read.kind, {})
        for page in self._xero().read_pages(
            tenant_id,
            key,
            read.endpoint,
            modified_since=since,
            params=read.params,
            page_size=self.page_size,
            before_call=counted,
        ):
            if read.endpoint not in progress["cursors"]:  # the read's start, on Xero's clock
                when = page.server_time or self._now().astimezone(UTC)
                progress["cursors"][read.endpoint] = when.isoformat()
            outcome.elements += len(page)
            copies = self._copies(tenant_id, read, page, mine)
            if copies:
                self.ledger.store_xero_copies(copies)
            outcome.copies += len(copies)
            last = page.last_updated
            if last is not None:
                progress["since"] = last.isoformat()
            state.unfinished = progress
            self.ledger.set_meta(READ_META + tenant_id, state.dump())

    def _copies(
        self,
        tenant_id: str,
        read: EndpointRead,
        elements: Iterable[Mapping[str, Any]],
        mine: Container[str],
    ) -> list[XeroCopy]:
        now = self._now()
        copies = []
        for element in elements:
            ident = str(element.get(read.id_field) or "").lower()
            if ident not in mine:
                continue
            summary, updated = summarise(read.kind, element)
            copies.append(XeroCopy(tenant_id, read.kind, ident, summary, updated, now))
        return copies

    def _look_for_gone(
        self,
        tenant_id: str,
        key: str,
        ours: Mapping[str, Mapping[str, Row]],
        started: str,
        counted: Callable[[], None],
    ) -> int:
        """After a full read: ours not read since it started (and in Xero before it) asked for
        by id; those Xero has no answer for are kept as ``gone``."""
        since = _when(started)
        gone = 0
        for read in READS:
            mine = ours.get(read.kind, {})
            if not mine or since is None:
                continue
            kept = self.ledger.xero_copies(tenant_id, read.kind)
            unseen = [
                ident
                for ident, row in mine.items()
                if _unseen(kept.get(ident), since) and _before(row, since)
            ]
            if unseen:
                gone += self.reread(tenant_id, key, read.kind, unseen, counted)
        return gone

    def reread(
        self,
        tenant_id: str,
        key: str,
        kind: str,
        ids: Sequence[str],
        counted: Callable[[], None],
    ) -> int:
        """Read documents again by id, keep their copies; how many are gone (no answer)."""
        read = _BY_KIND[kind]
        wanted = sorted({i.lower() for i in ids})
        found = self._xero().get_by_ids(tenant_id, key, read.endpoint, wanted, before_call=counted)
        copies = self._copies(tenant_id, read, found.values(), found)
        now = self._now()
        missing = [i for i in wanted if i not in found]
        if missing:
            kept = self.ledger.xero_copies(tenant_id, kind, missing)
            for ident in missing:
                old = kept.get(ident)
                copies.append(
                    XeroCopy(
                        tenant_id,
                        kind,
                        ident,
                        dict(old.summary) if old is not None else {},
                        old.updated_utc if old is not None else None,
                        now,
                        gone=True,
                    )
                )
        if copies:
            self.ledger.store_xero_copies(copies)
        return len(missing)

    # -- webhook events --------------------------------------------------------------------------

    def handle_events(self, limit: int = 500) -> int:
        """Handle pending webhook events (see the module's docstring); how many were handled.
        Those that meet a failure (Xero unreachable, the budget spent) stay pending, the reason
        kept (``fail_xero_events``)."""
        if self.client is None:
            return 0  # nothing can be re-read: they wait for a runtime
        events = self.ledger.pending_xero_events(limit)
        if not events:
            return 0
        stale = [e.key for e in events if e.attempts >= MAX_EVENT_ATTEMPTS]
        if stale:  # a hint that cannot be followed: the next read covers what it named
            self.ledger.finish_xero_events(stale, "given_up", self._now())
            events = [e for e in events if e.attempts < MAX_EVENT_ATTEMPTS]
        known = {t.tenant_id: t for t in self.ledger.tenants()}
        by_tenant: dict[str, list[XeroEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant_id].append(event)
        handled = 0
        for tenant_id, evs in by_tenant.items():
            handled += self._tenant_events(tenant_id, evs, known.get(tenant_id) is not None)
        return handled

    def _tenant_events(self, tenant_id: str, events: list[XeroEvent], known: bool) -> int:
        now = self._now()
        if not known:  # no location of this practice was ever linked to it
            self.ledger.finish_xero_events([e.key for e in events], "unknown_tenant", now)
            return len(events)
        try:
            key = self._connection_for(tenant_id)
        except XeroError:
            key = None
        if key is None:  # ours, but not reachable now (reconnect, tokens): kept for later
            self.ledger.fail_xero_events(
                [e.key for e in events], "the organisation has no working connection"
            )
            return 0
        ours = self.ours(tenant_id)
        budget = self.budget(tenant_id)
        by_kind: dict[str, list[XeroEvent]] = defaultdict(list)
        not_ours: list[str] = []
        for event in events:
            kind = _CATEGORY_KIND.get(event.category.upper())
            if kind is None or event.resource_id.lower() not in ours[kind]:
                not_ours.append(event.key)
            else:
                by_kind[kind].append(event)
        if not_ours:
            self.ledger.finish_xero_events(not_ours, "not_ours", now)
        handled = len(not_ours)
        for kind, evs in by_kind.items():
            handled += self._kind_events(tenant_id, key, kind, evs, ours, budget)
        return handled

    def _kind_events(
        self,
        tenant_id: str,
        key: str,
        kind: str,
        events: list[XeroEvent],
        ours: Mapping[str, Mapping[str, Row]],
        budget: CallBudget,
    ) -> int:
        """One tenant's events of one kind: our own writes finished as ``own``, the rest
        re-read in bulk (with the payments an invoice lost), finished as ``read``."""
        now = self._now()
        ids = {e.resource_id.lower() for e in events}
        kept = self.ledger.xero_copies(tenant_id, kind, ids)
        own = [e for e in events if _own_write(e, kept.get(e.resource_id.lower()))]
        if own:
            self.ledger.finish_xero_events([e.key for e in own], "own", now)
        rest = [e for e in events if e not in own]
        if not rest:
            return len(own)
        wanted = sorted({e.resource_id.lower() for e in rest})

        def counted() -> None:
            budget.take()

        try:
            self.reread(tenant_id, key, kind, wanted, counted)
            if kind == "invoice":
                self._lost_payments(tenant_id, key, wanted, kept, ours, counted)
        except (XeroError, BudgetSpent) as exc:
            self.ledger.fail_xero_events([e.key for e in rest], str(exc))
            return len(own)
        self.ledger.finish_xero_events([e.key for e in rest], "read", now)
        return len(events)

    def _lost_payments(
        self,
        tenant_id: str,
        key: str,
        invoices: Sequence[str],
        before: Mapping[str, XeroCopy],
        ours: Mapping[str, Mapping[str, Row]],
        counted: Callable[[], None],
    ) -> None:
        """Our payments an invoice no longer lists (deleted in Xero, most likely) read again by
        id, so their copies say so (``DELETED``) – the invoice's copy alone cannot."""
        after = self.ledger.xero_copies(tenant_id, "invoice", invoices)
        mine = ours.get("payment", {})
        payment_copies = self.ledger.xero_copies(tenant_id, "payment")
        lost: set[str] = set()
        for invoice_id in invoices:
            now_paid = _payments_of(after.get(invoice_id))
            was = _payments_of(before.get(invoice_id))
            was |= {
                pid
                for pid, copy in payment_copies.items()
                if copy.summary.get("invoice_id") == invoice_id
                and copy.summary.get("status") != "DELETED"
                and not copy.gone
            }
            lost |= {pid for pid in was - now_paid if pid in mine}
        if lost:
            self.reread(tenant_id, key, "payment", sorted(lost), counted)


def _payments_of(copy: XeroCopy | None) -> set[str]:
    """The payment ids an invoice's copy lists."""
    if copy is None:
        return set()
    return set(copy.summary.get("payments") or {})


def _own_write(event: XeroEvent, copy: XeroCopy | None) -> bool:
    """An event no later than the version already kept: the add-on's own write (its answer
    kept as the copy), or a change already read."""
    if copy is None or copy.updated_utc is None:
        return False
    event_at, kept_at = _when(event.event_date), _when(copy.updated_utc)
    return event_at is not None and kept_at is not None and event_at <= kept_at


def _unseen(copy: XeroCopy | None, since: datetime) -> bool:
    """A copy a read starting at ``since`` did not refresh (and not already known gone)."""
    if copy is None:
        return True
    if copy.gone:
        return False
    read_at = copy.read_at if copy.read_at.tzinfo else copy.read_at.replace(tzinfo=UTC)
    return read_at < since


def _before(row: Row, since: datetime) -> bool:
    """Whether the row reached Xero before ``since`` (a document sent during the read may be
    missing from its pages only because it was not there yet)."""
    at = row.updated_at
    if at is None:
        return True
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at < since
