"""How the reference host treats its plugins: switches, settings, failures, loading."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hookspecs import hookimpl
from hookspecs.refhost import HookFailure, ManualClock, RefHost
from hookspecs.refhost.testing import RecordingPlugin

Register = Callable[..., str]
BONDI = {"id": "bondi", "name": "Bondi", "timezone": "Australia/Sydney", "currency": "AUD",
         "country": "AU"}  # fmt: skip


class Raising:
    """A plugin whose every record hook raises."""

    @hookimpl
    def on_invoice_created(self, invoice: dict[str, Any]) -> None:
        raise RuntimeError("boom in on_invoice_created")

    @hookimpl
    def validate_settings(self, plugin: str, settings: dict[str, Any]) -> list[str]:
        raise RuntimeError("boom in validate_settings")

    @hookimpl
    def sync_status(self, location_id: str | None) -> dict[str, Any]:
        raise RuntimeError("boom in sync_status")


@pytest.fixture
def host(refhost: RefHost) -> RefHost:
    refhost.add_location(BONDI)
    return refhost


def _invoice(host: RefHost) -> dict[str, Any]:
    return host.create_invoice({"location_id": "bondi", "client_id": "c1"})


# -- on / off -----------------------------------------------------------------------------------


def test_a_plugin_switched_off_gets_no_hooks_and_switched_on_is_told(
    host: RefHost, register_plugin: Register
) -> None:
    rec = RecordingPlugin()
    register_plugin(rec, name="rec")
    host.save_plugin_settings("rec", {"colour": "blue"})
    host.disable_plugin("rec")
    assert not host.is_enabled("rec")
    before = len(rec.calls)
    _invoice(host)
    host.backfill()
    assert host.sync_status() is None
    assert len(rec.calls) == before
    host.enable_plugin("rec")
    assert rec.calls[before:] == [
        ("on_settings_saved", {"plugin": "rec", "settings": {"colour": "blue"}})
    ]
    host.enable_plugin("rec")  # already on: nothing more to say
    assert len(rec.calls) == before + 1
    _invoice(host)
    assert len(rec.named("on_invoice_created")) == 1  # only the one made while on


def test_plugins_are_on_unless_switched_off_and_the_switch_is_kept(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2025, 3, 1, tzinfo=UTC))
    rec = RecordingPlugin()
    with RefHost(tmp_path, clock=clock, load_entrypoints=False) as host:
        host.register(rec, name="rec")
        assert host.is_enabled("rec")
        host.disable_plugin("rec")
    assert not host.is_enabled("nobody")
    later = RecordingPlugin()
    host = RefHost(tmp_path, clock=clock, load_entrypoints=False)
    host.register(later, name="rec")
    host.start()
    assert not host.is_enabled("rec")
    assert later.calls == []  # off at start: not even pm_startup
    host.enable_plugin("rec")
    assert [name for name, _ in later.calls] == ["pm_startup", "on_settings_saved"]
    assert later.calls[0][1]["host"] is host
    host.stop()
    assert later.calls[-1] == ("pm_shutdown", {})


def test_switching_an_unknown_plugin_is_an_error(host: RefHost) -> None:
    with pytest.raises(KeyError):
        host.enable_plugin("ghost")
    with pytest.raises(KeyError):
        host.disable_plugin("ghost")


def test_a_plugin_registered_into_a_running_host_is_started_and_unregistering_stops_it(
    host: RefHost,
) -> None:
    rec = RecordingPlugin()
    host.register(rec, name="late")
    assert rec.calls == [("pm_startup", {"host": host})]
    host.unregister("late")
    assert rec.calls[-1] == ("pm_shutdown", {})
    assert "late" not in host.plugin_names()
    with pytest.raises(KeyError):
        host.unregister("late")


# -- settings -----------------------------------------------------------------------------------


def test_errors_from_validate_settings_block_the_save(
    host: RefHost, register_plugin: Register
) -> None:
    rec = RecordingPlugin()
    register_plugin(rec, name="rec")
    rec.settings_errors = ["start_date: not a date"]
    assert host.save_plugin_settings("rec", {"start_date": "soon"}) == ["start_date: not a date"]
    assert host.settings("rec") == {}
    assert rec.named("on_settings_saved") == []


def test_saved_settings_reach_on_settings_saved_and_every_plugin_validates(
    host: RefHost, register_plugin: Register
) -> None:
    rec, other = RecordingPlugin(), RecordingPlugin()
    register_plugin(rec, name="rec")
    register_plugin(other, name="other")
    assert host.save_plugin_settings("rec", {"prefixes": {"invoice": "INV"}}) == []
    expected = {"plugin": "rec", "settings": {"prefixes": {"invoice": "INV"}}}
    assert rec.named("validate_settings") == [expected] == other.named("validate_settings")
    assert rec.named("on_settings_saved") == [expected]
    assert host.settings("rec") == {"prefixes": {"invoice": "INV"}}
    host.settings("rec")["prefixes"]["invoice"] = "X"  # a copy: the stored settings stay put
    assert host.settings("rec")["prefixes"]["invoice"] == "INV"


def test_a_plugin_that_raises_checking_its_own_settings_blocks_its_save(
    host: RefHost, register_plugin: Register
) -> None:
    register_plugin(Raising(), name="raising")
    errors = host.save_plugin_settings("raising", {"a": 1})
    assert errors
    assert "failed while checking its settings" in errors[0]
    assert "boom" not in errors[0]  # the admin is pointed at the log, not shown internals
    assert host.settings("raising") == {}


def test_another_plugin_raising_in_validate_settings_does_not_block_a_save(
    host: RefHost, register_plugin: Register
) -> None:
    register_plugin(Raising(), name="raising")
    register_plugin(RecordingPlugin(), name="rec")
    assert host.save_plugin_settings("rec", {"a": 1}) == []
    assert host.settings("rec") == {"a": 1}
    assert [f.hook for f in host.hook_failures] == ["validate_settings"]


def test_settings_for_an_absent_or_switched_off_plugin_or_not_json_are_refused(
    host: RefHost, register_plugin: Register
) -> None:
    register_plugin(RecordingPlugin(), name="rec")
    assert "no plugin named" in host.save_plugin_settings("ghost", {})[0]
    assert "must be JSON" in host.save_plugin_settings("rec", {"when": datetime.now(UTC)})[0]
    host.disable_plugin("rec")
    assert "switched off" in host.save_plugin_settings("rec", {})[0]


# -- failures never break the host ----------------------------------------------------------------


def test_a_raising_plugin_neither_stops_the_invoice_nor_the_other_plugin(
    host: RefHost, register_plugin: Register, caplog: pytest.LogCaptureFixture
) -> None:
    rec = RecordingPlugin()
    register_plugin(rec, name="rec")  # registered first: pluggy calls it last
    register_plugin(Raising(), name="raising")
    with caplog.at_level(logging.ERROR, logger="hookspecs.refhost"):
        invoice = _invoice(host)
    assert host.get_record("invoices", invoice["id"]) == invoice
    assert rec.named("on_invoice_created") == [{"invoice": invoice}]
    assert host.hook_failures == [
        HookFailure("on_invoice_created", "raising", "RuntimeError('boom in on_invoice_created')")
    ]
    assert "'raising' raised in hook on_invoice_created" in caplog.text


def test_a_plugin_that_edits_its_record_does_not_change_what_others_or_the_host_see(
    host: RefHost, register_plugin: Register
) -> None:
    class Vandal:
        @hookimpl(tryfirst=True)
        def on_invoice_created(self, invoice: dict[str, Any]) -> None:
            invoice["total"] = "0.00"

    rec = RecordingPlugin()
    register_plugin(rec, name="rec")
    register_plugin(Vandal(), name="vandal")
    invoice = host.create_invoice({"location_id": "bondi", "client_id": "c", "total": "9.00"})
    assert rec.named("on_invoice_created")[0]["invoice"]["total"] == "9.00"
    assert host.get_record("invoices", invoice["id"])["total"] == "9.00"  # type: ignore[index]


def test_fire_hands_plugins_a_raw_payload_without_storing_it(
    host: RefHost, register_plugin: Register
) -> None:
    rec = RecordingPlugin()
    register_plugin(rec, name="rec")
    assert host.fire("on_invoice_created", invoice={"id": 7, "lines": None}) == []
    assert rec.named("on_invoice_created") == [{"invoice": {"id": 7, "lines": None}}]
    assert list(host.iter_history("invoices")) == []
    with pytest.raises(ValueError, match="no hook named"):
        host.fire("on_pet_adopted", pet={})
    with pytest.raises(TypeError, match="invoice"):
        host.fire("on_invoice_created")


# -- loading from entry points ---------------------------------------------------------------------


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real installed distribution on sys.path declaring a good and a broken plugin."""
    site = tmp_path / "site"
    dist = site / "fake_pm_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-pm-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pet_manager]\nbroken = fake_pm_broken\ngood = fake_pm_good\n"
    )
    (site / "fake_pm_broken.py").write_text("import a_module_that_does_not_exist\n")
    (site / "fake_pm_good.py").write_text(
        textwrap.dedent(
            """
            from hookspecs import hookimpl
            invoices = []

            @hookimpl
            def on_invoice_created(invoice):
                invoices.append(invoice["id"])
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("fake_pm_good", "fake_pm_broken"):
        sys.modules.pop(name, None)


def test_a_plugin_that_fails_to_import_is_logged_and_skipped(
    tmp_path: Path, fake_distribution: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = RefHost(tmp_path / "pm", load_entrypoints=False)
    host.pm.set_blocked("xero")  # the real add-on is installed too; keep this test about ours
    with caplog.at_level(logging.ERROR, logger="hookspecs.refhost"):
        assert sorted(host.load_entrypoints()) == ["good"]
    with host:
        failures = {f.plugin: f for f in host.plugin_load_failures}
        assert "good" in host.plugin_names()
        assert "broken" not in host.plugin_names()
        assert "a_module_that_does_not_exist" in failures["broken"].error
        assert failures["broken"].entry_point == "fake_pm_broken"
        assert "'broken' (fake_pm_broken) could not be loaded" in caplog.text
        host.add_location(BONDI)
        invoice = _invoice(host)
        assert sys.modules["fake_pm_good"].invoices == [invoice["id"]]
        assert host.load_entrypoints() == []  # loading again adds nothing twice
