"""``PM_XERO_LEDGER`` chooses the ledger: unset is SQLite in the practice's folder, a PostgreSQL
URL one shared store per URL; anything else is refused in one line, never showing a password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.backends import LEDGER_ENV, LedgerBackends, ledger_url
from pm_xero_plugin.ledger.postgres import PostgresLedger


def test_unset_or_empty_is_sqlite_and_postgresql_urls_are_taken() -> None:
    assert ledger_url({}) is None
    assert ledger_url({LEDGER_ENV: "  "}) is None
    assert ledger_url({LEDGER_ENV: "postgresql://pmx@db/ledger"}) == "postgresql://pmx@db/ledger"
    assert ledger_url({LEDGER_ENV: "postgres://pmx@db/ledger"}) == "postgres://pmx@db/ledger"


@pytest.mark.parametrize(
    "value", ["mysql://pmx:hunter2@db/ledger", "sqlite:///x.db", "/var/lib/ledger.db"]
)
def test_anything_else_is_refused_naming_the_variable_not_the_password(value: str) -> None:
    with pytest.raises(ValueError, match=r"^PM_XERO_LEDGER=.* is not a PostgreSQL URL") as info:
        ledger_url({LEDGER_ENV: value})
    assert "hunter2" not in str(info.value)
    assert "fix or unset it" in str(info.value)


def test_the_backends_module_does_not_import_psycopg() -> None:
    """The plugin imports it on the hook path: psycopg waits for a PostgreSQL ledger."""
    code = (
        "import sys, pm_xero_plugin.ledger.backends as b; b.ledger_url({}); "
        "print('psycopg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_practices_get_sqlite_files_or_views_of_one_store_per_url(
    tmp_path: Path, pg_url: str
) -> None:
    backends = LedgerBackends()
    try:
        local = backends.open("p1", tmp_path, clock=lambda: START, dependants=None, url=None)
        assert isinstance(local, SqliteLedger)
        assert local.path == tmp_path / "ledger.sqlite3"
        local.close()
        a = backends.open("p1", tmp_path, clock=lambda: START, dependants=None, url=pg_url)
        b = backends.open("p2", tmp_path, clock=lambda: START, dependants=None, url=pg_url)
        assert isinstance(a, PostgresLedger)
        assert isinstance(b, PostgresLedger)
        assert a.store is b.store is backends.store(pg_url)
        a.insert([new_row(host_id="i1")])
        assert b.find("invoice", "i1", "T1") is None
    finally:
        backends.close()


@pytest.mark.parametrize(
    "value", ["postgresql://u:s3cretpw@[::1/db", "postgresql://u:s3cretpw@db/x?bogus=1"]
)
def test_a_postgresql_url_libpq_cannot_read_is_refused_without_its_password(value: str) -> None:
    with pytest.raises(ValueError, match=LEDGER_ENV) as refused:
        ledger_url({LEDGER_ENV: value})
    assert "s3cretpw" not in str(refused.value)


def test_a_verb_with_an_unreadable_postgresql_url_says_so_in_one_line(tmp_path: Path) -> None:
    from support.cli_process import pm_xero

    from hookspecs.refhost import RefHost

    RefHost(tmp_path / "pm", load_entrypoints=False).close()
    run = pm_xero(
        "status",
        "--data-dir",
        tmp_path / "pm",
        env={LEDGER_ENV: "postgresql://u:s3cretpw@[::1/db"},
    )
    assert run.returncode == 2, run.stderr
    assert "s3cretpw" not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
    assert LEDGER_ENV in run.stderr


def test_two_data_directories_cannot_share_one_practices_rows(tmp_path: Path) -> None:
    """Two hosts on one database that both call their practice ``practice-1`` would send and
    settle each other's records: the second is refused in words; the first (and a copy of its
    directory, a backup restored elsewhere) opens as before."""
    from support.postgres import fresh_database

    from pm_xero_plugin.ledger.interface import LedgerUnavailable

    first, second = tmp_path / "a" / "xero", tmp_path / "b" / "xero"
    with fresh_database() as url:
        backends = LedgerBackends()
        try:
            backends.open("practice-1", first, clock=lambda: START, dependants=None, url=url)
            with pytest.raises(LedgerUnavailable, match="belong to another host data directory"):
                backends.open("practice-1", second, clock=lambda: START, dependants=None, url=url)
            backends.open("practice-1", first, clock=lambda: START, dependants=None, url=url)
            copy = tmp_path / "restored" / "xero"
            copy.mkdir(parents=True)
            (copy / "ledger-owner").write_bytes((first / "ledger-owner").read_bytes())
            backends.open("practice-1", copy, clock=lambda: START, dependants=None, url=url)
            backends.open("practice-2", second, clock=lambda: START, dependants=None, url=url)
        finally:
            backends.close()
