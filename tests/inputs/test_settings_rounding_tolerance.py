"""The rounding tolerance an admin sets is the one in force, zero included."""

from __future__ import annotations

from decimal import Decimal

from support.ledger_helpers import settings

from pm_xero_plugin.inputs.settings import parse_settings


def test_a_zero_rounding_tolerance_means_no_rounding_line_not_the_default() -> None:
    parsed, errors = parse_settings(dict(settings(), rounding_tolerance="0"))
    assert errors == []
    assert parsed is not None
    assert parsed.rounding_tolerance == Decimal("0")


def test_an_unset_rounding_tolerance_is_two_cents() -> None:
    raw = settings()
    raw.pop("rounding_tolerance", None)
    parsed, errors = parse_settings(raw)
    assert errors == []
    assert parsed is not None
    assert parsed.rounding_tolerance == Decimal("0.02")
