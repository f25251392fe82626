"""The Xero Accounting API client: batches, per-element results, limits, retries, look-ups.

What the existing Xero SDKs get wrong, and what this client does instead:

- **Per-element results.** Every batch is sent with ``summarizeErrors=false`` (≤ 50 elements), so
  Xero answers 200 with each element's ``StatusAttributeString``/``ValidationErrors``; each becomes
  an :class:`ElementResult` that fails only its own ledger row, with *all* of Xero's messages.
- **Limits per organisation.** Every call takes a permit from the :class:`RateLimiter` without
  blocking; if there is none, or Xero answers 429, :class:`RateLimited` is raised at once with
  the wait, and the limiter blocks only that tenant. The worker's calls never sleep on a rate
  limit: the worker moves on to another organisation.
- **Synchronous callers wait, and say so** (:func:`waiting_for_limits`): the demo's chart read,
  ``preview``'s look-ups, ``connect``'s checks and a settings page's chart refresh have nothing
  else to do, so inside that context a call waits for the limiter (and retries a 429 after its
  ``Retry-After``) and tells the person – ``waiting 57 s for Xero's minute limit on Sandbox
  Pets Ltd 1`` – instead of failing; a wait longer than ``max_wait`` (the day limit: hours) ends
  in one :class:`RateLimited` whose message says when to try again. The context is per thread
  (a :class:`~contextvars.ContextVar`), so the worker's threads are never made to wait.
- **Explicit timeouts** (connect 5 s, read/write 30 s, pool 5 s) – never a 5-minute hang.
- **Retries** on connect errors, timeouts and 500/502/503/504 with capped, full-jitter backoff
  (:mod:`pm_xero_plugin.xero.retry`), at most ``max_attempts`` tries; ``Retry-After`` honoured.
- **One Idempotency-Key per logical send**, reused by every retry of it.

The choice for a write whose outcome is unknown (a read timeout or dropped connection after the
body was sent, or a 500/502/504 from a gateway that may have passed it on): the client retries it
**with the same Idempotency-Key**, which is safe because Xero replays the original answer for a
key it has seen – but only while the key is surely still remembered: the first send must be less
than ``idempotency_window`` seconds ago (default 300 s, under Xero's 6 minutes). When the window
has passed, the attempts run out, or the retry cannot go (no permit, a 429, no token, a
401/403), the client raises :class:`OutcomeUnknown` – only a 400/404 on the same-key retry is
taken as Xero's real answer, since a processed original would have been replayed. A 2xx whose
body cannot be mapped back to the elements is :class:`OutcomeUnknown` too. The worker must then
look the records up (``find_*`` below) and adopt what is already in Xero before re-sending;
after a crash it does the same for every row it finds still "sending". Reads never raise
:class:`OutcomeUnknown`.

Logged at DEBUG: method, path, status, tenant, idempotency key, elapsed time. Never headers,
bodies or tokens.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx
from marshmallow import ValidationError

from pm_xero_plugin.xero.dates import parse_xero_datetime
from pm_xero_plugin.xero.errors import (
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ReconnectRequired,
    TransientError,
    ValidationFailed,
    XeroError,
)
from pm_xero_plugin.xero.ratelimit import CallPermit, Clock, Limits, SystemClock
from pm_xero_plugin.xero.responses import element_id, parse_elements, validation_messages
from pm_xero_plugin.xero.retry import (
    IDEMPOTENCY_WINDOW,
    RETRYABLE_STATUSES,
    backoff_delay,
    may_have_been_sent,
    parse_retry_after,
    should_retry,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_BATCH",
    "READ_ORDER",
    "READ_PAGE_SIZE",
    "AccessTokens",
    "ElementResult",
    "LimitWaits",
    "Page",
    "XeroAccountsSource",
    "XeroClient",
    "describe_duration",
    "describe_limit",
    "format_if_modified_since",
    "never_waiting_for_limits",
    "waiting_for_limits",
]

log = logging.getLogger(__name__)

#: Xero's recommended maximum number of elements per request.
MAX_BATCH = 50
#: Xero's page size for paged reads.
PAGE_SIZE = 100
#: The largest page Xero serves (``pageSize=``): a reconciliation's reads ask for it.
READ_PAGE_SIZE = 1000
#: The order a paged read asks for (``order=``): oldest change first (the sandbox: ties by id).
READ_ORDER = "UpdatedDateUTC ASC"
#: ``InvoiceNumbers=`` values per look-up request (keeps URLs short).
NUMBERS_PER_LOOKUP = 40
#: ``where=`` alternatives per look-up request.
WHERE_PER_LOOKUP = 20
#: ``ContactNumber==`` alternatives per look-up: a whole batch of 50 contacts in one call (the
#: match before every contact create; numbers are short, the URL stays under 2 KB).
CONTACT_NUMBERS_PER_LOOKUP = 50

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)

Method = str  # "GET", "PUT", "POST" or "DELETE"


# -- waiting for Xero's limits (synchronous callers only) ---------------------------------------


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LimitWaits:
    """How a synchronous caller waits for Xero's limits.

    :param notify: told each wait before it starts (``waiting 57 s for Xero's minute limit on
        Sandbox Pets Ltd 1``); waits under a second (a concurrency slot freeing) are not told.
    :param max_wait: the longest wait worth making, in seconds; a longer one (the day limit) is
        not waited for but raised as one :class:`RateLimited` that says when to try again.
    """

    notify: Callable[[str], None] = _to_stderr
    max_wait: float = 120.0


_LIMIT_WAITS: ContextVar[LimitWaits | None] = ContextVar("pm_xero_limit_waits", default=None)


@contextlib.contextmanager
def waiting_for_limits(
    notify: Callable[[str], None] | None = None, *, max_wait: float = 120.0
) -> Iterator[LimitWaits]:
    """Inside this block, this thread's calls to Xero wait for the rate limiter instead of
    raising :class:`RateLimited` (see the module's docstring). ``notify`` defaults to a line on
    stderr. Nesting replaces the outer policy for the inner block."""
    policy = LimitWaits(notify or _to_stderr, max_wait)
    token = _LIMIT_WAITS.set(policy)
    try:
        yield policy
    finally:
        _LIMIT_WAITS.reset(token)


_MAX_REFUSALS_WAITED = 10
"""How many 429s one waiting call sits out before it gives up with :class:`RateLimited`."""


def never_waiting_for_limits() -> contextlib.AbstractContextManager[LimitWaits]:
    """This thread's calls never wait for the limits, chart reads included: the worker's loop,
    which has other organisations to serve meanwhile."""
    return waiting_for_limits(log.debug, max_wait=0.0)


_LIMIT_WORDS = {
    "minute": "Xero's minute limit",
    "day": "Xero's daily limit",
    "concurrent": "Xero's concurrent-call limit",
    "appminute": "Xero's app-wide minute limit",
    "unavailable": "the shared limits in PostgreSQL (unreachable)",
}


def describe_limit(reason: str) -> str:
    """Words for a limiter reason or Xero's ``X-Rate-Limit-Problem`` (``local-minute``,
    ``blocked-day``, ``probing-minute``, ``app-minute``, ``concurrent``…)."""
    kind = reason.lower().replace("app-minute", "appminute").rsplit("-", 1)[-1]
    return _LIMIT_WORDS.get(kind, f"Xero's rate limit ({reason or 'unknown'})")


def describe_duration(seconds: float) -> str:
    """``57 s``, ``12 min``, ``23 h 59 min``: a wait as a person reads it."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class AccessTokens(Protocol):
    """What the client needs from :class:`pm_xero_plugin.xero.auth.TokenProvider`."""

    def access_token(self, connection_key: str) -> str:
        """A bearer token for the connection, refreshed first if it expires soon."""
        ...

    def invalidate(self, connection_key: str, rejected_token: str | None = None) -> str:
        """After a 401: a refreshed token (unless another thread already refreshed)."""
        ...


