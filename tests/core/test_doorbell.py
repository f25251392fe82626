"""The doorbell between the engine and the worker."""

from __future__ import annotations

import threading
import time

from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin.core.doorbell import Doorbell


def test_a_ring_before_the_wait_is_not_lost() -> None:
    bell = Doorbell()
    bell.ring()
    bell.ring()
    assert bell.wait(0) is True
    assert bell.wait(0) is False  # two rings before one wait are one wake-up


def test_a_wait_without_a_ring_times_out() -> None:
    bell = Doorbell()
    started = time.monotonic()
    assert bell.wait(0.05) is False
    assert time.monotonic() - started >= 0.04


def test_a_ring_from_another_thread_wakes_the_waiter_before_its_timeout() -> None:
    bell = Doorbell()
    timer = threading.Timer(0.05, bell.ring)
    timer.start()
    started = time.monotonic()
    try:
        assert bell.wait(10) is True
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5


def test_the_engine_rings_when_a_hook_makes_a_row_ready(practice: Practice) -> None:
    practice.setup()
    practice.host.start_contact_sync("syd")
    practice.drain()
    bell = practice.engine.doorbell
    bell.wait(0)  # forget what setting up rang
    practice.host.save_client(client("c1", 1))
    assert practice.state("contact", "c1") == ("ready", None)
    assert bell.wait(0) is True


def test_the_engine_does_not_ring_for_a_row_that_waits(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))  # contact sync not started: it waits
    bell = practice.engine.doorbell
    bell.wait(0)
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    assert practice.state("invoice", "i1")[0] == "waiting"
    assert bell.wait(0) is False


def test_settling_a_contact_rings_for_the_documents_it_lets_go(practice: Practice) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync("syd")
    practice.drain()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10"))
    practice.host.save_client(client("c2", 2))
    practice.host.create_invoice(invoice("i2", 2, "c2", "2025-02-11"))
    assert practice.state("invoice", "i2") == ("waiting", "contact")
    now = practice.host.now()
    [contact] = practice.ledger.claim("T1", "contact", worker_id="w", now=now)
    bell = practice.engine.doorbell
    bell.wait(0)
    practice.ledger.mark_synced(contact.id, "XC2")
    assert practice.state("invoice", "i2") == ("ready", None)
    assert bell.wait(0) is True
