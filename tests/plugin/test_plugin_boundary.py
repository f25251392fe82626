"""The hook boundary: malformed host input is rejected with reasons, nothing raises into the host,
and the dashboard shows it all (through the real PluginManager and reference host)."""

from __future__ import annotations

from typing import Any

import pytest
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin
from pm_xero_plugin.ledger import KINDS, STATES


def _base(**changes: Any) -> dict[str, Any]:
    record = invoice(
        "bad",
        5,
        "c1",
        "2025-02-10",
        currency="AUD",
        status="open",
        line_amount_types="exclusive",
        total="110.00",
        updated_at="x",
    )
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({k: v for k, v in _base().items() if k != "client_id"}, "client_id: is required"),
        (_base(number="five"), "number: must be a valid integer"),
        (
            _base(
                lines=[
                    {
                        "description": "x",
                        "category": "boarding",
                        "quantity": "-2",
                        "unit_price": "1.00",
                    }
                ]
            ),
            "lines.0.quantity: must be ≥ 0",
        ),
        (_base(location_id="atlantis"), "location_id: unknown location 'atlantis'"),
        (
            _base(
                lines=[
                    {
                        "description": "d" * 10_000_000,
                        "category": "boarding",
                        "quantity": "1",
                        "unit_price": "1.00",
                    }
                ]
            ),
            "lines.0.description: Longer than maximum length 4000",
        ),
        ("not a record", "record: must be an object, not str"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason_and_never_raise(
    practice: Practice, record: Any, reason: str
) -> None:
    practice.setup()
    practice.host.fire("on_invoice_created", invoice=record)
    assert practice.host.hook_failures == []
    status = practice.host.sync_status()
    assert status is not None
    [failure] = [f for f in status["failures"] if f["state"] == "rejected"]
    assert failure["message"].startswith(reason)
    assert failure["actions"] == ["resolve"]
    row = practice.ledger.get(failure["row_id"])
    assert row is not None
    assert row.payload["sha256"]
    assert len(row.payload["raw"].encode()) <= 64 * 1024
    if row.payload["truncated"]:
        assert "first 64 KB kept" in failure["message"]


def test_a_corrected_record_replaces_its_rejection(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.fire("on_invoice_created", invoice=_base(id="i1", number="x"))
    assert practice.state("invoice", "i1", "") == ("rejected", None)
    practice.host.fire("on_invoice_created", invoice=_base(id="i1", number=1))
    assert practice.state("invoice", "i1", "") == ("excluded", None)
    assert practice.state("invoice", "i1")[0] == "waiting"
    assert [f for f in practice.status()["failures"] if f["state"] == "rejected"] == []


def test_an_engine_error_is_caught_logged_and_shown(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    practice.setup()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(practice.engine, "record_invoice", boom)
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    assert practice.host.hook_failures == []
    assert "hook on_invoice_created failed" in caplog.text
    status = practice.host.sync_status()
    assert status is not None
    assert status["plugin_errors"][0]["hook"] == "on_invoice_created"
    assert "disk on fire" in status["plugin_errors"][0]["error"]


def test_validate_settings_answers_only_for_its_own_plugin(practice: Practice) -> None:
    assert plugin.validate_settings(plugin="other", settings={"junk": 1}, practice_id=None) is None
    assert plugin.validate_settings(plugin="xero", settings={"junk": 1}, practice_id=None) == [
        "junk: Unknown field."
    ]


def test_sync_status_shape(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    status = practice.host.sync_status()
    assert status is not None
    assert set(status) == {
        "plugin",
        "generated_at",
        "enabled",
        "start_date",
        "start_date_locked",
        "organisations",
        "sections",
        "failures",
        "failures_total",
        "contact_conflicts",
        "contact_conflicts_total",
        "health",
        "plugin_errors",
        "background_jobs",
        "books",
    }
    assert status["health"] == []  # nothing stops the add-on
    assert (status["contact_conflicts"], status["contact_conflicts_total"]) == ([], 0)
    assert status["start_date"] == "2025-02-01"
    assert status["enabled"] is True
    org = status["organisations"][0]
    assert set(org) == {
        "tenant_id",
        "locations",
        "connected",
        "connection_reason",
        "account_codes",
        "contact_sync",
        "contact_conflicts",
        "data_sync",
    }
    assert (org["contact_sync"], org["data_sync"]) == ("not_started", "not_started")
    section = next(s for s in status["sections"] if s["location_id"] == "syd")
    assert section["tenant_id"] == "T1"
    assert section["location_name"] == "Sydney"
    assert set(section["counts"]) == set(KINDS)
    assert all(set(states) == set(STATES) for states in section["counts"].values())
    assert section["counts"]["invoice"]["waiting"] == 1
    assert {(w["kind"], w["gate"]) for w in section["waiting"]} == {
        ("contact", "contact_sync_not_started"),
        ("invoice", "contact_sync"),
    }
    only_london = practice.host.sync_status("lon")
    assert only_london is not None
    assert [s["location_id"] for s in only_london["sections"]] == ["lon"]
    assert only_london["sections"][0]["counts"]["invoice"]["waiting"] == 0


def test_admin_retry_resolve_and_exclude(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    for n in (1, 2, 3):
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-02-10"))
    now = practice.host.now()
    rows = practice.ledger.claim("T1", "invoice", worker_id="w", now=now)
    for row in rows:
        practice.ledger.mark_sent([row.id], "k")
        practice.ledger.mark_failed(
            row.id, "Account code '201' is not a valid code for this document.", field="LineItems"
        )
    status = practice.status()
    assert status["failures_total"] == 3
    assert "account" in status["failures"][0]["hint"].lower()
    first, second, third = (r.id for r in rows)
    assert practice.engine.retry(first) == 1
    assert practice.ledger.get(first).state == "ready"  # type: ignore[union-attr]
    practice.engine.resolve(second)
    assert practice.ledger.get(second).state == "synced"  # type: ignore[union-attr]
    practice.engine.exclude(third)
    assert practice.ledger.get(third).state == "excluded"  # type: ignore[union-attr]
    assert practice.status()["failures_total"] == 0
    practice.host.create_invoice(invoice("i4", 4, "c1", "2025-02-10"))
    [row] = practice.ledger.claim("T1", "invoice", limit=1, worker_id="w", now=now)
    practice.ledger.mark_failed(row.id, "boom")
    assert practice.engine.retry(kind="invoice", tenant_id="T1") == 1
    assert [e["event"] for e in practice.ledger.log(row.id)][-2:] == ["failed", "retry"]
