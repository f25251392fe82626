"""How long the add-on holds the host inside each hook, measured from the host's side.

Two plugins around the add-on: one called first (``tryfirst``) notes the time, one called last
(``trylast``) takes the difference – what the staff member's save waited for the add-on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hookspecs import hookimpl
from hookspecs.refhost import RefHost


class HookStopwatch:
    """``durations``: seconds the add-on took in each record hook the host fired, in order."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._started = threading.local()

    def start(self) -> None:
        self._started.at = time.perf_counter()

    def stop(self) -> None:
        self.durations.append(time.perf_counter() - self._started.at)

    def register(self, host: RefHost) -> None:
        """Register the two timing plugins on ``host`` (after the add-on or before: the
        ``tryfirst`` / ``trylast`` marks put them around it)."""
        host.register(_plugin(self.start, first=True), name="stopwatch-start")
        host.register(_plugin(self.stop, first=False), name="stopwatch-stop")


def _plugin(note: Callable[[], None], *, first: bool) -> object:
    mark = hookimpl(tryfirst=True) if first else hookimpl(trylast=True)

    class Stopwatch:
        @mark
        def on_client_saved(self, client: Any) -> None:
            note()

        @mark
        def on_invoice_created(self, invoice: Any) -> None:
            note()

        @mark
        def on_invoice_updated(self, invoice: Any) -> None:
            note()

        @mark
        def on_invoice_voided(self, invoice: Any) -> None:
            note()

        @mark
        def on_credit_note_created(self, credit_note: Any) -> None:
            note()

        @mark
        def on_payment_recorded(self, payment: Any) -> None:
            note()

    return Stopwatch()
