"""A sync whose long action is written down and not finished is "running" on the dashboard,
not "up to date": "Start syncing data" records the back-sync before it queues its first record,
and in that moment the dashboard said the books were up to date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ledger_helpers import Practice
from support.pages_books import open_practice, synced_books

from pm_xero_plugin import plugin
from pm_xero_plugin.dashboard.status import build


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path) as books:
        synced_books(books, invoices=1)
        books.drain()
        yield books


def _states(what: str) -> set[str]:
    engine = plugin.get_engine()
    assert engine is not None
    return {org[what] for org in build(engine, None)["organisations"]}


def test_a_back_sync_written_down_and_not_done_is_running(practice: Practice) -> None:
    assert _states("data_sync") == {"up_to_date"}
    engine = plugin.get_engine()
    assert engine is not None
    engine.record_job("backfill", location_id=None, since=None)
    assert _states("data_sync") == {"running"}


def test_a_contact_sync_written_down_for_one_location_runs_only_its_organisation(
    practice: Practice,
) -> None:
    engine = plugin.get_engine()
    assert engine is not None
    [sydney] = [loc for loc, info in engine.locations().items() if info.get("name") == "Sydney"]
    engine.record_job("start_contact_sync", location_id=sydney)
    status = build(engine, None)
    by_tenant = {org["tenant_id"]: org["contact_sync"] for org in status["organisations"]}
    assert by_tenant == {"T1": "running", "T2": "up_to_date"}


def test_a_failed_long_action_is_not_shown_as_running_for_ever(practice: Practice) -> None:
    engine = plugin.get_engine()
    assert engine is not None
    engine.record_job("backfill", location_id=None, since=None)
    engine.health.report("job:backfill", "the back-sync failed: boom", "press it again")
    assert _states("data_sync") == {"up_to_date"}
