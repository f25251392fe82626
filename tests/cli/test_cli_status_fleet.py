"""``pm-xero status`` on a many-practice host's root: every practice, those needing attention first
and why, on SQLite files and on one PostgreSQL ledger; ``--practice`` for one practice."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.fleet_practices import BACKENDS, engine_of, practices_on
from support.ledger_helpers import client, invoice

from hookspecs.refhost import ManualClock
from pm_xero_plugin.cli.fleet_status import FleetLine, reasons
from pm_xero_plugin.cli.main import main


@contextmanager
def _built(backend: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three practices: ``ailing`` with a failed invoice, ``cut-off`` with an organisation
    disconnected, ``fine`` with its records on their way (the host still running, as an
    operator finds it)."""
    # On the real clock: an operator's status compares how long work has waited with now.
    clock = ManualClock(datetime.now(UTC))
    ids = ("fine", "ailing", "cut-off")
    with practices_on(backend, root, monkeypatch, ids=ids, clock=clock) as fleet:
        for practice_id in fleet.practices():
            host = fleet.practice(practice_id)
            host.start_contact_sync(None)
            host.save_client(client("c1", 1))
            host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
        ledger = engine_of("ailing").ledger
        now = fleet.clock.now()
        [contact] = ledger.claim("T1", "contact", worker_id="t", now=now)
        ledger.mark_sent([contact.id], "k1")
        ledger.mark_synced(contact.id, "X-c1")
        [row] = ledger.claim("T1", "invoice", worker_id="t", now=now)
        ledger.mark_sent([row.id], "k2")
        ledger.mark_failed(row.id, "Account code '200' is archived", field="AccountCode")
        engine_of("cut-off").set_connection(None, "T2", False)
        yield


def _status(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["status", "--data-dir", str(root), *args], env=dict(os.environ)
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_operator_sees_which_practices_need_attention_and_why(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fleet"
    with _built(backend, root, monkeypatch):
        code, out = _status(root, "--json")
        code_table, table = _status(root)
    assert code == 0, out
    listed = json.loads(out)
    assert listed["practices_total"] == 3
    assert listed["needing_attention"] == 2
    order = [p["practice_id"] for p in listed["practices"]]
    assert order == ["cut-off", "ailing", "fine"]  # a lost connection first, then failures
    by_id = {p["practice_id"]: p for p in listed["practices"]}
    assert by_id["ailing"]["by_state"]["failed"] == 1
    assert any("1 failed" in why for why in by_id["ailing"]["why"])
    assert by_id["cut-off"]["disconnected"] == ["T2"]
    assert any("disconnected for T2" in why for why in by_id["cut-off"]["why"])
    assert by_id["fine"]["why"] == []
    assert code_table == 0, table
    assert "3 practices; 2 need attention" in table
    assert f"status --data-dir {root} --practice cut-off" in " ".join(table.split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_practice_of_the_fleet_shows_its_own_dashboard(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fleet"
    with _built(backend, root, monkeypatch):
        code, out = _status(root, "--practice", "ailing", "--json")
        code_fine, out_fine = _status(root, "--practice", "fine", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert [f["host_id"] for f in status["failures"]] == ["i1"]
    assert code_fine == 0, out_fine
    assert json.loads(out_fine)["failures"] == []


def test_an_unknown_practice_is_refused_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fleet"
    with _built("sqlite", root, monkeypatch):
        code, out = _status(root, "--practice", "nowhere")
    assert code == 2
    assert "no such practice" in out
    assert "ailing" in out
    assert "Traceback" not in out


def test_work_waiting_long_for_a_worker_is_a_reason_to_look() -> None:
    stale = FleetLine("p", by_state={"ready": 4}, oldest_due_seconds=20 * 60)
    fresh = FleetLine("q", by_state={"ready": 4}, oldest_due_seconds=30)
    assert reasons(stale) == ["work due for 20 min: are the pm-xero workers running?"]
    assert reasons(fresh) == []
