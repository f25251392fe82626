"""Migrations: versioned, applied once, safe when many processes start at once."""

from __future__ import annotations

import threading

import psycopg

from pm_xero_plugin.ledger.postgres_schema import MIGRATIONS, migrate
from pm_xero_plugin.ledger.postgres_store import PgStore


def test_processes_starting_at_once_on_a_new_database_migrate_it_once(pg_url: str) -> None:
    stores: list[PgStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PgStore.open(pg_url, max_size=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    assert {s.schema_version for s in stores} == {len(MIGRATIONS)}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_an_up_to_date_database_is_left_as_it_is(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn) == len(MIGRATIONS)
        conn.execute("CREATE TABLE marker (x int)")
        assert migrate(conn) == len(MIGRATIONS)
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'marker'"
        ).fetchone()
    assert tables == (1,)


def test_a_database_behind_is_brought_forward_from_its_version(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, known=0) == 0
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (0,)
        assert migrate(conn) == len(MIGRATIONS)
