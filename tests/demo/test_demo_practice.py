"""The demo's practice builder, which the end-to-end tests and the benchmarks set up with too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pm_xero_plugin.demo.practice import codes_from_chart, practice_settings, shared_tenants
from pm_xero_plugin.inputs.settings import check_codes, parse_settings
from pm_xero_plugin.sandbox.orgs import new_org

LOCATIONS = [{"id": "loc-1", "name": "Bondi"}, {"id": "loc-2", "name": "Manly"}]


def test_locations_sharing_an_organisation_are_told_apart_by_a_tracking_option() -> None:
    tenants = {"loc-1": "org-a", "loc-2": "org-a"}

    settings = practice_settings(LOCATIONS, tenants, {"org-a": {"income": {}}}, None)

    assert shared_tenants(tenants) == {"org-a"}
    assert settings["tracking_category"] == "Location"
    assert settings["locations"]["loc-1"]["tracking_option"] == "Bondi"
    assert settings["locations"]["loc-2"]["tracking_option"] == "Manly"


def test_locations_with_their_own_organisations_need_no_tracking() -> None:
    tenants = {"loc-1": "org-a", "loc-2": "org-b"}

    settings = practice_settings(LOCATIONS, tenants, {}, "2025-01-01")

    assert shared_tenants(tenants) == set()
    assert settings["tracking_category"] is None
    assert settings["locations"]["loc-1"] == {
        "tenant_id": "org-a",
        "connection_enabled": True,
        "tracking_option": None,
    }
    assert settings["start_date"] == "2025-01-01"


def _chart() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    org = new_org("Demo Pets", "AU", str(uuid.uuid4()), datetime(2026, 1, 1, tzinfo=UTC))
    return org.accounts, org.tax_rates


def test_the_money_flows_codes_are_chosen_where_the_chart_has_their_accounts() -> None:
    accounts, rates = _chart()

    codes = codes_from_chart(accounts, rates)

    assert (codes["deposits"], codes["vouchers"]) == ("094", "095")
    assert (codes["card_fees"], codes["payout_bank"]) == ("406", "090")
    assert codes["payments"]["stripe"] == "093", "card payments wait in the clearing account"
    assert codes["payments"]["voucher"] == "095", "a voucher spent draws on the liability"
    raw = practice_settings(LOCATIONS, {"loc-1": "org-a", "loc-2": "org-b"}, {"org-a": codes}, None)
    settings, errors = parse_settings(raw, ["loc-1", "loc-2"])
    assert errors == []
    assert settings is not None
    assert check_codes("org-a", settings.account_codes["org-a"], accounts, rates) == []


def test_a_chart_without_the_money_flows_accounts_leaves_their_codes_out() -> None:
    accounts, rates = _chart()
    plain = [a for a in accounts if a["Code"] not in ("093", "094", "095", "406")]

    codes = codes_from_chart(plain, rates)

    assert not {"deposits", "vouchers", "card_fees", "payout_bank"} & set(codes)
    assert codes["payments"]["stripe"] == "092"
    assert codes["payments"]["voucher"] == "090"


def test_the_demos_settings_carry_the_money_flow_codes_and_prefixes() -> None:
    accounts, rates = _chart()
    codes = {"org-a": codes_from_chart(accounts, rates)}

    raw = practice_settings(LOCATIONS, {"loc-1": "org-a", "loc-2": "org-a"}, codes, "2026-01-01")
    settings, errors = parse_settings(raw, ["loc-1", "loc-2"])

    assert errors == []
    assert settings is not None
    assert (settings.prefixes.deposit, settings.prefixes.refund, settings.prefixes.payout) == (
        "DEP",
        "RF",
        "PO",
    )
