"""A reference host with the Xero add-on loaded, for the host kill -9 test: one "generation".

    python host_kill_child.py DATA_DIR PLAN_JSON

The host is the reference host on ``DATA_DIR`` (a plain restart: it reopens its store, registers
the add-on through :mod:`pm_xero_plugin.plugin` and calls ``pm_startup``), with the add-on's
worker thread running inside it (``PM_XERO_WORKER`` as the parent set it) and its long jobs in
the background (``PM_XERO_JOBS=background``, as in production). The plan (JSON) says what the
practice does in this generation and where the process dies:

``offset``   seconds the host clock runs ahead of the real one. Each restart is given a later
             clock (as if it came up minutes after the crash), so the leases the killed process
             held on its rows (the worker's, judged by the host clock) have expired.
``action``   what the admin does first: ``"backfill"`` (presses "Start syncing data"),
             ``{"start_date": "YYYY-MM-DD"}`` (saves the settings with that start date: earlier
             means a catch-up), ``"resave"`` (saves the settings with another rounding
             tolerance), or nothing.
``day``      a busy day at every location (:func:`hookspecs.refhost.live_day`): customers,
             invoices, payments, edits and voids, each saved by the host and then its hook fired
             (after the background jobs when the kill is in history, so that what the host holds
             at the kill depends on the seed alone).
``kill``     where the process SIGKILLs itself (``null``: it stops cleanly):
             ``{"hook": N, "when": "before"|"after"}`` – inside the Nth record hook (after the
             host's commit), before or after the add-on is handed it; ``"when": "during",
             "us": D`` – D µs after the add-on was handed it (inside its hand-off, or just
             after);
             ``{"settings_hook": "before"|"after"}`` – inside ``on_settings_saved``;
             ``{"void": "before"|"after"}`` / ``{"edit": …}`` – after the busy day an invoice is
             made, and once it is in Xero voided (or given another line): the process dies
             inside that ``on_invoice_voided`` (``on_invoice_updated``);
             ``{"history": N}`` – when the add-on has read N records from the host's history
             (``iter_history``: back-sync, catch-up, or whatever replays the host's records);
             ``{"ms": N}`` – N ms after start-up returned, wherever it is.
``final``    the last run: after ``pm_startup``, ``plugin.wait_for_jobs()`` and the worker run
             until idle (``PM_XERO_WORKER=off``: the run is the child's, not a thread's).

It prints ``ready`` once ``pm_startup`` returned, ``kill <where>`` just before it dies and
``done …`` when it stopped by itself.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hookspecs import hookimpl
from hookspecs.refhost import RefHost, live_day
from hookspecs.refhost.generator import day_rng
from hookspecs.refhost.store import KINDS
from pm_xero_plugin import plugin

PLUGIN = "xero"
RECORD_HOOKS = (
    "on_client_saved",
    "on_invoice_created",
    "on_invoice_updated",
    "on_invoice_voided",
    "on_credit_note_created",
    "on_payment_recorded",
)


class ShiftedClock:
    """The real clock, ``offset`` later."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def _say(line: str) -> None:
    """One line to the test, in one write: the kill switch fires on another thread, and a
    ``print`` (the text, then its newline) could be cut between the two by the SIGKILL."""
    os.write(1, (line + "\n").encode())


def die(where: str) -> None:
    _say(f"kill {where}")
    os.kill(os.getpid(), signal.SIGKILL)


def describe(record: Any) -> str:
    if isinstance(record, dict):
        return f"{record.get('location_id')}#{record.get('number')}"
    return "?"


class Killer:
    """Counts the record hooks the host fires and dies inside the Nth (and in
    ``on_settings_saved`` when told). Registered with ``tryfirst`` it runs before the add-on
    sees the call, with ``trylast`` after the add-on has handled it."""

    def __init__(self, kill: dict[str, Any]) -> None:
        self.kill = kill
        self.calls = 0

    def record_hook(self, hook: str, record: Any) -> None:
        if "hook" not in self.kill:
            return
        self.calls += 1
        if self.calls != self.kill["hook"]:
            return
        where = f"{hook} {describe(record)} (hook call {self.calls}"
        if self.kill["when"] == "during":  # while the add-on handles it (or just after)
            delay = self.kill["us"] / 1e6
            timer = threading.Timer(delay, die, (f"{self.kill['us']} µs into {where})",))
            timer.daemon = True
            timer.start()
            return
        die(f"in {where}, {self.kill['when']})")

    def change_hook(self, hook: str, invoice: Any) -> None:
        """The armed change (a void or an edit of an invoice Xero has) dies here."""
        if self.kill.get("armed") == hook:
            when = self.kill.get("void", self.kill.get("edit"))
            die(f"in {hook} {describe(invoice)} of an invoice in Xero ({when} the add-on)")

    def settings_hook(self, plugin_name: str) -> None:
        if plugin_name == PLUGIN and "settings_hook" in self.kill:
            die(f"in on_settings_saved ({self.kill['settings_hook']} the add-on)")


