"""pytest fixtures and a recording plugin for testing a ``pet_manager`` plugin against the host.

Use them from a ``conftest.py``::

    from hookspecs.refhost.testing import refhost, refhost_clock, register_plugin  # noqa: F401

(or ``pytest_plugins = ["hookspecs.refhost.testing"]`` in the root conftest). Importing this module
needs pytest; the rest of :mod:`hookspecs.refhost` does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hookspecs import hookimpl
from hookspecs.refhost.clock import ManualClock
from hookspecs.refhost.host import RefHost

__all__ = ["RecordingPlugin", "refhost", "refhost_clock", "register_plugin"]

REFHOST_START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
"""Where :func:`refhost_clock` starts: a Saturday, 20:00 in Sydney."""


class RecordingPlugin:
    """A plugin implementing every hook that records each call as ``(hook, kwargs)``.

    ``validate_settings`` answers :attr:`settings_errors`, ``sync_status`` answers
    :attr:`status` (``None`` by default, i.e. lets another plugin answer).
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.settings_errors: list[str] = []
        self.status: dict[str, Any] | None = None

    def named(self, hook: str) -> list[dict[str, Any]]:
        """The keyword arguments of every call of ``hook``, in order."""
        return [kwargs for name, kwargs in self.calls if name == hook]

    @hookimpl
    def pm_startup(self, host: Any) -> None:
        """Record the call."""
        self.calls.append(("pm_startup", {"host": host}))

    @hookimpl
    def pm_shutdown(self) -> None:
        """Record the call."""
        self.calls.append(("pm_shutdown", {}))

    @hookimpl
    def validate_settings(self, plugin: str, settings: dict[str, Any]) -> list[str]:
        """Record the call; answer with the errors this plugin was told to report."""
        self.calls.append(("validate_settings", {"plugin": plugin, "settings": settings}))
        return list(self.settings_errors)

    @hookimpl
    def on_settings_saved(self, plugin: str, settings: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_settings_saved", {"plugin": plugin, "settings": settings}))

    @hookimpl
    def on_client_saved(self, client: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_client_saved", {"client": client}))

    @hookimpl
    def on_invoice_created(self, invoice: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_invoice_created", {"invoice": invoice}))

    @hookimpl
    def on_invoice_updated(self, invoice: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_invoice_updated", {"invoice": invoice}))

    @hookimpl
    def on_invoice_voided(self, invoice: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_invoice_voided", {"invoice": invoice}))

    @hookimpl
    def on_credit_note_created(self, credit_note: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_credit_note_created", {"credit_note": credit_note}))

    @hookimpl
    def on_payment_recorded(self, payment: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_payment_recorded", {"payment": payment}))

    @hookimpl
    def on_payout_recorded(self, payout: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_payout_recorded", {"payout": payout}))

    @hookimpl
    def on_deposit_recorded(self, deposit: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_deposit_recorded", {"deposit": deposit}))

    @hookimpl
    def on_refund_recorded(self, refund: dict[str, Any]) -> None:
        """Record the call."""
        self.calls.append(("on_refund_recorded", {"refund": refund}))

    @hookimpl
    def start_contact_sync(self, location_id: str | None) -> None:
        """Record the call."""
        self.calls.append(("start_contact_sync", {"location_id": location_id}))

    @hookimpl
    def backfill(self, location_id: str | None, since: date | None) -> None:
        """Record the call."""
        self.calls.append(("backfill", {"location_id": location_id, "since": since}))

    @hookimpl
    def sync_status(self, location_id: str | None) -> dict[str, Any] | None:
        """Record the call; answer with the status this plugin was given."""
        self.calls.append(("sync_status", {"location_id": location_id}))
        return self.status

    @hookimpl
    def admin_action(self, plugin: str, action: str, params: dict[str, Any]) -> None:
        """Record the call; answer nothing (no action is this plugin's)."""
        self.calls.append(("admin_action", {"plugin": plugin, "action": action, "params": params}))

    @hookimpl
    def web_app(self) -> None:
        """Record the call; this plugin has no pages."""
        self.calls.append(("web_app", {}))


@pytest.fixture
def refhost_clock() -> ManualClock:
    """A :class:`ManualClock` at :data:`REFHOST_START`."""
    return ManualClock(REFHOST_START)


@pytest.fixture
def refhost(tmp_path: Path, refhost_clock: ManualClock) -> Iterator[RefHost]:
    """A started reference host in ``tmp_path`` with no plugins loaded from entry points."""
    host = RefHost(tmp_path / "pet-manager", clock=refhost_clock, load_entrypoints=False)
    host.start()
    yield host
    host.stop()


@pytest.fixture
def register_plugin(refhost: RefHost) -> Iterator[Callable[..., str]]:
    """Register plugins for one test and unregister them after it (datasette's pattern).

    ``register_plugin(plugin, name="mine")`` returns the registered name.
    """
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        registered = refhost.register(plugin, name=name)
        names.append(registered)
        return registered

    yield register
    for name in reversed(names):
        if refhost.pm.get_plugin(name) is not None:
            refhost.unregister(name)
