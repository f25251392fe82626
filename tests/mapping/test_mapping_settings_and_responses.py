"""OrgMapping from the plugin settings (Xero's answers: tests/xero/test_reading_xero_answers)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.mapping_strategies import TENANT, settings_dict

from pm_xero_plugin.mapping.config import MappingError, OrgMapping, Tracking


def test_settings_are_flattened_for_one_organisation() -> None:
    m = OrgMapping.from_settings(settings_dict(), TENANT, "loc-syd")
    assert m.default_income == "200"
    assert m.income["grooming"] == "203"
    assert "default" not in m.income
    assert m.payments["cash"] == "090"
    assert (m.credit_notes, m.overpayments, m.rounding) == ("210", "610", "860")
    assert m.rounding_tolerance == Decimal("0.02")
    assert m.tracking is None
    assert m.currency is None


def test_shared_mode_tracking_comes_from_the_location() -> None:
    m = OrgMapping.from_settings(settings_dict(shared=True), TENANT, "loc-syd")
    assert m.tracking == Tracking("Location", "Sydney")


def test_tax_rate_keys_are_canonical() -> None:
    settings = settings_dict()
    settings["account_codes"][TENANT]["tax_types"] = {"10.0": "OUTPUT", "0.00": "EXEMPTOUTPUT"}
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    assert dict(m.tax_types) == {"10": "OUTPUT", "0": "EXEMPTOUTPUT"}


def test_organisation_without_account_codes_is_an_error() -> None:
    with pytest.raises(MappingError, match="no account codes") as caught:
        OrgMapping.from_settings(settings_dict(), "another-tenant", "loc-syd")
    assert caught.value.field == "account_codes"


@pytest.mark.parametrize(("field", "value"), [("rounding_tolerance", "-1"), ("currency", "AU")])
def test_malformed_options_are_errors(field: str, value: str) -> None:
    with pytest.raises(MappingError) as caught:
        OrgMapping.from_settings({**settings_dict(), field: value}, TENANT, "loc-syd")
    assert caught.value.field == field


def test_mapping_cannot_change_once_built() -> None:
    m = OrgMapping.from_settings(settings_dict(), TENANT, "loc-syd")
    with pytest.raises(TypeError):
        m.payments["cash"] = "999"  # type: ignore[index]
