"""The admin's actions as one call (``sync.actions.perform``): each action does what it says and
says it, naming the record; each admin mistake is an answer in words, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.admin_practice import (
    THEIR_CONTACT,
    Running,
    running_practice,
    sandbox_practice,
)

from pm_xero_plugin.ledger.states import State
from pm_xero_plugin.sync.actions import DISCONNECTED_REASON, perform


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Running]:
    with running_practice(tmp_path / "pm") as running:
        yield running


def state(p: Running, row_id: int) -> str:
    row = p.engine.ledger.get(row_id)
    assert row is not None
    return row.state


# -- each action ---------------------------------------------------------------------------------


def test_retry_of_a_failed_row_sends_it_again_and_says_the_move(practice: Running) -> None:
    result = perform(practice.engine, None, "retry", {"row_id": str(practice.failed_row)})
    assert result.ok, result.message
    assert result.message.startswith(f"row {practice.failed_row} (invoice #3 in T1): retried")
    assert "failed -> " in result.message
    assert state(practice, practice.failed_row) != State.FAILED


def test_retry_by_kind_retries_every_failed_row_of_it(practice: Running) -> None:
    result = perform(practice.engine, None, "retry", {"kind": "invoice", "tenant_id": "T1"})
    assert result.ok
    assert result.message == "retried 1 row (invoice in T1)"
    assert state(practice, practice.failed_row) != State.FAILED


def test_resolve_counts_a_failure_fixed_in_xero_as_synced(practice: Running) -> None:
    result = perform(practice.engine, None, "resolve", {"row_id": practice.failed_row})
    assert result.ok
    assert result.message.endswith("resolved, failed -> synced")
    assert state(practice, practice.failed_row) == State.SYNCED


def test_exclude_never_sends_the_record(practice: Running) -> None:
    result = perform(practice.engine, None, "exclude", {"row_id": practice.failed_row})
    assert result.ok
    assert result.message.endswith("excluded, failed -> excluded")


def test_include_parent_sends_the_invoice_dated_before_the_start_date(practice: Running) -> None:
    result = perform(practice.engine, None, "include_parent", {"row_id": practice.held_row})
    assert result.ok, result.message
    assert "(payment #1 in T1)" in result.message
    assert "invoice i1 is sent too" in result.message
    invoice = practice.engine.ledger.find("invoice", "i1", "T1")
    assert invoice is not None
    assert invoice.include_before_start


def test_link_contact_links_the_held_contact_to_the_one_xero_has(practice: Running) -> None:
    result = perform(practice.engine, None, "link_contact", {"row_id": practice.clash_row})
    assert result.ok, result.message
    assert THEIR_CONTACT["ContactID"] in result.message
    row = practice.engine.ledger.get(practice.clash_row)
    assert row is not None
    assert row.xero_id == THEIR_CONTACT["ContactID"]


def test_create_distinct_names_the_contact_it_will_create(practice: Running) -> None:
    result = perform(practice.engine, None, "create_distinct", {"row_id": practice.clash_row})
    assert result.ok, result.message
    assert "to be created as 'Ann Lee3 (C3, London)'" in result.message


def test_create_distinct_takes_the_admins_name(practice: Running) -> None:
    params = {"row_id": practice.clash_row, "name": "  Ann  Lee (Kennel C3) "}
    result = perform(practice.engine, None, "create_distinct", params)
    assert result.ok
    assert "'Ann Lee (Kennel C3)'" in result.message


def test_refresh_accounts_reads_the_chart_again_and_says_the_verdict(practice: Running) -> None:
    result = perform(practice.engine, None, "refresh_accounts", {"tenant_id": "T1"})
    assert result.ok, result.message
    assert result.message == (
        "organisation T1: chart of accounts read again (6 accounts, "
        f"{len(practice.engine.accounts_source.tax_rates('T1'))} tax rates, "  # type: ignore[union-attr]
        "0 tracking categories); account codes ok"
    )


# -- each mistake --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["retry", "resolve", "exclude", "include_parent", "link_contact", "create_distinct"]
)
def test_an_unknown_row_is_named(practice: Running, action: str) -> None:
    result = perform(practice.engine, None, action, {"row_id": 99999})
    assert not result.ok
    assert "no ledger row 99999" in result.message


@pytest.mark.parametrize(
    "action", ["resolve", "exclude", "include_parent", "link_contact", "create_distinct"]
)
def test_a_missing_row_id_is_said(practice: Running, action: str) -> None:
    result = perform(practice.engine, None, action, {})
    assert not result.ok
    assert f"{action} needs row_id" in result.message


def test_a_row_id_that_is_no_number_is_said(practice: Running) -> None:
    result = perform(practice.engine, None, "resolve", {"row_id": "seven"})
    assert not result.ok
    assert result.message == "row_id must be a ledger row number, not 'seven'"


@pytest.mark.parametrize("row_id", ["9" * 30, "²", "-3", 10**30])
def test_a_row_id_no_ledger_can_hold_is_said_not_raised(practice: Running, row_id: object) -> None:
    result = perform(practice.engine, None, "retry", {"row_id": row_id})
    assert not result.ok
    assert result.message.startswith("row_id must be a ledger row number")


def test_retry_with_nothing_to_match_is_said(practice: Running) -> None:
    result = perform(practice.engine, None, "retry", {})
    assert not result.ok
    assert "retry needs row_id, or kind and/or tenant_id" in result.message


def test_retry_of_a_synced_row_is_refused_naming_it(practice: Running) -> None:
    result = perform(practice.engine, None, "retry", {"row_id": practice.synced_row})
    assert not result.ok
    assert result.message.startswith(f"row {practice.synced_row} (invoice #2 in T1): it is synced")
    assert state(practice, practice.synced_row) == State.SYNCED


def test_a_move_the_state_machine_refuses_is_said(practice: Running) -> None:
    result = perform(practice.engine, None, "exclude", {"row_id": practice.synced_row})
    assert not result.ok
    assert result.message == (
        f"row {practice.synced_row} (invoice #2 in T1) is synced: it cannot be excluded"
    )


def test_an_unknown_organisation_and_kind_are_named(practice: Running) -> None:
    unknown = perform(practice.engine, None, "retry", {"tenant_id": "T9"})
    assert not unknown.ok
    assert unknown.message == "unknown organisation 'T9' (known: T1, T2)"
    kind = perform(practice.engine, None, "retry", {"kind": "voucher"})
    assert not kind.ok
    assert kind.message.startswith("unknown kind 'voucher'")


def test_retry_of_one_row_with_a_kind_too_is_refused(practice: Running) -> None:
    params = {"row_id": practice.failed_row, "kind": "invoice"}
    result = perform(practice.engine, None, "retry", params)
    assert not result.ok
    assert state(practice, practice.failed_row) == State.FAILED


def test_include_parent_of_a_row_without_one_is_said(practice: Running) -> None:
    result = perform(practice.engine, None, "include_parent", {"row_id": practice.failed_row})
    assert not result.ok
    assert result.message == (
        f"row {practice.failed_row} (invoice #3 in T1): row {practice.failed_row} (invoice) has "
        "no parent invoice"
    )


def test_linking_a_row_that_is_no_contact_is_refused(practice: Running) -> None:
    result = perform(practice.engine, None, "link_contact", {"row_id": practice.failed_row})
    assert not result.ok
    assert "only a contact can be linked" in result.message


def test_linking_to_a_contact_id_that_is_no_guid_is_refused(practice: Running) -> None:
    params = {"row_id": practice.clash_row, "contact_id": "not-a-guid"}
    result = perform(practice.engine, None, "link_contact", params)
    assert not result.ok
    assert "'not-a-guid' is not a Xero ContactID" in result.message
    assert state(practice, practice.clash_row) == State.WAITING


def test_an_unknown_action_lists_the_actions(practice: Running) -> None:
    result = perform(practice.engine, None, "delete_everything", {})
    assert not result.ok
    assert result.message.startswith("unknown action 'delete_everything' (the actions: ")
    assert "refresh_accounts" in result.message


def test_refresh_accounts_needs_an_organisation_it_knows(practice: Running) -> None:
    assert "needs tenant_id" in perform(practice.engine, None, "refresh_accounts", {}).message
    result = perform(practice.engine, None, "refresh_accounts", {"tenant_id": "nope"})
    assert not result.ok
    assert "unknown organisation 'nope'" in result.message


def test_refresh_accounts_that_xero_cannot_answer_keeps_the_last_chart(practice: Running) -> None:
    class Unreachable:
        def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
            raise LookupError(f"no Xero connection reaches organisation {tenant_id}")

        tax_rates = tracking_categories = accounts

    practice.engine.set_accounts_source(Unreachable())
    result = perform(practice.engine, None, "refresh_accounts", {"tenant_id": "T1"})
    assert not result.ok
    assert result.message == (
        "organisation T1: its chart of accounts could not be read from Xero (no Xero "
        "connection reaches organisation T1); the last one read is kept"
    )
    assert practice.engine.ledger.tenant("T1").codes_state == "ok"


def test_disconnect_without_a_xero_app_or_of_an_unknown_location_is_said(
    practice: Running,
) -> None:
    missing = perform(practice.engine, None, "disconnect", {})
    assert missing.message == "disconnect needs location_id: the location to disconnect"
    unknown = perform(practice.engine, None, "disconnect", {"location_id": "paris"})
    assert unknown.message == "unknown location 'paris' (known: lon, syd)"
    no_app = perform(practice.engine, None, "disconnect", {"location_id": "syd"})
    assert not no_app.ok
    assert no_app.message.startswith("Sydney: no Xero app is configured")


def test_an_unexpected_error_is_an_answer_not_a_traceback(
    practice: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(row_id: int) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(practice.engine, "resolve", broken)
    result = perform(practice.engine, None, "resolve", {"row_id": practice.failed_row})
    assert not result.ok
    assert result.message == "resolve failed unexpectedly (RuntimeError); see the add-on's log"


# -- through Xero (the in-process sandbox) --------------------------------------------------------


def test_disconnect_deletes_the_connection_in_xero_and_forgets_the_tokens(tmp_path: Path) -> None:
    with sandbox_practice(tmp_path / "pm", {"syd": 0, "lon": 1}) as p:
        runtime = p.xero.runtime
        mine, theirs = p.tenants["syd"], p.tenants["lon"]
        assert mine in p.xero.sandbox.identity.connections

        result = perform(p.engine, runtime, "disconnect", {"location_id": "syd"})

        assert result.ok, result.message
        assert result.message == (
            f"Sydney: organisation {mine} disconnected in Xero (the app no longer reaches it); "
            "its stored connection is forgotten"
        )
        assert mine not in p.xero.sandbox.identity.connections
        assert theirs in p.xero.sandbox.identity.connections
        assert runtime.tokens.load("syd") is None
        assert runtime.tokens.load("lon") is not None
        record = p.engine.ledger.tenant(mine)
        assert not record.connected
        assert record.connection_reason == DISCONNECTED_REASON


def test_disconnect_keeps_an_organisation_another_location_sends_to(tmp_path: Path) -> None:
    with sandbox_practice(tmp_path / "pm", {"syd": 0, "lon": 0}) as p:
        shared = p.tenants["syd"]

        result = perform(p.engine, p.xero.runtime, "disconnect", {"location_id": "syd"})

        assert result.ok, result.message
        assert result.message == (
            f"Sydney: organisation {shared} stays connected: lon still send to it; its stored "
            "connection is forgotten"
        )
        assert shared in p.xero.sandbox.identity.connections
        assert p.engine.ledger.tenant(shared).connected


def test_refresh_accounts_reads_the_organisations_chart_from_xero(tmp_path: Path) -> None:
    with sandbox_practice(tmp_path / "pm", {"syd": 0}) as p:
        tenant = p.tenants["syd"]
        result = perform(p.engine, p.xero.runtime, "refresh_accounts", {"tenant_id": tenant})
        assert result.ok, result.message
        assert result.message.startswith(f"organisation {tenant}: chart of accounts read again (")
        assert result.message.endswith("account codes ok")
        cached = p.engine.ledger.cached_chart(tenant, "accounts")
        assert cached is not None
        assert len(cached[1]) > 5


def test_include_parent_invoice_as_the_failures_list_names_it_works_too(practice: Running) -> None:
    result = perform(practice.engine, None, "include_parent_invoice", {"row_id": practice.held_row})
    assert result.ok, result.message
    assert "given its parent invoice" in result.message
