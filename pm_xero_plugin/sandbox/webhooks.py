"""Xero's webhooks, sent by the sandbox: one subscription, intent to receive, signed deliveries.

Xero tells an app about changes to contacts, invoices and credit notes by POSTing events to the
URL registered in the developer portal; the add-on reconciles on them. So the sandbox does the
same, with Xero's rules (``xero-webhooks.yaml``):

- A subscription is checked first ("intent to receive"): a correctly signed body with no events
  must be answered 200 and a wrongly signed one 401, each within 5 s. Until it passes, nothing is
  sent and events are dropped – as Xero sends nothing to an endpoint that failed the check.
- Events are batched per tenant (those queued within `batch_seconds`, up to 50 a body) with
  ``firstEventSequence``/``lastEventSequence`` increasing per subscription and 20 random
  uppercase letters of ``entropy``, signed in ``x-xero-signature`` = base64(HMAC-SHA256(body,
  key)).
- A delivery not answered 2xx (a timeout, a refused connection) is sent again with the very same
  body after 1, 2, 4, 8 … s of real time, up to `attempts` times, and a tenant's deliveries stay
  in order: the next one waits until the one before it was delivered or given up.

Nothing here touches the sandbox's books or its lock: the sandbox queues events (under its lock,
quickly) and this module posts them from its own thread (`start`/`stop`) or, in an in-process
test, when the test calls `flush`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_ATTEMPTS",
    "Delivery",
    "Subscription",
    "Webhooks",
    "event_date",
    "events_of_write",
    "known_ids",
    "new_key",
    "sign",
]

#: Xero's cap on the events of one delivery.
BATCH_SIZE = 50
#: How many times a delivery is tried before it is given up (Xero keeps retrying a failing
#: endpoint with growing gaps for a while; 8 attempts span about two minutes here).
DEFAULT_ATTEMPTS = 8
#: Xero's limit on every answer of the endpoint, the intent-to-receive check's included.
TIMEOUT_SECONDS = 5.0
#: Deliveries kept for ``GET /sandbox/webhooks`` (oldest dropped first).
KEPT_DELIVERIES = 50


def sign(body: bytes, key: str) -> str:
    """``x-xero-signature``: base64 of HMAC-SHA256 of the raw body with the webhook key."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def new_key() -> str:
    """A webhook key as the developer portal makes one (random, base64, 88 characters)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def event_date(value: datetime) -> str:
    """An event's ``eventDateUtc`` as Xero writes it: UTC, milliseconds, no zone
    (``2025-12-02T00:44:09.923``)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


#: the stores whose changes Xero sends events for: (Org attribute, eventCategory, id field, URL)
_CATEGORIES = (
    ("contacts", "CONTACT", "Contacts"),
    ("invoices", "INVOICE", "Invoices"),
    ("credit_notes", "CREDITNOTE", "CreditNotes"),
)


def known_ids(org: Any) -> set[str]:
    """The ids of an organisation's contacts, invoices and credit notes (what an UPDATE is)."""
    return {key for attr, _c, _u in _CATEGORIES for key in getattr(org, attr)}


def events_of_write(
    org: Any, touched: set[str], written_at: datetime, known: set[str], root: str
) -> list[dict[str, Any]]:
    """The events one committed write makes: one per contact, invoice or credit note among
    `touched` (the ids its elements' results name) that the write changed – those whose
    ``UpdatedDateUTC`` is the write's own time `written_at`, which the sandbox makes unique per
    organisation and write. CREATE for an id not in `known` (which it joins), else UPDATE.

    A payment or allocation names its invoice and credit note, so they come out as UPDATEs; a
    contact an invoice merely names is not changed, so it makes none.
    """
    events = []
    for attr, category, url_part in _CATEGORIES:
        store = getattr(org, attr)
        for doc_id in sorted(touched):
            record = store.get(doc_id)
            if record is None or record.get("UpdatedDateUTC") != written_at:
                continue
            event: dict[str, Any] = {
                "resourceUrl": f"{root}/api.xro/2.0/{url_part}/{doc_id}",
                "resourceId": doc_id,
                "tenantId": org.tenant_id,
                "tenantType": "ORGANISATION",
                "eventCategory": category,
                "eventType": "UPDATE" if doc_id in known else "CREATE",
                "eventDateUtc": event_date(written_at),
            }
            if category == "CREDITNOTE":
                event["data"] = {"Type": record["Type"], "Status": record["Status"]}
            known.add(doc_id)
            events.append(event)
    return events


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def _real_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Subscription:
    """The one webhook the sandbox's app has (Xero allows one per app).

    ``key`` is a secret: it is left out of ``repr``.
    """

    url: str
    key: str = field(repr=False)
    status: str = "not checked"
    #: the sequence number the next event gets
    next_sequence: int = 1

    @property
    def ok(self) -> bool:
        """Whether events are sent (the intent-to-receive check passed)."""
        return self.status == "OK"

    def snapshot(self) -> dict[str, Any]:
        """What the state file keeps, so a restarted sandbox keeps its subscription."""
        return {
            "url": self.url,
            "key": self.key,
            "status": self.status,
            "next_sequence": self.next_sequence,
        }