@dataclass(frozen=True)
class ElementResult:
    """Xero's answer for one element of a batch, by its index in the request.

    ``xero_id`` is the element's id (``ContactID``, ``InvoiceID``…; for ``BankTransactions`` the
    ``OverpaymentID`` when Xero made an overpayment, since that is what gets allocated), ``None``
    when it failed. ``errors`` holds every ``ValidationErrors`` message, in Xero's words.
    """

    index: int
    ok: bool
    xero_id: str | None
    element: dict[str, Any] = field(repr=False)
    errors: list[str]
    warnings: list[str]


class Page(list[dict[str, Any]]):
    """One page of a paged read: its elements, its number, and Xero's time when it answered
    (the envelope's ``DateTimeUTC``, ``None`` when unreadable) – the clock an incremental read's
    ``If-Modified-Since`` must be on, which is Xero's, not this machine's."""

    def __init__(
        self,
        items: Iterable[dict[str, Any]] = (),
        *,
        number: int = 1,
        server_time: datetime | None = None,
    ) -> None:
        super().__init__(items)
        self.number = number
        self.server_time = server_time

    @property
    def last_updated(self) -> datetime | None:
        """The latest ``UpdatedDateUTC`` on the page (UTC), ``None`` when none is readable: a
        read in ``READ_ORDER`` that stops after this page goes on from this moment, not from
        a page number (pages move when documents change in between)."""
        times = [t for t in (_server_time(i.get("UpdatedDateUTC")) for i in self) if t]
        return max(times) if times else None


def _server_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_xero_datetime(str(value)).astimezone(UTC)
    except ValueError:
        return None


