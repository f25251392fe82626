"""OrgMapping from the plugin settings (Xero's answers: tests/xero/test_reading_xero_answers)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.mapping_strategies import TENANT, settings_dict

from pm_xero_plugin.inputs.settings import Prefixes, parse_settings
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


def test_the_mapping_reads_the_parsed_settings_as_the_tree_gives_them() -> None:
    parsed, errors = parse_settings(settings_dict(shared=True))
    assert errors == []
    assert parsed is not None
    from_parsed = OrgMapping.from_settings(parsed, TENANT, "loc-syd")
    assert from_parsed == OrgMapping.from_settings(settings_dict(shared=True), TENANT, "loc-syd")


def test_settings_are_parsed_once_for_every_row_that_reads_them() -> None:
    first = OrgMapping.from_settings(settings_dict(), TENANT, "loc-syd")
    again = OrgMapping.from_settings(settings_dict(), TENANT, "loc-mel")
    assert again.prefixes is first.prefixes  # one parse, one Settings object


def test_prefixes_are_typed_once_and_an_empty_one_is_kept() -> None:
    settings = settings_dict()
    settings["prefixes"] = {"client": "", "invoice": "PM-"}
    parsed, _ = parse_settings(settings)
    assert parsed is not None
    assert parsed.prefixes == Prefixes(client="", invoice="PM-", credit_note="CN", payment="PAY")
    assert OrgMapping.from_settings(parsed, TENANT, "loc-syd").prefixes.client == ""


def test_settings_the_page_would_refuse_are_a_mapping_error_naming_the_setting() -> None:
    settings = settings_dict()
    del settings["account_codes"][TENANT]["rounding"]
    with pytest.raises(MappingError, match="not valid") as caught:
        OrgMapping.from_settings(settings, TENANT, "loc-syd")
    assert caught.value.field == f"account_codes.{TENANT}.rounding"
