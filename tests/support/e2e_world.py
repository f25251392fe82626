"""The end-to-end world: a served sandbox, a reference host with the Xero add-on, one time source.

Everything the tests need to drive a practice through the real pieces (OAuth over HTTP on
loopback, the ledger, the worker, the client) and to check the outcome *independently* – by
reading the sandbox back and comparing it with the host's own records, never with the ledger.

Time: the host clock (retries), the sandbox clock (tokens, rate-limit windows) and the
monotonic clock of the client, the limiter and the worker (back-off sleeps, 429 blocks) are moved
together by :class:`VirtualTime`, so no test sleeps for a back-off or a ``Retry-After``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin.demo import practice
from pm_xero_plugin.ledger.states import DEPENDENCY_GATES
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.server import RunningServer
from pm_xero_plugin.sandbox.spec_check import SpecViolation, validate_httpx_request
from pm_xero_plugin.sync.worker import DEFAULT_LEASE_SECONDS
from support.addon_parts import running_engine, running_runtime
from support.virtual_time import VirtualTime

NOW = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # 11:00 in Sydney, a Monday
START_DATE = date(2025, 1, 1)
HISTORY_FROM = date(2024, 11, 1)
HISTORY_TO = date(2025, 3, 2)
PLAN = (0, 1, 0)
"""Location i connects to organisation PLAN[i]: the third location shares the first's."""
OPEN_STATES = ("ready", "sending", "retrying")


@dataclass
class Sent:
    """One Accounting request as the plugin sent it (seen by the request hook)."""

    index: int
    method: str
    path: str
    tenant: str
    body: Any
    idempotency_key: str | None = None

    def numbers(self) -> list[str]:
        """The dedupe keys of the documents this request creates (numbers, references)."""
        if not isinstance(self.body, dict):
            return []
        found = []
        for items in self.body.values():
            for item in items if isinstance(items, list) else []:
                for key in ("ContactNumber", "InvoiceNumber", "CreditNoteNumber", "Reference"):
                    if isinstance(item, dict) and item.get(key):
                        found.append(f"{key}:{item[key]}")
                        break
        return found


