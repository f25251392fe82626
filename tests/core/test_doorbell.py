"""The doorbell between the engine and the worker."""

from __future__ import annotations

import threading
import time

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
