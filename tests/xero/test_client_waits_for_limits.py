"""Synchronous callers wait for Xero's limits and say so; the worker's calls never wait.

Against the sandbox (in-process transport), with the limiter on a fake clock: a wait is a
recorded sleep, not real time.
"""

from __future__ import annotations

import logging
import threading

import pytest
from support.virtual_time import VirtualTime
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import Connected

from pm_xero_plugin.xero.client import (
    XeroAccountsSource,
    describe_limit,
    never_waiting_for_limits,
    waiting_for_limits,
)
from pm_xero_plugin.xero.errors import RateLimited
from pm_xero_plugin.xero.ratelimit import RateLimiter


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime(start=1000.0)


@pytest.fixture
def world(connected: Connected, clock: VirtualTime) -> Connected:
    connected.client.limiter = RateLimiter(clock)
    connected.client.organisation(connected.tenant_id, CONN)  # learns the organisation's name
    return connected


def test_a_used_up_minute_is_waited_for_and_told_by_the_organisations_name(
    world: Connected, clock: VirtualTime
) -> None:
    world.client.limiter.record_429(world.tenant_id, 57.0, "minute")
    told: list[str] = []
    with waiting_for_limits(told.append):
        accounts = world.client.accounts(world.tenant_id, CONN)
    assert accounts, "the chart was read after the wait"
    assert told == ["waiting 57 s for Xero's minute limit on Sandbox Pets Ltd 1"]
    assert clock.sleeps == [pytest.approx(57.0)]


def test_a_429_from_xero_is_sent_again_after_its_retry_after(
    world: Connected, clock: VirtualTime
) -> None:
    world.sandbox.faults(world.tenant_id).script.append("429")  # minute, Retry-After: 60
    told: list[str] = []
    with waiting_for_limits(told.append):
        rates = world.client.tax_rates(world.tenant_id, CONN)
    assert rates
    assert told == ["waiting 60 s for Xero's minute limit on Sandbox Pets Ltd 1"]
    calls = [r for r in world.sandbox.requests if r["path"].endswith("/TaxRates")]
    assert [r["status"] for r in calls] == [429, 200]


def test_a_write_refused_with_429_is_sent_again_with_the_same_idempotency_key(
    world: Connected, clock: VirtualTime
) -> None:
    world.sandbox.faults(world.tenant_id).script.extend(["ok", "429"])  # the read, the write
    with waiting_for_limits(lambda _line: None):
        world.client.ensure_tracking_options(world.tenant_id, CONN, "Location", ["Bondi"])
    puts = [r for r in world.sandbox.requests if r["method"] == "PUT"]
    assert [r["status"] for r in puts[:2]] == [429, 200]
    assert puts[0]["idempotency_key"] == puts[1]["idempotency_key"]


def test_the_day_limit_is_not_waited_for_but_ends_in_one_clear_error(
    world: Connected, clock: VirtualTime
) -> None:
    world.client.limiter.record_429(world.tenant_id, 5 * 3600.0, "day")
    told: list[str] = []
    with waiting_for_limits(told.append), pytest.raises(RateLimited) as raised:
        world.client.accounts(world.tenant_id, CONN)
    assert raised.value.message == (
        "Xero's daily limit on Sandbox Pets Ltd 1 leaves no calls for 5 h 0 min: try again then"
    )
    assert told == []
    assert clock.sleeps == []


def test_waits_within_one_call_are_bounded_together(world: Connected, clock: VirtualTime) -> None:
    # 429 after 429: each 60 s wait is fine alone, but not three of them for one call.
    world.sandbox.faults(world.tenant_id).script.extend(["429", "429", "429"])
    told: list[str] = []
    with waiting_for_limits(told.append, max_wait=150), pytest.raises(RateLimited):
        world.client.accounts(world.tenant_id, CONN)
    assert len(told) == 2
    assert sum(clock.sleeps) == pytest.approx(120.0)


def test_outside_the_block_a_call_raises_at_once_as_the_worker_needs(
    world: Connected, clock: VirtualTime
) -> None:
    world.client.limiter.record_429(world.tenant_id, 57.0, "minute")
    with pytest.raises(RateLimited) as raised:
        world.client.accounts(world.tenant_id, CONN)
    assert raised.value.retry_after == pytest.approx(57.0)
    assert clock.sleeps == []


def test_other_threads_do_not_inherit_the_wait(world: Connected, clock: VirtualTime) -> None:
    world.client.limiter.record_429(world.tenant_id, 57.0, "minute")
    raised: list[BaseException] = []

    def send() -> None:
        try:
            world.client.accounts(world.tenant_id, CONN)
        except RateLimited as exc:
            raised.append(exc)

    with waiting_for_limits(lambda _line: None):
        thread = threading.Thread(target=send)  # like the worker's sending threads
        thread.start()
        thread.join()
    assert len(raised) == 1
    assert clock.sleeps == []


def test_chart_reads_for_the_settings_checks_wait_and_log_it(
    world: Connected, clock: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    source = XeroAccountsSource(world.client, lambda _tenant: CONN)
    world.client.limiter.record_429(world.tenant_id, 30.0, "minute")
    with caplog.at_level(logging.WARNING, logger="pm_xero_plugin.xero.client"):
        assert source.accounts(world.tenant_id)
    assert "waiting 30 s for Xero's minute limit on Sandbox Pets Ltd 1" in caplog.messages


def test_the_worker_loop_keeps_chart_reads_from_waiting(
    world: Connected, clock: VirtualTime
) -> None:
    source = XeroAccountsSource(world.client, lambda _tenant: CONN)
    world.client.limiter.record_429(world.tenant_id, 30.0, "minute")
    with never_waiting_for_limits(), pytest.raises(RateLimited):
        source.accounts(world.tenant_id)
    assert clock.sleeps == []


def test_an_unnamed_organisation_is_named_by_its_id_or_the_runtimes_answer(
    world: Connected,
) -> None:
    client = world.client
    assert client.tenant_label(world.other_tenant_id) == world.other_tenant_id
    asked: list[str] = []
    client.tenant_names.clear()

    def name(tenant: str) -> str:
        asked.append(tenant)
        return "Sandbox Pets Ltd 2"

    client.name_tenant = name
    assert client.tenant_label(world.other_tenant_id) == "Sandbox Pets Ltd 2"
    assert client.tenant_label(world.other_tenant_id) == "Sandbox Pets Ltd 2"
    assert asked == [world.other_tenant_id]  # asked once, then remembered


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("local-minute", "Xero's minute limit"),
        ("blocked-minute", "Xero's minute limit"),
        ("probing-minute", "Xero's minute limit"),
        ("local-day", "Xero's daily limit"),
        ("blocked-concurrent", "Xero's concurrent-call limit"),
        ("local-concurrent", "Xero's concurrent-call limit"),
        ("app-minute", "Xero's app-wide minute limit"),
        ("blocked-appminute", "Xero's app-wide minute limit"),
    ],
)
def test_every_limit_has_words(reason: str, words: str) -> None:
    assert describe_limit(reason) == words


def test_a_limit_not_worth_waiting_for_is_one_line_a_person_reads() -> None:
    from pm_xero_plugin.cli.boundary import explain

    failure = explain(RateLimited(86281.0, "local-day", tenant_id="t", status=None))
    assert failure is not None
    assert failure.exit_code == 1
    assert failure.message == "Xero's daily limit was reached: try again in 23 h 59 min"
