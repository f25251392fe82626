"""The ways out of a contact held behind ``contact_name_taken`` through the engine's public
names: the distinct name the dashboard proposes is the one ``create_contact_distinct`` uses."""

from __future__ import annotations

from pathlib import Path

from support.cli_practice import contact_synced_host

from pm_xero_plugin.dashboard.status import contact_conflicts


def test_the_dashboard_proposes_the_distinct_name_the_engine_then_creates(
    tmp_path: Path,
) -> None:
    with contact_synced_host(tmp_path / "pm") as (host, engine):
        led = engine.ledger
        held = None
        for row in led.claim("T2", "contact", worker_id="test", now=host.now()):
            led.mark_sent([row.id], f"k{row.id}")
            if row.host_id == "c3":
                led.hold_contact(row.id, "The contact name is already assigned.", None)
                held = row.id
        assert held is not None
        row = led.get(held)
        assert row is not None
        assert engine.distinct_name(row) == "Ann Lee3 (C3, London)"
        [conflict] = [c for c in contact_conflicts(engine, None) if c["row_id"] == held]
        [create] = [w for w in conflict["ways_out"] if w["action"] == "create_distinct"]
        assert create["name"] == "Ann Lee3 (C3, London)"
        assert engine.create_contact_distinct(held) == "Ann Lee3 (C3, London)"
