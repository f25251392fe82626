"""Each sealed token set belongs to one connection and the organisations it was granted: a set
copied to another row, a row widened to another organisation, a garbled row are refused with
words (``StoredTokensUnreadable``, a ``ReconnectRequired``); sets stored before the binding are
bound to their row when the store opens; the host's secret must be long enough."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support.xero_client_fakes import SECRET

from pm_xero_plugin.xero.errors import ReconnectRequired
from pm_xero_plugin.xero.tokens import (
    HostSecretTooShort,
    StoredTokensUnreadable,
    TokenSet,
    TokenStore,
    check_host_secret,
    derive_fernet_key,
)


def _tokens(name: str) -> TokenSet:
    return TokenSet(f"access-{name}", f"refresh-{name}", time.time() + 1800, "s")


def _sql(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def two_sets(tmp_path: Path) -> tuple[TokenStore, Path]:
    db = tmp_path / "tokens.sqlite3"
    store = TokenStore(db, SECRET)
    store.save("loc-a", _tokens("a"), tenant_ids=["tenant-a"])
    store.save("loc-b", _tokens("b"), tenant_ids=["tenant-b"])
    return store, db


def test_a_set_copied_into_another_locations_row_is_refused(
    two_sets: tuple[TokenStore, Path],
) -> None:
    store, db = two_sets
    (blob_b,) = _sql(db, "SELECT blob FROM token_sets WHERE connection_key = 'loc-b'")[0]
    _sql(db, "UPDATE token_sets SET blob = ? WHERE connection_key = 'loc-a'", blob_b)
    with pytest.raises(StoredTokensUnreadable, match="another connection's tokens") as raised:
        store.load("loc-a")
    assert isinstance(raised.value, ReconnectRequired)
    assert raised.value.connection_key == "loc-a"
    other = store.load("loc-b")
    assert other is not None
    assert other.access_token == "access-b"


def test_a_row_widened_to_an_organisation_not_granted_is_refused(
    two_sets: tuple[TokenStore, Path],
) -> None:
    store, db = two_sets
    _sql(
        db,
        "UPDATE token_sets SET tenant_ids = ? WHERE connection_key = 'loc-a'",
        json.dumps(["tenant-a", "tenant-b"]),
    )
    with pytest.raises(StoredTokensUnreadable, match="not granted"):
        store.load("loc-a")


def test_narrowing_a_sets_organisations_is_sealed_with_it(
    two_sets: tuple[TokenStore, Path],
) -> None:
    store, _db = two_sets
    store.save("loc-a", _tokens("a"), tenant_ids=["tenant-a", "tenant-c"])
    store.set_tenant_ids("loc-a", ["tenant-a"])
    assert store.tenant_ids("loc-a") == ["tenant-a"]
    assert store.load("loc-a") is not None
    store.set_tenant_ids("loc-a", ["tenant-a", "tenant-d"])  # /connections said so: sealed too
    assert store.load("loc-a") is not None


@pytest.mark.parametrize("garbage", ["{not json", "42", '["ok", 7]', '[""]'])
def test_a_garbled_list_of_organisations_is_a_clear_error_not_a_json_error(
    two_sets: tuple[TokenStore, Path], garbage: str
) -> None:
    store, db = two_sets
    _sql(db, "UPDATE token_sets SET tenant_ids = ? WHERE connection_key = 'loc-a'", garbage)
    for read in (store.load, store.tenant_ids):
        with pytest.raises(StoredTokensUnreadable, match="damaged list of organisations"):
            read("loc-a")


def test_a_blob_that_is_not_a_token_at_all_is_refused_with_words(
    two_sets: tuple[TokenStore, Path],
) -> None:
    store, db = two_sets
    _sql(db, "UPDATE token_sets SET blob = 12345 WHERE connection_key = 'loc-a'")
    with pytest.raises(StoredTokensUnreadable, match="cannot be read"):
        store.load("loc-a")


def test_a_set_stored_before_binding_is_bound_to_its_row_when_the_store_opens(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tokens.sqlite3"
    TokenStore(db, SECRET)  # the schema
    legacy = json.dumps(
        {"access_token": "old-a", "refresh_token": "old-r", "expires_at": time.time() + 60}
    ).encode()
    blob = Fernet(derive_fernet_key(SECRET)).encrypt(legacy)
    _sql(
        db,
        "INSERT INTO token_sets (connection_key, grant_type, blob, tenant_ids, updated_at)"
        " VALUES ('loc-a', 'authorization_code', ?, '[\"tenant-a\"]', 0)",
        blob,
    )
    _sql(  # copied to a second row before the upgrade: each copy is bound where it was found
        db,
        "INSERT INTO token_sets (connection_key, grant_type, blob, tenant_ids, updated_at)"
        " VALUES ('loc-b', 'authorization_code', ?, '[\"tenant-a\"]', 0)",
        blob,
    )
    store = TokenStore(db, SECRET)
    loaded = store.load("loc-a")
    assert loaded is not None
    assert loaded.access_token == "old-a"
    (bound,) = _sql(db, "SELECT blob FROM token_sets WHERE connection_key = 'loc-a'")[0]
    assert bound != blob
    sealed = json.loads(Fernet(derive_fernet_key(SECRET)).decrypt(bound))  # type: ignore[arg-type]
    assert sealed["connection_key"] == "loc-a"
    assert sealed["tenant_ids"] == ["tenant-a"]
    # from now on the bound set cannot be moved
    _sql(db, "UPDATE token_sets SET blob = ? WHERE connection_key = 'loc-b'", bound)
    with pytest.raises(StoredTokensUnreadable):
        store.load("loc-b")


def test_a_reconnect_mark_survives_binding_and_resealing(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.sqlite3", SECRET)
    store.save("loc-a", _tokens("a"), tenant_ids=["tenant-a", "tenant-b"])
    store.mark_reconnect("loc-a", "Xero refused the refresh token (invalid_grant)")
    store.set_tenant_ids("loc-a", ["tenant-a"])
    assert store.reconnect_reason("loc-a") == "Xero refused the refresh token (invalid_grant)"
    store.save("loc-a", _tokens("a2"), tenant_ids=["tenant-a"])  # the reconnect clears it
    assert store.reconnect_reason("loc-a") is None


def test_the_token_store_file_is_the_host_users_only(tmp_path: Path) -> None:
    db = tmp_path / "new" / "tokens.sqlite3"
    store = TokenStore(db, SECRET)
    store.save("loc-a", _tokens("a"), tenant_ids=["tenant-a"])
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for path in db.parent.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_an_existing_token_store_at_0644_is_narrowed_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "tokens.sqlite3"
    TokenStore(db, SECRET).save("loc-a", _tokens("a"), tenant_ids=["tenant-a"])
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    TokenStore(db, SECRET).load("loc-a")
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.mark.parametrize("secret", [b"", b"x", b"fifteen-bytes!!"])
def test_a_host_secret_shorter_than_16_bytes_is_refused_in_one_line(secret: bytes) -> None:
    with pytest.raises(HostSecretTooShort) as raised:
        check_host_secret(secret)
    text = str(raised.value)
    assert "\n" not in text
    assert f"is {len(secret)} bytes; at least 16 are needed" in text


def test_a_host_secret_of_16_bytes_or_more_is_taken() -> None:
    assert check_host_secret(b"sixteen-bytes!!!") == b"sixteen-bytes!!!"
    assert check_host_secret(SECRET) == SECRET
