"""Rate limits, tokens and connections end to end: a 429 storm on one organisation while the
other flows, a token expiring mid-run, two workers racing to refresh one token set, and a
disconnect that pauses one location until it is reconnected."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

from pm_xero_plugin.xero.auth import TokenProvider
from pm_xero_plugin.xero.client import XeroClient
from pm_xero_plugin.xero.ratelimit import RateLimiter
from pm_xero_plugin.xero.tokens import TokenStore

pytestmark = pytest.mark.timeout(60)


def _token_calls(world: World) -> int:
    return sum(
        1 for r in world.sandbox.requests if r["path"] == "/connect/token" and r["method"] == "POST"
    )


def _access_token(world: World, key: str) -> str:
    tokens = world.runtime.tokens.load(key)
    assert tokens is not None
    return str(tokens.access_token)


def test_429_storm_blocks_only_its_organisation(world: World) -> None:
    world.set_up()
    first, second = world.tenant_of(0), world.tenant_of(1)
    world.sandbox.faults(first).script.extend(["429", "429"])  # Retry-After: 60 each

    world.run_worker(max_seconds=1.0)
    # While the first organisation waits out Retry-After, the second finished all its work.
    assert world.open_rows(first) > 0
    assert world.open_rows(second) == 0
    assert world.sandbox.api_calls(second) > 0
    refused = [r for r in world.sandbox.requests if r["status"] == 429]
    # At most the batches already in flight (2 per organisation) met the 429: once blocked,
    # nothing more was sent to the first organisation until Retry-After had passed.
    assert 1 <= len(refused) <= 2
    assert {r["tenant"] for r in refused} == {first}

    world.time.advance(61)
    world.drain(max_seconds=1.0)
    check_books(world, expected(world, START_DATE))
    assert {r["tenant"] for r in world.sandbox.requests if r["status"] == 429} == {first}


def test_token_expiring_mid_run_is_refreshed_once(world: World) -> None:
    world.set_up()
    first = world.tenant_of(0)
    world.sandbox.faults(first).script.extend(["ok", "ok", "token_expired"])
    before = _token_calls(world)
    store = world.runtime.tokens
    tokens = {k: _access_token(world, k) for k in store.connection_keys()}

    world.drain()

    # Every token set reaching the organisation expired (the sandbox's tokens reach both
    # organisations); each one in use was refreshed exactly once, the first location's included.
    refreshed = {k for k, token in tokens.items() if _access_token(world, k) != token}
    assert world.runtime.connection_for(first) in refreshed
    assert _token_calls(world) - before == len(refreshed)
    assert [r for r in world.sandbox.requests if r["status"] == 401]
    check_books(world, expected(world, START_DATE))


def test_two_workers_racing_to_refresh_one_token_set_refresh_once(world: World) -> None:
    """Two token providers (as in two worker processes) on one token store: after the access
    token expires both get a 401; exactly one refresh reaches /connect/token (Xero would answer
    the second with invalid_grant, the refresh token having rotated) and both keep working."""
    world.set_up(backfill=False)
    first = world.tenant_of(0)
    runtime = world.runtime
    key = runtime.connection_for(first)
    store = TokenStore(world.host.data_dir("xero") / "tokens.sqlite3", world.host.secret("xero"))
    provider = TokenProvider(runtime.oauth, store)
    other = XeroClient(
        runtime.oauth.api_url,
        provider,
        limiter=RateLimiter(),
        request_hook=world._check_request,
    )
    try:
        assert runtime.client.accounts(first, key)
        assert other.accounts(first, key)  # both hold the same access token now
        world.sandbox.faults(first).expire_tokens_now()
        before = _token_calls(world)
        barrier = threading.Barrier(2)
        answers: list[str] = []
        errors: list[BaseException] = []

        def call(client: XeroClient) -> None:
            barrier.wait()
            try:
                answers.append(str(len(client.accounts(first, key))))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(c,)) for c in (runtime.client, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert errors == []
        assert len(answers) == 2
        assert _token_calls(world) - before == 1
        assert [r for r in world.sandbox.requests if r["status"] == 401]
    finally:
        provider.close()
        other.close()
    # The worker goes on with the refreshed token set.
    world.host.backfill(None, None)
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_disconnect_pauses_that_location_until_reconnected(world: World) -> None:
    world.set_up()
    first, second = world.tenant_of(0), world.tenant_of(1)
    second_location = world.locations[1]["id"]
    rows_before = len(world.rows(tenant_id=second))
    world.sandbox.faults(second).disconnect()

    world.run_worker(max_seconds=2.0)

    assert world.open_rows(first) == 0  # the other organisation finished
    rows = world.rows(tenant_id=second)
    assert len(rows) == rows_before  # kept, none lost
    assert not [r for r in rows if r.state == "failed"]
    waiting = [r for r in rows if r.state == "waiting" and r.gate == "connection"]
    assert waiting, {(r.state, r.gate) for r in rows}
    status = json.dumps(world.host.sync_status(second_location))
    assert "reconnect" in status.lower()

    world.connect(1)  # the admin presses "Connect to Xero" again
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_minute_limit_is_respected_from_xeros_headers(world: World) -> None:
    """Xero's minute limit set low for the back-sync: the worker paces each organisation by
    Xero's remaining-headers and Retry-After (on the sandbox clock), everything arrives once,
    and 429s stay rare."""
    world.set_up()
    limits = world.sandbox.limits
    limits.per_minute = 3
    world.worker_seconds = 0.2  # blocked tenants are waited out in virtual time instead
    before = len(world.sandbox.requests)
    world.drain(rounds=200)
    check_books(world, expected(world, START_DATE))
    calls = [r for r in list(world.sandbox.requests)[before:] if r["path"].startswith("/api.xro")]
    refused = [r for r in calls if r["status"] == 429]
    assert len(calls) > 3 * limits.per_minute  # it really had to wait for new windows
    # Each organisation may meet Xero's limit while it learns where Xero's window starts (its
    # first Retry-After aligns ours); after that, the headers keep it under the limit.
    per_tenant = Counter(r["tenant"] for r in refused)
    assert max(per_tenant.values(), default=0) <= 2, f"{per_tenant} of {len(calls)} calls"


def test_disconnected_organisation_stays_paused_across_a_restart(world: World) -> None:
    world.set_up()
    second = world.tenant_of(1)
    second_location = world.locations[1]["id"]
    world.sandbox.faults(second).disconnect()
    world.run_worker(max_seconds=2.0)
    refused = sum(1 for r in world.sandbox.requests if r["status"] == 403)
    assert refused

    world.host.stop()  # the host restarts: the add-on starts again from its data directory
    world.host.start()
    world.wire_runtime()
    world.run_worker(max_seconds=2.0)

    assert sum(1 for r in world.sandbox.requests if r["status"] == 403) == refused
    status = json.dumps(world.host.sync_status(second_location)).lower()
    assert "connect" in status
    assert 'connected to xero": true' not in status
    assert world.rows(tenant_id=second, state="waiting", gate="connection")

    world.connect(1)
    world.drain()
    check_books(world, expected(world, START_DATE))