@dataclass
class Delivery:
    """One body sent to the subscription (and re-sent unchanged until it is answered 2xx)."""

    tenant_id: str
    first: int
    last: int
    count: int
    body: bytes = field(repr=False)
    signature: str = field(repr=False)
    #: each attempt: ``{"time": real UTC, "status": HTTP status}`` or ``{"time", "error"}``
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: ``pending`` (to be sent or re-sent), ``delivered`` or ``failed`` (given up)
    state: str = "pending"
    #: ``time.monotonic()`` before which it is not re-sent
    due: float = 0.0

    def view(self) -> dict[str, Any]:
        """How ``GET /sandbox/webhooks`` shows it (no body, no signature)."""
        return {
            "tenant_id": self.tenant_id,
            "first_sequence": self.first,
            "last_sequence": self.last,
            "events": self.count,
            "state": self.state,
            "attempts": list(self.attempts),
        }


class Webhooks:
    """The sandbox's webhook sender.

    :param transport: where deliveries go instead of the network: an httpx transport, sync
        (``httpx.WSGITransport``, ``httpx.MockTransport``) or async (``httpx.ASGITransport``, so
        a test can deliver into an ASGI app in-process); ``None`` posts over HTTP.
    :param attempts: how many times a delivery is tried before it is given up.
    :param backoff_seconds: the real wait before the first retry; doubled for each next one.
    :param batch_seconds: how long the sending thread lets events gather before it sends them.
    :param saved: called (without any lock held) when the subscription changed, so the sandbox
        can keep it in its state file.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_seconds: float = 1.0,
        batch_seconds: float = 0.5,
        recheck_seconds: float = 5.0,
        saved: Callable[[], None] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.transport = transport
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.batch_seconds = batch_seconds
        self.recheck_seconds = recheck_seconds
        self._saved = saved or (lambda: None)
        self._cond = threading.Condition()
        self.subscription: Subscription | None = None
        #: events not yet in a delivery, per tenant: (time.monotonic() queued, event)
        self._queued: dict[str, deque[tuple[float, dict[str, Any]]]] = {}
        #: deliveries not yet delivered or given up, per tenant, in order
        self._pending: dict[str, deque[Delivery]] = {}
        self.deliveries: deque[Delivery] = deque(maxlen=KEPT_DELIVERIES)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_recheck = 0.0

    # -- the subscription ------------------------------------------------------------------

    def subscribe(self, url: str, key: str | None = None) -> Subscription:
        """Subscribe `url` (a new random key when `key` is ``None``) and run Xero's
        intent-to-receive check now; events queued before are dropped, sequences start at 1.

        Blocks for up to 10 s (two calls of at most 5 s); call it without the sandbox's lock.
        """
        sub = Subscription(url, key or new_key())
        with self._cond:
            self.subscription = sub
            self._queued.clear()
            self._pending.clear()
        self.check(sub)
        return sub

    def restore(self, data: dict[str, Any] | None) -> None:
        """Take back the subscription a state file kept (no check: it passed before)."""
        if not data:
            return
        self.subscription = Subscription(
            str(data["url"]),
            str(data["key"]),
            str(data.get("status", "not checked")),
            int(data.get("next_sequence", 1)),
        )

    def unsubscribe(self) -> None:
        """Forget the subscription; nothing more is sent, queued events are dropped."""
        with self._cond:
            self.subscription = None
            self._queued.clear()
            self._pending.clear()
        self._saved()

    def check(self, sub: Subscription | None = None) -> str:
        """Xero's intent-to-receive check of `sub` (default: the current subscription): a
        correctly signed empty delivery must get 200, a wrongly signed one 401. Sets and returns
        the status: ``OK`` or ``failing: <why>``."""
        sub = sub or self.subscription
        if sub is None:
            return "not subscribed"
        status = self._intent_to_receive(sub)
        with self._cond:
            if self.subscription is sub:
                sub.status = status
        self._saved()
        return status

    def _intent_to_receive(self, sub: Subscription) -> str:
        # Xero's check carries no events and sequences 0 (the spec's minimum of 1 is for
        # deliveries with events).
        body = _body([], 0, 0)
        good = self._post(sub.url, body, _headers(sign(body, sub.key)))
        if good != 200:
            return f"failing: a correctly signed call was answered {_said(good)}, not 200"
        wrong = self._post(sub.url, body, _headers(sign(body, new_key())))
        if wrong != 401:
            return f"failing: a wrongly signed call was answered {_said(wrong)}, not 401"
        return "OK"

    def view(self) -> dict[str, Any]:
        """``GET /sandbox/webhooks``: the subscription (url, key, status) and the last
        deliveries, newest first. The key is shown, as the developer portal shows it: the
        sandbox's app is a test app and its key a test key."""
        with self._cond:
            sub = self.subscription
            return {
                "subscription": None
                if sub is None
                else {"url": sub.url, "key": sub.key, "status": sub.status},
                "queued": sum(len(q) for q in self._queued.values()),
                "deliveries": [d.view() for d in reversed(self.deliveries)],
            }

    # -- events ------------------------------------------------------------------------------

    def queue(self, events: list[dict[str, Any]]) -> None:
        """Queue events for delivery (dropped unless the subscription is OK)."""
        if not events:
            return
        with self._cond:
            if self.subscription is None or not self.subscription.ok:
                return
            now = time.monotonic()
            for event in events:
                self._queued.setdefault(event["tenantId"], deque()).append((now, event))
            self._cond.notify_all()

    @property
    def active(self) -> bool:
        """Whether events would be sent now (a subscription that passed its check)."""
        sub = self.subscription
        return sub is not None and sub.ok

    def _batch(self, older_than: float | None) -> None:
        """Turn queued events into deliveries (lock held): all of them, or with `older_than`
        only a tenant's whose oldest event was queued before it or that has a full body."""
        sub = self.subscription
        if sub is None:
            return
        for tenant, queued in self._queued.items():
            while queued and (
                older_than is None or queued[0][0] <= older_than or len(queued) >= BATCH_SIZE
            ):
                events = [queued.popleft()[1] for _ in range(min(BATCH_SIZE, len(queued)))]
                first = sub.next_sequence
                sub.next_sequence += len(events)
                body = _body(events, first, first + len(events) - 1)
                delivery = Delivery(
                    tenant, first, first + len(events) - 1, len(events), body, sign(body, sub.key)
                )
                self._pending.setdefault(tenant, deque()).append(delivery)
                self.deliveries.append(delivery)

    def _due(self, now: float | None) -> list[Delivery]:
        """Each tenant's first pending delivery, when it is due (always, with `now` None)."""
        return [q[0] for q in self._pending.values() if q and (now is None or q[0].due <= now)]

    def _attempt(self, delivery: Delivery) -> None:
        """Send `delivery` once (no lock held) and settle what comes of it."""
        sub = self.subscription
        if sub is None:
            return
        answer = self._post(sub.url, delivery.body, _headers(delivery.signature))
        with self._cond:
            attempt: dict[str, Any] = {"time": _real_now()}
            attempt["status" if isinstance(answer, int) else "error"] = answer
            delivery.attempts.append(attempt)
            if isinstance(answer, int) and 200 <= answer < 300:
                delivery.state = "delivered"
            elif len(delivery.attempts) >= self.attempts:
                delivery.state = "failed"
            else:
                gap = self.backoff_seconds * 2 ** (len(delivery.attempts) - 1)
                delivery.due = time.monotonic() + gap
                return
            queue = self._pending.get(delivery.tenant_id)
            if queue and queue[0] is delivery:
                queue.popleft()
        self._saved()  # the next sequence number moved on

    def flush(self) -> list[Delivery]:
        """Deliver what is queued now, once each, in order, on the calling thread – for
        in-process tests (no thread, no waiting): every queued event is batched, and every
        tenant's pending deliveries are attempted (a failed one once more, ignoring its
        backoff; a tenant stops at its first one that is not delivered).

        :return: the deliveries attempted, in the order they were sent.
        """
        sent: list[Delivery] = []
        with self._cond:
            self._batch(None)
            tenants = [t for t, q in self._pending.items() if q]
        for tenant in tenants:
            while True:
                with self._cond:
                    queue = self._pending.get(tenant)
                    delivery = queue[0] if queue else None
                if delivery is None or delivery in sent:
                    break
                self._attempt(delivery)
                sent.append(delivery)
                if delivery.state == "pending":
                    break
        return sent

    # -- the sending thread ----------------------------------------------------------------

    def start(self) -> None:
        """Send from a background thread until `stop` (a served sandbox's)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="xero-sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a call in progress ends within its 5 s timeout). Not to be mixed
        with `flush` while the thread runs."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        thread.join(timeout=2 * TIMEOUT_SECONDS + 1)  # a check in progress: two calls
        self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._recheck_failing()
            with self._cond:
                now = time.monotonic()
                self._batch(now - self.batch_seconds)
                due = self._due(now)
                if not due:
                    self._cond.wait(self._wait_seconds(now))
                    continue
            for delivery in due:
                if self._stopping.is_set():
                    return
                self._attempt(delivery)

    def _wait_seconds(self, now: float) -> float:
        """How long the thread may sleep (lock held): until the oldest queued event has
        gathered long enough, or the next retry is due, or a failing check is to be re-run."""
        waits = [0.5]
        for queued in self._queued.values():
            if queued:
                waits.append(queued[0][0] + self.batch_seconds - now)
        for pending in self._pending.values():
            if pending:
                waits.append(pending[0].due - now)
        return max(0.01, min(waits))

    def _recheck_failing(self) -> None:
        """Re-run the intent-to-receive check of a failing subscription every
        `recheck_seconds` (the sandbox's stand-in for the developer pressing "Send 'Intent to
        receive'" again once the endpoint is up, so a sandbox started before its host's endpoint
        sends events once the endpoint answers)."""
        sub = self.subscription
        if sub is None or sub.ok or not self.recheck_seconds:
            return
        now = time.monotonic()
        if now < self._next_recheck:
            return
        self._next_recheck = now + self.recheck_seconds
        self.check(sub)

    # -- HTTP -------------------------------------------------------------------------------

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int | str:
        """POST and return the status, or the error that stopped an answer (a timeout, a
        refused connection) in a few words."""
        try:
            if isinstance(self.transport, httpx.AsyncBaseTransport):
                return _post_async(self.transport, url, body, headers)
            with httpx.Client(transport=self.transport, timeout=TIMEOUT_SECONDS) as client:
                return client.post(url, content=body, headers=headers).status_code
        except httpx.TimeoutException:
            return f"no answer within {TIMEOUT_SECONDS:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _post_async(
    transport: httpx.AsyncBaseTransport, url: str, body: bytes, headers: dict[str, str]
) -> int:
    """POST through an async transport from sync code: on this thread's own event loop, or –
    when this thread already runs one (an async test) – on a short-lived thread's."""

    async def post() -> int:
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT_SECONDS) as client:
            return (await client.post(url, content=body, headers=headers)).status_code

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(post())
    result: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(post()))
        except BaseException as exc:  # handed back to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="xero-sandbox-webhook-post")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _body(events: list[dict[str, Any]], first: int, last: int) -> bytes:
    """A delivery's raw body (signed as these exact bytes)."""
    payload = {
        "events": events,
        "firstEventSequence": first,
        "lastEventSequence": last,
        "entropy": _entropy(),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _headers(signature: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-xero-signature": signature}


def _said(answer: int | str) -> str:
    return str(answer) if isinstance(answer, int) else f"with no status ({answer})"
