"""A practice's Xero tokens in PostgreSQL: sealed (nothing in clear in the tables), one practice
never reads another's, and a refresh is single-flight across machines (each store with a pool of
its own), the rotated refresh token committed before anyone uses the new access token – against
the sandbox's identity server mounted as an httpx transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool
from support.postgres import fresh_database
from support.xero_client_fakes import CONN, SECRET

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.xero.auth import (
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback,
)
from pm_xero_plugin.xero.errors import ReconnectRequired, TransientError
from pm_xero_plugin.xero.pg_schema import Pool
from pm_xero_plugin.xero.pg_tokens import PostgresTokenStore
from pm_xero_plugin.xero.tokens import StoredTokensUnreadable, TokenSet

PRACTICE, OTHER_PRACTICE = "practice-1", "practice-2"

Machine = Callable[..., PostgresTokenStore]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as fresh:
        yield fresh


@pytest.fixture
def machine(url: str) -> Iterator[Machine]:
    """Makes a token store with a pool of its own (a machine of the fleet); all closed after."""
    pools: list[Pool] = []

    def make(practice_id: str = PRACTICE, secret: bytes = SECRET) -> PostgresTokenStore:
        # Machines alternate: the ledger's pool (autocommit) and psycopg's default (not).
        autocommit = len(pools) % 2 == 0
        pool: Pool = ConnectionPool(
            url, min_size=1, max_size=6, kwargs={"autocommit": autocommit}, open=True
        )
        pools.append(pool)
        return PostgresTokenStore(pool, practice_id, secret)

    yield make
    for pool in pools:
        pool.close()


@dataclass
class World:
    sandbox: Sandbox
    config: OAuthConfig
    transport: httpx.BaseTransport

    def token_calls(self) -> int:
        return sum(1 for r in self.sandbox.requests if r["path"] == "/connect/token")

    def reaches_xero(self, access_token: str) -> bool:
        with httpx.Client(transport=self.transport, base_url="http://sandbox.test") as http:
            answer = http.get(
                "/api.xro/2.0/Organisation",
                headers={
                    "Authorization": f"Bearer {access_token}",
                    "xero-tenant-id": self.sandbox.tenant_ids[0],
                },
            )
        return answer.status_code == 200


@pytest.fixture
def world() -> World:
    sandbox = Sandbox()
    config = OAuthConfig.for_base_url(
        "http://sandbox.test",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://127.0.0.1:8766/callback",
    )
    return World(sandbox, config, sandbox.transport())


def connect(world: World, store: PostgresTokenStore) -> None:
    """The admin's "Connect to Xero", walked for real (the sandbox consents at once)."""
    with httpx.Client(transport=world.transport) as http:
        consent = http.get(begin_authorization(world.config, store, CONN).url)
        handle_callback(
            world.config, store, dict(httpx.URL(consent.headers["Location"]).params), http=http
        )


def provider(world: World, store: PostgresTokenStore) -> TokenProvider:
    return TokenProvider(world.config, store, transport=world.transport)


