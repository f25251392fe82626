"""Host records are validated with field-level reasons; unknown keys are tolerated."""

from __future__ import annotations

from typing import Any

import pytest
from support.ledger_helpers import client, invoice, payment

from pm_xero_plugin.inputs.records import MAX_RAW_BYTES, capped_raw, validate_record


def full_invoice(**changes: Any) -> dict[str, Any]:
    record = invoice(
        "i1",
        1,
        "c1",
        "2025-02-01",
        currency="AUD",
        line_amount_types="exclusive",
        status="open",
        total="110.00",
        updated_at="2025-02-01T09:00:00+11:00",
    )
    record.update(changes)
    return record


def errors(kind: str, record: Any) -> list[str]:
    payload, found = validate_record(kind, record, ["syd"])
    assert payload is None
    return found


def test_a_good_invoice_is_kept_as_sent_minus_unknown_keys() -> None:
    payload, found = validate_record("invoice", full_invoice(new_host_field=1), ["syd"])
    assert found == []
    assert payload is not None
    assert "new_host_field" not in payload
    assert payload["total"] == "110.00"
    assert payload["lines"][0]["quantity"] == "1"


def test_a_unit_price_with_four_decimals_is_kept_while_money_keeps_two() -> None:
    line = {"description": "Dose", "category": "boarding", "quantity": "3", "unit_price": "0.3333"}
    payload, found = validate_record("invoice", full_invoice(lines=[line], total="1.00"), ["syd"])
    assert found == []
    assert payload is not None
    assert payload["lines"][0]["unit_price"] == "0.3333"
    assert errors("invoice", full_invoice(total="1.005")) == ["total: at most 2 decimal places"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "lines": [
                    {
                        "description": "x",
                        "category": "boarding",
                        "quantity": "-1",
                        "unit_price": "1.00",
                    }
                ]
            },
            "lines.0.quantity: must be ≥ 0",
        ),
        (
            {
                "lines": [
                    {"description": "x", "category": "boarding", "quantity": "1", "unit_price": 1.5}
                ]
            },
            "lines.0.unit_price: must be a decimal string",
        ),
        (
            {
                "lines": [
                    {
                        "description": "x",
                        "category": "boarding",
                        "quantity": "1",
                        "unit_price": "1.00005",
                    }
                ]
            },
            "lines.0.unit_price: at most 4 decimal places",
        ),
        (
            {
                "lines": [
                    {
                        "description": "x" * 4001,
                        "category": "boarding",
                        "quantity": "1",
                        "unit_price": "1.00",
                    }
                ]
            },
            "lines.0.description: Longer than maximum",
        ),
        (
            {
                "lines": [
                    {
                        "description": "x",
                        "category": "kennel",
                        "quantity": "1",
                        "unit_price": "1.00",
                    }
                ]
            },
            "lines.0.category: Must be one of",
        ),
        ({"lines": []}, "lines: Length must be between 1 and 1000"),
        ({"number": "7"}, "number: must be a valid integer"),
        ({"date": "01/02/2025"}, "date: must be a valid date"),
        ({"due_date": "2025-01-01"}, "due_date: must not be before the invoice date"),
        ({"total": "NaN"}, "total: must be a finite number"),
        ({"location_id": "mars"}, "location_id: unknown location 'mars'"),
    ],
)
def test_malformed_invoices_are_refused_with_a_field_level_reason(
    change: dict[str, Any], message: str
) -> None:
    assert any(e.startswith(message) for e in errors("invoice", full_invoice(**change))), errors(
        "invoice", full_invoice(**change)
    )


def test_missing_fields_are_each_named() -> None:
    record = full_invoice()
    del record["client_id"], record["date"]
    assert set(errors("invoice", record)) >= {"client_id: is required", "date: is required"}


def test_not_an_object_is_refused() -> None:
    assert errors("invoice", ["not", "a", "dict"]) == ["record: must be an object, not list"]


def test_payment_allocations_cannot_exceed_the_amount() -> None:
    record = payment(
        "p1",
        1,
        "c1",
        "2025-02-01",
        [("i1", "60.00"), ("i2", "50.00")],
        amount="100.00",
        currency="AUD",
        updated_at="x",
    )
    assert "allocations: the allocations add up to more than the amount" in errors(
        "payment", record
    )


def test_a_client_needs_a_name() -> None:
    record = client("c1", 1, first_name=" ", last_name="", updated_at="x")
    assert errors("client", record) == ["last_name: a customer needs a first or last name"]


def test_a_huge_raw_record_is_capped_with_its_size_and_hash() -> None:
    huge = full_invoice(lines=[{"description": "x" * 10_000_000}])
    kept = capped_raw(huge)
    assert kept["truncated"]
    assert kept["size"] > 10_000_000
    assert len(kept["raw"].encode()) <= MAX_RAW_BYTES
    assert len(kept["sha256"]) == 64
    small = capped_raw({"a": 1})
    assert (small["raw"], small["size"], small["truncated"]) == ('{"a": 1}', 8, False)
