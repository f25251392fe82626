"""The Start syncing data page: the preview (the numbers ``pm-xero preview`` prints), the
confirmation, the date saved through the host in ``validate_settings``' words, the back-sync
started as the host's button would, a future date waiting, a locked date only moving earlier."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support.admin_practice import Running, running_practice
from support.cli_practice import START, build_practice, line, run_verb, settings
from support.pages_world import STAFF, client_for, csrf_of

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.pages.start import CONFIRM_LABEL, TICK_THE_BOX

_ROW = re.compile(
    r'<tr data-kind="(\w+)" data-count="(\d+)" data-total="([^"]*)"\s+'
    r'data-synced="(\d+)" data-in-xero="([^"]*)"'
)
_ORG = re.compile(r'<div class="card organisation" data-tenant="([^"]*)">')


def preview_numbers(html: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(organisation, kind) -> the numbers the page shows."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    parts = _ORG.split(html)
    for tenant, block in zip(parts[1::2], parts[2::2], strict=True):
        for kind, count, total, synced, in_xero in _ROW.findall(block):
            out[(tenant, kind)] = {
                "count": int(count),
                "total": total or None,
                "already_synced": int(synced),
                "already_in_xero": int(in_xero) if in_xero else None,
            }
    return out


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Running]:
    with running_practice(tmp_path / "pm") as running:
        yield running


def with_history(host: RefHost) -> None:
    """A customer and two invoices of Sydney (``loc-1``), made while the add-on was switched
    off (so only a back-sync brings them in), settings without a start date."""
    host.disable_plugin("xero")
    host.save_client(
        {"id": "c1", "number": 1, "location_id": "loc-1", "first_name": "Ann", "last_name": "Lee"}
    )
    for iid, number, day in (("i1", 1, "2025-01-31"), ("i2", 2, "2025-02-10")):
        host.create_invoice(
            {
                "id": iid,
                "number": number,
                "client_id": "c1",
                "location_id": "loc-1",
                "date": day,
                "due_date": day,
                "lines": [line("10.00")],
            }
        )
    host.enable_plugin("xero")
    assert host.save_plugin_settings("xero", settings({"loc-1": "T1"}, None)) == []


def start(host: RefHost, day: str, *, confirm: bool = True) -> Any:
    client = client_for(host)
    token = csrf_of(client.get(f"/start?date={day}").text)
    data = {"csrf": token, "start_date": day}
    if confirm:
        data["confirm"] = "on"
    return client.post("/start", data=data)


def test_the_preview_shows_the_numbers_pm_xero_preview_prints(tmp_path: Path) -> None:
    practice = build_practice(tmp_path / "pm")
    code, output = run_verb(
        practice, "preview", "--json", "--no-lookup", "--start-date", "2025-02-01"
    )
    assert code == 0, output
    printed = json.loads(output)
    host = RefHost(practice.root, clock=ManualClock(START), load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        html = client_for(host).get("/start?date=2025-02-01").text
    finally:
        host.stop()
    shown = preview_numbers(html)
    expected = {
        (org["tenant_id"] or "", kind): {
            "count": numbers["count"],
            "total": numbers.get("total"),
            "already_synced": numbers["already_synced"],
            "already_in_xero": numbers["already_in_xero"],
        }
        for org in printed["organisations"]
        for kind, numbers in org["kinds"].items()
    }
    assert shown == expected
    assert shown[("T1", "invoice")]["count"] == 2  # what the numbers are about, not just equal
    assert 'class="held" data-kind="payment" data-count="1"' in html


def test_the_page_warns_of_duplicates_and_that_the_date_cannot_move_later(
    started_host: RefHost,
) -> None:
    with_history(started_host)
    html = client_for(started_host).get("/start?date=2025-02-01").text
    assert "creates duplicates" in html
    assert "cannot be moved later" in html
    assert '<label for="date">Start date</label>' in html
    assert f"> {CONFIRM_LABEL}</label>" in html
    assert ">Preview</button>" in html
    assert ">Start syncing data</button>" in html


def test_preview_changes_nothing(started_host: RefHost) -> None:
    with_history(started_host)
    client_for(started_host).get("/start?date=2025-02-01")
    assert started_host.settings("xero").get("start_date") is None
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.find("invoice", "i2", "T1") is None


def test_a_start_without_the_box_ticked_is_refused(started_host: RefHost) -> None:
    with_history(started_host)
    answer = start(started_host, "2025-02-01", confirm=False)
    assert answer.status_code == 400
    assert TICK_THE_BOX in answer.text
    assert started_host.settings("xero").get("start_date") is None
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.meta("backfill_started") is None


def test_a_confirmed_start_saves_the_date_and_starts_the_back_sync(started_host: RefHost) -> None:
    with_history(started_host)
    answer = start(started_host, "2025-02-01")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/dashboard"
    assert parse_qs(location.query)["said"][0].startswith("Syncing data from 2025-02-01")
    saved = started_host.settings("xero")
    assert saved["start_date"] == "2025-02-01"
    assert saved["locations"] == {"loc-1": {"tenant_id": "T1", "connection_enabled": True}}
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.meta("backfill_started") is not None
    assert engine.ledger.find("invoice", "i2", "T1") is not None  # on or after the date
    assert engine.ledger.find("invoice", "i1", "T1") is None  # before it: never sent
    assert engine.pending_jobs() == []


def test_a_future_date_shows_waiting_until_it(started_host: RefHost) -> None:
    with_history(started_host)
    preview = client_for(started_host).get("/start?date=2025-04-01").text
    assert "Waiting until 2025-04-01" in preview
    answer = start(started_host, "2025-04-01")
    said = parse_qs(urlsplit(answer.headers["location"]).query)["said"][0]
    assert said.startswith("Waiting until 2025-04-01")
    html = client_for(started_host).get("/start").text
    assert "Waiting until 2025-04-01" in html


def test_once_data_synced_the_date_only_moves_earlier(practice: Running) -> None:
    html = client_for(practice.host).get("/start").text
    assert "the start date can only move earlier now" in html
    answer = start(practice.host, "2025-02-10")
    assert answer.status_code == 400
    error = re.search(
        r'<span class="field-error" data-field="start_date">([^<]*)</span>', answer.text
    )
    assert error is not None
    assert error.group(1).startswith(
        "start_date: data has already synced to Xero from 2025-02-01; the start date cannot "
        "move later"
    )
    assert practice.host.settings("xero")["start_date"] == "2025-02-01"


def test_a_date_that_is_no_date_is_said_beside_the_field(started_host: RefHost) -> None:
    with_history(started_host)
    html = client_for(started_host).get("/start?date=31/01/2025").text
    assert (
        '<span class="field-error" data-field="start_date">&#39;31/01/2025&#39; is not a date '
        "(YYYY-MM-DD)</span>"
    ) in html
    assert "Start syncing data</button>" not in html


def test_staff_get_403_on_the_page_and_the_start(started_host: RefHost) -> None:
    with_history(started_host)
    token = csrf_of(client_for(started_host).get("/start").text)
    staff = client_for(started_host, STAFF)
    assert staff.get("/start?date=2025-02-01").status_code == 403
    answer = staff.post("/start", data={"csrf": token, "start_date": "2025-02-01", "confirm": "on"})
    assert answer.status_code == 403
    assert started_host.settings("xero").get("start_date") is None


def test_the_preview_counts_what_xero_already_has_as_linked(tmp_path: Path) -> None:
    from support.admin_practice import sandbox_practice

    from pm_xero_plugin.pages.app import build_app

    with sandbox_practice(tmp_path / "pm", {"syd": 0}) as p:
        runtime = p.xero.runtime
        for cid, number in (("c1", 1), ("c2", 2)):
            p.host.save_client(
                {"id": cid, "number": number, "location_id": "syd", "first_name": "Ann"}
            )
        [made] = runtime.client.send_batch(
            p.tenants["syd"],
            "syd",
            "PUT",
            "Contacts",
            [{"Name": "Ann (C1)", "ContactNumber": "C1"}],
            idempotency_key="typed-in-by-hand",
        )
        assert made.ok, made
        app = build_app(
            engine=lambda: p.engine,
            runtime=lambda: runtime,
            secret=lambda: p.host.secret("xero"),
        )
        html = client_for(p.host, app=app).get("/start?date=2025-02-01").text
    contacts = preview_numbers(html)[(p.tenants["syd"], "contact")]
    assert contacts == {"count": 2, "total": None, "already_synced": 0, "already_in_xero": 1}
    assert "Xero already has 1 contacts numbered like these: they will be linked" in html
