"""The Xero client on two "machines" (each its own pool, token store, limiter and client) sharing
one PostgreSQL: against the sandbox at Xero's real limits, with calls that stay in progress as on
Xero, the sandbox's own counters never see more than 5 of an organisation's calls in flight or
more than 60 in a minute, and it never has to answer 429."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from psycopg_pool import ConnectionPool
from support.postgres import fresh_database
from support.xero_client_fakes import CONN, SECRET

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.limits import Limits as SandboxLimits
from pm_xero_plugin.xero.auth import (
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback,
)
from pm_xero_plugin.xero.client import XeroClient, waiting_for_limits
from pm_xero_plugin.xero.errors import RateLimited
from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter
from pm_xero_plugin.xero.pg_schema import Pool
from pm_xero_plugin.xero.pg_tokens import PostgresTokenStore

PRACTICE = "practice-1"


@dataclass
class Machine:
    pool: Pool
    limiter: PostgresRateLimiter
    client: XeroClient


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as fresh:
        yield fresh


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(limits=SandboxLimits(call_seconds=0.2))


@pytest.fixture
def machines(url: str, sandbox: Sandbox) -> Iterator[list[Machine]]:
    config = OAuthConfig.for_base_url(
        "http://sandbox.test",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://127.0.0.1:8766/callback",
    )
    http = httpx.Client(transport=sandbox.transport())
    made: list[Machine] = []
    for _ in range(2):
        pool: Pool = ConnectionPool(
            url, min_size=1, max_size=10, kwargs={"autocommit": True}, open=True
        )
        store = PostgresTokenStore(pool, PRACTICE, SECRET)
        if not made:  # the admin connects once; every machine reads the tokens from PostgreSQL
            consent = http.get(begin_authorization(config, store, CONN).url)
            params = dict(httpx.URL(consent.headers["Location"]).params)
            handle_callback(config, store, params, http=http)
        limiter = PostgresRateLimiter(pool, scope="sandbox.test")
        client = XeroClient(
            config.api_url,
            TokenProvider(config, store, http=http),
            limiter=limiter,
            http=http,
            backoff_base=0.001,
        )
        made.append(Machine(pool, limiter, client))
    yield made
    http.close()
    for machine in made:
        machine.pool.close()


def test_two_machines_stay_within_the_organisations_limits_as_the_sandbox_counts_them(
    machines: list[Machine], sandbox: Sandbox
) -> None:
    tenant = sandbox.tenant_ids[0]
    answered: list[int] = []
    stopped: list[str] = []
    lock = threading.Lock()

    def work(machine: Machine) -> None:
        with waiting_for_limits(lambda _line: None, max_wait=5.0):
            while True:
                try:
                    machine.client.accounts(tenant, CONN)
                except RateLimited as exc:  # the shared minute is spent: a minute's wait
                    with lock:
                        stopped.append(exc.problem)
                    return
                with lock:
                    answered.append(1)

    threads = [threading.Thread(target=work, args=(machines[i % 2],)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    peaks = sandbox.peaks()[tenant]
    assert peaks["peak_in_flight"] == 5  # ten threads on two machines, five at once at most
    assert peaks["peak_per_minute"] <= 60, peaks
    # The organisation's minute, shared by both machines (the estimate counts calls in flight
    # on top of Xero's count to be safe, so it may stop a call or two short).
    assert 50 <= len(answered) <= 60, len(answered)
    assert set(stopped) == {"local-minute"}
    refused = [r for r in sandbox.requests if r["status"] == 429]
    assert refused == []
    assert machines[1].limiter.wait_for(tenant).reason == "local-minute"
