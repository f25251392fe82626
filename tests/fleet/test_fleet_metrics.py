"""A fleet worker's metrics, in its own registry: what it sent by kind and outcome, how long each
record took from the ledger to Xero, Xero's errors and 429s by kind, the queue by state."""

from __future__ import annotations

import httpx
import pytest
from fleet_roots import FleetRoot, later
from prometheus_client import CollectorRegistry

from hookspecs.refhost import ManualClock
from pm_xero_plugin.fleet.metrics import FleetMetrics, QueueDepth, kind_of
from pm_xero_plugin.fleet.practices import Practices
from pm_xero_plugin.fleet.run import FleetSettings, open_fleet
from pm_xero_plugin.fleet.worker import FleetWorker

pytestmark = pytest.mark.timeout(120)


def test_sends_are_counted_by_kind_and_outcome_with_their_time_from_record_to_xero(
    fleet: FleetRoot,
) -> None:
    metrics = FleetMetrics()
    # the worker's clock 90 s after the practices recorded their rows
    practices = Practices(fleet.root, fleet.options(host_clock=ManualClock(later(90))))
    try:
        FleetWorker(practices, observer=metrics).run(until_idle=True, max_seconds=60)
    finally:
        practices.close()

    value = metrics.registry.get_sample_value
    n = len(fleet.practice_ids)
    assert value("pm_xero_sent_rows_total", {"kind": "contact", "outcome": "synced"}) == 3 * n
    assert value("pm_xero_sent_rows_total", {"kind": "invoice", "outcome": "synced"}) == 2 * n
    assert value("pm_xero_sent_rows_total", {"kind": "invoice", "outcome": "failed"}) == n
    assert value("pm_xero_api_calls_total", {"kind": "invoice"}) == 2 * n
    invoice = {"kind": "invoice"}
    assert value("pm_xero_record_to_xero_seconds_count", invoice) == 2 * n  # synced ones only
    assert value("pm_xero_record_to_xero_seconds_sum", invoice) == 90.0 * 2 * n
    assert value("pm_xero_record_to_xero_seconds_bucket", {**invoice, "le": "60.0"}) == 0
    assert value("pm_xero_record_to_xero_seconds_bucket", {**invoice, "le": "120.0"}) == 2 * n


def test_xero_errors_and_429s_are_counted_by_kind_and_the_limit_xero_named(
    fleet: FleetRoot,
) -> None:
    tenant = fleet.tenants["practice-1"]["syd"]
    fleet.sandbox.faults(tenant).script.append("429")  # the first contact batch: minute limit
    settings = FleetSettings(fleet.root, fleet.config, only=("practice-1",))
    with open_fleet(settings, env={}, transport=fleet.transport) as running:
        running.worker.run(until_idle=True, max_seconds=3)  # the organisation waits 60 s
        registry = running.metrics.registry
        # the organisation's first call met it (a read of its chart, or its contacts)
        assert samples(registry, "pm_xero_xero_rate_limited_total") == {
            (("kind", kind_of_first(registry)), ("limit", "minute")): 1.0
        }
        errors = samples(registry, "pm_xero_xero_errors_total")
        assert errors == {(("kind", kind_of_first(registry)), ("status", "429")): 1.0}
        # the other organisation of the practice went on
        value = registry.get_sample_value
        assert value("pm_xero_sent_rows_total", {"kind": "contact", "outcome": "synced"}) == 1


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name``: its labels -> its value."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }


def kind_of_first(registry: CollectorRegistry) -> str:
    """The kind label of the one 429 counted."""
    found = samples(registry, "pm_xero_xero_rate_limited_total")
    assert len(found) == 1, found
    return dict(next(iter(found)))["kind"]


def test_the_queue_is_read_at_scrape_time_and_the_read_reused_for_a_moment() -> None:
    reads: list[int] = []
    clock = [100.0]

    def read() -> dict[str, int]:
        reads.append(1)
        return {"ready": 7, "sending": len(reads)}

    depth = QueueDepth(read, cache_seconds=2.0, monotonic=lambda: clock[0])
    first = next(iter(depth.collect()))
    assert {s.labels["state"]: s.value for s in first.samples} == {"ready": 7, "sending": 1}
    clock[0] += 1.5
    list(depth.collect())
    assert len(reads) == 1  # two scrapes, one query
    clock[0] += 1.0
    again = next(iter(depth.collect()))
    assert {s.labels["state"]: s.value for s in again.samples}["sending"] == 2


def test_a_queue_that_cannot_be_read_leaves_the_scrape_answering() -> None:
    def broken() -> dict[str, int]:
        raise OSError("the ledger went away")

    family = next(iter(QueueDepth(broken).collect()))
    assert family.name == "pm_xero_queue_rows"
    assert family.samples == []


def test_before_the_first_loop_the_loop_age_says_minus_one() -> None:
    metrics = FleetMetrics()
    metrics.watch(
        queue_depth=dict, in_flight=lambda: 3, loop_age=lambda: None, practices_open=lambda: 2
    )
    value = metrics.registry.get_sample_value
    assert value("pm_xero_loop_age_seconds") == -1.0
    assert value("pm_xero_claims_in_flight") == 3
    assert value("pm_xero_practices_open") == 2


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api.xro/2.0/Invoices", "invoice"),
        ("/api.xro/2.0/Contacts", "contact"),
        ("/api.xro/2.0/CreditNotes", "credit_note"),
        ("/api.xro/2.0/CreditNotes/abc/Allocations", "allocation"),
        ("/api.xro/2.0/Payments", "payment"),
        ("/api.xro/2.0/BankTransactions", "overpayment"),
        ("/api.xro/2.0/Accounts", "other"),
        ("/connect/token", "oauth"),
    ],
)
def test_xero_answers_are_counted_under_the_record_kind_of_their_request(
    path: str, kind: str
) -> None:
    assert kind_of(httpx.URL("http://sandbox.test" + path)) == kind
