"""Payouts, deposits and refunds from the host are validated like the other records: each rule
refused with a field-level reason (``amount: must be gross less fees …``), a good record kept as
sent (decimal strings, ISO dates) without the host's unknown keys."""

from __future__ import annotations

from typing import Any

import pytest

from pm_xero_plugin.inputs.records import validate_record

PAYOUT: dict[str, Any] = {
    "id": "po7",
    "number": 7,
    "location_id": "syd",
    "method": "stripe",
    "paid_date": "2025-03-10",
    "currency": "AUD",
    "gross": "500.00",
    "fees": "12.30",
    "amount": "487.70",
    "payment_ids": ["p1", "p2", "p3"],
    "refund_ids": ["r1"],
    "processor_reference": "po_1Nx",
    "updated_at": "2025-03-10T09:00:00+11:00",
}
DEPOSIT: dict[str, Any] = {
    "id": "d12",
    "number": 12,
    "location_id": "syd",
    "client_id": "c1",
    "paid_date": "2025-02-01",
    "amount": "100.00",
    "currency": "AUD",
    "method": "card",
    "allocations": [],
    "reference": "Stay 4-8 May",
    "updated_at": "2025-02-01T09:00:00+11:00",
}
REFUND: dict[str, Any] = {
    "id": "r3",
    "number": 3,
    "location_id": "syd",
    "client_id": "c1",
    "paid_date": "2025-03-02",
    "amount": "40.00",
    "currency": "AUD",
    "method": "card",
    "deposit_id": "d12",
    "reason": "Booking cancelled",
    "updated_at": "2025-03-02T09:00:00+11:00",
}


def errors(kind: str, record: Any) -> list[str]:
    payload, found = validate_record(kind, record, ["syd"])
    assert payload is None
    return found


@pytest.mark.parametrize(
    ("kind", "record"), [("payout", PAYOUT), ("deposit", DEPOSIT), ("refund", REFUND)]
)
def test_a_good_money_flow_record_is_kept_as_sent_minus_unknown_keys(
    kind: str, record: dict[str, Any]
) -> None:
    payload, found = validate_record(kind, {**record, "new_host_field": 1}, ["syd"])
    assert found == []
    assert payload == record


def test_a_payout_that_does_not_add_up_is_refused_with_the_numbers() -> None:
    assert errors("payout", {**PAYOUT, "amount": "487.71"}) == [
        "amount: must be gross less fees (500.00 - 12.30 = 487.70), not 487.71"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fees": "-0.10", "amount": "500.10"}, "fees: must be ≥ 0"),
        ({"fees": "500.00", "amount": "0.00"}, "amount: must be ≥ 0.01"),
        ({"gross": "500.001"}, "gross: at most 2 decimal places"),
        ({"amount": 487.7}, "amount: must be a decimal string such as '12.50'"),
        ({"paid_date": "10/03/2025"}, "paid_date: must be a valid date"),
        ({"method": "cheque"}, "method: Must be one of: cash, card, eftpos, bank_transfer, "),
        ({"payment_ids": []}, "payment_ids: Length must be between 1 and 10000."),
        ({"payment_ids": "p1"}, "payment_ids: must be a valid list"),
        ({"payment_ids": ["p1", 2]}, "payment_ids.1: must be a valid string"),
        ({"payment_ids": ["p1", "p2", "p1"]}, "payment_ids: payment 'p1' appears twice"),
        ({"refund_ids": ["r1", "r1"]}, "refund_ids: refund 'r1' appears twice"),
        ({"processor_reference": "x" * 256}, "processor_reference: Longer than maximum length"),
    ],
)
def test_each_payout_rule_is_refused_with_its_field(change: dict[str, Any], message: str) -> None:
    found = errors("payout", {**PAYOUT, **change})
    assert len(found) == 1
    assert found[0].startswith(message)


def test_a_payout_may_net_off_no_refunds() -> None:
    record = {key: value for key, value in PAYOUT.items() if key != "refund_ids"}
    assert validate_record("payout", record, ["syd"]) == (record, [])
    assert validate_record("payout", {**record, "refund_ids": None}, ["syd"])[1] == []
    assert validate_record("payout", {**record, "fees": "0.00", "amount": "500.00"})[1] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "0.00"}, "amount: must be ≥ 0.01"),
        (
            {"allocations": [{"invoice_id": "i1", "amount": "40.00"}] * 2},
            "allocations: an invoice appears twice",
        ),
        (
            {
                "allocations": [
                    {"invoice_id": "i1", "amount": "60.00"},
                    {"invoice_id": "i2", "amount": "40.01"},
                ]
            },
            "allocations: the allocations add up to more than the amount",
        ),
        ({"allocations": [{"invoice_id": "i1", "amount": "0.00"}]}, "allocations.0.amount: "),
        ({"allocations": None}, "allocations: Field may not be null."),
        ({"reference": "r" * 256}, "reference: Longer than maximum length"),
    ],
)
def test_each_deposit_rule_is_refused_with_its_field(change: dict[str, Any], message: str) -> None:
    found = errors("deposit", {**DEPOSIT, **change})
    assert len(found) == 1
    assert found[0].startswith(message)


def test_a_deposit_may_be_applied_in_full_to_invoices() -> None:
    applied = [{"invoice_id": "i1", "amount": "60.00"}, {"invoice_id": "i2", "amount": "40.00"}]
    payload, found = validate_record("deposit", {**DEPOSIT, "allocations": applied}, ["syd"])
    assert found == []
    assert payload is not None
    assert payload["allocations"] == applied


@pytest.mark.parametrize("credit", ["credit_note_id", "payment_id", "deposit_id"])
def test_a_refund_comes_out_of_any_one_credit(credit: str) -> None:
    record = {key: value for key, value in REFUND.items() if key != "deposit_id"}
    payload, found = validate_record("refund", {**record, credit: "x1"}, ["syd"])
    assert found == []
    assert payload is not None
    assert payload[credit] == "x1"


def test_a_refund_out_of_no_credit_says_which_to_set() -> None:
    record = {key: value for key, value in REFUND.items() if key != "deposit_id"}
    expected = [
        "credit_note_id: a refund comes out of one credit: set credit_note_id, payment_id (its "
        "overpayment) or deposit_id"
    ]
    assert errors("refund", record) == expected
    assert errors("refund", {**record, "deposit_id": None, "payment_id": None}) == expected


def test_a_refund_out_of_two_credits_names_both() -> None:
    assert errors("refund", {**REFUND, "credit_note_id": "cn1"}) == [
        "deposit_id: set together with credit_note_id; a refund comes out of exactly one "
        "credit, so give only one of credit_note_id, payment_id and deposit_id"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "-40.00"}, "amount: must be ≥ 0.01"),
        ({"amount": "40.001"}, "amount: at most 2 decimal places"),
        ({"deposit_id": ""}, "deposit_id: Length must be between 1 and 100."),
        ({"currency": "aud"}, "currency: String does not match expected pattern."),
        ({"paid_date": "2025-02-30"}, "paid_date: must be a valid date"),
    ],
)
def test_each_refund_rule_is_refused_with_its_field(change: dict[str, Any], message: str) -> None:
    found = errors("refund", {**REFUND, **change})
    assert len(found) == 1
    assert found[0].startswith(message)


def test_a_money_flow_record_of_another_location_is_refused() -> None:
    assert errors("payout", {**PAYOUT, "location_id": "mars"}) == [
        "location_id: unknown location 'mars'"
    ]
