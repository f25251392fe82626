"""The ``admin_action`` hook as a host calls it: the add-on answers its own actions in words,
leaves other plugins' alone, and never raises into the host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.admin_practice import running_practice

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin


def test_the_host_retries_a_failure_through_the_hook(tmp_path: Path) -> None:
    with running_practice(tmp_path / "pm") as p:
        answers = p.host.fire(
            "admin_action", plugin="xero", action="retry", params={"row_id": p.failed_row}
        )
        assert len(answers) == 1
        assert answers[0]["ok"] is True
        assert answers[0]["message"].startswith(f"row {p.failed_row} (invoice #3 in T1): retried")
        row = p.engine.ledger.get(p.failed_row)
        assert row is not None
        assert row.state != "failed"


def test_an_admins_mistake_through_the_hook_is_an_answer(tmp_path: Path) -> None:
    with running_practice(tmp_path / "pm") as p:
        [answer] = p.host.fire(
            "admin_action", plugin="xero", action="exclude", params={"row_id": p.synced_row}
        )
        assert answer == {
            "ok": False,
            "message": f"row {p.synced_row} (invoice #2 in T1) is synced: it cannot be excluded",
        }
        [unknown] = p.host.fire("admin_action", plugin="xero", action="explode", params={})
        assert unknown["ok"] is False
        assert p.host.hook_failures == []


def test_another_plugins_action_is_left_to_it(tmp_path: Path) -> None:
    with running_practice(tmp_path / "pm") as p:
        assert p.host.fire("admin_action", plugin="stripe", action="retry", params={}) == []
        assert (
            plugin.admin_action(plugin="stripe", action="retry", params={}, practice_id=None)
            is None
        )


def test_before_start_up_the_hook_says_so(tmp_path: Path) -> None:
    host = RefHost(
        tmp_path / "pm", clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)), load_entrypoints=False
    )
    host.register(plugin, name="xero")
    try:
        [answer] = host.fire("admin_action", plugin="xero", action="retry", params={"row_id": 1})
        assert answer == {
            "ok": False,
            "message": "the Xero add-on has not started yet; try again shortly",
        }
    finally:
        host.close()


def test_an_unexpected_failure_never_raises_into_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_practice(tmp_path / "pm") as p:
        from pm_xero_plugin.sync import actions

        def broken(*args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(actions, "perform", broken)
        [answer] = p.host.fire(
            "admin_action", plugin="xero", action="resolve", params={"row_id": p.failed_row}
        )
        assert answer == {"ok": False, "message": "resolve failed (RuntimeError); see the log"}
        assert p.host.hook_failures == []
        assert p.engine.hook_errors[-1]["hook"] == "admin_action"
