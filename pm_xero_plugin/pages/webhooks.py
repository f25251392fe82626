"""Xero's webhooks: the one route of the add-on that no person calls.

Xero posts its events to ``POST <mount>/webhooks/xero`` (:data:`WEBHOOK_PATH`, a
:attr:`hookspecs.pages.PluginApp.public_paths` entry: the host forwards it without a sign-in,
with a :class:`hookspecs.pages.PublicContext`). The signature is the caller's whole
authentication, so it is checked before anything else is believed (``xero-webhooks.yaml``):
``x-xero-signature`` must be base64(HMAC-SHA256(raw body, webhook key)), compared in constant
time. Anything else gets 401 with an empty body and nothing is kept – no word on what was wrong,
for a caller who is not Xero learns nothing from it.

A correctly signed body with no events is Xero's "intent to receive" check (200). Otherwise the
events are kept durably through the :class:`WebhookSink` (the ledger's ``add_xero_events``, which
ignores an event already kept: a retried delivery adds nothing) and a pass is woken to handle
them – on the job thread, never on the request, for Xero wants its 200 within 5 seconds
(:data:`ANSWER_WITHIN`). A signed body whose events are all older than :data:`REPLAY_WINDOW` is
a captured delivery played again, long after Xero's own retries stopped: 401, nothing kept.

Neither the key nor a signature is ever logged; a delivery logs its counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hookspecs.pages import public_context
from pm_xero_plugin.ledger.interface import LedgerUnavailable
from pm_xero_plugin.ledger.types import XeroEvent

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = [
    "ANSWER_WITHIN",
    "MAX_WEBHOOK_BODY",
    "REPLAY_WINDOW",
    "SIGNATURE_HEADER",
    "WEBHOOK_PATH",
    "LedgerWebhookSink",
    "WebhookSink",
    "event_key",
    "routes",
    "signature",
]

log = logging.getLogger("pm_xero_plugin.pages.webhooks")

WEBHOOK_PATH: Final = "/webhooks/xero"
"""Where Xero posts, below the add-on's mount point (refhost: ``/plugins/xero/webhooks/xero``)."""
SIGNATURE_HEADER: Final = "x-xero-signature"
MAX_WEBHOOK_BODY: Final = 1 << 20
"""The largest body taken (413 past it): a delivery is at most 50 events of well under 1 kB."""
REPLAY_WINDOW: Final = timedelta(hours=48)
"""How old a delivery's newest event may be. Xero retries a failed delivery "with decreasing
frequency for up to 24 hours" and then disables the webhook (developer.xero.com, Configuring
your server): twice that leaves every genuine retry – its events a little older than its first
attempt – well inside, and a signed body older than this is a captured one played again."""
ANSWER_WITHIN: Final = 3.5
"""Seconds the route waits for the ledger before answering 503 (Xero gives up at 5 s and
retries; the write, if it lands meanwhile, makes the retry a duplicate that changes nothing)."""
CATEGORIES: Final = frozenset({"CONTACT", "INVOICE", "CREDITNOTE", "SUBSCRIPTION"})
_REQUIRED: Final = ("tenantId", "eventCategory", "eventType", "resourceId", "eventDateUtc")


@runtime_checkable
class WebhookSink(Protocol):
    """Where the route keeps what Xero sent (the addon gives one per practice)."""

    def key(self) -> bytes | None:
        """The webhook key Xero signs with; ``None`` when webhooks are not set up (every call
        then gets 401)."""
        ...

    def now(self) -> datetime:
        """The current time, UTC (for :data:`REPLAY_WINDOW` and the events' ``received_at``)."""
        ...

    def keep(self, events: Sequence[XeroEvent]) -> list[bool]:
        """Keep the events durably; for each, whether it was new. Raises
        :class:`~pm_xero_plugin.ledger.interface.LedgerUnavailable` (busy included) when it
        cannot: the route answers 503 and Xero retries."""
        ...

    def wake(self) -> None:
        """Ask for a pass to handle the new events soon, on the job thread (cheap: a ring)."""
        ...


