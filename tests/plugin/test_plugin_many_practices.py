"""One host process, many practices: every call reaches its own practice's add-on, and no call for
one practice can read or change another's data – on SQLite files and on one PostgreSQL ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.fleet_practices import BACKENDS, engine_of, practices_on
from support.ledger_helpers import client, invoice, settings
from support.pages_world import ADMIN, client_for

from hookspecs.refhost import ManualClock, RefFleet
from pm_xero_plugin import plugin
from pm_xero_plugin.core.engine import Engine


@pytest.fixture(params=BACKENDS)
def fleet(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RefFleet]:
    """Two practices, north and south, each with two organisations, on each backend."""
    with practices_on(request.param, tmp_path / "fleet", monkeypatch) as fleet:
        yield fleet


def _numbers(engine: Engine) -> set[str]:
    rows, _ = engine.ledger.find_rows(kind="invoice", limit=None)
    return {r.host_id for r in rows}


def test_each_practices_records_land_in_its_own_ledger_only(fleet: RefFleet) -> None:
    north, south = fleet.practice("north"), fleet.practice("south")
    north.save_client(client("c1", 1))
    north.create_invoice(invoice("n-inv", 1, "c1", "2025-02-10"))
    south.save_client(client("c1", 1))  # the same host ids in another practice are another record
    south.create_invoice(invoice("s-inv", 1, "c1", "2025-02-11"))
    assert _numbers(engine_of("north")) == {"n-inv"}
    assert _numbers(engine_of("south")) == {"s-inv"}
    assert engine_of("north") is not engine_of("south")
    assert not fleet.hook_failures
    assert not north.hook_failures
    assert not south.hook_failures


def test_settings_are_each_practices_own(fleet: RefFleet) -> None:
    north = fleet.practice("north")
    assert north.save_plugin_settings("xero", settings("2025-01-15")) == []
    north_settings = engine_of("north").settings
    south_settings = engine_of("south").settings
    assert north_settings is not None
    assert south_settings is not None
    assert str(north_settings.start_date) == "2025-01-15"
    assert str(south_settings.start_date) == "2025-02-01"


def test_the_dashboard_of_one_practice_counts_only_its_records(fleet: RefFleet) -> None:
    north = fleet.practice("north")
    north.save_client(client("c1", 1))
    for n in range(3):
        north.create_invoice(invoice(f"n{n}", 1, "c1", "2025-02-10"))
    invoices: dict[str, int] = {}
    for practice_id in ("north", "south"):
        status = fleet.practice(practice_id).sync_status()
        assert status is not None
        assert "error" not in status, status
        invoices[practice_id] = sum(
            sum(section["counts"].get("invoice", {}).values()) for section in status["sections"]
        )
    assert invoices == {"north": 3, "south": 0}


def test_an_admin_action_for_one_practice_cannot_touch_anothers_row(fleet: RefFleet) -> None:
    north, south = fleet.practice("north"), fleet.practice("south")
    north.save_client(client("c1", 1))
    north.create_invoice(invoice("n-inv", 1, "c1", "2025-02-10"))
    row = engine_of("north").ledger.find("invoice", "n-inv", "T1")
    assert row is not None
    [(_, answer)] = south._call(
        "admin_action",
        {"plugin": "xero", "action": "exclude", "params": {"row_id": row.id}},
        firstresult=True,
    )
    assert answer["ok"] is False
    after = engine_of("north").ledger.get(row.id)
    assert after is not None
    assert after.state == row.state


def test_a_call_for_a_practice_the_host_does_not_serve_is_refused_without_raising(
    fleet: RefFleet, caplog: pytest.LogCaptureFixture
) -> None:
    north = fleet.practice("north")
    north.fire("on_client_saved", client=client("c9", 9), practice_id="nowhere")
    north.fire("on_client_saved", client=client("c8", 8), practice_id=None)
    assert not north.hook_failures
    assert "nowhere" in caplog.text
    assert "refused" in caplog.text
    for practice_id in ("north", "south"):
        rows, _ = engine_of(practice_id).ledger.find_rows(kind="contact", limit=None)
        assert {r.host_id for r in rows}.isdisjoint({"c9", "c8"})


def test_each_practices_pages_show_only_its_own_records(fleet: RefFleet) -> None:
    north, south = fleet.practice("north"), fleet.practice("south")
    north.save_client(client("c1", 1, last_name="Northpaw"))
    south.save_client(client("c1", 1, last_name="Southwhisker"))
    for host, own, other in (
        (north, "Northpaw", "Southwhisker"),
        (south, "Southwhisker", "Northpaw"),
    ):
        pages = client_for(host, ADMIN, practice_id=host.practice_id)
        mine = pages.get(f"/dashboard?customer={own}")
        theirs = pages.get(f"/dashboard?customer={other}")
        assert mine.status_code == 200
        assert mine.text.count(own) > 1  # the search box says it once, the result again
        assert theirs.text.count(other) == 1  # only the search box: no other practice's row


def test_the_periodic_pass_opens_a_start_date_reached_without_any_hook(fleet: RefFleet) -> None:
    """A practice whose sending runs elsewhere (a fleet worker opens it only once it has work
    that may go) and whose host is quiet still opens its future start date when the day comes:
    the periodic pass ticks time's gates before it reconciles."""
    north = fleet.practice("north")
    assert north.save_plugin_settings("xero", settings("2025-03-05")) == []  # 4 days ahead
    north.start_contact_sync(None)
    north.save_client(client("c1", 1))
    north.create_invoice(invoice("later", 1, "c1", "2025-03-05"))
    row = engine_of("north").ledger.find("invoice", "later", "T1")
    assert row is not None
    assert row.gate == "start_date_future"
    assert isinstance(fleet.clock, ManualClock)
    fleet.clock.advance(timedelta(days=5))
    addon = plugin.get_addon("north")
    assert addon is not None
    addon._reconcile()  # what the periodic job runs
    row = engine_of("north").ledger.find("invoice", "later", "T1")
    assert row is not None
    assert row.gate != "start_date_future"
