"""Every sync rule, pinned through the reference host and the real PluginManager.

The host fires the hooks; the add-on records rows; :meth:`Practice.drain` plays the worker
(claim, mark sent, mark synced) so what became ready, and in which order, is observable.
"""

from __future__ import annotations

from datetime import UTC, datetime

from support.ledger_helpers import Practice, client, invoice, line, payment, settings

from hookspecs.refhost import ManualClock


def test_nothing_is_ready_before_settings_connection_and_codes(practice: Practice) -> None:
    practice.host.save_client(client("c1", 1))
    assert practice.state("contact", "c1", "") == ("waiting", "disabled")
    assert practice.host.save_plugin_settings("xero", settings()) == []
    assert practice.state("contact", "c1") == ("waiting", "connection")
    practice.engine.set_connection(None, "T1", True)
    assert practice.state("contact", "c1") == ("waiting", "account_codes")  # no chart yet
    practice.connect("T1")
    assert practice.state("contact", "c1") == ("waiting", "contact_sync_not_started")
    practice.host.start_contact_sync("syd")
    assert practice.state("contact", "c1") == ("ready", None)
    practice.engine.set_connection(None, "T1", False, "disconnected in Xero")
    assert practice.state("contact", "c1") == ("waiting", "connection")


def test_a_locations_connection_must_be_enabled(practice: Practice) -> None:
    raw = settings()
    raw["locations"]["syd"]["connection_enabled"] = False
    practice.host.save_plugin_settings("xero", raw)
    practice.connect()
    practice.host.save_client(client("c1", 1))
    assert practice.state("contact", "c1") == ("waiting", "connection")


def test_contacts_go_first_and_documents_wait_for_contact_sync_to_finish(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.save_client(client("c2", 2))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.start_contact_sync("syd")
    assert practice.state("contact", "c1") == ("ready", None)
    assert practice.state("invoice", "i1") == ("waiting", "contact_sync")
    assert practice.ledger.tenants_with_ready_work(practice.host.now()) == ["T1"]
    assert practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now()) == []
    [first] = practice.ledger.claim(
        "T1", "contact", limit=1, worker_id="w", now=practice.host.now()
    )
    practice.ledger.mark_synced(first.id, "XC1")
    assert practice.state("invoice", "i1") == ("waiting", "contact_sync")  # c2 still on its way
    practice.drain()
    assert practice.state("invoice", "i1") == ("synced", None)
    org = practice.status()["organisations"][0]
    assert (org["contact_sync"], org["data_sync"]) == ("up_to_date", "up_to_date")


def test_a_customer_first_seen_at_another_location_is_created_there_first(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1, location="syd"))
    practice.host.start_contact_sync()
    practice.drain()
    assert practice.ledger.find("contact", "c1", "T2") is None
    practice.host.create_invoice(invoice("i9", 9, "c1", "2025-02-10", location="lon"))
    assert practice.state("contact", "c1", "T2") == ("ready", None)
    assert practice.state("invoice", "i9", "T2") == ("waiting", "contact")
    practice.drain()
    assert practice.state("invoice", "i9", "T2") == ("synced", None)
    assert practice.ledger.xero_id("contact", "c1", "T2") == "X-contact-c1"


def test_the_start_date_is_in_and_the_day_before_is_out(practice: Practice) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("on", 1, "c1", "2025-02-01"))
    practice.host.create_invoice(invoice("before", 2, "c1", "2025-01-31"))
    practice.host.record_payment(payment("p-on", 1, "c1", "2025-02-01", [("on", "110.00")]))
    practice.drain()
    assert practice.state("invoice", "on") == ("synced", None)
    assert practice.state("payment", "p-on:on") == ("synced", None)
    assert practice.state("invoice", "before") == ("waiting", "before_start_date")


