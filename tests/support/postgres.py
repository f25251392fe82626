"""A real PostgreSQL for tests: a server to create throw-away databases on.

``.ci/run`` starts one (Debian's ``postgresql`` package, a temporary directory, a loopback port)
and exports its URL as ``PM_XERO_TEST_POSTGRES``; every test process then uses that server.
Without it (a developer's machine), the first test that asks starts a private server the same
way – ``initdb`` in a temporary directory, run as the ``postgres`` user when the tests run as root
(PostgreSQL refuses root) – and stops it when the session ends. Each test gets a database of its
own (:func:`fresh_database`), dropped afterwards, so tests never see each other's rows, locks or
limits – also under pytest-xdist.

Where neither is possible, PostgreSQL tests are skipped – except in CI (``CI`` set), where a
missing PostgreSQL is a failure: the ledger contract must run against both backends there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ENV = "PM_XERO_TEST_POSTGRES"
"""A PostgreSQL URL (a role that may create databases) the tests use instead of starting one."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14", "13"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.is_file():
            return str(candidate)
    return None


class _Server:
    """A private PostgreSQL in a temporary directory, on a loopback port."""

    def __init__(self) -> None:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError(
                "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
            )
        self._pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="pm-xero-pg-"))
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.root / "data"
        self._run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        self.data = data
        self._run(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                "start",
            ]
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, cwd=self.root)

    def stop(self) -> None:
        subprocess.run(
            [*self._as, self._pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


_server: _Server | None = None


def server_url() -> str:
    """The URL of a PostgreSQL server the tests may create databases on (skips without one,
    fails in CI)."""
    global _server
    given = os.environ.get(ENV)
    if given:
        return given
    if _server is None:
        try:
            _server = _Server()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            if os.environ.get("CI"):
                pytest.fail(f"CI needs PostgreSQL for the ledger contract: {exc}")
            pytest.skip(f"no PostgreSQL here: {exc}")
    return _server.url


_templates: dict[str, str] = {}
"""Per server URL, this process's template database with the ledger's schema in force."""


def _ledger_template(url: str) -> str:
    """A database migrated to the ledger's schema once per process (made on first use), for
    :func:`fresh_database` to copy: a copy costs less than migrating each test's database."""
    import psycopg

    from pm_xero_plugin.ledger.postgres_schema import migrate

    name = _templates.get(url)
    if name is None:
        name = f"tmpl_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(_with_database(url, name), autocommit=True) as conn:
            migrate(conn)
        _templates[url] = name
    return name


def stop_server() -> None:
    """Drop this process's template databases and stop the private server, if this process
    started one (the session's end)."""
    global _server
    if _templates:
        import psycopg

        for url, name in list(_templates.items()):
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error:  # pragma: no cover - the server went first
                pass
        _templates.clear()
    if _server is not None:
        _server.stop()
        _server = None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_database(*, ledger: bool = False) -> Iterator[str]:
    """A new database on the test server, dropped afterwards: its URL. Empty, or with
    ``ledger=True`` the ledger's schema already in force (copied from a template)."""
    import psycopg

    url = server_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    template = f' TEMPLATE "{_ledger_template(url)}"' if ledger else ""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield _with_database(url, name)
    finally:
        deadline = time.monotonic() + 10
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except psycopg.errors.ObjectInUse:  # pragma: no cover - a slow close
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (see :func:`fresh_database`)."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def pg_ledger_url() -> Iterator[str]:
    """A fresh PostgreSQL database with the ledger's schema in force, for one test."""
    with fresh_database(ledger=True) as url:
        yield url
