"""The account codes of the money flows (deposits, gift vouchers, card fees, the payout bank):
optional in the settings, each checked against the chart for what it is for, and the voucher
payment method held to the voucher account; the number prefixes of deposits, refunds, payouts."""

from __future__ import annotations

from typing import Any

import pytest
from support.ledger_helpers import ACCOUNTS, codes, settings

from pm_xero_plugin.inputs.settings import AccountCodes, check_codes, parse_settings
from pm_xero_plugin.mapping.config import MappingError, OrgMapping

CHART: list[dict[str, Any]] = [
    *ACCOUNTS,
    {"Code": "094", "Name": "Customer deposits", "Type": "CURRLIAB", "Class": "LIABILITY"},
    {
        "Code": "095",
        "Name": "Gift vouchers",
        "Type": "CURRLIAB",
        "Class": "LIABILITY",
        "EnablePaymentsToAccount": True,
    },
    {"Code": "406", "Name": "Card processing fees", "Type": "EXPENSE", "Class": "EXPENSE"},
    {"Code": "091", "Name": "Business cheque", "Type": "BANK", "Class": "ASSET"},
]
MONEY_FLOWS = {"deposits": "094", "vouchers": "095", "card_fees": "406", "payout_bank": "091"}


def money_flow_codes(**override: Any) -> dict[str, Any]:
    """Every code mapped, the voucher method drawing on the voucher account."""
    base = codes(**MONEY_FLOWS)
    base["payments"] = {**base["payments"], "voucher": "095"}
    return {**base, **override}


def parsed_codes(raw_codes: dict[str, Any]) -> AccountCodes:
    raw = settings()
    raw["account_codes"]["T1"] = raw_codes
    parsed, errors = parse_settings(raw, ["syd", "lon"])
    assert errors == []
    assert parsed is not None
    return parsed.account_codes["T1"]


def test_the_money_flow_codes_are_optional_and_unset_by_default() -> None:
    got = parsed_codes(codes())
    assert (got.deposits, got.vouchers, got.card_fees, got.payout_bank) == (None,) * 4
    assert [path for path, _, _ in got.all_codes()] == [
        "income.boarding",
        "income.default",
        "credit_notes",
        *(f"payments.{method}" for method in sorted(got.payments)),
        "overpayments",
        "rounding",
    ]


def test_a_money_flow_code_left_blank_on_the_form_is_not_set() -> None:
    got = parsed_codes(codes(deposits="", vouchers="  ", card_fees=None, payout_bank="091"))
    assert (got.deposits, got.vouchers, got.card_fees, got.payout_bank) == (None, None, None, "091")


def test_each_money_flow_code_set_is_checked_for_what_it_is_for() -> None:
    got = parsed_codes(money_flow_codes())
    assert got.all_codes()[-4:] == [
        ("deposits", "094", "liability"),
        ("vouchers", "095", "voucher"),
        ("card_fees", "406", "expense"),
        ("payout_bank", "091", "bank"),
    ]
    assert check_codes("T1", got, CHART) == []


def test_a_money_flow_code_too_long_is_a_settings_error_with_its_path() -> None:
    raw = settings()
    raw["account_codes"]["T1"] = codes(card_fees="12345678901")
    assert parse_settings(raw, ["syd", "lon"])[1] == [
        "account_codes.T1.card_fees: Length must be between 1 and 10."
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"card_fees": "200"},
            "account_codes.T1.card_fees: account '200' (Sales) is a REVENUE account; the card "
            "processor's fees need an EXPENSE account",
        ),
        (
            {"deposits": "092"},
            "account_codes.T1.deposits: account '092' (Card clearing) is a CURRENT account; "
            "deposits held for customers are owed to them and need a LIABILITY account",
        ),
        (
            {"payout_bank": "092"},
            "account_codes.T1.payout_bank: account '092' (Card clearing) is a CURRENT account; "
            "payouts land in a BANK account",
        ),
        (
            {"deposits": "999"},
            "account_codes.T1.deposits: code '999' does not exist in Xero",
        ),
        (
            {"card_fees": "299"},
            "account_codes.T1.card_fees: account '299' (Old sales) is archived in Xero; restore "
            "it there or choose another code",
        ),
    ],
)
def test_a_money_flow_code_of_the_wrong_kind_says_what_it_needs(
    change: dict[str, str], error: str
) -> None:
    assert check_codes("T1", parsed_codes(money_flow_codes(**change)), CHART) == [error]