def raw_rows(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = [
            conn.execute(f"SELECT t::text FROM {table} t").fetchall()
            for table in ("xero_tokens", "xero_pending_flows")
        ]
    return repr(rows)


def test_nothing_is_readable_in_clear_in_the_tables(machine: Machine, url: str) -> None:
    store = machine()
    tokens = TokenSet("access-PLAINTEXT-1", "refresh-PLAINTEXT-2", time.time() + 1800, "s")
    store.save(CONN, tokens, tenant_ids=["tenant-a"])
    store.add_pending_flow("state-PLAINTEXT-4", CONN, "verifier-PLAINTEXT-3")
    raw = raw_rows(url)
    assert CONN in raw  # the rows are there…
    for secret in ("access-PLAINTEXT", "refresh-PLAINTEXT", "verifier-PLAINTEXT", "state-PLAIN"):
        assert secret not in raw  # …but never a token, verifier or state in clear
    assert machine().load(CONN) == tokens  # another machine reads them back


def test_a_different_host_secret_cannot_read_the_tokens(machine: Machine) -> None:
    machine().save(CONN, TokenSet("a", "r", time.time() + 1800))
    with pytest.raises(ReconnectRequired):
        machine(secret=b"another host secret, 32 bytes..").load(CONN)


def test_one_practice_never_reads_another_practices_tokens(machine: Machine, url: str) -> None:
    mine, theirs = machine(PRACTICE), machine(OTHER_PRACTICE)  # even under the same secret
    mine.save(CONN, TokenSet("mine", "r-mine", time.time() + 1800), tenant_ids=["tenant-a"])
    assert theirs.load(CONN) is None
    assert theirs.connection_keys() == []
    assert theirs.tenant_ids(CONN) == []
    theirs.save(CONN, TokenSet("theirs", "r-theirs", time.time() + 1800))
    loaded = mine.load(CONN)
    assert loaded is not None
    assert loaded.access_token == "mine"
    theirs.delete(CONN)
    assert mine.load(CONN) is not None
    with psycopg.connect(url, autocommit=True) as conn:  # a row copied into the other practice
        conn.execute(
            "INSERT INTO xero_tokens SELECT %s, connection_key, grant_type, blob, tenant_ids,"
            " reconnect_reason, updated_at FROM xero_tokens WHERE practice_id = %s",
            (OTHER_PRACTICE, PRACTICE),
        )
    with pytest.raises(StoredTokensUnreadable, match="another practice's tokens"):
        theirs.load(CONN)


def test_a_row_listing_an_organisation_its_tokens_were_not_granted_is_refused(
    machine: Machine, url: str
) -> None:
    store = machine()
    store.save(CONN, TokenSet("a", "r", time.time() + 1800), tenant_ids=["tenant-a"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('UPDATE xero_tokens SET tenant_ids = \'["tenant-a", "tenant-z"]\'')
    with pytest.raises(StoredTokensUnreadable, match="not granted"):
        store.load(CONN)


def test_a_refresh_from_two_machines_at_once_calls_the_token_endpoint_once(
    machine: Machine, world: World
) -> None:
    connect(world, machine())
    providers = [provider(world, machine()), provider(world, machine())]
    rejected = providers[0].access_token(CONN)
    before = world.token_calls()
    barrier = threading.Barrier(8)
    got: list[str] = []

    def refresh(p: TokenProvider) -> None:
        barrier.wait()
        got.append(p.invalidate(CONN, rejected))  # each saw a 401 on the old token

    threads = [threading.Thread(target=refresh, args=(providers[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert world.token_calls() == before + 1  # one rotation for eight threads on two machines
    assert len(got) == 8
    assert len(set(got)) == 1
    assert got[0] != rejected
    assert world.reaches_xero(got[0])


def test_the_rotated_refresh_token_is_stored_before_the_new_access_token_is_returned(
    machine: Machine, world: World
) -> None:
    store, elsewhere = machine(), machine()
    connect(world, store)
    before = store.load(CONN)
    assert before is not None
    seen_during: list[TokenSet | None] = []
    p = provider(world, store)

    def refresh(current: TokenSet, grant_type: str) -> TokenSet:
        fresh = p._refresh(current, grant_type)
        seen_during.append(elsewhere.load(CONN))  # the refresh's transaction is still open
        return fresh

    fresh = store.refresh_serialised(CONN, lambda _current: True, refresh)
    assert seen_during == [before]  # nobody saw the new set before it was committed…
    assert elsewhere.load(CONN) == fresh  # …and it is committed before it is handed out
    assert fresh.refresh_token != before.refresh_token
    assert world.reaches_xero(fresh.access_token)


def test_a_lost_commit_after_xero_rotated_still_stores_the_rotated_tokens(
    machine: Machine, world: World, url: str
) -> None:
    store, elsewhere = machine(), machine()
    connect(world, store)
    p = provider(world, store)

    def refresh_then_lose_the_database(current: TokenSet, grant_type: str) -> TokenSet:
        fresh = p._refresh(current, grant_type)
        with psycopg.connect(url, autocommit=True) as admin:  # the refresh's session is gone
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
        return fresh

    fresh = store.refresh_serialised(CONN, lambda _current: True, refresh_then_lose_the_database)
    assert elsewhere.load(CONN) == fresh
    assert world.reaches_xero(fresh.access_token)


def test_a_machine_that_comes_second_uses_the_first_ones_refresh(
    machine: Machine, world: World
) -> None:
    connect(world, machine())
    first, second = provider(world, machine()), provider(world, machine())
    rejected = first.access_token(CONN)
    fresh = first.invalidate(CONN, rejected)
    calls = world.token_calls()
    assert second.invalidate(CONN, rejected) == fresh  # re-read under the lock: no new call
    assert world.token_calls() == calls


def test_a_refused_refresh_marks_the_connection_for_every_machine(machine: Machine) -> None:
    store, elsewhere = machine(), machine()
    store.save(CONN, TokenSet("a", "r", time.time() - 1))

    def refused(current: TokenSet, grant_type: str) -> TokenSet:
        raise ReconnectRequired("Xero refused the refresh token (invalid_grant): reconnect")

    with pytest.raises(ReconnectRequired):
        store.refresh_serialised(CONN, lambda _current: True, refused)
    assert elsewhere.reconnect_reason(CONN) == (
        "Xero refused the refresh token (invalid_grant): reconnect"
    )
    with pytest.raises(ReconnectRequired, match="invalid_grant"):
        elsewhere.refresh_serialised(CONN, lambda _current: True, refused)
    elsewhere.save(CONN, TokenSet("b", "r2", time.time() + 1800))  # reconnecting clears it
    assert store.reconnect_reason(CONN) is None


def test_organisations_saved_during_a_refresh_wait_for_it_and_keep_the_rotated_token(
    machine: Machine,
) -> None:
    store, elsewhere = machine(), machine()
    store.save(CONN, TokenSet("old", "r-old", time.time() - 1), tenant_ids=["tenant-a"])
    refreshing, finish = threading.Event(), threading.Event()
    finished_at: list[float] = []

    def slow_refresh(current: TokenSet, grant_type: str) -> TokenSet:
        refreshing.set()
        finish.wait(10)
        finished_at.append(time.monotonic())
        return TokenSet("new", "r-new", time.time() + 1800)

    refresher = threading.Thread(
        target=store.refresh_serialised, args=(CONN, lambda _c: True, slow_refresh)
    )
    refresher.start()
    assert refreshing.wait(10)
    saver = threading.Thread(target=elsewhere.set_tenant_ids, args=(CONN, ["tenant-a", "b"]))
    saver.start()
    time.sleep(0.2)
    assert saver.is_alive()  # waiting for the refresh's row lock, not writing the old set back
    finish.set()
    refresher.join(10)
    saver.join(10)
    loaded = elsewhere.load(CONN)
    assert loaded is not None
    assert loaded.refresh_token == "r-new"
    assert elsewhere.tenant_ids(CONN) == ["tenant-a", "b"]


def test_a_refresh_waits_no_longer_than_its_lock_wait_for_another_machines(
    machine: Machine, url: str
) -> None:
    store = machine()
    store.save(CONN, TokenSet("old", "r-old", time.time() - 1))
    pool: Pool = ConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True)
    impatient = PostgresTokenStore(pool, PRACTICE, SECRET, lock_wait=0.2)
    refreshing, finish = threading.Event(), threading.Event()

    def slow_refresh(current: TokenSet, grant_type: str) -> TokenSet:
        refreshing.set()
        finish.wait(10)
        return TokenSet("new", "r-new", time.time() + 1800)

    refresher = threading.Thread(
        target=store.refresh_serialised, args=(CONN, lambda _c: True, slow_refresh)
    )
    refresher.start()
    try:
        assert refreshing.wait(10)
        with pytest.raises(TransientError, match="has not finished within"):
            impatient.refresh_serialised(CONN, lambda _c: True, slow_refresh)
    finally:
        finish.set()
        refresher.join(10)
        pool.close()


def test_pending_flows_are_single_use_across_machines_and_practices(machine: Machine) -> None:
    machine().add_pending_flow("state-1", CONN, "verifier-1")
    assert machine(OTHER_PRACTICE).pop_pending_flow("state-1", max_age=600) is None
    flow = machine().pop_pending_flow("state-1", max_age=600)
    assert flow is not None
    assert (flow.connection_key, flow.code_verifier) == (CONN, "verifier-1")
    assert machine().pop_pending_flow("state-1", max_age=600) is None


def test_an_expired_pending_flow_is_refused_and_purged(url: str) -> None:
    now = [1000.0]
    pool: Pool = ConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True)
    try:
        store = PostgresTokenStore(pool, PRACTICE, SECRET, clock=lambda: now[0])
        store.add_pending_flow("state-old", CONN, "v")
        now[0] += 601
        assert store.pop_pending_flow("state-old", max_age=600) is None
        with pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM xero_pending_flows").fetchone() == (0,)
    finally:
        pool.close()


def test_the_store_keeps_what_token_store_keeps(machine: Machine) -> None:
    store = machine()
    assert store.load(CONN) is None
    assert store.grant_type(CONN) is None
    store.save(CONN, TokenSet("a", "r", time.time() + 1800), grant_type="client_credentials")
    store.save("loc-0", TokenSet("b", "r", time.time() + 1800))
    assert store.grant_type(CONN) == "client_credentials"
    assert store.connection_keys() == ["loc-0", CONN]
    store.set_tenant_ids(CONN, ["t1"])
    store.save(CONN, TokenSet("a2", "r2", time.time() + 1800))  # no tenant list: kept
    assert store.tenant_ids(CONN) == ["t1"]
    store.mark_reconnect(CONN, "revoked")
    store.set_tenant_ids(CONN, ["t1", "t2"])  # keeps the mark
    assert store.reconnect_reason(CONN) == "revoked"
    store.delete(CONN)
    assert store.load(CONN) is None
    assert store.connection_keys() == ["loc-0"]


def test_an_unreachable_database_is_a_transient_error_in_words(machine: Machine) -> None:
    store = machine()
    store.pool.close()
    with pytest.raises(TransientError, match="PostgreSQL cannot be reached"):
        store.load(CONN)
    with pytest.raises(TransientError, match="PostgreSQL cannot be reached"):
        store.refresh_serialised(CONN, lambda _c: True, lambda c, g: c)


def test_a_practice_opened_on_a_pool_whose_tables_are_ready_does_not_touch_the_schema(
    machine: Machine, url: str
) -> None:
    from pm_xero_plugin.xero import pg_schema

    first = machine(PRACTICE)
    with psycopg.connect(url) as blocker:  # a worker somewhere, migrating: the schema is locked
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema._LOCK,))
        opened: list[PostgresTokenStore] = []
        opener = threading.Thread(
            target=lambda: opened.append(PostgresTokenStore(first.pool, OTHER_PRACTICE, SECRET))
        )
        opener.start()
        opener.join(5)
        assert opened  # a thousand practices do not queue on the schema lock one by one
        blocker.rollback()
