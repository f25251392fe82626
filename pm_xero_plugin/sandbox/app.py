"""The sandbox as one WSGI app: identity, ``/connections``, the Accounting API and a dev view.

Everything a request goes through is here, in Xero's order: bearer token (401), tenant and
connection (403), rate limits (429), injected faults, the idempotency cache, the spec check (400)
and finally the organisation's books. One lock guards the state; the concurrency limit counts
requests in flight per tenant, so it is real under threads.

Every committed write queues Xero's webhook events for the contacts, invoices and credit notes it
changed (:mod:`.webhooks` sends them, never under the lock); the bookkeeper API
(:mod:`.bookkeeper`) runs the same writes as a person in Xero, outside the app's token and limits.
"""

from __future__ import annotations

import html
import json
import random
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import accounting, balances, bookkeeper, persistence, view
from .clock import SandboxClock
from .dates import render
from .faults import Faults
from .idempotency import CachedResponse, IdempotencyCache, fingerprint
from .identity import DEFAULT_REDIRECT_URIS, AccessToken, Identity
from .limits import Arrival, Limits, RateLimiter
from .orgs import REGIONS, Org, new_org
from .validation import ResponseChecker, SpecChecker
from .web import ApiError, Request, Response, SandboxHang, json_response, problem, text_response
from .webhooks import DEFAULT_ATTEMPTS, Webhooks, events_of_write, known_ids

if TYPE_CHECKING:
    import os

    import httpx

    from .server import RunningServer

__all__ = ["API_ROOT", "Sandbox"]

API_ROOT = "/api.xro/2.0"
#: The limits' peak counters, per organisation (``GET``; ``DELETE`` starts them afresh).
PEAKS_PATH = "/sandbox/limits/peaks"
#: ``GET /sandbox/balances/{tenant_id}``: every account's balance as Xero's journals leave it.
BALANCES_PREFIX = "/sandbox/balances/"
#: ``PUT`` (subscribe and check), ``GET`` (subscription and deliveries), ``DELETE``.
WEBHOOKS_PATH = "/sandbox/webhooks"
#: Xero's ``UpdatedDateUTC`` has milliseconds; two writes never share one (see `_write_time`).
_TICK = timedelta(milliseconds=1)

StartResponse = Callable[..., Any]

# Accounting resource -> scopes that allow writing it (".read" variants allow reading).
_SCOPES: dict[str, tuple[str, ...]] = {
    "contacts": ("accounting.contacts",),
    "accounts": ("accounting.settings",),
    "taxrates": ("accounting.settings",),
    "trackingcategories": ("accounting.settings",),
    "organisation": ("accounting.settings",),
    "invoices": ("accounting.transactions", "accounting.invoices"),
    "creditnotes": ("accounting.transactions", "accounting.invoices"),
    "banktransactions": ("accounting.transactions", "accounting.banktransactions"),
    "overpayments": ("accounting.transactions", "accounting.invoices", "accounting.payments"),
    "payments": ("accounting.transactions", "accounting.payments"),
    "prepayments": ("accounting.transactions",),
    "banktransfers": ("accounting.transactions",),
}