class LedgerWebhookSink:
    """A :class:`WebhookSink` on the add-on's ledger, from getters (the engine and the runtime
    come and go with the host's start and stop; the app is built once).

    :param engine: the running engine (``None`` before the add-on started: keep raises
        :class:`LedgerUnavailable`, the route answers 503).
    :param key: the webhook key (``AppConfig.webhook_key``), ``None`` when not set up.
    :param clock: the current time, aware (UTC).
    :param wake: what rings for a pass (``None``: nothing to ring; the periodic pass finds them).
    """

    def __init__(
        self,
        engine: Callable[[], Engine | None],
        key: Callable[[], str | bytes | None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._key = key
        self._clock = clock
        self._wake = wake

    def __repr__(self) -> str:
        return "LedgerWebhookSink()"  # never the key

    def key(self) -> bytes | None:
        """The key as bytes (a key given as text is its UTF-8)."""
        key = self._key()
        if not key:
            return None
        return key.encode("utf-8") if isinstance(key, str) else key

    def now(self) -> datetime:
        """The clock's time, in UTC."""
        return self._clock().astimezone(UTC)

    def keep(self, events: Sequence[XeroEvent]) -> list[bool]:
        """``engine.ledger.add_xero_events``."""
        engine = self._engine()
        if engine is None:
            raise LedgerUnavailable("the Xero add-on has not started yet")
        return engine.ledger.add_xero_events(events)

    def wake(self) -> None:
        """Ring for a pass, if there is a bell."""
        if self._wake is not None:
            self._wake()


def signature(body: bytes, key: bytes) -> str:
    """What Xero puts into ``x-xero-signature`` for ``body``: base64(HMAC-SHA256(body, key))."""
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def event_key(event: Mapping[str, Any]) -> str:
    """An event's ``eventId`` when it has one, else the sha256 (hex) of what identifies it:
    ``tenantId|eventCategory|eventType|resourceId|eventDateUtc``."""
    event_id = event.get("eventId")
    if isinstance(event_id, str) and event_id:
        return event_id
    subject = "|".join(str(event.get(name, "")) for name in _REQUIRED)
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()


def routes(sink: WebhookSink | None) -> list[BaseRoute]:
    """The webhook route (``POST`` only: a GET gets 405). ``sink`` ``None``: the add-on keeps no
    webhooks, and every call gets 401 as without a key."""

    refusals = _Refusals()

    async def receive_webhook(request: Request) -> Response:
        return await _receive(request, sink, refusals)

    return [Route(WEBHOOK_PATH, receive_webhook, methods=["POST"], name="xero_webhooks")]


class _Refusals:
    """Refused calls, logged at most once a minute with how many there were since: anyone can
    post to a public path, and a flood of forged calls must not fill the log."""

    EVERY: Final = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = 0
        self._last = -self.EVERY

    def refused(self, size: int) -> None:
        """Count one refused call (``size`` bytes); log when the minute is up."""
        now = time.monotonic()
        with self._lock:
            self._since += 1
            if now - self._last < self.EVERY:
                return
            count, self._since, self._last = self._since, 0, now
        log.warning(
            "Xero webhook refused: missing or wrong signature (%d call%s in the last minute, "
            "the latest %d bytes)",
            count,
            "" if count == 1 else "s",
            size,
        )


async def _receive(request: Request, sink: WebhookSink | None, refusals: _Refusals) -> Response:
    if public_context(request.scope) is None:  # only the host's public forward reaches here
        return _empty(401)
    body = await _body(request)
    if body is None:
        return _empty(413)
    key = sink.key() if sink is not None else None
    if sink is None or key is None or not _signed(request, body, key):
        refusals.refused(len(body))
        return _empty(401)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    raw_events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(raw_events, list):
        log.warning("Xero webhook refused: a signed body that is not a delivery")
        return _empty(400)
    if not raw_events:
        log.info("Xero webhook: intent to receive answered")
        return _empty(200)
    now = sink.now()
    events, dates, skipped = _events(raw_events, now)
    if dates and max(dates) < now - REPLAY_WINDOW:
        log.warning(
            "Xero webhook refused: a signed delivery of %d events, all older than %s",
            len(events),
            REPLAY_WINDOW,
        )
        return _empty(401)
    if not events:
        log.warning("Xero webhook: no usable event among %d (all skipped)", skipped)
        return _empty(200)
    return await _keep(sink, events, skipped)


async def _keep(sink: WebhookSink, events: list[XeroEvent], skipped: int) -> Response:
    """Keep the events on a thread (the ledger write must not block the event loop), waking a
    pass from that thread when any was new – so a write that lands after the route gave up on
    it still wakes one."""

    def keep_and_wake() -> list[bool] | BaseException:
        try:
            new = sink.keep(events)
            if any(new):
                sink.wake()
            return new
        except Exception as exc:  # handed back: an abandoned thread's error is logged here
            if not isinstance(exc, LedgerUnavailable):
                log.error(
                    "Xero webhook: keeping %d events failed (%s)", len(events), type(exc).__name__
                )
            return exc

    outcome: list[bool] | BaseException | None = None
    with anyio.move_on_after(ANSWER_WITHIN):
        outcome = await anyio.to_thread.run_sync(keep_and_wake, abandon_on_cancel=True)
    if outcome is None:
        log.warning("Xero webhook: the ledger took too long; 503 (Xero retries)")
        return _empty(503)
    if isinstance(outcome, BaseException):
        log.warning("Xero webhook: the ledger is unavailable (%s); 503", type(outcome).__name__)
        return _empty(503)
    new = sum(outcome)
    log.info("Xero webhook: %d new, %d already kept, %d skipped", new, len(outcome) - new, skipped)
    return _empty(200)


async def _body(request: Request) -> bytes | None:
    """The raw body, ``None`` past :data:`MAX_WEBHOOK_BODY` (a declared length past it is
    refused before a byte is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_WEBHOOK_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_WEBHOOK_BODY:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        return b""
    return b"".join(chunks)


def _signed(request: Request, body: bytes, key: bytes) -> bool:
    """Whether ``x-xero-signature`` is the body's signature under ``key`` (constant time, on the
    base64 bytes; a header sent twice is no signature)."""
    given = request.headers.getlist(SIGNATURE_HEADER)
    if len(given) != 1 or not given[0]:
        return False
    expected = signature(body, key).encode("ascii")
    return hmac.compare_digest(expected, given[0].encode("latin-1"))


def _events(
    raw_events: Sequence[Any], received_at: datetime
) -> tuple[list[XeroEvent], list[datetime], int]:
    """The usable events (one per key), their dates, and how many were skipped for a missing
    or malformed field (logged, not fatal: the rest of the delivery is still kept)."""
    events: dict[str, XeroEvent] = {}
    dates: list[datetime] = []
    skipped = 0
    for index, raw in enumerate(raw_events):
        problem, when = _problem(raw)
        if problem is not None or when is None:
            skipped += 1
            log.warning("Xero webhook: event %d skipped (%s)", index, problem)
            continue
        dates.append(when)
        key = event_key(raw)
        events.setdefault(
            key,
            XeroEvent(
                key=key,
                tenant_id=str(raw["tenantId"]).lower(),
                category=raw["eventCategory"],
                event_type=raw["eventType"],
                resource_id=str(raw["resourceId"]).lower(),
                event_date=raw["eventDateUtc"],
                received_at=received_at,
            ),
        )
    return list(events.values()), dates, skipped


def _problem(raw: Any) -> tuple[str | None, datetime | None]:
    """What is wrong with one event (``None`` if nothing), and its date."""
    if not isinstance(raw, dict):
        return "not an object", None
    missing = [name for name in _REQUIRED if not isinstance(raw.get(name), str) or not raw[name]]
    if missing:
        return f"missing {', '.join(missing)}", None
    if raw["eventCategory"] not in CATEGORIES:
        return "unknown eventCategory", None
    when = _utc(raw["eventDateUtc"])
    if when is None:
        return "eventDateUtc is not a date-time", None
    return None, when


def _utc(text: str) -> datetime | None:
    """Xero's ``eventDateUtc`` (``2025-12-02T00:44:09.923``, UTC without a zone, or with one)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _empty(status: int) -> Response:
    """Every answer of this route: a status and no body (Xero reads nothing else)."""
    return Response(b"", status_code=status)