def killer_plugin(killer: Killer, first: bool) -> object:
    """An object implementing the record hooks and ``on_settings_saved``, ordered around the
    add-on by ``tryfirst`` / ``trylast``."""
    mark = hookimpl(tryfirst=True) if first else hookimpl(trylast=True)

    class KillerPlugin:
        @mark
        def on_client_saved(self, client: Any) -> None:
            killer.record_hook("on_client_saved", client)

        @mark
        def on_invoice_created(self, invoice: Any) -> None:
            killer.record_hook("on_invoice_created", invoice)

        @mark
        def on_invoice_updated(self, invoice: Any) -> None:
            killer.change_hook("on_invoice_updated", invoice)
            killer.record_hook("on_invoice_updated", invoice)

        @mark
        def on_invoice_voided(self, invoice: Any) -> None:
            killer.change_hook("on_invoice_voided", invoice)
            killer.record_hook("on_invoice_voided", invoice)

        @mark
        def on_credit_note_created(self, credit_note: Any) -> None:
            killer.record_hook("on_credit_note_created", credit_note)

        @mark
        def on_payment_recorded(self, payment: Any) -> None:
            killer.record_hook("on_payment_recorded", payment)

        @mark
        def on_settings_saved(self, plugin: str, settings: Any) -> None:
            killer.settings_hook(plugin)

    return KillerPlugin()


def count_history(host: RefHost, limit: int) -> None:
    """Die when the add-on has read ``limit`` records through ``host.iter_history``."""
    original = host.iter_history
    lock = threading.Lock()
    seen = [0]

    def counted(kind: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        stream = original(kind, *args, **kwargs)  # whatever the host contract grows

        def each() -> Iterator[dict[str, Any]]:
            for record in stream:
                with lock:
                    seen[0] += 1
                    if seen[0] == limit:
                        die(f"reading history: record {limit} ({kind} {describe(record)})")
                yield record

        return each()

    host.iter_history = counted  # type: ignore[method-assign]


def admin_action(host: RefHost, action: Any) -> None:
    if action == "backfill":
        host.backfill(None, None)
    elif action == "resave":
        settings = host.settings(PLUGIN)
        settings["rounding_tolerance"] = (
            "0.03" if settings.get("rounding_tolerance") == "0.02" else "0.02"
        )
        errors = host.save_plugin_settings(PLUGIN, settings)
        _say(f"settings refused: {errors}" if errors else "settings saved")
    elif isinstance(action, dict):
        settings = host.settings(PLUGIN)
        settings["start_date"] = action["start_date"]
        errors = host.save_plugin_settings(PLUGIN, settings)
        _say(f"settings refused: {errors}" if errors else "settings saved")


def busy_day(host: RefHost, day: str, seed: int) -> None:
    when = date.fromisoformat(day)
    rng = day_rng(seed, when, {kind: host.store.max_number(kind) for kind in KINDS})
    live_day(host, when, rng, per_day=4)


def change_once_in_xero(host: RefHost, day: str, killer: Killer) -> None:
    """Invoice a customer, wait until the invoice is in Xero, then void or edit it – the kill
    armed for that hook."""
    location = host.locations()[-1]["id"]
    client = host.store.clients_of(location)[0]
    line = {
        "description": "Nail trim",
        "category": "grooming",
        "quantity": "1",
        "unit_price": "25.00",
        "tax_rate": "10",
    }
    invoice = host.create_invoice(
        {"location_id": location, "client_id": client["id"], "date": day, "lines": [line]}
    )
    engine = plugin.get_engine()
    assert engine is not None
    deadline = time.monotonic() + 30
    while not any(r.xero_id for r in engine.ledger.rows_for("invoice", invoice["id"])):
        assert time.monotonic() < deadline, "the invoice to change never reached Xero"
        time.sleep(0.05)
    if "void" in killer.kill:
        killer.kill["armed"] = "on_invoice_voided"
        host.void_invoice(invoice["id"])
    else:
        killer.kill["armed"] = "on_invoice_updated"
        host.update_invoice({"id": invoice["id"], "lines": [line, {**line, "quantity": "2"}]})


def finish(host: RefHost, final: bool) -> str:
    """Let the background jobs run; in the final run also the worker until idle."""
    jobs_done = plugin.wait_for_jobs(timeout=60)
    if not final:
        return f"jobs_done={jobs_done}"
    runtime = plugin.get_runtime()
    assert runtime is not None, host.hook_failures
    stats = runtime.worker.run(until_idle=True, max_seconds=60.0)
    jobs_done = plugin.wait_for_jobs(timeout=60) and jobs_done
    return f"jobs_done={jobs_done} synced={stats.synced} failed={stats.failed}"


def main() -> int:
    root = Path(sys.argv[1])
    plan: dict[str, Any] = json.loads(sys.argv[2])
    kill: dict[str, Any] = plan.get("kill") or {}
    host = RefHost(
        root, clock=ShiftedClock(timedelta(seconds=plan["offset"])), load_entrypoints=False
    )
    host.register(plugin, name=PLUGIN)
    killer = Killer(kill)
    when = [kill.get(k) for k in ("when", "settings_hook", "void", "edit") if k in kill]
    before = when in (["before"], ["during"])
    host.register(killer_plugin(killer, first=before), name="killer")
    if "history" in kill:
        count_history(host, int(kill["history"]))
    host.start()
    _say("ready")
    timer = threading.Timer(kill.get("ms", 0) / 1000, die, (f"{kill.get('ms')} ms after start-up",))
    timer.daemon = True
    if "ms" in kill:
        timer.start()
    admin_action(host, plan.get("action"))
    if "history" in kill:
        # the records the host holds when it dies depend on the seed alone, not on how far
        # the hooks got while the history was read
        plugin.wait_for_jobs(timeout=60)
    if plan.get("day"):
        busy_day(host, plan["day"], int(plan["seed"]))
    if "void" in kill or "edit" in kill:
        change_once_in_xero(host, plan["day"], killer)
    summary = finish(host, bool(plan.get("final")))
    host.stop()
    timer.cancel()
    _say(f"done {summary} hook_failures={len(host.hook_failures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
