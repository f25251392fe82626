"""The published hook contract: every hook the architecture names exists, documented, with the
arguments it promises, and pluggy accepts plugins written against it."""

from __future__ import annotations

import inspect
from typing import Any

import pluggy
import pytest

import hookspecs
from hookspecs import hookimpl, spec
from hookspecs.refhost.testing import RecordingPlugin

ARCHITECTURE_HOOKS: dict[str, tuple[str, ...]] = {
    "pm_startup": ("host",),
    "pm_shutdown": (),
    "validate_settings": ("plugin", "settings"),
    "on_settings_saved": ("plugin", "settings"),
    "on_client_saved": ("client",),
    "on_invoice_created": ("invoice",),
    "on_invoice_updated": ("invoice",),
    "on_invoice_voided": ("invoice",),
    "on_credit_note_created": ("credit_note",),
    "on_payment_recorded": ("payment",),
    "on_payout_recorded": ("payout",),
    "on_deposit_recorded": ("deposit",),
    "on_refund_recorded": ("refund",),
    "start_contact_sync": ("location_id",),
    "backfill": ("location_id", "since"),
    "sync_status": ("location_id",),
    "admin_action": ("plugin", "action", "params"),
    "web_app": (),
}
"""The hook table of the design's architecture (fixed names), as the host calls them. Kept here,
not read from ``../shared/design``: the suite must not depend on documents beside the checkout."""

PRACTICE_SCOPED = frozenset(ARCHITECTURE_HOOKS) - {"pm_startup", "pm_shutdown", "web_app"}
"""Hooks about one practice: each also names it (``practice_id``, the architecture's "every hook
… is scoped to a practice"), after the arguments of the table."""


def _hook(pm: pluggy.PluginManager, name: str) -> pluggy.HookCaller:
    caller = getattr(pm.hook, name, None)
    assert isinstance(caller, pluggy.HookCaller), f"no hook {name}"
    return caller


@pytest.mark.parametrize("name", sorted(ARCHITECTURE_HOOKS))
def test_every_architecture_hook_is_specified_with_its_arguments(name: str) -> None:
    caller = _hook(hookspecs.plugin_manager(), name)
    assert caller.spec is not None
    scoped = ("practice_id",) if name in PRACTICE_SCOPED else ()
    assert caller.spec.argnames == ARCHITECTURE_HOOKS[name] + scoped


def test_the_specs_are_exactly_the_architecture_hooks() -> None:
    assert set(spec.__all__) == set(ARCHITECTURE_HOOKS)
    specified = {
        name for name, fn in inspect.getmembers(spec, inspect.isfunction)
        if hasattr(fn, "pet_manager_spec")
    }  # fmt: skip
    assert specified == set(ARCHITECTURE_HOOKS)


@pytest.mark.parametrize("name", sorted(ARCHITECTURE_HOOKS))
def test_every_spec_documents_each_parameter_and_its_return(name: str) -> None:
    doc = inspect.getdoc(getattr(spec, name)) or ""
    for arg in ARCHITECTURE_HOOKS[name]:
        assert f":param {arg}:" in doc
    assert ":return:" in doc


def test_only_sync_status_stops_at_the_first_result_and_no_hook_is_historic() -> None:
    pm = hookspecs.plugin_manager()
    first = {n for n in ARCHITECTURE_HOOKS if _hook(pm, n).spec.opts.get("firstresult")}  # type: ignore[union-attr]
    assert first == {"sync_status", "admin_action"}
    assert not any(_hook(pm, n).is_historic() for n in ARCHITECTURE_HOOKS)
    assert "stops at the first" in (inspect.getdoc(spec.sync_status) or "")
    assert "a plugin answers only when ``plugin`` is its own name" in (
        inspect.getdoc(spec.admin_action) or ""
    )


def test_the_public_names_plugin_authors_import() -> None:
    assert hookspecs.PROJECT_NAME == "pet_manager"
    assert hookspecs.hookimpl.project_name == hookspecs.hookspec.project_name == "pet_manager"
    for name in (
        "Host", "Client", "Invoice", "CreditNote", "Payment", "Location", "LineItem", "Payout",
        "Deposit", "Refund",
    ):  # fmt: skip
        assert name in hookspecs.__all__
        assert hasattr(hookspecs, name)
    assert hookspecs.plugin_manager() is not hookspecs.plugin_manager()  # a fresh one each call


def test_check_pending_accepts_a_plugin_implementing_every_hook() -> None:
    pm = hookspecs.plugin_manager()
    pm.register(RecordingPlugin(), name="rec")
    pm.check_pending()
    assert {impl.plugin_name for impl in pm.hook.on_invoice_created.get_hookimpls()} == {"rec"}


def test_check_pending_catches_a_misspelt_hook() -> None:
    class Typo:
        @hookimpl
        def on_invoice_create(self, invoice: dict[str, Any]) -> None:  # missing "d"
            pass

    pm = hookspecs.plugin_manager()
    pm.register(Typo(), name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="on_invoice_create"):
        pm.check_pending()


def test_an_implementation_asking_for_an_argument_the_spec_lacks_is_refused() -> None:
    class Wrong:
        @hookimpl
        def on_invoice_created(self, invoice: dict[str, Any], client: dict[str, Any]) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError):
        hookspecs.plugin_manager().register(Wrong(), name="wrong")
