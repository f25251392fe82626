"""Stored tokens the add-on cannot use pause their organisation with "reconnect", in words.

A tampered token store, a host secret that changed, token sets swapped between locations, a
row whose list of organisations is garbage: each used to surface as ``stored Xero tokens cannot
be decrypted`` or a ``JSONDecodeError`` in the rows' errors, with the organisation still shown
``connected`` and its rows retried as "internal error" for ever. Now the organisation pauses as
a revoked connection does (its rows wait, nothing is retried, the other organisation syncs on),
the dashboard's health names it and says to reconnect, and reconnecting mends it.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from support.reliability_practice import (
    PLUGIN,
    Prepared,
    exactly_once_problems,
    expected,
    found_in,
    frozen_clock,
    make_sandbox,
    prepare,
)
from support.reliability_runner import Running, running

from pm_xero_plugin.dashboard.status import build
from pm_xero_plugin.sandbox import Sandbox

TODAY = date(2025, 9, 15)
SEED = 61


@pytest.fixture
def practice(tmp_path: Path) -> tuple[Prepared, Sandbox, str]:
    """Two locations, each connected to its own organisation; rows queued, nothing sent."""
    sandbox = make_sandbox(orgs=2, seed=SEED)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED,
            locations=2,
            clients=8,
            days=20,
            window_days=10,
            clock=frozen_clock(TODAY),
        )
    return prepared, sandbox, server.url


def _tokens_db(prepared: Prepared) -> Path:
    return prepared.root / "plugins" / PLUGIN / "tokens.sqlite3"


def _update(prepared: Prepared, sql: str, *params: object) -> None:
    with sqlite3.connect(_tokens_db(prepared)) as db:
        db.execute(sql, params)


def _blob(prepared: Prepared, location: str) -> bytes:
    with sqlite3.connect(_tokens_db(prepared)) as db:
        row = db.execute(
            "SELECT blob FROM token_sets WHERE connection_key = ?", (location,)
        ).fetchone()
    return bytes(row[0])


def _internal_errors(run: Running) -> int:
    found = run.engine.ledger._q("SELECT count(*) FROM rows WHERE message LIKE '%internal error%'")
    return int(found[0][0])


def _assert_paused_with_reconnect(run: Running, tenant: str) -> None:
    record = next(t for t in run.engine.ledger.tenants() if t.tenant_id == tenant)
    assert not record.connected
    assert "cannot be read" in (record.connection_reason or "")
    assert "reconnect it" in (record.connection_reason or "")
    condition = run.engine.health.get(f"tokens:{tenant}")
    assert condition is not None
    assert "the stored Xero connection for" in condition.message
    assert "host's secret changed or the token store was altered" in condition.message
    assert "Connect to Xero" in condition.action
    shown = build(run.engine, None)["health"]
    assert any(c["condition"] == f"tokens:{tenant}" for c in shown)
    assert _internal_errors(run) == 0
    # nothing of that organisation is retried or in flight: it waits for the admin
    stuck = run.engine.ledger._q(
        "SELECT count(*) FROM rows WHERE tenant_id = ? AND state IN ('retrying', 'sending')",
        (tenant,),
    )
    assert stuck[0][0] == 0


def _settle_after_reconnecting(
    run: Running, sandbox: Sandbox, prepared: Prepared, locations: list[str]
) -> None:
    for location in locations:
        run.reconnect(sandbox, location, prepared.tenants[location])
    for location in locations:
        assert run.engine.health.get(f"tokens:{prepared.tenants[location]}") is None
    run.until_settled(rounds=10)
    assert all(t.connected for t in run.engine.ledger.tenants())
    assert _internal_errors(run) == 0
    got = found_in(sandbox, set(prepared.tenants.values()))
    assert exactly_once_problems(expected(prepared), got) == []


def test_a_token_store_altered_while_running_pauses_its_organisation_until_reconnected(
    practice: tuple[Prepared, Sandbox, str],
) -> None:
    prepared, sandbox, url = practice
    first, second = sorted(prepared.tenants)
    with running(prepared, sandbox, url, frozen_clock(TODAY)) as run:
        spoilt = bytearray(_blob(prepared, first))
        spoilt[40] ^= 0x01  # one bit of the ciphertext
        _update(
            prepared,
            "UPDATE token_sets SET blob = ? WHERE connection_key = ?",
            bytes(spoilt),
            first,
        )
        run.run_once()
        run.run_once()  # nothing claimed again: the rows wait
        _assert_paused_with_reconnect(run, prepared.tenants[first])
        other = prepared.tenants[second]
        assert next(t for t in run.engine.ledger.tenants() if t.tenant_id == other).connected
        assert run.engine.health.get(f"tokens:{other}") is None
        assert found_in(sandbox, {other}).invoices[other]  # the other organisation synced
        _settle_after_reconnecting(run, sandbox, prepared, [first])


def test_a_changed_host_secret_pauses_every_organisation_at_start_until_reconnected(
    practice: tuple[Prepared, Sandbox, str],
) -> None:
    prepared, sandbox, url = practice
    secret_file = prepared.root / "host" / "secret.key"
    os.chmod(secret_file, 0o600)
    secret_file.write_bytes(os.urandom(32))  # the host was moved without its secret
    before = sandbox.api_calls()
    with running(prepared, sandbox, url, frozen_clock(TODAY)) as run:
        run.run_once()
        for tenant in prepared.tenants.values():
            _assert_paused_with_reconnect(run, tenant)
        assert sandbox.api_calls() == before  # nothing went to Xero with unusable tokens
        _settle_after_reconnecting(run, sandbox, prepared, sorted(prepared.tenants))


def test_token_sets_swapped_between_locations_are_refused_not_used_for_the_other_organisation(
    practice: tuple[Prepared, Sandbox, str],
) -> None:
    prepared, sandbox, url = practice
    first, second = sorted(prepared.tenants)
    one, two = _blob(prepared, first), _blob(prepared, second)
    _update(prepared, "UPDATE token_sets SET blob = ? WHERE connection_key = ?", two, first)
    _update(prepared, "UPDATE token_sets SET blob = ? WHERE connection_key = ?", one, second)
    before = sandbox.api_calls()
    with running(prepared, sandbox, url, frozen_clock(TODAY)) as run:
        run.run_once()
        for tenant in prepared.tenants.values():
            _assert_paused_with_reconnect(run, tenant)
        assert sandbox.api_calls() == before  # nothing went to Xero with unusable tokens
        _settle_after_reconnecting(run, sandbox, prepared, [first, second])


def test_a_row_claiming_an_organisation_its_tokens_were_not_granted_is_refused(
    practice: tuple[Prepared, Sandbox, str],
) -> None:
    prepared, sandbox, url = practice
    first, second = sorted(prepared.tenants)
    _update(  # the first location's set now says it reaches the second organisation too
        prepared,
        "UPDATE token_sets SET tenant_ids = ? WHERE connection_key = ?",
        f'["{prepared.tenants[first]}", "{prepared.tenants[second]}"]',
        first,
    )
    with running(prepared, sandbox, url, frozen_clock(TODAY)) as run:
        run.run_once()
        _assert_paused_with_reconnect(run, prepared.tenants[first])
        _settle_after_reconnecting(run, sandbox, prepared, [first])


def test_a_garbage_list_of_organisations_pauses_with_words_not_a_json_error(
    practice: tuple[Prepared, Sandbox, str],
) -> None:
    prepared, sandbox, url = practice
    first, _second = sorted(prepared.tenants)
    _update(
        prepared, "UPDATE token_sets SET tenant_ids = '{not json' WHERE connection_key = ?", first
    )
    with running(prepared, sandbox, url, frozen_clock(TODAY)) as run:
        run.run_once()
        _assert_paused_with_reconnect(run, prepared.tenants[first])
        messages = run.engine.ledger._q("SELECT coalesce(message, '') FROM rows")
        assert not any("JSONDecodeError" in m[0] or "Expecting" in m[0] for m in messages)
        assert not any("JSONDecodeError" in str(e) for e in run.engine.hook_errors)
        _settle_after_reconnecting(run, sandbox, prepared, [first])