def test_the_voucher_account_must_be_a_liability_that_takes_payments() -> None:
    chart = [{**a, "EnablePaymentsToAccount": False} if a["Code"] == "095" else a for a in CHART]
    assert check_codes("T1", parsed_codes(money_flow_codes()), chart) == [
        "account_codes.T1.payments.voucher: account '095' (Gift vouchers) is a CURRLIAB account; "
        "payments need a bank account, or one with 'Enable payments to this account' ticked in "
        "Xero",
        "account_codes.T1.vouchers: account '095' (Gift vouchers) is a CURRLIAB account without "
        "payments enabled; a redeemed voucher is a payment into it, so tick 'Enable payments to "
        "this account' on it in Xero",
    ]
    vouchers_in_the_bank = money_flow_codes(vouchers="090")
    vouchers_in_the_bank["payments"]["voucher"] = "090"
    assert check_codes("T1", parsed_codes(vouchers_in_the_bank), CHART) == [
        "account_codes.T1.vouchers: account '090' (Bank) is a BANK account; gift vouchers sold "
        "for customers are owed to them and need a LIABILITY account"
    ]


def test_the_voucher_payment_method_must_draw_on_the_voucher_account() -> None:
    mismatched = money_flow_codes()
    mismatched["payments"]["voucher"] = "090"
    assert check_codes("T1", parsed_codes(mismatched), CHART) == [
        "account_codes.T1.payments.voucher: account '090' is not the gift-voucher account '095' "
        "(vouchers); a redeemed voucher draws on what was sold, so map the voucher payment "
        "method to '095' too"
    ]
    no_voucher_account = codes()  # vouchers unset: redemptions may go anywhere payments may
    assert check_codes("T1", parsed_codes(no_voucher_account), CHART) == []


def test_deposits_refunds_and_payouts_have_number_prefixes() -> None:
    parsed, _ = parse_settings(settings(), ["syd", "lon"])
    assert parsed is not None
    prefixes = parsed.prefixes
    assert (prefixes.deposit, prefixes.refund, prefixes.payout) == ("DEP", "RF", "PO")
    raw = settings(prefixes={"deposit": "D-", "refund": "R", "payout": "SP"})
    parsed, errors = parse_settings(raw, ["syd", "lon"])
    assert errors == []
    assert parsed is not None
    assert (parsed.prefixes.deposit, parsed.prefixes.refund, parsed.prefixes.payout) == (
        "D-",
        "R",
        "SP",
    )
    assert parsed.prefixes.invoice == "INV"
    bad = settings(prefixes={"payout": "PO 1"})
    assert parse_settings(bad, ["syd", "lon"])[1] == [
        "prefixes.payout: String does not match expected pattern."
    ]


def test_the_org_mapping_carries_the_money_flow_codes() -> None:
    raw = settings()
    raw["account_codes"]["T1"] = money_flow_codes()
    m = OrgMapping.from_settings(raw, "T1", "syd")
    assert (m.deposits, m.vouchers, m.card_fees, m.payout_bank) == ("094", "095", "406", "091")
    assert m.require("card_fees") == "406"
    assert m.require("payout_bank", where="payout PO7") == "091"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("deposits", "a LIABILITY account"),
        ("vouchers", "a LIABILITY account with payments enabled"),
        ("card_fees", "the EXPENSE account"),
        ("payout_bank", "the BANK account"),
    ],
)
def test_a_money_flow_code_asked_for_and_unset_names_the_setting(name: str, kind: str) -> None:
    m = OrgMapping.from_settings(settings(), "T1", "syd")
    with pytest.raises(MappingError) as caught:
        m.require(name, where="payout PO7")  # type: ignore[arg-type]
    assert caught.value.field == f"account_codes.{name}"
    assert caught.value.message.startswith("payout PO7: no account code is set for ")
    assert f"(account_codes.T1.{name}) in Xero organisation T1; choose {kind}" in str(caught.value)
