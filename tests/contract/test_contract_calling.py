"""How a host calls plugins, as the contract (``hookspecs.calling``, ``hookspecs.spec``) says:
one plugin that raises does not stop the others, and the docs say so in the same words."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pluggy
import pytest

import hookspecs
from hookspecs import calling, hookimpl, spec

README = Path(__file__).resolve().parents[2] / "README.md"


class Raises:
    @hookimpl
    def on_invoice_created(self, invoice: dict[str, Any]) -> None:
        raise RuntimeError("boom")


class Records:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def on_invoice_created(self, invoice: dict[str, Any]) -> None:
        self.seen.append(invoice["id"])
        invoice["id"] = "changed by a plugin"


def _manager() -> tuple[pluggy.PluginManager, Records, Records]:
    pm = hookspecs.plugin_manager()
    first, last = Records(), Records()
    # pluggy calls the last registered first: raising sits between the two recorders.
    pm.register(first, name="first")
    pm.register(Raises(), name="raises")
    pm.register(last, name="last")
    return pm, first, last


def test_calling_the_hook_once_stops_at_the_plugin_that_raises() -> None:
    """Why the contract forbids ``pm.hook.<name>(...)``: pluggy's loop ends at the exception."""
    pm, first, last = _manager()
    with pytest.raises(RuntimeError):
        pm.hook.on_invoice_created(invoice={"id": "i1"})
    assert last.seen == ["i1"]
    assert first.seen == []


def test_call_each_plugin_calls_every_plugin_and_reports_the_one_that_raised() -> None:
    pm, first, last = _manager()
    failures: list[calling.HookFailure] = []
    hookspecs.call_each_plugin(
        pm,
        "on_invoice_created",
        {"invoice": {"id": "i1"}},
        skip=(),
        on_failure=lambda failure, exc: failures.append(failure),
    )
    assert first.seen == last.seen == ["i1"]  # each plugin had its own copy of the record
    assert [(f.plugin, f.hook) for f in failures] == [("raises", "on_invoice_created")]
    assert "boom" in failures[0].error


def test_the_spec_and_the_readme_tell_hosts_to_call_each_plugin() -> None:
    rules = inspect.getdoc(spec) or ""
    assert "call_each_plugin" in rules
    assert "still called" in rules
    assert "stops calling the remaining plugins" not in rules  # the old, contradicting wording
    assert "call_each_plugin" in README.read_text()