def test_a_payment_dated_before_the_start_is_never_sent_even_for_an_invoice_inside(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-01"))
    practice.host.record_payment(payment("p0", 1, "c1", "2025-01-31", [("i1", "10.00")]))
    practice.drain()
    assert practice.state("payment", "p0:i1") == ("waiting", "before_start_date")


def test_a_payment_whose_invoice_is_before_the_start_is_held_with_two_ways_out(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.save_plugin_settings("xero", settings(enabled=False))
    practice.host.create_invoice(invoice("old", 1, "c1", "2025-01-20"))  # not sent: disabled
    practice.host.create_invoice(invoice("old2", 2, "c1", "2025-01-21"))
    practice.host.save_plugin_settings("xero", settings())
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-03", [("old", "110.00")]))
    practice.host.record_payment(payment("p2", 2, "c1", "2025-02-03", [("old2", "110.00")]))
    practice.drain()
    assert practice.state("payment", "p1:old") == ("waiting", "invoice_before_start")
    status = practice.status("syd")
    held = next(f for f in status["failures"] if f["host_id"] == "p1:old")
    assert "2025-01-20" in held["message"]
    assert "widen the start date" in held["hint"]
    assert held["actions"] == ["widen_start_date", "include_parent_invoice", "exclude"]
    # way out 1: send that invoice too
    practice.engine.include_parent_invoice(held["row_id"])
    practice.drain()
    assert practice.state("invoice", "old") == ("synced", None)
    assert practice.state("payment", "p1:old") == ("synced", None)
    assert practice.state("payment", "p2:old2") == ("waiting", "invoice_before_start")
    # way out 2: widen the start date (allowed although data has synced: earlier is fine)
    assert practice.host.save_plugin_settings("xero", settings("2025-01-21")) == []
    practice.drain()
    assert practice.state("invoice", "old2") == ("synced", None)
    assert practice.state("payment", "p2:old2") == ("synced", None)


def test_a_parent_invoice_the_plugin_never_saw_is_fetched_from_the_host(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.disable_plugin("xero")
    practice.host.create_invoice(invoice("old", 1, "c1", "2025-01-10"))  # no hook: plugin off
    practice.host.enable_plugin("xero")
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-03", [("old", "110.00")]))
    assert practice.ledger.find("invoice", "old", "T1") is None
    row = practice.ledger.find("payment", "p1:old", "T1")
    assert row is not None
    assert row.gate == "invoice_before_start"
    practice.engine.include_parent_invoice(row.id)
    practice.drain()
    assert practice.state("payment", "p1:old") == ("synced", None)


def test_a_future_start_date_holds_data_until_the_local_date_is_reached(
    clock: ManualClock, practice: Practice
) -> None:
    # 2025-03-01 09:00 UTC is 20:00 in Sydney and 09:00 in London.
    practice.setup("2025-03-02")
    practice.host.save_client(client("c1", 1))
    practice.host.save_client(client("c2", 2, location="lon"))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("s", 1, "c1", "2025-03-02"))
    practice.host.create_invoice(invoice("l", 2, "c2", "2025-03-02", location="lon"))
    assert practice.state("invoice", "s") == ("waiting", "start_date_future")
    orgs = {o["tenant_id"]: o for o in practice.status()["organisations"]}
    assert orgs["T1"]["data_sync"] == "waiting_for_date"
    clock.set(datetime(2025, 3, 1, 13, 0, tzinfo=UTC))  # midnight in Sydney, 13:00 in London
    status = practice.host.sync_status()
    assert status is not None
    assert practice.state("invoice", "s") == ("ready", None)
    assert practice.state("invoice", "l", "T2") == ("waiting", "start_date_future")
    orgs = {o["tenant_id"]: o for o in status["organisations"]}
    assert (orgs["T1"]["data_sync"], orgs["T2"]["data_sync"]) == ("running", "waiting_for_date")
    clock.set(datetime(2025, 3, 2, 0, 0, tzinfo=UTC))  # midnight in London
    practice.drain()
    assert practice.state("invoice", "l", "T2") == ("synced", None)


def test_business_dates_are_the_locations_own_not_the_servers(
    practice: Practice, clock: ManualClock
) -> None:
    """An invoice dated today in Sydney is in the window while it is still yesterday in UTC."""
    clock.set(datetime(2025, 2, 28, 14, 0, tzinfo=UTC))  # 01:00 on 1 March in Sydney
    practice.setup("2025-03-01")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(
        {
            "id": "today",
            "number": 1,
            "client_id": "c1",
            "location_id": "syd",
            "lines": [
                {
                    "description": "Groom",
                    "category": "grooming",
                    "quantity": "1",
                    "unit_price": "80.00",
                }
            ],
        }
    )
    stored = practice.host.get_record("invoices", "today")
    assert stored is not None
    assert stored["date"] == "2025-03-01"
    practice.drain()
    assert practice.state("invoice", "today") == ("synced", None)


def test_once_data_synced_the_start_date_cannot_move_later(practice: Practice) -> None:
    practice.setup("2025-02-01")
    assert practice.host.save_plugin_settings("xero", settings("2025-02-05")) == []  # not yet
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    assert practice.status()["start_date_locked"] is False  # contacts do not lock it
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.drain()
    assert practice.status()["start_date_locked"] is True
    errors = practice.host.save_plugin_settings("xero", settings("2025-02-06"))
    assert len(errors) == 1
    assert errors[0].startswith(
        "start_date: data has already synced to Xero from 2025-02-05; the start date cannot "
        "move later"
    )
    assert practice.host.save_plugin_settings("xero", settings(None)) == errors
    assert practice.host.save_plugin_settings("xero", settings("2025-02-01")) == []


def test_an_edit_before_sending_replaces_the_queued_version(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.update_invoice(
        {
            "id": "i1",
            "lines": [
                {
                    "description": "Two nights",
                    "category": "boarding",
                    "quantity": "2",
                    "unit_price": "100.00",
                }
            ],
        }
    )
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert row.operation == "create"
    assert row.payload["lines"][0]["description"] == "Two nights"
    assert practice.ledger._q("SELECT count(*) FROM rows WHERE kind = 'invoice'")[0][0] == 1


def test_an_edit_after_sync_becomes_an_update_and_a_void_a_void(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.drain()
    practice.host.update_invoice({"id": "i1", "reference": "Rex and Fido"})
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert (row.state, row.operation, row.xero_id) == (
        "ready",
        "update",
        "X-invoice-i1",
    )
    practice.drain()
    practice.host.void_invoice("i1")
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert (row.state, row.operation) == ("ready", "void")


def test_a_void_before_sending_means_nothing_is_sent(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.void_invoice("i1")
    assert practice.state("invoice", "i1") == ("excluded", None)


def test_an_edit_xero_will_not_allow_fails_with_the_reason(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "110.00")]))
    practice.drain()
    practice.host.void_invoice("i1")
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    assert row.state == "failed"
    assert "has a payment or credit note allocated to it" in (row.message or "")
    assert row.operation == "void"  # what a retry sends once the payment is removed in Xero
    failure = next(f for f in practice.status()["failures"] if f["row_id"] == row.id)
    assert "Remove the payment" in failure["hint"]


def test_an_edit_while_in_flight_is_sent_as_an_update_afterwards(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    [claimed] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    practice.host.update_invoice({"id": "i1", "reference": "late change"})
    practice.ledger.mark_synced(claimed.id, "XI1")
    row = practice.ledger.get(claimed.id)
    assert row is not None
    assert (row.state, row.operation, row.xero_id) == ("ready", "update", "XI1")
    assert row.payload["reference"] == "late change"


def test_switched_off_records_wait_and_flow_when_switched_on(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.save_plugin_settings("xero", settings(enabled=False))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    assert practice.state("invoice", "i1") == ("waiting", "disabled")
    assert practice.drain() == 0
    practice.host.save_plugin_settings("xero", settings())
    assert practice.drain() == 1
    assert practice.state("invoice", "i1") == ("synced", None)


def test_records_made_while_the_host_had_the_plugin_off_are_caught_up(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.backfill()
    practice.drain()
    practice.host.disable_plugin("xero")
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.save_client(client("c2", 2))
    assert practice.ledger.find("invoice", "i1", "T1") is None
    practice.host.enable_plugin("xero")
    practice.drain()
    assert practice.state("invoice", "i1") == ("synced", None)
    assert practice.state("contact", "c2") == ("synced", None)


def test_hooks_before_startup_are_kept_and_recorded_at_startup(practice: Practice) -> None:
    from pm_xero_plugin import plugin

    practice.setup()
    practice.host.stop()
    plugin.on_client_saved(client=client("c1", 1, updated_at="x"), practice_id=None)
    practice.host.start()
    assert practice.state("contact", "c1")[0] == "waiting"


def test_a_credit_note_against_an_invoice_is_allocated_after_both(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.create_credit_note(
        {
            "id": "n1",
            "number": 1,
            "client_id": "c1",
            "location_id": "syd",
            "date": "2025-02-11",
            "invoice_id": "i1",
            "lines": [
                {
                    "description": "Refund",
                    "category": "boarding",
                    "quantity": "1",
                    "unit_price": "10.00",
                }
            ],
        }
    )
    assert practice.state("allocation", "n1") == ("waiting", "contact_sync")
    practice.drain()
    assert practice.state("credit_note", "n1") == ("synced", None)
    assert practice.state("allocation", "n1") == ("synced", None)


def test_an_overpayment_gets_its_own_row(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.record_payment(
        payment("p1", 1, "c1", "2025-02-10", [("i1", "110.00")], amount="150.00")
    )
    practice.drain()
    assert practice.state("overpayment", "p1") == ("synced", None)
    assert practice.state("payment", "p1:i1") == ("synced", None)


def test_moving_the_start_date_earlier_back_syncs_history_never_seen(
    practice: Practice,
) -> None:
    practice.setup("2025-02-01")
    practice.host.save_client(client("c1", 1))
    practice.host.disable_plugin("xero")  # history made before the add-on was in use
    practice.host.create_invoice(invoice("jan", 1, "c1", "2025-01-15"))
    practice.host.create_invoice(invoice("dec", 2, "c1", "2024-12-15"))
    practice.host.enable_plugin("xero")
    practice.host.start_contact_sync()
    practice.host.backfill()
    practice.host.create_invoice(invoice("feb", 3, "c1", "2025-02-02"))
    practice.drain()
    assert practice.ledger.find("invoice", "jan", "T1") is None
    assert practice.host.save_plugin_settings("xero", settings("2025-01-01")) == []
    practice.drain()
    assert practice.state("invoice", "jan") == ("synced", None)
    assert practice.ledger.find("invoice", "dec", "T1") is None  # still outside the window


def test_shared_mode_sends_every_location_to_one_organisation_once(practice: Practice) -> None:
    raw = {
        "enabled": True,
        "organisation_mode": "shared",
        "tenant_id": "T1",
        "tracking_category": "Location",
        "locations": {"syd": {"tracking_option": "Sydney"}, "lon": {"tracking_option": "London"}},
        "account_codes": {"T1": settings()["account_codes"]["T1"]},
        "start_date": "2025-02-01",
    }
    assert practice.host.save_plugin_settings("xero", raw) == []
    practice.connect("T1")
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("s", 1, "c1", "2025-02-10"))
    practice.host.create_invoice(invoice("l", 2, "c1", "2025-02-10", location="lon"))
    practice.drain()
    assert practice.state("invoice", "s") == practice.state("invoice", "l") == ("synced", None)
    assert len(practice.ledger.rows_for("contact", "c1")) == 1
    [org] = practice.status()["organisations"]
    assert org["tenant_id"] == "T1"
    assert sorted(org["locations"]) == ["lon", "syd"]


def test_a_payment_changed_after_it_reached_xero_fails_with_the_reason(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    paid = practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "50.00")]))
    practice.drain()
    practice.host.fire("on_payment_recorded", payment={**paid, "paid_date": "2025-02-11"})
    row = practice.ledger.find("payment", "p1:i1", "T1")
    assert row is not None
    assert row.state == "failed"
    assert row.message == "Xero does not allow editing a payment once it is recorded"
    assert row.hint == (
        "Delete it in Xero, then press retry to send the new version; or resolve this if "
        "Xero is already right."
    )


def test_an_excluded_record_can_be_included_again_by_retry(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    row = practice.ledger.find("invoice", "i1", "T1")
    assert row is not None
    practice.engine.exclude(row.id)
    assert practice.drain() == 0
    assert practice.engine.retry(row.id) == 1
    assert practice.drain() == 1


def test_a_payment_waits_for_an_invoice_edit_still_on_its_way_to_xero(practice: Practice) -> None:
    """An invoice edited while its create is in flight, then paid in full: the payment must not
    go before the edit reaches Xero, or Xero (holding the old total) refuses it ("Payment amount
    exceeds the amount outstanding") and will not take the edit once the invoice is paid."""
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    [claimed] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    practice.host.update_invoice({"id": "i1", "lines": [line(), line("49.95")]})
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "164.95")]))
    practice.ledger.mark_synced(claimed.id, "XI1")  # the first version is in Xero; the edit is not
    assert practice.state("payment", "p1:i1") == ("waiting", "invoice")
    [update] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    assert update.operation == "update"
    practice.ledger.mark_synced(update.id, "XI1")
    assert practice.state("payment", "p1:i1") == ("ready", None)


