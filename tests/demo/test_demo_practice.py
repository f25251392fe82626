"""The demo's practice builder, which the end-to-end tests and the benchmarks set up with too."""

from __future__ import annotations

from pm_xero_plugin.demo.practice import practice_settings, shared_tenants

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