class Sandbox:
    """A local, stateful, Xero-compatible server.

    :param client_id: / :param client_secret: the one app it accepts.
    :param orgs: organisations seeded at start (named "Sandbox Pets Ltd 1", "… 2", …).
    :param clock: callable returning an aware UTC datetime; default a manual `SandboxClock`.
    :param spec_path: ``xero_accounting.yaml``; ``None`` runs without checking bodies.
    :param limits: Xero's rate limits (on by default).
    :param seed: makes tenant ids and random faults replayable.
    :param region: ``AU``, ``NZ`` or ``UK`` – tax rates and currency of seeded organisations.
    :param state_path: a JSON file holding the organisations, their books and lock dates, the
        connections and live tokens, and the clock's time. Loaded at start if it exists (then
        nothing is seeded and `orgs` is ignored); rewritten atomically after every write, before
        the answer leaves, so a killed sandbox resumes with everything it acknowledged.
    :param requests_limit: how many recent requests `requests` keeps (`api_calls` stays exact).
    :param redirect_uris: the app's registered redirect URIs, matched exactly at authorize
        (default `DEFAULT_REDIRECT_URIS`: the add-on's default ``http://127.0.0.1:8766/callback``
        and what the test suites use).
    :param check_responses: validate every Accounting API answer against the response schema
        of `spec_path` and record each complaint in `response_violations` (the end-to-end suite
        turns it on and fails on any). Costs about 1 ms per answer, 35 ms per 100-invoice page.
    :param webhook_transport: where webhooks are delivered instead of the network (an httpx
        transport, sync or async: a test delivers into an app in-process); see `webhooks`.
    :param webhook_attempts: how many times a delivery is tried before it is given up.
    :param webhook_backoff: real seconds before a delivery's first retry (doubled each time).
    """

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        orgs: int = 2,
        clock: Callable[[], datetime] | None = None,
        spec_path: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        seed: int = 0,
        region: str = "AU",
        state_path: str | os.PathLike[str] | None = None,
        requests_limit: int = 100_000,
        redirect_uris: Sequence[str] = DEFAULT_REDIRECT_URIS,
        check_responses: bool = False,
        webhook_transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        webhook_attempts: int = DEFAULT_ATTEMPTS,
        webhook_backoff: float = 1.0,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; choose one of {sorted(REGIONS)}")
        self.clock: Callable[[], datetime] = clock or SandboxClock()
        self.client_id, self.client_secret = client_id, client_secret
        self.region = region
        self.seed = seed
        self.limits = limits or Limits()
        self.spec = SpecChecker(spec_path) if spec_path else None
        if check_responses and not spec_path:
            raise ValueError("check_responses needs spec_path (Xero's spec)")
        self._responses = ResponseChecker(spec_path) if check_responses and spec_path else None
        #: "METHOD /path?query -> status: complaint" for every answer the spec disallows
        self.response_violations: list[str] = []
        #: how many answers were validated (those the spec declares), and the time it took
        self.responses_checked = 0
        self.response_check_seconds = 0.0
        self._lock = threading.RLock()
        self._rng = random.Random(f"{seed}:tenants")
        self._orgs: dict[str, Org] = {}
        self._faults: dict[str, Faults] = {}
        self._limiter = RateLimiter(self.limits, clock=lambda: self.clock())
        self._idem = IdempotencyCache()
        self._api_calls: Counter[str] = Counter()
        #: the most recent requests (oldest dropped first), for tests and ``/sandbox/requests``
        self.requests: deque[dict[str, Any]] = deque(maxlen=requests_limit)
        self.state_path = Path(state_path) if state_path is not None else None
        self._encoders: dict[str, persistence.OrgEncoder] = {}
        #: per organisation: the time of its last write, and the ids of its contacts, invoices
        #: and credit notes (so an event says CREATE or UPDATE)
        self._last_write: dict[str, datetime] = {}
        self._known: dict[str, set[str]] = {}
        #: the root an event's ``resourceUrl`` starts with (the served URL, once served)
        self.root_url: str | None = None
        #: Xero's webhooks: ``PUT /sandbox/webhooks``, `Webhooks.flush` in-process
        self.webhooks = Webhooks(
            transport=webhook_transport,
            attempts=webhook_attempts,
            backoff_seconds=webhook_backoff,
            saved=self.save_meta,
        )
        self.identity = Identity(
            client_id,
            client_secret,
            self.clock,
            lambda: {t: o.name for t, o in self._orgs.items()},
            self.add_org,
            redirect_uris,
        )
        self._loading = True
        if self.state_path is not None and self.state_path.exists():
            self._load(self.state_path)
            self.seeded: list[str] = list(self._orgs)
        else:
            self.seeded = [self.add_org() for _ in range(orgs)]
        self._loading = False
        if self.state_path is not None:
            self.save()
        self.app = self.wsgi

    # -- organisations, faults, inspection ---------------------------------------------------

    @property
    def tenant_ids(self) -> list[str]:
        """Every organisation's tenant id, in creation order."""
        with self._lock:
            return list(self._orgs)

    def add_org(self, name: str | None = None, region: str | None = None) -> str:
        """Create an organisation (chart of accounts, tax rates) and return its tenant id."""
        with self._lock:
            n = len(self._orgs) + 1
            tenant_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            org = new_org(
                name or f"Sandbox Pets Ltd {n}", region or self.region, tenant_id, self.clock()
            )
            self._attach(org)
            self._saved()
            return tenant_id

    def _attach(self, org: Org) -> None:
        tenant_id = org.tenant_id
        self._orgs[tenant_id] = org
        self._encoders[tenant_id] = persistence.OrgEncoder(org)
        self._known[tenant_id] = known_ids(org)
        stamps = [
            doc["UpdatedDateUTC"]
            for store in (org.contacts, org.invoices, org.credit_notes, org.payments)
            for doc in store.values()
            if isinstance(doc.get("UpdatedDateUTC"), datetime)
        ]
        if stamps:
            self._last_write[tenant_id] = max(stamps)
        faults = Faults(seed=f"{self.seed}:{len(self._orgs)}")
        faults._expire = lambda: self._with_lock(self.identity.expire_tokens, tenant_id)
        faults._disconnect = lambda: self._with_lock(self.identity.disconnect, tenant_id)
        self._faults[tenant_id] = faults

    def _with_lock(self, fn: Callable[[str], None], tenant_id: str) -> None:
        with self._lock:
            fn(tenant_id)
            self._saved()

    def org(self, tenant_id: str) -> Org:
        """The live organisation (its stores are Xero-shaped dicts) – for tests and debugging.

        The caller may change it, so it is re-encoded at the next save.
        """
        with self._lock:
            self._encoders[tenant_id].forget()
        return self._orgs[tenant_id]

    # -- persistence ---------------------------------------------------------------------------

    def save(self) -> None:
        """Write everything to `state_path` now (atomically); a no-op without one."""
        with self._lock:
            for encoder in self._encoders.values():
                encoder.forget()
            self._saved()

    def save_meta(self) -> None:
        """Save what changed outside the books (the webhook subscription); a no-op without a
        state file."""
        with self._lock:
            self._saved()

    def _saved(self, tenant_id: str | None = None, touched: set[str] | None = None) -> None:
        """Save after a change (lock held).

        :param tenant_id: the organisation written to; :param touched: the ids of its documents
            that changed (``None``: any may have).
        """
        if self.state_path is None or self._loading:
            return
        if tenant_id is not None:
            self._encoders[tenant_id].forget(touched)
        meta = {
            "version": persistence.FORMAT_VERSION,
            "clock": self.clock() if isinstance(self.clock, SandboxClock) else None,
            "tenant_rng": self._rng.getstate(),
            "lock_dates": {t: f.lock_date for t, f in self._faults.items()},
            "end_of_year_lock_dates": {t: f.end_of_year_lock_date for t, f in self._faults.items()},
            "advisers": [t for t, f in self._faults.items() if f.adviser],
            "identity": self.identity.snapshot(),
            "webhooks": sub.snapshot() if (sub := self.webhooks.subscription) else None,
        }
        orgs = ",".join(f"{json.dumps(t)}:{e.encode()}" for t, e in self._encoders.items())
        text = persistence.encode(meta)[:-1] + ',"orgs":{' + orgs + "}}"
        persistence.write_atomic(self.state_path, text)

    def _load(self, path: Path) -> None:
        try:
            data = persistence.decode(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read sandbox state {path}: {exc}") from exc
        if data.get("version") != persistence.FORMAT_VERSION:
            raise ValueError(f"sandbox state {path} has unknown version {data.get('version')!r}")
        for org_data in data["orgs"].values():
            self._attach(persistence.load_org(org_data))
        for tid, lock_date in data.get("lock_dates", {}).items():
            if tid in self._faults and (lock_date is None or isinstance(lock_date, date)):
                self._faults[tid].lock_date = lock_date
        for tid, lock_date in data.get("end_of_year_lock_dates", {}).items():
            if tid in self._faults and (lock_date is None or isinstance(lock_date, date)):
                self._faults[tid].end_of_year_lock_date = lock_date
        for tid in data.get("advisers", []):
            if tid in self._faults:
                self._faults[tid].adviser = True
        version, internal, gauss = data["tenant_rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self.identity.restore(data.get("identity", {}))
        self.webhooks.restore(data.get("webhooks"))
        saved = data.get("clock")
        clock = self.clock
        if isinstance(clock, SandboxClock) and isinstance(saved, datetime) and saved > clock():
            clock.set(saved)  # sandbox time never runs backwards across a restart

    def faults(self, tenant_id: str) -> Faults:
        """The mutable fault configuration of one organisation."""
        return self._faults[tenant_id]

    def in_flight(self, tenant_id: str) -> int:
        """Accounting calls of one organisation in progress now (Xero allows 5 at once)."""
        with self._lock:
            return self._limiter.in_flight(tenant_id)

    def peaks(self) -> dict[str, dict[str, int]]:
        """Per organisation, what clients did as the sandbox saw it: ``{tenant_id:
        {"peak_in_flight": n, "peak_per_minute": n, "calls": n}}`` – the most Accounting calls
        ever in progress at once, the most that arrived in any 60 s of sandbox time (sliding),
        and how many arrived, each counted from its arrival whether granted or refused
        (``GET /sandbox/limits/peaks``; see :class:`~.limits.Peaks`)."""
        with self._lock:
            return self._limiter.peaks.snapshot(list(self._orgs))

    def reset_peaks(self) -> None:
        """Start the peak counters afresh (``DELETE /sandbox/limits/peaks``)."""
        self._limiter.peaks.reset()

    def api_calls(self, tenant_id: str | None = None) -> int:
        """Accounting API calls received (all outcomes), for one tenant or all."""
        with self._lock:
            return self._api_calls[tenant_id] if tenant_id else sum(self._api_calls.values())

    def inspect(self) -> dict[str, Any]:
        """Everything stored, per organisation, as JSON-able Xero-shaped data."""
        with self._lock:
            out = {}
            for tid, org in self._orgs.items():
                faults = self._faults[tid]
                lock, year_end = faults.lock_date, faults.end_of_year_lock_date
                out[tid] = {
                    "name": org.name,
                    "region": org.region,
                    "connected": tid in self.identity.connections,
                    "lock_date": lock.isoformat() if lock else None,
                    "end_of_year_lock_date": year_end.isoformat() if year_end else None,
                    "adviser": faults.adviser,
                    "contacts": render(list(org.contacts.values())),
                    "invoices": render(list(org.invoices.values())),
                    "credit_notes": render(list(org.credit_notes.values())),
                    "payments": render(list(org.payments.values())),
                    "bank_transactions": render(list(org.bank_transactions.values())),
                    "overpayments": render(list(org.overpayments.values())),
                    "prepayments": render(list(org.prepayments.values())),
                    "bank_transfers": render(list(org.bank_transfers.values())),
                    "accounts": render(org.accounts),
                    "tax_rates": render(org.tax_rates),
                    "tracking_categories": render(org.tracking_categories),
                }
            return out

    # -- ways to run it ----------------------------------------------------------------------

    def transport(self) -> httpx.WSGITransport:
        """An httpx transport running requests in-process; a hang becomes ``httpx.ReadTimeout``."""
        from .server import SandboxTransport

        return SandboxTransport(app=self.app)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
        """Serve on `host`:`port` from a background thread (``.url``, ``.shutdown()``, ``with``);
        webhooks are sent from a second thread, stopped with the server."""
        from .server import serve

        server = serve(self.app, host, port, on_shutdown=self.webhooks.stop)
        self.root_url = server.url
        self.webhooks.start()
        return server

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The sandbox is itself a WSGI app (see :meth:`wsgi`)."""
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one HTTP request (identity, Accounting or inspection) and record it."""
        req = Request.from_environ(environ)
        tenant: str | None = None
        try:
            resp, tenant = self._route(req)
        except ApiError as exc:
            resp = exc.response
        except Exception:
            resp = text_response(500, "Sandbox internal error\n" + traceback.format_exc())
        by = "bookkeeper" if bookkeeper.parse(req.path) else None
        self._record(req, resp, tenant, by)
        if self._responses is not None and not resp.hang:
            self._check_response(req, resp)
        if resp.hang:
            hang = self._faults[tenant].hang_seconds if tenant in self._faults else 0.0
            raise SandboxHang(resp.hang, hang)
        reason = (
            HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
        )
        resp.headers.setdefault("Content-Length", str(len(resp.body)))
        start_response(f"{resp.status} {reason}", list(resp.headers.items()))
        return [resp.body]

    def _check_response(self, req: Request, resp: Response) -> None:
        """Validate an Accounting API answer against the spec (outside the lock: it is pure)."""
        assert self._responses is not None
        path = req.path.rstrip("/")
        as_bookkeeper = bookkeeper.parse(path)
        if as_bookkeeper is not None:
            api_path = as_bookkeeper[1]
        elif path.startswith(API_ROOT + "/"):
            api_path = path[len(API_ROOT) :]
        else:
            return
        started = time.perf_counter()
        complaints = self._responses.check(
            req.method,
            api_path,
            req.query,
            resp.status,
            resp.headers.get("Content-Type", ""),
            resp.body,
        )
        spent = time.perf_counter() - started
        with self._lock:
            self.response_check_seconds += spent
            if complaints is None:
                return
            self.responses_checked += 1
            query = f"?{req.query_string}" if req.query_string else ""
            self.response_violations.extend(
                f"{req.method} {api_path}{query} -> {resp.status}: {c}" for c in complaints
            )

    def _record(
        self, req: Request, resp: Response, tenant: str | None, by: str | None = None
    ) -> None:
        with self._lock:
            self.requests.append(
                {
                    **({"by": by} if by else {}),
                    "time": self.clock().isoformat(),
                    "method": req.method,
                    "path": req.path,
                    "query": req.query_string,
                    "tenant": tenant,
                    "status": resp.status,
                    "rate_limit_problem": resp.headers.get("X-Rate-Limit-Problem"),
                    "idempotency_key": req.headers.get("idempotency-key"),
                    "outcome": resp.hang
                    or ("replayed" if resp.headers.get("X-Sandbox-Replay") else "answered"),
                }
            )

    def _route(self, req: Request) -> tuple[Response, str | None]:
        path, method = req.path.rstrip("/") or "/", req.method
        if path.startswith(API_ROOT + "/") or path == API_ROOT:
            return self._accounting(req, path[len(API_ROOT) :])
        if path == WEBHOOKS_PATH:  # not under the lock: subscribing calls the endpoint
            return self._webhooks_route(req), None
        as_bookkeeper = bookkeeper.parse(path)
        if as_bookkeeper is not None:
            return self._bookkeeper(req, *as_bookkeeper)
        with self._lock:
            seen = self._inspection(path, method)
            if seen is not None:
                return seen, None
            if path == "/connections" and method == "GET":
                return self.identity.connections_view(req), None
            resp: Response | None = None
            if path == "/identity/connect/authorize" and method in ("GET", "POST"):
                resp = self.identity.authorize(req)
            elif path == "/connect/token" and method == "POST":
                resp = self.identity.token(req)
            elif path == "/connect/revocation" and method == "POST":
                resp = self.identity.revoke(req)
            elif path.startswith("/connections/") and method == "DELETE":
                resp = self.identity.delete_connection(req, path.split("/")[2])
            if resp is not None:
                if resp.status < 400:
                    self._saved()  # a new refresh token must outlive a restart
                return resp, None
        return problem(404, "The resource you're looking for cannot be found"), None

    def _webhooks_route(self, req: Request) -> Response:
        """``PUT /sandbox/webhooks`` ``{"url", "key"?}`` subscribes and runs the intent-to-receive
        check (answering ``{"url", "key", "status"}``), ``GET`` shows the subscription and the
        deliveries, ``DELETE`` unsubscribes."""
        if req.method == "GET":
            return json_response(200, self.webhooks.view())
        if req.method == "DELETE":
            self.webhooks.unsubscribe()
            return json_response(200, self.webhooks.view())
        if req.method != "PUT":
            return problem(405, "PUT, GET or DELETE /sandbox/webhooks")
        try:
            body = req.json()
        except ValueError:
            body = None
        url = body.get("url") if isinstance(body, dict) else None
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _validation_error('Send {"url": "http(s)://…", "key": optional}')
        if key is not None and (not isinstance(key, str) or not key):
            return _validation_error("key must be a non-empty string (or left out)")
        sub = self.webhooks.subscribe(url, key)
        return json_response(200, {"url": sub.url, "key": sub.key, "status": sub.status})

    def _bookkeeper(self, req: Request, tenant: str, api_path: str) -> tuple[Response, str | None]:
        """An Accounting call as a person in Xero's web app (see :mod:`.bookkeeper`): the books'
        rules, the spec check and the webhooks, without the app's token, limits and faults."""
        if req.method not in bookkeeper.METHODS:
            return problem(405, "Method not allowed"), None
        with self._lock:
            if tenant not in self._orgs:
                return problem(404, "No organisation in this sandbox has that tenant id"), None
            faults = self._faults[tenant]
            return self._execute_saved(req, api_path, tenant, faults, self.clock(), None), tenant

    def _inspection(self, path: str, method: str) -> Response | None:
        """The sandbox's own pages (home, state, requests, the limits' peak counters, a
        document's read-only view, an organisation's account balances), or ``None`` for any
        other path; under the lock.

        ``DELETE /sandbox/limits/peaks`` answers the counters as they were and starts them
        afresh (a bench measures one phase at a time)."""
        if path == PEAKS_PATH and method == "DELETE":
            seen = self.peaks()
            self.reset_peaks()
            return json_response(200, seen)
        if method != "GET":
            return None
        if path == PEAKS_PATH:
            return json_response(200, self.peaks())
        if path == "/":
            return self._home()
        if path == "/sandbox/state":
            return json_response(200, self.inspect())
        if path == "/sandbox/requests":
            return json_response(200, list(self.requests))
        if path.startswith(view.PREFIX):
            return view.document_page(self._orgs, path)
        if path.startswith(BALANCES_PREFIX):
            org = self._orgs.get(path[len(BALANCES_PREFIX) :].strip("/").lower())
            if org is None:
                return problem(404, "No organisation in this sandbox has that tenant id")
            return json_response(200, {"balances": balances.balances_text(org)})
        return None

    def _webhook_line(self) -> str:
        sub = self.webhooks.subscription
        if sub is None:
            return "Not subscribed."
        return f"Subscribed: {sub.url} ({sub.status})."

    def _home(self) -> Response:
        examples = "".join(
            f"<li><code>{m} {bookkeeper.PREFIX}&lt;tenant id&gt;/{html.escape(p)}</code> "
            f"<code>{html.escape(b)}</code>: {html.escape(what)}</li>"
            for m, p, b, what in bookkeeper.EXAMPLES
        )
        orgs = "".join(
            f"<li><code>{t}</code> {html.escape(o.name)} ({o.region})</li>"
            for t, o in self._orgs.items()
        )
        spec = (
            f"checked against <code>{html.escape(self.spec.path)}</code>"
            if self.spec
            else "NOT checked (no spec)"
        )
        page = f"""<!doctype html><title>pm-xero sandbox</title>
<h1>pm-xero Xero sandbox</h1>
<p>A local stand-in for Xero: identity, <code>/connections</code> and the Accounting API
(<code>{API_ROOT}</code>). Nothing here talks to the real Xero.</p>
<p>App: client id <code>{html.escape(self.client_id)}</code>, client secret
<code>{html.escape(self.client_secret)}</code>. Request bodies are {spec}.</p>
<p>Authorize: <code>/identity/connect/authorize</code> (a consent page for a browser; else, or with
<code>tenant=</code> ids or <code>new</code>, auto-consent), token: <code>/connect/token</code>,
revoke: <code>/connect/revocation</code>.</p>
<ul>{orgs}</ul>
<p>Inspect: <a href="/sandbox/state">/sandbox/state</a>,
<a href="/sandbox/requests">/sandbox/requests</a>,
<a href="{PEAKS_PATH}">{PEAKS_PATH}</a> (per organisation: the most calls ever in flight at
once and in any 60 s of sandbox time; <code>DELETE</code> starts them afresh),
<code>{BALANCES_PREFIX}&lt;tenant id&gt;</code> (every account's balance, debit positive).</p>
<p>Webhooks: <code>PUT {WEBHOOKS_PATH}</code> <code>{{"url": …, "key": …}}</code> subscribes (the
key is made when left out) and runs Xero's intent-to-receive check; <a href="{WEBHOOKS_PATH}">
<code>GET {WEBHOOKS_PATH}</code></a> shows the subscription and its deliveries;
<code>DELETE</code> unsubscribes. {html.escape(self._webhook_line())}</p>
<p>Bookkeeper (a person in Xero's web app: no token, no limits, not the app's calls, with
webhooks): <code>POST|PUT {bookkeeper.PREFIX}&lt;tenant id&gt;/&lt;Accounting path&gt;</code>,
e.g.</p>
<ul>{examples}</ul>
"""
        return text_response(200, page, "text/html; charset=utf-8")

    # -- the Accounting API pipeline ------------------------------------------------------------

    def _scope_ok(self, tok: AccessToken, resource: str, method: str) -> bool:
        granted = set(tok.scope.split())
        if tok.tenant_id is not None and not granted:
            return True  # a Custom Connection's scopes are set on the app, not the request
        allowed = _SCOPES.get(resource)
        if allowed is None:
            return True
        if any(s in granted for s in allowed):
            return True
        return method == "GET" and any(f"{s}.read" in granted for s in allowed)

    def _accounting(self, req: Request, api_path: str) -> tuple[Response, str | None]:
        tenant = req.headers.get("xero-tenant-id", "").strip().lower() or None
        # In progress from its arrival (before it queues for the lock) until answered, as Xero
        # counts its 5 concurrent calls: see limits.py.
        arrival = self._limiter.arrive(tenant if tenant in self._orgs else None)
        try:
            resp, known = self._accounting_arrived(req, api_path, tenant, arrival)
            if resp.status != 429:
                self._limiter.hold(arrival)
            return resp, known
        finally:
            self._limiter.depart(arrival)

    def _accounting_arrived(
        self, req: Request, api_path: str, tenant: str | None, arrival: Arrival
    ) -> tuple[Response, str | None]:
        with self._lock:
            now = self.clock()
            known = tenant if tenant in self._orgs else None
            if known:
                self._api_calls[known] += 1
            tok = self.identity.bearer(req)
            if isinstance(tok, Response):
                tok.headers.update(self._limiter.headers(known, now))
                return tok, known
            if known is None or not self.identity.can_reach(tok, known):
                resp = problem(403, "AuthenticationUnsuccessful")
                resp.headers.update(self._limiter.headers(known, now))
                return resp, known
            resource = (api_path.strip("/").split("/") or [""])[0].lower()
            if not self._scope_ok(tok, resource, req.method):
                resp = problem(401, "AuthorizationUnsuccessful")
                resp.headers.update(self._limiter.headers(known, now))
                return resp, known
            decision = self._limiter.acquire(known, now, arrival)
            if decision.problem:
                resp = text_response(429, f"Rate limit exceeded: {decision.problem}")
                resp.headers.update(decision.headers)
                resp.headers["X-Rate-Limit-Problem"] = decision.problem
                if decision.retry_after is not None:
                    resp.headers["Retry-After"] = str(decision.retry_after)
                return resp, known
        faults = self._faults[known]
        if faults.gate is not None:
            faults.gate.wait(timeout=60)
        with self._lock:
            resp = self._handle(req, api_path, known, faults)
            resp.headers.update(self._limiter.headers(known, self.clock()))
        return resp, known

    def _handle(self, req: Request, api_path: str, tenant: str, faults: Faults) -> Response:
        """One admitted Accounting call: an injected fault, or an idempotent replay or refusal,
        or the call itself (remembered under its Idempotency-Key); a ``lost`` fault does the
        work and then drops the answer."""
        now = self.clock()
        outcome = faults.next_outcome()
        fault = self._fault_response(req, tenant, outcome)
        if fault is not None:
            return fault
        key = req.headers.get("idempotency-key") if req.method in ("PUT", "POST") else None
        if key is not None:
            answered = self._idempotent_answer(req, tenant, key, now, outcome)
            if answered is not None:
                return answered
        resp = self._execute_saved(req, api_path, tenant, faults, now, key)
        if key is not None:
            if resp.status >= 500:
                self._idem.forget(tenant, key)
            else:
                self._idem.store(
                    tenant, key, CachedResponse(resp.status, tuple(resp.headers.items()), resp.body)
                )
        if outcome == "lost":
            resp.hang = "lost"
        return resp

    def _fault_response(self, req: Request, tenant: str, outcome: str) -> Response | None:
        """What an injected fault answers instead of the call (``None``: no fault answers)."""
        if outcome in ("500", "502", "504"):
            return text_response(int(outcome), HTTPStatus(int(outcome)).phrase)
        if outcome == "503":
            return text_response(503, "Not Available")
        if outcome == "offline":
            return text_response(503, "Organisation offline")
        if outcome == "timeout":
            return Response(504, hang="timeout")
        if outcome == "429":
            resp = text_response(429, "Rate limit exceeded: minute")
            resp.headers.update({"X-Rate-Limit-Problem": "minute", "Retry-After": "60"})
            return resp
        if outcome == "token_expired":
            self.identity.expire_tokens(tenant)
            tok = self.identity.bearer(req)
            assert isinstance(tok, Response)
            return tok
        return None

    def _idempotent_answer(
        self, req: Request, tenant: str, key: str, now: datetime, outcome: str
    ) -> Response | None:
        """Xero's answer to a request whose Idempotency-Key it has seen: the first answer again
        (marked ``X-Sandbox-Replay``, and dropped on a ``lost`` fault), or a 400 for a bad key,
        a key reused for another request or one still in progress; ``None`` for a new key (the
        call goes ahead)."""
        if not key or len(key) > 128:
            return _validation_error("Idempotency-Key must be 1 to 128 characters")
        self._idem.purge(now)
        fp = fingerprint(req.method, req.path.lower(), req.query_string, req.body)
        state, cached = self._idem.lookup(tenant, key, fp, now)
        if state == "conflict":
            return _validation_error(
                f"Idempotency-Key {key} was already used for a different request"
            )
        if state == "in_progress":
            return _validation_error(f"A request with Idempotency-Key {key} is still in progress")
        if cached is None:
            return None
        resp = Response(cached.status, cached.body, dict(cached.headers))
        resp.headers["X-Sandbox-Replay"] = "true"
        if outcome == "lost":
            resp.hang = "lost"
        return resp

    def _execute_saved(
        self,
        req: Request,
        api_path: str,
        tenant: str,
        faults: Faults,
        now: datetime,
        key: str | None,
    ) -> Response:
        """Run the call and save what it wrote (even a summarised 400 may have stored a batch's
        good elements); a crash frees its Idempotency-Key rather than pin it "in progress"."""
        touched: set[str] = set()
        crashed = True
        if req.method != "GET":
            now = self._write_time(tenant, now)
        try:
            resp = self._execute(req, api_path, tenant, faults, now, touched)
            crashed = False
        except Exception:
            if key is not None:
                self._idem.forget(tenant, key)
            raise
        finally:
            if req.method != "GET":
                self._saved(tenant, None if crashed else touched)
        if req.method != "GET":
            root = self.root_url or f"http://{req.headers.get('host', 'xero.sandbox')}"
            org = self._orgs[tenant]
            self.webhooks.queue(events_of_write(org, touched, now, self._known[tenant], root))
        return resp

    def _write_time(self, tenant: str, now: datetime) -> datetime:
        """The time a write stamps on what it changes: the clock's, or a millisecond after the
        organisation's previous write when the clock has not moved on that far – Xero's
        ``UpdatedDateUTC`` always moves forward, so a change made at the same (frozen) sandbox
        time as the add-on's own write still reads, and is announced, as newer than it."""
        last = self._last_write.get(tenant)
        stamp = now if last is None or now >= last + _TICK else last + _TICK
        self._last_write[tenant] = stamp
        return stamp

    def _execute(
        self,
        req: Request,
        api_path: str,
        tenant: str,
        faults: Faults,
        now: datetime,
        touched: set[str],
    ) -> Response:
        if req.method in ("PUT", "POST") and _is_xml(req):
            # Xero accepts XML bodies; the sandbox refuses them clearly rather than guess at
            # Xero's XML mapping (a second, unchecked shape would let XML clients pass here and
            # fail on Xero). JSON is what the add-on and Xero's own SDKs send.
            return json_response(
                400,
                {
                    "ErrorNumber": 14,
                    "Type": "PostDataInvalidException",
                    "Message": "The sandbox accepts JSON request bodies only (Content-Type: "
                    "application/json). Xero also accepts XML; send this body as JSON to use "
                    "the sandbox.",
                },
            )
        if self.spec is not None:
            complaint = self.spec.check(req.method, api_path, req.query, req.body)
            if complaint:
                return json_response(
                    400,
                    {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": complaint},
                )
        try:
            return accounting.handle(
                self._orgs[tenant], req, api_path, now, faults.locks(), touched
            )
        except ApiError as exc:
            return exc.response
        except json.JSONDecodeError:
            return json_response(
                400,
                {
                    "ErrorNumber": 14,
                    "Type": "PostDataInvalidException",
                    "Message": "The request body is not valid JSON",
                },
            )


def _validation_error(message: str) -> Response:
    """Xero's 400 for a request it refuses as a whole (ErrorNumber 10)."""
    return json_response(
        400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": message}
    )


def _is_xml(req: Request) -> bool:
    """An XML body: an XML content type, pyxero's form field ``xml=<…>``, or one that starts
    with ``<``."""
    content_type = req.headers.get("content-type", "").lower()
    if "xml" in content_type:
        return True
    if "x-www-form-urlencoded" in content_type and "xml" in req.form():
        return True
    return req.body.lstrip()[:1] == b"<"