@dataclass
class World:
    sandbox: Sandbox
    server: RunningServer
    host: RefHost
    clock: ManualClock
    time: VirtualTime
    spec: Any
    organisations: list[str]
    tenants: dict[str, str] = field(default_factory=dict)
    """location id -> tenant id chosen at connect."""
    sent: list[Sent] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    worker_seconds: float = 10.0
    """Real seconds one worker run may take (it waits in real time while a tenant is blocked)."""
    _sent_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the plugin's pieces -------------------------------------------------------------------

    @property
    def runtime(self) -> Any:
        """The add-on's Xero side (asserted present: the app is configured)."""
        return running_runtime(self.host)

    @property
    def engine(self) -> Any:
        """The add-on's engine (asserted started)."""
        return running_engine(self.host)

    @property
    def locations(self) -> list[Mapping[str, Any]]:
        return list(self.host.locations())

    def tenant_of(self, index: int) -> str:
        return self.tenants[self.locations[index]["id"]]

    def wire_runtime(self) -> None:
        """Put the runtime on virtual time and check every request it sends against the spec."""
        runtime = self.runtime
        runtime.client.clock = self.time
        runtime.limiter.clock = self.time
        runtime.worker._monotonic = self.time.monotonic
        runtime.client.request_hook = self._check_request

    def _check_request(self, request: httpx.Request) -> None:
        body: Any = None
        if request.content:
            import json

            body = json.loads(request.content)
        if request.method in ("PUT", "POST"):
            try:
                validate_httpx_request(self.spec, request)
            except SpecViolation as exc:
                self.violations.append(str(exc))
        path = request.url.path.split("/api.xro/2.0", 1)[-1]
        with self._sent_lock:
            self.sent.append(
                Sent(
                    len(self.sent),
                    request.method,
                    path,
                    request.headers.get("xero-tenant-id", ""),
                    body,
                    request.headers.get("idempotency-key"),
                )
            )

    # -- the admin's setup ---------------------------------------------------------------------

    def connect(self, location_index: int, tenant_id: str | None = None) -> str:
        """ "Connect to Xero" for one location through the sandbox's auto-consent authorize page."""
        loc = self.locations[location_index]
        tenant = tenant_id or self.organisations[PLAN[location_index]]
        with httpx.Client(timeout=10.0) as browser:
            connections = practice.authorize(self.runtime, loc["id"], browser, tenant)
        assert tenant in {c.tenant_id for c in connections}
        self.tenants[loc["id"]] = tenant
        return tenant

    def connect_all(self) -> None:
        for index in range(len(self.locations)):
            self.connect(index)

    def make_settings(self, start_date: date | None) -> dict[str, Any]:
        locations = self.locations
        codes = {
            t: practice.account_codes(self.runtime, t) for t in sorted(set(self.tenants.values()))
        }
        settings = practice.practice_settings(
            locations, self.tenants, codes, start_date.isoformat() if start_date else None
        )
        practice.ensure_tracking_options(self.runtime, locations, self.tenants)
        return settings

    def save_settings(self, settings: dict[str, Any]) -> None:
        errors = self.host.save_plugin_settings("xero", settings)
        assert errors == [], errors
        self.settings = settings

    def set_up(self, start_date: date = START_DATE, *, backfill: bool = True) -> None:
        """Connect, settings, contact sync, start date and back-sync (as the demo does)."""
        self.connect_all()
        settings = self.make_settings(None)
        self.save_settings(settings)
        self.host.start_contact_sync(None)
        self.drain()
        settings = dict(settings, start_date=start_date.isoformat())
        self.save_settings(settings)
        if backfill:
            self.host.backfill(None, None)

    # -- driving the worker --------------------------------------------------------------------

    def open_rows(self, tenant_id: str | None = None) -> int:
        return sum(
            r["n"] for r in self.engine.ledger.counts(tenant_id) if r["state"] in OPEN_STATES
        )

    def unsettled(self) -> int:
        """Rows on their way: open, or waiting for another row to reach Xero first."""
        return self.open_rows() + sum(
            r["n"]
            for r in self.engine.ledger.counts()
            if r["state"] == "waiting" and r["gate"] in DEPENDENCY_GATES
        )

    def run_worker(self, max_seconds: float | None = None) -> None:
        self.runtime.worker.run(until_idle=True, max_seconds=max_seconds or self.worker_seconds)

    def drain(self, rounds: int = 40, max_seconds: float | None = None) -> None:
        """Run the worker until nothing is ready, sending or retrying, moving virtual time to
        the next retry between rounds (a retry is scheduled on the host clock)."""
        for _ in range(rounds):
            self.run_worker(max_seconds)
            if not self.open_rows():
                return
            self.time.advance(self.next_wait())
        raise AssertionError(f"still open after {rounds} rounds: {self.engine.ledger.counts()}")

    def next_wait(self) -> float:
        """Seconds until the earliest retry is due, or – rows still held in sending by a worker
        that was abandoned – a lease, after which the world's worker (whose monotonic clock is
        this virtual time) judges their owner gone (at least 1)."""
        ledger = self.engine.ledger
        found, held = ledger._q(
            "SELECT min(next_at), count(*) FILTER (WHERE state = 'sending') FROM rows "
            "WHERE state IN ('retrying', 'sending')"
        )[0]
        now = self.host.now()
        waits = [float(found) - now.timestamp()] if found else []
        waits += [float(DEFAULT_LEASE_SECONDS)] if held else []
        limiter = self.runtime.limiter
        waits += [limiter.wait_for(t).seconds for t in set(self.tenants.values())]
        waits = [w for w in waits if w > 0]
        return max(1.0, min(waits) + 1.0) if waits else 1.0

    def attempts_by_number(self, tenant: str) -> dict[str, set[str]]:
        """Per document number: the idempotency keys of the creates that carried it."""
        out: dict[str, set[str]] = {}
        for sent in self.sent:
            if sent.tenant == tenant and sent.method == "PUT":
                for number in sent.numbers():
                    out.setdefault(number, set()).add(str(sent.idempotency_key))
        return out

    # -- reading back ----------------------------------------------------------------------------

    def book(self, tenant_id: str) -> dict[str, Any]:
        state: dict[str, Any] = self.sandbox.inspect()[tenant_id]
        return state

    def rows(self, **where: Any) -> list[Any]:
        clauses = " AND ".join(f"{k} = ?" for k in where) or "1"
        ledger = self.engine.ledger
        from pm_xero_plugin.ledger.sqlite import _ROW_COLUMNS

        found = ledger._q(
            f"SELECT {_ROW_COLUMNS} FROM rows WHERE {clauses} ORDER BY id", list(where.values())
        )
        return [ledger._row(r) for r in found]


def history(host: RefHost, kind: str) -> Iterator[Mapping[str, Any]]:
    yield from host.iter_history(kind)  # type: ignore[arg-type]


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
