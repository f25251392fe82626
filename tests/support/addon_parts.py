"""The running add-on's parts, for the test worlds (end to end, pages, browser): the engine and
the Xero side ``pm_startup`` made, asserted present with the host's hook failures as the reason."""

from __future__ import annotations

from typing import Any

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin


def running_engine(host: RefHost) -> Any:
    """The engine (the add-on started)."""
    engine = plugin.get_engine()
    assert engine is not None, host.hook_failures
    return engine


def running_runtime(host: RefHost) -> Any:
    """The Xero side (the Xero app configured)."""
    runtime = plugin.get_runtime()
    assert runtime is not None, host.hook_failures
    return runtime
