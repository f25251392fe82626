"""The dashboard's health section: what stops the add-on itself, in words with what to do, at
the top of ``pm-xero status`` (and in ``--json`` as ``sync_status`` gives it)."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from support.cli_practice import PracticeDir, run_verb

from pm_xero_plugin.core.health import Health
from pm_xero_plugin.dashboard.render import print_status
from pm_xero_plugin.xero.tokens import TokenSet, TokenStore


def _text(status: dict[str, Any]) -> str:
    console = Console(record=True, width=80)
    print_status(status, console=console)
    return " ".join(console.export_text().split())


def _status(health: list[dict[str, object]]) -> dict[str, Any]:
    return {
        "enabled": True,
        "organisations": [{"tenant_id": "T1", "locations": ["syd"], "connected": True}],
        "health": health,
    }


def test_reported_conditions_come_first_each_in_words_with_what_to_do() -> None:
    health = Health()
    health.report(
        "ledger_unwritable",
        "the add-on cannot write its ledger: disk full at /var/lib/pm/ledger.sqlite3",
        "free space on that disk; nothing is lost",
    )
    health.report(
        "ledger_unwritable",
        "the add-on cannot write its ledger: disk full at /var/lib/pm/ledger.sqlite3",
        "free space on that disk; nothing is lost",
    )
    health.report(
        "adopted", "a fresh ledger adopted 12 records", "nothing to do", severity="warning"
    )
    text = _text(_status(health.as_list()))
    assert text.startswith("Health: 1 problem and 1 warning")
    assert text.index("Health:") < text.index("Xero sync")
    assert "✗ the add-on cannot write its ledger: disk full at /var/lib/pm/ledger.sqlite3" in text
    assert "what to do: free space on that disk; nothing is lost" in text
    assert "seen 2 times" in text
    assert "✗ a fresh ledger adopted 12 records what to do: nothing to do" in text


def test_no_condition_says_nothing_stops_the_add_on() -> None:
    text = _text(_status([]))
    assert text.startswith("Health: nothing stops the add-on")


def _unreadable_tokens(practice: PracticeDir) -> None:
    """Sydney's token set sealed under another host's secret (the host moved without it)."""
    store = TokenStore(
        practice.root / "plugins" / "xero" / "tokens.sqlite3", b"another-host-secret-0123456789ab"
    )
    store.save("syd", TokenSet("a", "r", time.time() + 1800), tenant_ids=["T1"])


def test_pm_xero_status_shows_health_at_the_top(practice: PracticeDir) -> None:
    code, output = run_verb(practice, "status")
    assert code == 0, output
    assert output.splitlines()[0] == "Health: nothing stops the add-on"

    _unreadable_tokens(practice)
    code, output = run_verb(practice, "status")
    assert code == 0, output
    text = " ".join(output.split())
    assert text.startswith("Health: 1 problem")
    assert (
        "✗ the stored Xero connection for organisation T1 (location syd) cannot be read (the "
        "host's secret changed or the token store was altered): reconnect it"
    ) in text
    assert "what to do: press Connect to Xero" in text


def test_pm_xero_status_json_carries_health_as_sync_status_does(practice: PracticeDir) -> None:
    code, output = run_verb(practice, "status", "--json")
    assert code == 0, output
    assert json.loads(output)["health"] == []

    _unreadable_tokens(practice)
    code, output = run_verb(practice, "status", "--json")
    assert code == 0, output
    (condition,) = json.loads(output)["health"]
    assert condition["condition"] == "tokens:T1"
    assert condition["severity"] == "error"
    assert "cannot be read" in condition["message"]
    assert "Connect to Xero" in condition["action"]
    assert condition["count"] == 1
    assert condition["since"]
