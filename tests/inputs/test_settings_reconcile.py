"""The reconciliation's settings: what the add-on does with a Xero-side change, the share of
Xero's calls it may use and how often it reads; defaults, and errors naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from support.ledger_helpers import settings

from pm_xero_plugin.core.books import XERO_CHANGES
from pm_xero_plugin.inputs.settings import parse_settings


def _errors(**given: Any) -> list[str]:
    parsed, errors = parse_settings(dict(settings(), **given))
    assert parsed is None
    return errors


def test_unset_the_add_on_reports_uses_a_fifth_of_the_calls_and_reads_daily() -> None:
    parsed, errors = parse_settings(settings())
    assert errors == []
    assert parsed is not None
    assert (parsed.xero_changes, parsed.reconcile_share, parsed.reconcile_hours) == (
        "report",
        Decimal("0.2"),
        24,
    )


@pytest.mark.parametrize("choice", XERO_CHANGES)
def test_each_xero_changes_choice_is_taken(choice: str) -> None:
    parsed, errors = parse_settings(dict(settings(), xero_changes=choice))
    assert errors == []
    assert parsed is not None
    assert parsed.xero_changes == choice


def test_share_and_hours_as_given_zero_hours_is_on_demand_only() -> None:
    parsed, errors = parse_settings(dict(settings(), reconcile_share="1", reconcile_hours=0))
    assert errors == []
    assert parsed is not None
    assert (parsed.reconcile_share, parsed.reconcile_hours) == (Decimal(1), 0)


def test_an_unknown_choice_is_refused_naming_the_field() -> None:
    assert _errors(xero_changes="overwrite") == [
        "xero_changes: must be one of: report, resend, accept"
    ]


@pytest.mark.parametrize("share", ["0", "1.01", "-0.5"])
def test_a_share_outside_zero_to_one_is_refused(share: str) -> None:
    assert _errors(reconcile_share=share) == [
        "reconcile_share: must be more than 0 and at most 1 (a share of the day's 5,000 calls)"
    ]


def test_a_share_as_a_float_or_with_too_many_places_is_refused() -> None:
    assert _errors(reconcile_share=0.5) == [
        "reconcile_share: must be a decimal string such as '12.50'"
    ]
    assert _errors(reconcile_share="0.12345") == ["reconcile_share: at most 4 decimal places"]


@pytest.mark.parametrize("hours", [-1, 10_000])
def test_hours_out_of_range_are_refused(hours: int) -> None:
    assert _errors(reconcile_hours=hours) == [
        "reconcile_hours: must be a whole number of hours from 0 (only on demand) to 8784"
    ]


@pytest.mark.parametrize("hours", ["24", 1.5, True])
def test_hours_that_are_not_a_whole_number_are_refused(hours: object) -> None:
    assert _errors(reconcile_hours=hours) == [
        "reconcile_hours: must be a whole number of hours (such as 24)"
    ]
