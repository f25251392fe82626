"""Secrets and customers' details on disk are their user's only, and no token is in clear.

The ledger holds customers' names, emails and phones; the token store what reaches the books in
Xero; the demo's sandbox state the organisations' books and the identity's records. All were
created 0644 (readable by any local user), and the sandbox state held live access and refresh
tokens in clear. Now every file the add-on, the demo and the sandbox write is 0600 – SQLite's
``-wal``/``-shm`` included, which take the main file's mode – every folder 0700, whatever the
umask, and the sandbox keeps only hashes of the tokens it issued.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from support.demo_helpers import demo, summary
from support.reliability_practice import PLUGIN, frozen_clock, make_sandbox, prepare
from support.reliability_runner import running

from hookspecs.refhost import RefHost
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.xero.tokens import TokenStore

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start with (022): files 0644 unless the writer says otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _modes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    files: dict[str, int] = {}
    folders: dict[str, int] = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        (folders if path.is_dir() else files)[str(path.relative_to(root))] = mode
    return files, folders


def _assert_private(root: Path) -> None:
    files, folders = _modes(root)
    assert files, root
    assert {name: oct(m) for name, m in files.items() if m != 0o600} == {}
    assert {name: oct(m) for name, m in folders.items() if m != 0o700} == {}


def _stored_tokens(data_dir: Path) -> list[str]:
    """The access and refresh tokens the add-on holds (decrypted with the host's secret): the
    live ones the sandbox issued last."""
    host = RefHost(data_dir, load_entrypoints=False)
    try:
        store = TokenStore(data_dir / "plugins" / PLUGIN / "tokens.sqlite3", host.secret(PLUGIN))
    finally:
        host.close()
    found: list[str] = []
    for key in store.connection_keys():
        tokens = store.load(key)
        assert tokens is not None
        found.append(tokens.access_token)
        if tokens.refresh_token:
            found.append(tokens.refresh_token)
    return found


def _forms(token: str) -> list[bytes]:
    raw = token.encode()
    return [
        raw,
        raw.hex().encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
    ]


def _assert_no_token_in_clear(root: Path, tokens: list[str]) -> None:
    assert tokens
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for token in tokens:
            for form in _forms(token):
                assert form not in data, f"a token in {path.relative_to(root)}"


@pytest.mark.usefixtures("usual_umask")
def test_after_a_demo_every_file_is_0600_every_folder_0700_and_no_token_is_in_clear(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "practice"
    summary(demo(data_dir, "--today", "2026-03-10", "--start-date", "2026-02-20"))
    assert (data_dir / "sandbox-state.json").is_file()
    _assert_private(data_dir)
    tokens = _stored_tokens(data_dir)
    assert len(tokens) >= 4  # an access and a refresh token per connected location
    _assert_no_token_in_clear(data_dir, tokens)


@pytest.mark.usefixtures("usual_umask")
def test_the_add_ons_files_are_private_while_it_runs_even_in_a_folder_the_host_made_0755(
    tmp_path: Path,
) -> None:
    today = date(2025, 9, 15)
    sandbox = make_sandbox(orgs=1, seed=5)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=5,
            locations=1,
            clients=5,
            days=10,
            window_days=5,
            clock=frozen_clock(today),
        )
    plugin_dir = prepared.root / "plugins" / PLUGIN
    plugin_dir.chmod(0o755)  # as the host made it; the add-on narrows its own folder
    with running(prepared, sandbox, server.url, frozen_clock(today)) as run:
        run.until_settled(rounds=5)
        names = {p.name for p in plugin_dir.iterdir()}
        assert "ledger.sqlite3-wal" in names  # SQLite's side files exist while it runs …
        _assert_private(plugin_dir)  # … and are 0600 like their main file


@pytest.mark.usefixtures("usual_umask")
def test_a_ledger_left_0644_by_an_earlier_version_is_narrowed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path).close()
    for file in tmp_path.iterdir():
        file.chmod(0o644)
    ledger = SqliteLedger(path)
    try:
        for file in tmp_path.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    finally:
        ledger.close()