class XeroClient:
    """One client for every organisation; tenants are passed per call.

    :param base_url: the Accounting API root, e.g. ``https://api.xero.com/api.xro/2.0`` (or
        ``OAuthConfig.api_url``).
    :param tokens: access tokens per connection key (a
    :class:`~pm_xero_plugin.xero.auth.TokenProvider`).
    :param limiter: the per-tenant rate limiter (shared by everything that calls Xero).
    :param clock: monotonic time and the sleep used between retries (injectable for tests).
    :param request_hook: called with every outgoing request before it is sent (tests validate the
        bodies against Xero's OpenAPI spec with it).
    :param idempotency_window: seconds after the first send during which a write whose outcome is
        unknown is retried with the same key; later it becomes :class:`OutcomeUnknown`.
    :param name_tenant: asked once for the name of an organisation the client has not learnt
        yet (the runtime reads it from ``/connections``), so a wait names the organisation.
    """

    def __init__(
        self,
        base_url: str,
        tokens: AccessTokens,
        *,
        limiter: Limits,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_attempts: int = 5,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        request_hook: Callable[[httpx.Request], None] | None = None,
        name_tenant: Callable[[str], str | None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.limiter = limiter
        self._http = (
            http if http is not None else httpx.Client(transport=transport, timeout=timeout)
        )
        self._owns_http = http is None
        self._timeout = timeout
        self.max_attempts = max_attempts
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._rng = rng if rng is not None else random.Random()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self.idempotency_window = idempotency_window
        self.request_hook = request_hook
        self._where_or = True  # does the server accept OR in where=? (Xero does)
        #: Organisation names for wait messages (learnt from ``Organisation`` answers, or told by
        #: the runtime from ``/connections``); ``name_tenant`` is asked for one not known yet.
        self.tenant_names: dict[str, str] = {}
        self.name_tenant = name_tenant

    def close(self) -> None:
        """Close the HTTP client, if this client made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> XeroClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes -------------------------------------------------------------------------------

    def send_batch(
        self,
        tenant_id: str,
        connection_key: str,
        method: str,
        endpoint: str,
        elements: list[dict[str, Any]],
        *,
        idempotency_key: str,
    ) -> list[ElementResult]:
        """Create (PUT) or create-or-update (POST) up to 50 elements; one result per element.

        :raises ValueError: more than 50 (or no) elements.
        :raises RateLimited, TransientError, OutcomeUnknown, ReconnectRequired, ValidationFailed:
            see :mod:`pm_xero_plugin.xero.errors`; element-level errors are *not* raised.
        """
        if not 1 <= len(elements) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} elements, not {len(elements)}")
        if method not in ("PUT", "POST"):
            raise ValueError(f"a batch is sent with PUT (create) or POST (update), not {method!r}")
        params = {"summarizeErrors": "false"}
        if endpoint in _UNITDP_ENDPOINTS and any(map(_four_place_prices, elements)):
            params["unitdp"] = "4"  # else Xero rounds each UnitAmount to 2 places
        response = self._call(
            method,
            endpoint,
            tenant_id,
            connection_key,
            params=params,
            body={endpoint: elements},
            idempotency_key=idempotency_key,
        )
        return _results_or_unknown(response, endpoint, len(elements), tenant_id, idempotency_key)

    def allocate(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        document_id: str,
        allocations: list[dict[str, Any]],
        *,
        idempotency_key: str,
    ) -> list[ElementResult]:
        """``PUT /{endpoint}/{id}/Allocations``: apply a credit note, overpayment or prepayment
        (a deposit) to invoices.

        :param endpoint: ``CreditNotes``, ``Overpayments`` or ``Prepayments``.
        """
        if endpoint not in _ALLOCATING:
            raise ValueError(
                "allocations are made from CreditNotes, Overpayments or Prepayments, "
                f"not {endpoint}"
            )
        if not 1 <= len(allocations) <= MAX_BATCH:
            raise ValueError(f"1 to {MAX_BATCH} allocations per request")
        response = self._call(
            "PUT",
            f"{endpoint}/{document_id}/Allocations",
            tenant_id,
            connection_key,
            params={"summarizeErrors": "false"},
            body={"Allocations": allocations},
            idempotency_key=idempotency_key,
        )
        return _results_or_unknown(
            response, "Allocations", len(allocations), tenant_id, idempotency_key
        )

    def ensure_tracking_options(
        self, tenant_id: str, connection_key: str, category: str, options: list[str]
    ) -> dict[str, Any]:
        """Make sure tracking ``category`` exists with every option in ``options`` (what the
        settings page's "create the Location options in Xero" button does). Returns the
        category as Xero now has it. Idempotent: existing category and options are reused."""
        wanted = category.strip().lower()
        found = [
            c
            for c in self.tracking_categories(tenant_id, connection_key)
            if str(c.get("Name", "")).strip().lower() == wanted and c.get("Status") != "ARCHIVED"
        ]
        if found:
            current = found[0]
        else:
            response = self._call(
                "PUT",
                "TrackingCategories",
                tenant_id,
                connection_key,
                body={"Name": category},
                idempotency_key=f"pmx-tc-{uuid.uuid4().hex}",
            )
            current = dict((_json_body(response).get("TrackingCategories") or [{}])[0])
        have = {str(o.get("Name", "")).strip().lower() for o in current.get("Options") or []}
        for option in options:
            if option.strip().lower() in have:
                continue
            self._call(
                "PUT",
                f"TrackingCategories/{current['TrackingCategoryID']}/Options",
                tenant_id,
                connection_key,
                body={"Name": option},
                idempotency_key=f"pmx-to-{uuid.uuid4().hex}",
            )
            have.add(option.strip().lower())
        return current

    # -- reads --------------------------------------------------------------------------------

    def get(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        params: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """One ``GET``; the list under the key named like the endpoint (``Accounts``…)."""
        response = self._call("GET", endpoint, tenant_id, connection_key, params=params)
        key = endpoint.split("/", 1)[0]
        items = _json_body(response).get(key) or []
        return [dict(item) for item in items if isinstance(item, Mapping)]

    def get_all(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        params: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged endpoint, 100 per request (``page=1, 2…``), lazily."""
        page = 1
        while True:
            items = self.get(
                tenant_id, connection_key, endpoint, {**(params or {}), "page": str(page)}
            )
            yield from items
            if len(items) < PAGE_SIZE:
                return
            page += 1

    def read_pages(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        *,
        modified_since: datetime | None,
        page_size: int = READ_PAGE_SIZE,
        params: Mapping[str, str] | None = None,
        before_call: Callable[[], None] | None = None,
        start_page: int = 1,
    ) -> Iterator[Page]:
        """A whole endpoint, a page at a time (``page=1, 2…``, ``pageSize=``), lazily: what a
        reconciliation reads of an organisation's books.

        ``modified_since`` sends ``If-Modified-Since`` as Xero documents it – a UTC timestamp
        ``yyyy-mm-ddThh:mm:ss``, without milliseconds (Xero refuses them; the second is rounded
        down, so nothing changed within it is missed) – and only what changed since comes back.
        ``before_call`` is told before each request (a call budget raises there to stop the
        read before the call is made). Every call asks for :data:`READ_ORDER` (oldest change
        first, ties by id), so a read that stops can go on from its last page's
        :attr:`Page.last_updated` as ``modified_since`` – a document changed in between moves
        to the end, where it is read, and none slides past a page boundary unread. (A page
        number, ``start_page``, is only safe while nothing changes.) Every call goes through
        the limiter and the retries.
        """
        if not 1 <= page_size <= READ_PAGE_SIZE:
            raise ValueError(f"a page holds 1 to {READ_PAGE_SIZE} items, not {page_size}")
        headers = (
            {"If-Modified-Since": format_if_modified_since(modified_since)}
            if modified_since is not None
            else None
        )
        page = max(1, start_page)
        while True:
            if before_call is not None:
                before_call()
            query = {
                **(params or {}),
                "order": READ_ORDER,
                "page": str(page),
                "pageSize": str(page_size),
            }
            response = self._call(
                "GET", endpoint, tenant_id, connection_key, params=query, headers=headers
            )
            body = _json_body(response)
            raw = body.get(endpoint) or []
            yield Page(
                (dict(item) for item in raw if isinstance(item, Mapping)),
                number=page,
                server_time=_server_time(body.get("DateTimeUTC")),
            )
            if len(raw) < page_size:
                return
            page += 1

    def get_by_ids(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        ids: Iterable[str],
        *,
        before_call: Callable[[], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Documents by their Xero ids, ``{id (lower case): element}``; an id Xero does not
        answer for is not in the result (gone).

        ``Invoices`` and ``Contacts`` take ``IDs=`` (50 a call, archived contacts included); the
        others (``CreditNotes``, ``Payments``, ``Overpayments``) have no ``IDs`` parameter in
        Xero's spec, so they are asked by ``where`` on their id (``CreditNoteID==Guid("…") OR
        …``, 20 a call), and one at a time (``GET /{endpoint}/{id}``, a 404 meaning gone) on a
        server that refuses ``OR``. ``before_call`` as for :meth:`read_pages`.
        """
        wanted = [i.lower() for i in _unique(ids)]
        id_field = _ID_FIELDS[endpoint]
        found: dict[str, dict[str, Any]] = {}
        tell = before_call or _nothing
        for items in self._by_ids(tenant_id, connection_key, endpoint, wanted, tell):
            for item in items:
                ident = str(item.get(id_field) or "").lower()
                if ident in wanted:
                    found[ident] = item
        return found

    def _by_ids(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        wanted: list[str],
        before_call: Callable[[], None],
    ) -> Iterator[list[dict[str, Any]]]:
        """The answers of :meth:`get_by_ids`, a call at a time."""
        if endpoint in _IDS_PARAM:
            extra = {"includeArchived": "true"} if endpoint == "Contacts" else {}
            for chunk in _chunks(wanted, MAX_BATCH):
                before_call()
                yield self.get(
                    tenant_id, connection_key, endpoint, {"IDs": ",".join(chunk), **extra}
                )
            return
        if not all(_GUID.fullmatch(i) for i in wanted):
            raise ValueError(f"not Xero ids: {wanted!r}")
        id_field = _ID_FIELDS[endpoint]
        for chunk in _chunks(wanted, WHERE_PER_LOOKUP if self._where_or else 1):
            before_call()
            if len(chunk) == 1:
                yield self._one_by_id(tenant_id, connection_key, endpoint, chunk[0])
                continue
            where = " OR ".join(f'{id_field}==Guid("{i}")' for i in chunk)
            try:
                yield self.get(tenant_id, connection_key, endpoint, {"where": where})
            except ValidationFailed:
                self._where_or = False
                log.info("Xero server refused OR in where=; reading one id at a time")
                for ident in chunk:
                    before_call()
                    yield self._one_by_id(tenant_id, connection_key, endpoint, ident)

    def _one_by_id(
        self, tenant_id: str, connection_key: str, endpoint: str, ident: str
    ) -> list[dict[str, Any]]:
        """``GET /{endpoint}/{id}``; a 404 is no document (gone): ``[]``."""
        try:
            return self.get(tenant_id, connection_key, f"{endpoint}/{ident}")
        except NotFound:
            return []

    def accounts(self, tenant_id: str, connection_key: str) -> list[dict[str, Any]]:
        """The organisation's chart of accounts (``GET /Accounts``)."""
        return self.get(tenant_id, connection_key, "Accounts")

    def tax_rates(self, tenant_id: str, connection_key: str) -> list[dict[str, Any]]:
        """The organisation's tax rates (``GET /TaxRates``)."""
        return self.get(tenant_id, connection_key, "TaxRates")

    def tracking_categories(self, tenant_id: str, connection_key: str) -> list[dict[str, Any]]:
        """The organisation's tracking categories with their options."""
        return self.get(tenant_id, connection_key, "TrackingCategories")

    def organisation(self, tenant_id: str, connection_key: str) -> dict[str, Any]:
        """The organisation itself (its name is remembered for wait messages)."""
        # Xero answers GET /Organisation with an "Organisations" list (not "Organisation").
        response = self._call("GET", "Organisation", tenant_id, connection_key)
        items = _json_body(response).get("Organisations") or []
        found = [dict(item) for item in items if isinstance(item, Mapping)]
        if not found:
            raise NotFound("no organisation in Xero's answer", tenant_id=tenant_id)
        if found[0].get("Name"):
            self.tenant_names[tenant_id] = str(found[0]["Name"])
        return found[0]

    def tenant_label(self, tenant_id: str) -> str:
        """The organisation's name where known (asking ``name_tenant`` once), else its id."""
        name = self.tenant_names.get(tenant_id)
        if name is None and self.name_tenant is not None:
            try:
                name = self.name_tenant(tenant_id)
            except Exception:  # a label must never fail a call
                log.debug("no name for tenant %s", tenant_id, exc_info=True)
                name = None
            self.tenant_names[tenant_id] = name or tenant_id
        return name or self.tenant_names.get(tenant_id) or tenant_id

    # -- dedupe look-ups (the exactly-once guard) ---------------------------------------------

    def find_contacts_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Contacts (archived included) by ``ContactNumber``: ``{"C42": contact}``."""
        found: dict[str, dict[str, Any]] = {}
        wanted = _unique(numbers)
        extra = {"includeArchived": "true"}
        for contact in self._where_lookup(
            tenant_id,
            connection_key,
            "Contacts",
            "ContactNumber",
            wanted,
            params=extra,
            per_call=CONTACT_NUMBERS_PER_LOOKUP,
        ):
            number = contact.get("ContactNumber")
            if number in wanted:
                found.setdefault(str(number), contact)
        return found

    def find_invoices_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Sales invoices (any status, VOIDED/DELETED included) by ``InvoiceNumber``."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_unique(numbers), NUMBERS_PER_LOOKUP):
            params = {"InvoiceNumbers": ",".join(chunk)}
            for invoice in self.get_all(tenant_id, connection_key, "Invoices", params):
                number = invoice.get("InvoiceNumber")
                if number in chunk and invoice.get("Type", "ACCREC") == "ACCREC":
                    found.setdefault(str(number), invoice)
        return found

    def find_credit_notes_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Sales credit notes (any status) by ``CreditNoteNumber``."""
        found: dict[str, dict[str, Any]] = {}
        wanted = _unique(numbers)
        for note in self._where_lookup(
            tenant_id, connection_key, "CreditNotes", "CreditNoteNumber", wanted
        ):
            number = note.get("CreditNoteNumber")
            if number in wanted and note.get("Type", "ACCRECCREDIT") == "ACCRECCREDIT":
                found.setdefault(str(number), note)
        return found

    def find_payments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Live (not DELETED) payments by ``Reference``, as lists: one host payment split over
        several invoices is several Xero payments with the same reference – match each on its
        ``Invoice.InvoiceID``."""
        found: dict[str, list[dict[str, Any]]] = {}
        wanted = _unique(references)
        for payment in self._where_lookup(
            tenant_id, connection_key, "Payments", "Reference", wanted
        ):
            reference = payment.get("Reference")
            if reference in wanted and payment.get("Status") != "DELETED":
                found.setdefault(str(reference), []).append(payment)
        return found

    def _bank_transactions_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str], typ: str
    ) -> dict[str, list[dict[str, Any]]]:
        """Live bank transactions of one ``Type`` by ``Reference``, a list per reference."""
        found: dict[str, list[dict[str, Any]]] = {}
        wanted = _unique(references)
        for txn in self._where_lookup(
            tenant_id,
            connection_key,
            "BankTransactions",
            "Reference",
            wanted,
            also=f'Type=="{typ}"',
        ):
            reference = txn.get("Reference")
            live = txn.get("Status") not in ("DELETED", "VOIDED")
            if reference in wanted and txn.get("Type") == typ and live:
                found.setdefault(str(reference), []).append(txn)
        return found

    def find_overpayments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Live ``RECEIVE-OVERPAYMENT`` bank transactions by ``Reference`` (lists, as above)."""
        return self._bank_transactions_by_reference(
            tenant_id, connection_key, references, "RECEIVE-OVERPAYMENT"
        )

    def find_prepayments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Live ``RECEIVE-PREPAYMENT`` bank transactions by ``Reference`` (lists, as above).

        Like an overpayment's, a prepayment's reference may not be kept by Xero: the finder
        falls back on the contact's prepayments and their lines (which name the deposit).
        """
        return self._bank_transactions_by_reference(
            tenant_id, connection_key, references, "RECEIVE-PREPAYMENT"
        )

    def find_spend_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Live ``SPEND`` bank transactions by ``Reference`` (a payout's fees: ``PO7``)."""
        return self._bank_transactions_by_reference(tenant_id, connection_key, references, "SPEND")

    def find_bank_transfers_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Bank transfers by ``Reference`` (a payout: ``PO7``), deleted ones left out."""
        found: dict[str, list[dict[str, Any]]] = {}
        wanted = _unique(references)
        for transfer in self._where_lookup(
            tenant_id, connection_key, "BankTransfers", "Reference", wanted
        ):
            reference = transfer.get("Reference")
            if reference in wanted and transfer.get("Status") != "DELETED":
                found.setdefault(str(reference), []).append(transfer)
        return found

    def find_overpayments_of_contact(
        self, tenant_id: str, connection_key: str, contact_id: str
    ) -> list[dict[str, Any]]:
        """Live ``RECEIVE-OVERPAYMENT`` bank transactions of one contact, lines included.

        The look-up of last resort for an overpayment whose outcome is unknown: Xero documents
        ``Reference`` as supported only on plain SPEND/RECEIVE transactions, so a reference
        search may miss one; the line description (which names the payment) does not.
        """
        where = f'Type=="RECEIVE-OVERPAYMENT" AND Contact.ContactID==Guid("{contact_id}")'
        return [
            txn
            for txn in self.get_all(tenant_id, connection_key, "BankTransactions", {"where": where})
            if txn.get("Status") not in ("DELETED", "VOIDED")
        ]

    def find_prepayments_of_contact(
        self, tenant_id: str, connection_key: str, contact_id: str
    ) -> list[dict[str, Any]]:
        """Live ``RECEIVE-PREPAYMENT`` bank transactions of one contact, lines included: how a
        deposit whose outcome is unknown is found when Xero did not keep its reference (its
        line names it, ``DEP12 deposit …``)."""
        where = f'Type=="RECEIVE-PREPAYMENT" AND Contact.ContactID==Guid("{contact_id}")'
        return [
            txn
            for txn in self.get_all(tenant_id, connection_key, "BankTransactions", {"where": where})
            if txn.get("Status") not in ("DELETED", "VOIDED")
        ]

    def prepayment_allocated_to(
        self, tenant_id: str, connection_key: str, prepayment_id: str, invoice_id: str
    ) -> bool:
        """Whether the prepayment (a deposit) already has an allocation to that invoice
        (``GET /Prepayments/{id}``: its ``Allocations``), before re-sending one in doubt."""
        return self._allocated_to(
            tenant_id, connection_key, "Prepayments", prepayment_id, invoice_id
        )

    def credit_note_allocated_to(
        self, tenant_id: str, connection_key: str, credit_note_id: str, invoice_id: str
    ) -> bool:
        """Whether the credit note already has an allocation to that invoice (the look-up before
        re-sending an allocation whose outcome is unknown)."""
        return self._allocated_to(
            tenant_id, connection_key, "CreditNotes", credit_note_id, invoice_id
        )

    def _allocated_to(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        document_id: str,
        invoice_id: str,
    ) -> bool:
        documents = self.get(tenant_id, connection_key, f"{endpoint}/{document_id}")
        wanted = invoice_id.lower()
        for document in documents:
            for allocation in document.get("Allocations") or []:
                invoice = allocation.get("Invoice") if isinstance(allocation, Mapping) else None
                if (
                    isinstance(invoice, Mapping)
                    and str(invoice.get("InvoiceID", "")).lower() == wanted
                ):
                    return True
        return False

    def _where_lookup(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        field_name: str,
        values: list[str],
        *,
        also: str | None = None,
        params: Mapping[str, str] | None = None,
        per_call: int = WHERE_PER_LOOKUP,
    ) -> Iterator[dict[str, Any]]:
        """Items whose ``field_name`` is one of ``values``: ``A=="x" OR A=="y"`` in chunks (one
        call for ``per_call`` numbers). A Xero-compatible server that refuses ``OR`` (400) is
        remembered and asked one value at a time instead."""
        for chunk in _chunks(values, per_call if self._where_or else 1):
            try:
                yield from self._where_query(
                    tenant_id, connection_key, endpoint, field_name, chunk, also, params
                )
            except ValidationFailed:
                if len(chunk) == 1:
                    raise
                self._where_or = False
                log.info("Xero server refused OR in where=; looking up one value at a time")
                for value in chunk:
                    yield from self._where_query(
                        tenant_id, connection_key, endpoint, field_name, [value], also, params
                    )

    def _where_query(
        self,
        tenant_id: str,
        connection_key: str,
        endpoint: str,
        field_name: str,
        values: list[str],
        also: str | None,
        params: Mapping[str, str] | None,
    ) -> list[dict[str, Any]]:
        where = where_any(field_name, values)
        if also:
            where = f"({where}) AND {also}" if len(values) > 1 else f"{where} AND {also}"
        # Materialised, so a 400 on the first page surfaces before anything is yielded.
        return list(
            self.get_all(tenant_id, connection_key, endpoint, {**(params or {}), "where": where})
        )

    # -- the one place HTTP happens: auth, then retries, then the single request --------------

    def _call(
        self,
        method: Method,
        path: str,
        tenant_id: str,
        connection_key: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with limits, retries and one token refresh; return a 2xx response or raise.

        ``headers`` are extra request headers a read needs (``If-Modified-Since``).

        Layered the way httpx layers ``send``: :meth:`_send_with_auth` (the token, one refresh
        on a 401), :meth:`_send_with_retries` (the loop, whose every decision is
        :func:`~pm_xero_plugin.xero.retry.should_retry`), :meth:`_send_once` (a limiter slot,
        one HTTP request, the reply classified). Once a write may have reached Xero without a
        definite answer (``maybe_sent``), every give-up is :class:`OutcomeUnknown`.
        """
        if method != "GET" and not idempotency_key:
            raise ValueError("every write needs an Idempotency-Key")
        call = _Call(
            method,
            path,
            tenant_id,
            connection_key,
            params,
            body,
            idempotency_key,
            waits=_LIMIT_WAITS.get(),
            extra_headers=dict(headers or {}),
        )
        return self._send_with_auth(call)

    def _send_with_auth(self, call: _Call) -> httpx.Response:
        """The call with a bearer token, asked for afresh at each attempt (one may expire during
        a backoff); a 401 refreshes it once (serialised by the token provider across threads and
        processes) and the call goes on."""

        def token() -> str:
            return self._token(call, "no token for the retry", self.tokens.access_token)

        try:
            return self._send_with_retries(call, token)
        except _Unauthorized as rejected:
            call.refreshed = True
            refused = rejected.token

            def refresh(key: str) -> str:
                return self.tokens.invalidate(key, rejected_token=refused)

            self._token(call, "token refresh failed before the retry", refresh, 401)
            return self._send_with_retries(call, token)

    def _token(
        self, call: _Call, doubt: str, fetch: Callable[[str], str], status: int | None = None
    ) -> str:
        try:
            return fetch(call.connection_key)
        except XeroError as exc:
            if call.maybe_sent:
                raise self._unknown(
                    f"{doubt} ({exc.message})",
                    call,
                    status if status is not None else exc.status,
                ) from exc
            raise

    def _send_with_retries(self, call: _Call, token: Callable[[], str]) -> httpx.Response:
        """Attempts until a 2xx, or until :func:`should_retry` says to stop (then raise)."""
        while True:
            result = self._send_once(call, token())
            if isinstance(result, httpx.Response):
                return result
            if result.refused and self._waits_out(call):
                # Refused before Xero did anything: wait (the limiter now holds this tenant
                # until Retry-After) and send again, within max_wait. Not a failed attempt.
                log.info("xero: 429 on %s; waiting as asked", call.tenant_id)
                continue
            call.attempts += 1
            if call.is_write and may_have_been_sent(result.cause):
                call.maybe_sent = True
            delay = self._backoff(call, result)
            first_sent = call.first_sent if call.first_sent is not None else math.inf
            if not should_retry(
                result.cause,
                call.attempts,
                max_attempts=self.max_attempts,
                read=not call.is_write,
                maybe_sent=call.maybe_sent,
                since_first_send=self.clock.monotonic() + delay - first_sent,
                idempotency_window=self.idempotency_window,
                delay=delay,
                max_delay=self._backoff_cap,
            ):
                raise self._give_up(call, result)
            self.clock.sleep(delay)

    def _backoff(self, call: _Call, failure: _Failure) -> float:
        if call.attempts >= self.max_attempts:
            return 0.0  # no retry: keep the jitter's random numbers for the calls that wait
        return backoff_delay(
            call.attempts,
            base=self._backoff_base,
            cap=self._backoff_cap,
            rng=self._rng,
            retry_after=failure.retry_after,
        )

    def _waits_out(self, call: _Call) -> bool:
        """Whether a 429 is sat out (a synchronous caller inside :func:`waiting_for_limits`,
        nothing in doubt, fewer than :data:`_MAX_REFUSALS_WAITED` refusals so far)."""
        call.refusals += 1
        waits = call.waits
        return (
            waits is not None
            and waits.max_wait > 0
            and not call.maybe_sent
            and call.refusals <= _MAX_REFUSALS_WAITED
        )

    def _give_up(self, call: _Call, failure: _Failure) -> XeroError:
        """The error a call ends with. A 400/404 is Xero's real answer even on a same-key
        retry (a processed original would have been replayed); once a write may have been
        processed, anything else leaves it in doubt: :class:`OutcomeUnknown`."""
        error = failure.error
        if call.maybe_sent and not isinstance(error, ValidationFailed | NotFound):
            unknown = self._unknown(failure.doubt or error.message, call, failure.status)
            unknown.__cause__ = error
            return unknown
        return error

    def _send_once(self, call: _Call, token: str) -> httpx.Response | _Failure:
        """One request: a limiter slot, the HTTP exchange, and its reply classified."""
        permit = self._permit(call)
        request = self._http.build_request(
            call.method,
            f"{self.base_url}/{call.path}",
            params=call.params,
            json=call.body,
            headers={
                **call.extra_headers,
                **self._headers(token, call.tenant_id, call.idempotency_key),
            },
            timeout=self._timeout,
        )
        if self.request_hook is not None:
            self.request_hook(request)
        started = self.clock.monotonic()
        if call.first_sent is None:
            call.first_sent = started
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            # Only the error's type is kept: some carry the request's header values, the token
            # too.
            permit.release()
            self._log(call, None, started)
            said = "no answer from" if may_have_been_sent(exc) else "could not reach"
            error = TransientError(f"{said} Xero ({type(exc).__name__})", tenant_id=call.tenant_id)
            return _Failure(error, exc)
        permit.release(headers=response.headers)
        self._log(call, response.status_code, started)
        return self._classify(call, token, response)

    def _permit(self, call: _Call) -> CallPermit:
        permit = self.limiter.try_acquire(call.tenant_id)
        if permit is not None:
            return permit
        if call.maybe_sent:
            raise self._unknown("rate limited before the retry", call, None)
        return self._wait_for_permit(call.tenant_id, call.waits, call.waited)

    def _classify(
        self, call: _Call, token: str, response: httpx.Response
    ) -> httpx.Response | _Failure:
        """A 2xx as it is; a first 401 to the auth layer; anything else as a :class:`_Failure`
        (a 429 told to the limiter first)."""
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 401 and not call.refreshed:
            raise _Unauthorized(token)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            problem = response.headers.get("X-Rate-Limit-Problem", "unknown")
            self.limiter.record_429(call.tenant_id, retry_after, problem)
            refusal = RateLimited(
                retry_after,
                problem,
                tenant_id=call.tenant_id,
                message=_problem_message(response) or None,
            )
            return _Failure(
                refusal, status, doubt=f"rate limited ({problem}) before the retry", refused=True
            )
        if status not in RETRYABLE_STATUSES:
            return _Failure(_definite_error(response, call.tenant_id), status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        unavailable = TransientError(
            _problem_message(response) or f"Xero unavailable (HTTP {status})",
            tenant_id=call.tenant_id,
            status=status,
            retry_after=retry_after,
        )
        return _Failure(unavailable, status, retry_after=retry_after)

    def _wait_for_permit(
        self, tenant_id: str, waits: LimitWaits | None, waited: list[float]
    ) -> CallPermit:
        """A permit, waiting for it when ``waits`` says so; else :class:`RateLimited` at once.

        ``waited`` (one number, shared by the call's attempts) bounds the whole call's waiting
        to ``waits.max_wait``: several short waits (429 after 429) end like one long one.
        """
        limiter = self.limiter
        quiet = 0.0  # short concurrency waits not announced yet
        while True:
            permit = limiter.try_acquire(tenant_id)
            if permit is not None:
                return permit
            wait = limiter.wait_for(tenant_id)
            seconds = max(wait.seconds, 0.01)
            if waits is None or waits.max_wait <= 0:
                raise RateLimited(wait.seconds, wait.reason, tenant_id=tenant_id, status=None)
            if waited[0] + seconds > waits.max_wait:
                words, label = describe_limit(wait.reason), self.tenant_label(tenant_id)
                after = describe_duration(wait.seconds)
                raise RateLimited(
                    wait.seconds,
                    wait.reason,
                    tenant_id=tenant_id,
                    status=None,
                    message=f"{words} on {label} leaves no calls for {after}: try again then",
                )
            if seconds >= 1.0:
                words, label = describe_limit(wait.reason), self.tenant_label(tenant_id)
                waits.notify(f"waiting {describe_duration(seconds)} for {words} on {label}")
            else:
                quiet += seconds
                if quiet >= 1.0:  # other processes have held every slot for a while: say so
                    quiet = float("-inf")
                    label = self.tenant_label(tenant_id)
                    waits.notify(f"waiting for {describe_limit(wait.reason)} on {label}")
            limiter.clock.sleep(seconds)
            waited[0] += seconds

    def _headers(self, token: str, tenant_id: str, idempotency_key: str | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "xero-tenant-id": tenant_id,
            "Accept": "application/json",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _unknown(self, reason: str, call: _Call, status: int | None) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"outcome unknown: {reason}; look the records up in Xero before re-sending",
            tenant_id=call.tenant_id,
            status=status,
            idempotency_key=call.idempotency_key,
            first_sent_at=call.first_sent,
        )

    def _log(self, call: _Call, status: int | None, started: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            elapsed_ms = (self.clock.monotonic() - started) * 1000
            log.debug(
                "xero %s /%s -> %s tenant=%s key=%s %.0fms",
                call.method,
                call.path,
                status if status is not None else "no answer",
                call.tenant_id,
                call.idempotency_key or "-",
                elapsed_ms,
            )


@dataclass
class _Call:
    """One logical call across its attempts: what goes out, and what is known so far."""

    method: Method
    path: str
    tenant_id: str
    connection_key: str
    params: Mapping[str, str] | None
    body: Any
    idempotency_key: str | None
    waits: LimitWaits | None
    extra_headers: dict[str, str] = field(default_factory=dict)
    """Headers a read adds (``If-Modified-Since``); never the token's."""
    attempts: int = 0
    """Failed attempts so far (a refresh after a 401, or a 429 sat out, is not one)."""
    refreshed: bool = False
    maybe_sent: bool = False
    """A write may have reached Xero without a definite answer."""
    first_sent: float | None = None
    waited: list[float] = field(default_factory=lambda: [0.0])
    """Seconds this call has waited for the limits (bounded by ``waits.max_wait``)."""
    refusals: int = 0
    """429s answered: bounded too, should Xero say ``Retry-After: 0`` each time."""

    @property
    def is_write(self) -> bool:
        """Anything but a GET changes Xero."""
        return self.method != "GET"


@dataclass(frozen=True)
class _Failure:
    """One attempt that did not end in a 2xx: what to raise, and what the retry policy judges."""

    error: XeroError
    cause: BaseException | int
    """The HTTP status Xero answered, or the httpx error raised instead of an answer."""
    retry_after: float | None = None
    doubt: str | None = None
    """The reason an :class:`OutcomeUnknown` gives when this failure ends a call in doubt."""
    refused: bool = False

    @property
    def status(self) -> int | None:
        """The HTTP status of the attempt, ``None`` when there was no answer."""
        return self.cause if isinstance(self.cause, int) else self.error.status


class _Unauthorized(Exception):
    """Internal: Xero refused this token (the first 401 of a call); the auth layer refreshes."""

    def __init__(self, token: str) -> None:
        super().__init__("token refused")
        self.token = token


class XeroAccountsSource:
    """The ``AccountsSource`` the settings checks use: accounts, tax rates and tracking
    categories per tenant, with the connection key looked up for each tenant.

    A chart read is a synchronous call (a settings page, ``connect``, the engine re-checking
    codes), so it waits for Xero's limits – told through the caller's :func:`waiting_for_limits`
    when there is one, else logged – instead of leaving the codes unverified. A worker thread
    never comes here for a send, and :data:`CHART_WAIT` bounds the wait.
    """

    def __init__(self, client: XeroClient, connection_key_for_tenant: Callable[[str], str]) -> None:
        self._client = client
        self._key = connection_key_for_tenant

    def _read(self, what: Callable[[str, str], list[dict[str, Any]]], tenant_id: str) -> Any:
        if _LIMIT_WAITS.get() is not None:
            return what(tenant_id, self._key(tenant_id))
        with waiting_for_limits(log.warning, max_wait=CHART_WAIT):
            return what(tenant_id, self._key(tenant_id))

    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's chart of accounts, waiting for Xero's limits if need be."""
        return list(self._read(self._client.accounts, tenant_id))

    def tax_rates(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's tax rates, waiting for Xero's limits if need be."""
        return list(self._read(self._client.tax_rates, tenant_id))

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's tracking categories, waiting for Xero's limits if need be."""
        return list(self._read(self._client.tracking_categories, tenant_id))


#: Seconds a chart read outside any :func:`waiting_for_limits` block waits for Xero's limits at
#: most: a minute window, not a day.
CHART_WAIT = 65.0


# -- response interpretation ------------------------------------------------------------------


def _json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a response, checking ``Content-Type`` first (Xero's 503s are text)."""
    if "json" not in response.headers.get("Content-Type", "").lower():
        raise XeroError(
            f"Xero answered {response.headers.get('Content-Type') or 'no content type'}, not JSON",
            status=response.status_code,
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise XeroError("Xero's JSON answer is unreadable", status=response.status_code) from exc
    if not isinstance(data, dict):
        raise XeroError("Xero's answer is not a JSON object", status=response.status_code)
    return data


def _maybe_json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        return _json_body(response)
    except XeroError:
        return None


def _problem_message(response: httpx.Response) -> str:
    """Xero's own words: ``Message`` (API errors), ``detail``/``title`` (auth problems), or the
    start of a plain-text body."""
    data = _maybe_json(response)
    if data is not None:
        for key in ("Message", "Detail", "detail", "title", "Title"):
            if data.get(key):
                return str(data[key])
        return ""
    text = response.text.strip()
    return " ".join(text.split())[:200]


def _definite_error(response: httpx.Response, tenant_id: str) -> XeroError:
    status = response.status_code
    message = _problem_message(response) or f"HTTP {status}"
    if status == 401 and "tokenexpired" in message.replace(" ", "").lower():
        # Expired again right after a successful refresh (clock skew, a token revoked and
        # re-issued): not the admin's problem. The next attempt refreshes again; if the grant is
        # really gone, that refresh answers invalid_grant and *that* asks for a reconnect.
        return TransientError(
            f"Xero still reports the token expired after a refresh ({message}); will retry",
            tenant_id=tenant_id,
        )
    if status in (401, 403):
        return ReconnectRequired(
            f"Xero refused access ({message}): reconnect this location to Xero",
            tenant_id=tenant_id,
            status=status,
        )
    if status == 404:
        return NotFound(message, tenant_id=tenant_id, status=status)
    if status == 400:
        data = _maybe_json(response) or {}
        elements = [dict(e) for e in data.get("Elements") or [] if isinstance(e, Mapping)]
        errors = [m for e in elements for m in validation_messages(e)]
        return ValidationFailed(
            message, tenant_id=tenant_id, elements=elements, errors=errors or [message]
        )
    return XeroError(message, tenant_id=tenant_id, status=status)


def _results_or_unknown(
    response: httpx.Response, key: str, expected: int, tenant_id: str, idempotency_key: str
) -> list[ElementResult]:
    """Per-element results; a 2xx we cannot read means Xero did *something*: outcome unknown."""
    try:
        return _element_results(response, key, expected, tenant_id)
    except XeroError as exc:
        raise OutcomeUnknown(
            f"outcome unknown: {exc.message}; look the records up in Xero before re-sending",
            tenant_id=tenant_id,
            status=response.status_code,
            idempotency_key=idempotency_key,
        ) from exc


def _element_results(
    response: httpx.Response, key: str, expected: int, tenant_id: str
) -> list[ElementResult]:
    """Xero's answer element by element, read by :func:`~.responses.parse_elements`: in the
    order sent (with ``summarizeErrors=false`` that order is the only link between a failed
    element and the record it came from), every message kept."""
    body = _json_body(response)
    items = body.get(key)
    if not isinstance(items, list) or len(items) != expected:
        raise XeroError(
            f"Xero returned {len(items) if isinstance(items, list) else 'no'} {key} for "
            f"{expected} sent",
            tenant_id=tenant_id,
            status=response.status_code,
        )
    try:
        loaded = parse_elements(key, body)
    except ValidationError as exc:
        raise XeroError(
            f"Xero's {key} answer is not the shape Xero documents ({exc.messages})",
            tenant_id=tenant_id,
            status=response.status_code,
        ) from exc
    return [
        _element_result(index, key, raw, element)
        for index, (raw, element) in enumerate(zip(items, loaded, strict=True))
    ]


def _element_result(
    index: int, key: str, raw: Mapping[str, Any], element: Mapping[str, Any]
) -> ElementResult:
    errors = list(element["validation_errors"])
    ok = (
        element["status_attribute_string"] != "ERROR"
        and not errors
        and element["has_errors"] is not True
    )
    if not ok and not errors:
        errors = ["Xero rejected this element without a message"]
    xero_id = element_id(key, element) if ok else None
    return ElementResult(
        index=index,
        ok=ok,
        xero_id=xero_id,
        element=dict(raw),
        errors=errors,
        warnings=list(element["warnings"]),
    )


# -- small helpers ----------------------------------------------------------------------------


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def where_any(field_name: str, values: list[str]) -> str:
    """``Field=="a" OR Field=="b"`` – values are our own numbers, so quotes are refused."""
    for value in values:
        if '"' in value or "\\" in value:
            raise ValueError(f"cannot look up {value!r}: quotes are not allowed in numbers")
    return " OR ".join(f'{field_name}=="{value}"' for value in values)


_ID_FIELDS = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Payments": "PaymentID",
    "Overpayments": "OverpaymentID",
    "Prepayments": "PrepaymentID",
}
"""Each endpoint's id field (what :meth:`XeroClient.get_by_ids` reads by)."""

_IDS_PARAM = frozenset({"Contacts", "Invoices"})
"""The endpoints whose GET takes ``IDs=`` (Xero's spec): the others are read by ``where``."""

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _nothing() -> None:
    """No one to tell before a call."""


def format_if_modified_since(value: datetime) -> str:
    """``If-Modified-Since`` as Xero takes it: UTC, ``yyyy-mm-ddThh:mm:ss`` (seconds rounded
    down). A naive datetime is refused – its instant is ambiguous."""
    if value.tzinfo is None:
        raise ValueError("If-Modified-Since needs an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


_ALLOCATING = ("CreditNotes", "Overpayments", "Prepayments")
"""The documents whose credit ``PUT /{endpoint}/{id}/Allocations`` applies to invoices."""

_UNITDP_ENDPOINTS = frozenset({"Invoices", "CreditNotes", "BankTransactions"})
"""Where Xero takes ``unitdp=4`` (its spec lists the parameter on their PUT and POST)."""


def _four_place_prices(element: Mapping[str, Any]) -> bool:
    """Whether a line of ``element`` has a ``UnitAmount`` with more than 2 decimals: Xero keeps
    them only when the request says ``unitdp=4`` (a request that needs none is sent as before)."""
    for line in element.get("LineItems") or []:
        unit = line.get("UnitAmount") if isinstance(line, Mapping) else None
        if unit is None or isinstance(unit, bool):
            continue
        try:
            exponent = Decimal(str(unit)).normalize().as_tuple().exponent
        except ArithmeticError:
            continue
        if isinstance(exponent, int) and exponent < -2:
            return True
    return False
