"""The worker's monitoring port: /metrics in Prometheus' text format, /healthz for a probe (503
once the loop stalled), on loopback; a port in use is one line saying what to do."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from fleet_roots import FleetRoot

from pm_xero_plugin.fleet.http import MetricsPortBusy, MonitoringServer, health_answer
from pm_xero_plugin.fleet.metrics import FleetMetrics
from pm_xero_plugin.fleet.run import FleetSettings, open_fleet

NAMES = (
    "pm_xero_queue_rows",
    "pm_xero_sent_rows_total",
    "pm_xero_api_calls_total",
    "pm_xero_xero_errors_total",
    "pm_xero_xero_rate_limited_total",
    "pm_xero_record_to_xero_seconds",
    "pm_xero_claims_in_flight",
    "pm_xero_loop_age_seconds",
    "pm_xero_practices_open",
)


def watched(since: float | None = 0.5) -> tuple[FleetMetrics, dict[str, Any]]:
    metrics = FleetMetrics()
    metrics.watch(
        queue_depth=lambda: {"ready": 12, "sending": 3},
        in_flight=lambda: 3,
        loop_age=lambda: since,
        practices_open=lambda: 2,
    )
    status = {"worker_id": "w-1", "practices_open": 2, "in_flight": 3, "seconds_since_loop": since}
    return metrics, status


def test_metrics_and_health_are_served_on_loopback() -> None:
    metrics, status = watched()
    server = MonitoringServer(metrics.registry, lambda: status, port=0)
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        scraped = httpx.get(server.url + "/metrics", timeout=10)
        health = httpx.get(server.url + "/healthz", timeout=10)
        missing = httpx.get(server.url + "/", timeout=10)
    finally:
        server.stop()

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    for name in NAMES:
        assert f"# TYPE {name} " in scraped.text, name
    assert 'pm_xero_queue_rows{state="ready"} 12.0' in scraped.text
    assert "pm_xero_claims_in_flight 3.0" in scraped.text
    assert health.status_code == 200
    assert health.json() == {**status, "ok": True}
    assert missing.status_code == 404


def test_health_is_503_once_the_loop_has_stalled() -> None:
    metrics, status = watched(since=500.0)
    server = MonitoringServer(metrics.registry, lambda: status, port=0, stall_seconds=120)
    server.start()
    try:
        health = httpx.get(server.url + "/healthz", timeout=10)
    finally:
        server.stop()
    assert health.status_code == 503
    assert health.json()["ok"] is False
    assert "restart this worker" in health.json()["problem"]


def test_before_the_first_loop_the_worker_is_not_stalled() -> None:
    code, body = health_answer({"seconds_since_loop": None}, stall_seconds=1)
    assert (code, body["ok"]) == (200, True)


def test_a_metrics_port_in_use_says_so_and_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortBusy) as refused:
            MonitoringServer(FleetMetrics().registry, dict, port=port)
    message = str(refused.value)
    assert f"127.0.0.1:{port} is already in use" in message
    assert "--metrics-port" in message
    assert "\n" not in message


def test_a_running_fleet_worker_reports_on_its_monitoring_port(fleet: FleetRoot) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = FleetSettings(fleet.root, fleet.config, metrics_port=port)
    with open_fleet(settings, env={}, transport=fleet.transport) as running:
        assert running.metrics_url == f"http://127.0.0.1:{port}"
        before = httpx.get(running.metrics_url + "/healthz", timeout=10).json()
        running.worker.run(until_idle=True, max_seconds=60)
        health = httpx.get(running.metrics_url + "/healthz", timeout=10)
        scraped = httpx.get(running.metrics_url + "/metrics", timeout=10).text
        line = running.progress_line()

    assert before["seconds_since_loop"] is None  # not stalled: not begun
    assert health.status_code == 200
    body = health.json()
    assert body["worker_id"] == running.worker.worker_id
    assert (body["practices_open"], body["in_flight"], body["ledger"]) == (3, 0, "sqlite")
    assert body["seconds_since_loop"] < 60
    assert 'pm_xero_sent_rows_total{kind="contact",outcome="synced"} 9.0' in scraped
    assert 'pm_xero_queue_rows{state="synced"} 27.0' in scraped
    assert line.startswith("synced 27, failed 3, retrying 0, ")
    assert line.endswith("nothing queued (waiting for new records); 3 practices open")
    with pytest.raises(httpx.ConnectError):  # the port is free again
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_the_status_line_is_echoed_when_it_changes_only() -> None:
    import time

    from pm_xero_plugin.fleet.run import ProgressLines

    texts = iter(["synced 1", "synced 1", "synced 2"])
    last = ["synced 2"]

    def line() -> str:
        last[0] = next(texts, last[0])
        return last[0]

    echoed: list[str] = []
    progress = ProgressLines(line, echoed.append, every=0.01)
    progress.start()
    deadline = time.monotonic() + 10
    while len(echoed) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    progress.stop()
    assert echoed == ["synced 1", "synced 2"]