def test_a_payment_recorded_after_a_synced_invoice_was_edited_waits_for_the_update(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.drain()
    practice.host.update_invoice({"id": "i1", "lines": [line("120.00")]})
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "132.00")]))
    assert practice.state("payment", "p1:i1") == ("waiting", "invoice")
    practice.drain()
    assert practice.state("payment", "p1:i1") == ("synced", None)


def test_a_payment_already_cleared_to_go_waits_again_when_its_invoice_is_edited(
    practice: Practice,
) -> None:
    """Paid, then the invoice edited before the payment was claimed: the payment waits for the
    edit, or the worker could send both at once and Xero meet them in either order."""
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.drain()
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "110.00")]))
    assert practice.state("payment", "p1:i1") == ("ready", None)
    practice.host.update_invoice({"id": "i1", "reference": "Rex, two nights"})
    assert practice.state("payment", "p1:i1") == ("waiting", "invoice")
    [update] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    practice.ledger.mark_synced(update.id, "X-invoice-i1")
    assert practice.state("payment", "p1:i1") == ("ready", None)


def test_a_payment_goes_against_what_xero_has_once_the_invoices_edit_failed(
    practice: Practice,
) -> None:
    """An edit Xero refused leaves nothing more on its way: later payments are not held for ever
    behind it (Xero's own answer says if it refuses them too)."""
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.drain()
    practice.host.update_invoice({"id": "i1", "reference": "edited"})
    [update] = practice.ledger.claim("T1", "invoice", worker_id="w", now=practice.host.now())
    practice.ledger.mark_failed(update.id, "refused by Xero")
    practice.host.record_payment(payment("p1", 1, "c1", "2025-02-10", [("i1", "110.00")]))
    assert practice.state("payment", "p1:i1") == ("ready", None)
