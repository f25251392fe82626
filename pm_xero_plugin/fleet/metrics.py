"""A fleet worker's Prometheus metrics (the official client library, its own registry).

What an operator watches a fleet by, and why each is there:

``pm_xero_queue_rows{state}``
    Ledger rows by state (ready, sending, retrying, failed …), read at scrape from the ledger's
    counts (fleet-wide on PostgreSQL, the open practices on SQLite), at most every
    :data:`QUEUE_CACHE_SECONDS`: is the backlog draining?
``pm_xero_sent_rows_total{kind,outcome}``
    Rows sent by this worker, by kind and outcome (``synced``, ``failed``, ``retrying``).
``pm_xero_api_calls_total{kind}``
    Accounting API calls made for those rows (Xero's limits count calls, not rows).
``pm_xero_xero_errors_total{kind,status}``
    Xero's answers with an HTTP error status, by record kind (``other``: reads, the chart) and
    status.
``pm_xero_xero_rate_limited_total{kind,limit}``
    Xero's 429s, by record kind and the limit Xero named (``X-Rate-Limit-Problem``: ``minute``,
    ``day``, ``concurrent``, ``appminute``): more than a few means the shared limits are wrong.
``pm_xero_record_to_xero_seconds{kind}``
    From a row's recording in the ledger to its reaching Xero (histogram).
``pm_xero_claims_in_flight``
    Rows this worker holds (claimed, not yet settled or given back).
``pm_xero_loop_age_seconds``
    Seconds since the worker's loop last began: a stalled loop grows it without bound.
``pm_xero_practices_open``
    Practices this worker has open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pm_xero_plugin.sync.sender import BatchOutcome
from pm_xero_plugin.xero.kinds import KINDS

__all__ = ["QUEUE_CACHE_SECONDS", "FleetMetrics", "QueueDepth", "kind_of"]

QUEUE_CACHE_SECONDS = 2.0
"""How long a scrape's read of the queue depth is reused (several scrapers, one query)."""

LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400, float("inf"))
"""Seconds from record to Xero: seconds for a live record, hours for a back-sync's history."""

_API = "/api.xro/2.0/"
_ENDPOINT_KINDS: dict[str, str] = {}
for _info in KINDS.values():
    if _info.batchable:
        _ENDPOINT_KINDS.setdefault(_info.endpoint.split("/")[0], _info.kind)
"""``Invoices`` -> ``invoice`` … : the first kind sent to each endpoint (``Payments`` ->
``payment``: a refund is a payment too; an allocation is told apart by its path, below)."""


def kind_of(url: httpx.URL) -> str:
    """The record kind an Accounting API request was for (``other`` for reads of the chart,
    tax rates, organisations; ``oauth`` for anything outside the Accounting API)."""
    path = url.path
    at = path.find(_API)
    if at < 0:
        return "oauth"
    parts = path[at + len(_API) :].split("/")
    if "Allocations" in parts:
        return "deposit_allocation" if parts[0] == "Prepayments" else "allocation"
    if parts[0] == "BankTransfers":
        return "payout"
    if parts[0] == "BankTransactions" or "Overpayments" in parts:
        return "overpayment"
    return _ENDPOINT_KINDS.get(parts[0], "other")


class QueueDepth(Collector):
    """``pm_xero_queue_rows{state}`` read at scrape time, the read reused for a moment."""

    def __init__(
        self,
        read: Callable[[], dict[str, int]],
        *,
        cache_seconds: float = QUEUE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._depth: dict[str, int] = {}

    def depth(self) -> dict[str, int]:
        """Rows by state (at most :data:`QUEUE_CACHE_SECONDS` old)."""
        with self._lock:
            if self._monotonic() - self._at >= self._cache_seconds:
                self._depth = dict(self._read())
                self._at = self._monotonic()
            return dict(self._depth)

    def collect(self) -> Iterable[Metric]:
        """The gauge family, one sample per state (a failed read leaves the family empty: the
        scrape itself still answers)."""
        family = GaugeMetricFamily(
            "pm_xero_queue_rows",
            "Ledger rows by state (fleet-wide on PostgreSQL).",
            labels=["state"],
        )
        try:
            depth = self.depth()
        except Exception:
            depth = {}
        for state, n in sorted(depth.items()):
            family.add_metric([state], n)
        yield family


class FleetMetrics:
    """The worker's metrics in a registry of their own (served by :mod:`~pm_xero_plugin.fleet.
    http`); every method is safe from any thread.

    :param registry: where they are registered (default: a fresh one, never the global
        default registry – a test or a second worker in the process keeps its own).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.sent = Counter(
            "pm_xero_sent_rows",
            "Rows this worker sent, by kind and outcome.",
            ["kind", "outcome"],
            registry=reg,
        )
        self.api_calls = Counter(
            "pm_xero_api_calls",
            "Accounting API calls made for rows, by kind.",
            ["kind"],
            registry=reg,
        )
        self.errors = Counter(
            "pm_xero_xero_errors",
            "Xero answers with an HTTP error status, by record kind and status.",
            ["kind", "status"],
            registry=reg,
        )
        self.rate_limited = Counter(
            "pm_xero_xero_rate_limited",
            "Xero's 429 answers, by record kind and the limit it named.",
            ["kind", "limit"],
            registry=reg,
        )
        self.latency = Histogram(
            "pm_xero_record_to_xero_seconds",
            "Seconds from a row's recording in the ledger to its reaching Xero.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.in_flight = Gauge(
            "pm_xero_claims_in_flight", "Rows this worker holds claimed.", registry=reg
        )
        self.loop_age = Gauge(
            "pm_xero_loop_age_seconds",
            "Seconds since the worker's loop last began (-1 before it first did).",
            registry=reg,
        )
        self.practices_open = Gauge(
            "pm_xero_practices_open", "Practices this worker has open.", registry=reg
        )
        self.queue: QueueDepth | None = None

    def watch(
        self,
        *,
        queue_depth: Callable[[], dict[str, int]],
        in_flight: Callable[[], int],
        loop_age: Callable[[], float | None],
        practices_open: Callable[[], int],
    ) -> None:
        """Read these at every scrape (the worker's state, the ledger's counts)."""
        self.queue = QueueDepth(queue_depth)
        self.registry.register(self.queue)
        self.in_flight.set_function(in_flight)
        self.loop_age.set_function(lambda: _or_minus_one(loop_age()))
        self.practices_open.set_function(practices_open)

    def batch_settled(self, kind: str, outcome: BatchOutcome, latencies: Sequence[float]) -> None:
        """Count one batch's rows and calls, and how long its synced rows took."""
        for name, n in (
            ("synced", outcome.synced),
            ("failed", outcome.failed),
            ("retrying", outcome.retrying),
        ):
            if n:
                self.sent.labels(kind, name).inc(n)
        if outcome.api_calls:
            self.api_calls.labels(kind).inc(outcome.api_calls)
        histogram = self.latency.labels(kind)
        for seconds in latencies:
            histogram.observe(seconds)

    def response(self, response: httpx.Response) -> None:
        """An httpx response hook: count Xero's error answers and its 429s."""
        status = response.status_code
        if status < 400:
            return
        kind = kind_of(response.request.url)
        self.errors.labels(kind, str(status)).inc()
        if status == 429:
            limit = response.headers.get("X-Rate-Limit-Problem") or "unknown"
            self.rate_limited.labels(kind, limit.lower()).inc()


def _or_minus_one(value: float | None) -> float:
    return -1.0 if value is None else value
