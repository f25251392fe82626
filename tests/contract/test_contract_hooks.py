"""Each hook, called through a real PluginManager by the reference host, reaches a plugin with
the keyword arguments the spec promises; a plugin that raises never stops the host."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from hookspecs import hookimpl, spec
from hookspecs.host import HistoryKind, Host
from hookspecs.refhost import RefHost
from hookspecs.refhost.testing import RecordingPlugin

Register = Callable[..., str]
BONDI = {"id": "bondi", "name": "Bondi Beach Pet Resort", "timezone": "Australia/Sydney",
         "currency": "AUD", "country": "AU"}  # fmt: skip
LINE = {"description": "Full groom – small dog", "category": "grooming", "quantity": "1",
        "unit_price": "75.00", "tax_rate": "10"}  # fmt: skip


@pytest.fixture
def host(refhost: RefHost) -> RefHost:
    refhost.add_location(BONDI)
    return refhost


@pytest.fixture
def rec(register_plugin: Register) -> RecordingPlugin:
    plugin = RecordingPlugin()
    register_plugin(plugin, name="rec")
    return plugin


# Each action does what an admin, a staff member or the host itself does, and returns the
# keyword arguments the hook must then have received.
Action = Callable[[RefHost], dict[str, Any]]


def _startup(host: RefHost) -> dict[str, Any]:
    return {"host": host}  # registered into a running host: started on the spot


def _shutdown(host: RefHost) -> dict[str, Any]:
    host.stop()
    return {}


def _validate(host: RefHost) -> dict[str, Any]:
    host.save_plugin_settings("rec", {"start_date": "2025-01-01"})
    return {"plugin": "rec", "settings": {"start_date": "2025-01-01"}}


def _saved(host: RefHost) -> dict[str, Any]:
    return _validate(host)


def _client(host: RefHost) -> dict[str, Any]:
    return {"client": host.save_client({"location_id": "bondi", "first_name": "Mia",
                                        "last_name": "Nguyen"})}  # fmt: skip


def _invoice(host: RefHost) -> dict[str, Any]:
    return {"invoice": host.create_invoice({"location_id": "bondi", "client_id": "c1",
                                            "lines": [LINE]})}  # fmt: skip


def _updated(host: RefHost) -> dict[str, Any]:
    invoice = _invoice(host)["invoice"]
    return {"invoice": host.update_invoice({"id": invoice["id"], "reference": "Bella"})}


def _voided(host: RefHost) -> dict[str, Any]:
    return {"invoice": host.void_invoice(_invoice(host)["invoice"]["id"])}


def _credit(host: RefHost) -> dict[str, Any]:
    invoice = _invoice(host)["invoice"]
    return {"credit_note": host.create_credit_note({"location_id": "bondi", "client_id": "c1",
            "invoice_id": invoice["id"], "lines": [LINE]})}  # fmt: skip


def _payment(host: RefHost) -> dict[str, Any]:
    invoice = _invoice(host)["invoice"]
    return {"payment": host.record_payment({"location_id": "bondi", "client_id": "c1",
            "amount": "80.00", "allocations": [{"invoice_id": invoice["id"],
                                                "amount": "75.00"}]})}  # fmt: skip


def _payout(host: RefHost) -> dict[str, Any]:
    card = host.record_payment({"location_id": "bondi", "client_id": "c1", "amount": "75.00",
                                "method": "stripe", "allocations": []})  # fmt: skip
    return {"payout": host.record_payout({"location_id": "bondi", "fees": "1.61",
                                          "payment_ids": [card["id"]]})}  # fmt: skip


def _deposit(host: RefHost) -> dict[str, Any]:
    deposit = host.record_deposit({"location_id": "bondi", "client_id": "c1", "amount": "50.00"})
    invoice = _invoice(host)["invoice"]
    allocation = {"invoice_id": invoice["id"], "amount": "50.00"}
    return {"deposit": host.record_deposit({"id": deposit["id"], "allocations": [allocation]})}


def _refund(host: RefHost) -> dict[str, Any]:
    credit = host.create_credit_note({"location_id": "bondi", "client_id": "c1",
                                      "lines": [LINE]})  # fmt: skip
    return {"refund": host.record_refund({"location_id": "bondi", "client_id": "c1",
            "amount": "75.00", "credit_note_id": credit["id"]})}  # fmt: skip


def _contacts(host: RefHost) -> dict[str, Any]:
    host.start_contact_sync("bondi")
    return {"location_id": "bondi"}


def _backfill(host: RefHost) -> dict[str, Any]:
    host.backfill(None, date(2024, 2, 1))
    return {"location_id": None, "since": date(2024, 2, 1)}


def _status(host: RefHost) -> dict[str, Any]:
    host.sync_status("bondi")
    return {"location_id": "bondi"}


def _admin_action(host: RefHost) -> dict[str, Any]:
    host.fire("admin_action", plugin="rec", action="retry", params={"row_id": 7})
    return {"plugin": "rec", "action": "retry", "params": {"row_id": 7}}


def _web_app(host: RefHost) -> dict[str, Any]:
    host.fire("web_app")
    return {}


ACTIONS: dict[str, Action] = {
    "pm_startup": _startup,
    "pm_shutdown": _shutdown,
    "validate_settings": _validate,
    "on_settings_saved": _saved,
    "on_client_saved": _client,
    "on_invoice_created": _invoice,
    "on_invoice_updated": _updated,
    "on_invoice_voided": _voided,
    "on_credit_note_created": _credit,
    "on_payment_recorded": _payment,
    "on_payout_recorded": _payout,
    "on_deposit_recorded": _deposit,
    "on_refund_recorded": _refund,
    "start_contact_sync": _contacts,
    "backfill": _backfill,
    "sync_status": _status,
    "admin_action": _admin_action,
    "web_app": _web_app,
}


def test_every_spec_has_a_contract_test_below() -> None:
    assert set(ACTIONS) == set(spec.__all__)


@pytest.mark.parametrize("hook", sorted(ACTIONS))
def test_the_host_calls_each_hook_with_the_promised_keyword_arguments(
    host: RefHost, rec: RecordingPlugin, hook: str
) -> None:
    expected = ACTIONS[hook](host)
    assert rec.named(hook)[-1] == expected
    assert host.hook_failures == []


def test_pm_startup_hands_over_a_host_offering_the_published_services(
    host: RefHost, rec: RecordingPlugin
) -> None:
    given = rec.named("pm_startup")[0]["host"]
    assert isinstance(given, Host)
    assert given.locations() == [BONDI]
    assert given.is_enabled("rec")
    assert given.settings("rec") == {}


def test_record_hooks_receive_the_record_as_stored(host: RefHost, rec: RecordingPlugin) -> None:
    invoice = _invoice(host)["invoice"]
    assert rec.named("on_invoice_created")[0]["invoice"] == host.get_record(
        "invoices", invoice["id"]
    )


@pytest.mark.parametrize(
    ("hook", "kind"),
    [("on_payout_recorded", "payouts"), ("on_deposit_recorded", "deposits"),
     ("on_refund_recorded", "refunds")],
)  # fmt: skip
def test_money_records_are_told_as_stored_and_streamed_by_iter_history(
    host: RefHost, rec: RecordingPlugin, hook: str, kind: HistoryKind
) -> None:
    told = next(iter(ACTIONS[hook](host).values()))
    stored = host.get_record(kind, told["id"])
    assert rec.named(hook)[-1] == {hook.split("_")[1]: stored}
    assert [r["id"] for r in host.iter_history(kind, "bondi")] == [told["id"]]


def test_an_implementation_receives_only_the_arguments_it_names(
    host: RefHost, register_plugin: Register
) -> None:
    received: list[Any] = []

    class SinceOnly:
        @hookimpl
        def backfill(self, since: date | None) -> None:
            received.append(since)

    register_plugin(SinceOnly(), name="since-only")
    host.backfill("bondi", date(2025, 1, 1))
    assert received == [date(2025, 1, 1)]


def test_sync_status_answers_with_the_first_non_none_result(
    host: RefHost, register_plugin: Register
) -> None:
    late, answering, silent = RecordingPlugin(), RecordingPlugin(), RecordingPlugin()
    late.status = {"from": "late"}
    answering.status = {"from": "answering"}
    # pluggy calls the most recently registered plugin first.
    register_plugin(late, name="late")
    register_plugin(answering, name="answering")
    register_plugin(silent, name="silent")
    assert host.sync_status("bondi") == {"from": "answering"}
    assert len(silent.named("sync_status")) == len(answering.named("sync_status")) == 1
    assert late.named("sync_status") == []  # stopped at the first answer


def test_sync_status_is_none_when_no_plugin_answers(host: RefHost, rec: RecordingPlugin) -> None:
    assert host.sync_status() is None
    assert rec.named("sync_status") == [{"location_id": None}]


def test_a_raising_sync_status_passes_the_question_on(
    host: RefHost, register_plugin: Register
) -> None:
    class Broken:
        @hookimpl
        def sync_status(self, location_id: str | None) -> dict[str, Any]:
            raise ValueError("dashboard exploded")

    answering = RecordingPlugin()
    answering.status = {"synced": 3}
    register_plugin(answering, name="answering")
    register_plugin(Broken(), name="broken")  # called first
    assert host.sync_status() == {"synced": 3}
    assert [(f.hook, f.plugin) for f in host.hook_failures] == [("sync_status", "broken")]


def test_a_raising_hookimpl_does_not_stop_the_host_saving_an_invoice(
    host: RefHost, register_plugin: Register
) -> None:
    class Exploding:
        @hookimpl(tryfirst=True)
        def on_invoice_created(self, invoice: dict[str, Any]) -> None:
            raise KeyError("the plugin's own bug")

    after = RecordingPlugin()
    register_plugin(after, name="after")
    register_plugin(Exploding(), name="exploding")
    invoice = _invoice(host)["invoice"]
    assert host.get_record("invoices", invoice["id"]) == invoice
    assert after.named("on_invoice_created") == [{"invoice": invoice}]
    assert host.hook_failures[0].plugin == "exploding"
    assert "the plugin's own bug" in host.hook_failures[0].error


def test_call_order_honours_tryfirst_and_trylast(host: RefHost, register_plugin: Register) -> None:
    order: list[str] = []

    def plugin(name: str, **opts: bool) -> object:
        class P:
            @hookimpl(**opts)
            def on_client_saved(self, client: dict[str, Any]) -> None:
                order.append(name)

        return P()

    register_plugin(plugin("last", trylast=True), name="last")
    register_plugin(plugin("plain"), name="plain")
    register_plugin(plugin("first", tryfirst=True), name="first")
    _client(host)
    assert order == ["first", "plain", "last"]


def test_an_unregistered_plugin_is_called_no_more(host: RefHost, register_plugin: Register) -> None:
    rec = RecordingPlugin()
    register_plugin(rec, name="undo")
    host.unregister("undo")
    _invoice(host)
    assert rec.named("on_invoice_created") == []
    assert rec.calls[-1] == ("pm_shutdown", {})
