"""Settings: shape errors, account codes checked against the real chart, the start-date lock."""

from __future__ import annotations

from typing import Any

from support.ledger_helpers import ACCOUNTS, Practice, codes, settings

from pm_xero_plugin.inputs.settings import check_codes, parse_settings


def test_the_contract_example_parses() -> None:
    parsed, errors = parse_settings(settings(), ["syd", "lon"])
    assert errors == []
    assert parsed is not None
    assert parsed.tenant_for("syd") == "T1"
    assert parsed.tenant_for("lon") == "T2"
    assert parsed.connection_enabled("syd")


def test_unknown_keys_and_locations_are_errors_with_their_path() -> None:
    _, errors = parse_settings({**settings(), "start_dat": "2025-01-01"}, ["syd", "lon"])
    assert errors == ["start_dat: Unknown field."]
    raw = settings(locations={"syd": "T1", "mars": "T9"})
    assert parse_settings(raw, ["syd", "lon"])[1] == ["locations.mars: unknown location"]


def test_incomplete_account_codes_name_what_is_missing() -> None:
    raw = settings()
    raw["account_codes"]["T1"] = codes(income={"boarding": "201"}, payments={"cash": "090"})
    errors = parse_settings(raw, ["syd", "lon"])[1]
    assert "account_codes.T1.income.default: is required (the account for anything unmapped)" in (
        errors
    )
    assert any(
        e.startswith("account_codes.T1.payments: map every payment method; missing: card")
        for e in errors
    )


def test_shared_mode_refuses_two_organisations() -> None:
    raw = settings(organisation_mode="shared")
    assert parse_settings(raw, ["syd", "lon"])[1] == [
        "tenant_id: shared mode uses one organisation, but 2 are given: T1, T2"
    ]


def test_shared_mode_sends_every_location_to_the_one_organisation() -> None:
    raw: dict[str, Any] = {
        "enabled": True,
        "organisation_mode": "shared",
        "tenant_id": "T1",
        "tracking_category": "Location",
        "locations": {"syd": {"tracking_option": "Sydney"}},
    }
    parsed, errors = parse_settings(raw, ["syd", "lon"])
    assert errors == []
    assert parsed is not None
    assert parsed.tenant_for("lon") == "T1"
    assert parsed.connection_enabled("lon")


def test_missing_archived_and_non_bank_payment_codes_are_settings_errors() -> None:
    parsed, _ = parse_settings(settings(), ["syd", "lon"])
    assert parsed is not None
    good = parsed.account_codes["T1"]
    assert check_codes("T1", good, ACCOUNTS) == []
    bad = parse_settings(
        {
            **settings(),
            "account_codes": {
                "T1": codes(
                    income={"default": "999", "boarding": "299"},
                    payments={**codes()["payments"], "cash": "200"},
                )
            },
        },
        ["syd", "lon"],
    )[0]
    assert bad is not None
    errors = check_codes("T1", bad.account_codes["T1"], ACCOUNTS)
    assert "account_codes.T1.income.default: code '999' does not exist in Xero" in errors
    assert any(
        e.startswith("account_codes.T1.income.boarding: account '299' (Old sales) is archived")
        for e in errors
    )
    assert any(
        e.startswith("account_codes.T1.payments.cash: account '200' (Sales) is a REVENUE")
        for e in errors
    )


def test_validate_settings_through_the_host_checks_codes_against_the_cached_chart(
    practice: Practice,
) -> None:
    practice.setup()
    raw = settings()
    raw["account_codes"]["T2"] = codes(rounding="999")
    assert practice.host.save_plugin_settings("xero", raw) == [
        "account_codes.T2.rounding: code '999' does not exist in Xero"
    ]


def test_codes_cannot_be_verified_before_connecting_and_that_is_a_gate_not_an_error(
    practice: Practice,
) -> None:
    raw = settings()
    raw["account_codes"]["T1"] = codes(rounding="999")
    assert practice.host.save_plugin_settings("xero", raw) == []
    status = practice.host.sync_status()
    assert status is not None
    org = next(o for o in status["organisations"] if o["tenant_id"] == "T1")
    assert org["account_codes"] == {
        "state": "unverified",
        "detail": "account codes not verified yet: connect to Xero",
    }
    practice.connect("T1")
    org = next(o for o in practice.status()["organisations"] if o["tenant_id"] == "T1")
    assert org["account_codes"]["state"] == "invalid"
    assert "rounding: code '999'" in org["account_codes"]["detail"]


def test_an_account_archived_in_xero_later_is_found_when_it_reconnects(
    practice: Practice,
) -> None:
    practice.setup()
    practice.accounts.charts["T1"] = [
        {**a, "Status": "ARCHIVED"} if a["Code"] == "201" else a for a in ACCOUNTS
    ]
    practice.connect("T1")  # a (re)connection re-reads the chart, whatever the cache holds
    detail = practice.ledger.tenant("T1").codes_detail
    assert detail
    assert detail.startswith("account_codes.T1.income.boarding: account '201'")
    assert practice.ledger.tenant("T1").codes_state == "invalid"


def test_organisations_and_their_locations_are_listed_for_the_auth_code() -> None:
    parsed, _ = parse_settings(settings(locations={"syd": "T1", "lon": "T1"}), ["syd", "lon"])
    assert parsed is not None
    assert parsed.tenant_ids() == ["T1"]
    assert parsed.locations_for_tenant("T1") == ["syd", "lon"]
    assert parsed.locations_for_tenant("T2") == []
