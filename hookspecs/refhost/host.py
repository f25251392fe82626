"""The reference host: a small but real Pet Manager host that a plugin author can run.

It keeps a practice in SQLite, loads plugins from the ``pet_manager`` entry-point group, calls
their hooks when its own records change, and offers them the :class:`hookspecs.host.Host`
services. It behaves as the production host promises to: a plugin that raises, or fails to
import, is logged and recorded, and the host's own work (the invoice being saved) carries on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy

from hookspecs import PROJECT_NAME, plugin_manager
from hookspecs.calling import (
    ADDED_ARGUMENTS,
    HookFailure,
    PluginLoadFailure,
    call_each_plugin,
    load_entrypoint_plugins,
)
from hookspecs.records import Location
from hookspecs.refhost.clock import Clock, SystemClock, local_date
from hookspecs.refhost.money import document_total, money
from hookspecs.refhost.store import KINDS, Kind, PracticeStore, SortKey

if TYPE_CHECKING:
    from hookspecs.host import HistoryKind

__all__ = ["RefHost"]

logger = logging.getLogger("hookspecs.refhost")

_LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class RefHost:
    """A running practice and its plugins. Implements :class:`hookspecs.host.Host`.

    Files under ``data_dir``: ``host/practice.db`` (the practice and plugin settings),
    ``host/secret.key`` (32 random bytes, mode 0600, from which each plugin's secret is derived)
    and ``plugins/<name>/`` (each plugin's own directory).

    Plugins are on unless the admin switched them off (the switch is stored). A plugin that is off
    gets no hook calls at all; switched on again it is started if the host is running, then told
    through ``on_settings_saved``. Every method is safe to call from any thread.
    """

    history_page_size: int = 500
    """Rows per page behind :meth:`iter_history` (tests shrink it to see the paging)."""

    def __init__(
        self,
        data_dir: Path | str,
        clock: Clock | None = None,
        load_entrypoints: bool = True,
        practice_id: str = "practice-1",
        *,
        plugins: pluggy.PluginManager | None = None,
    ) -> None:
        self.root = Path(data_dir)
        self.practice_id = practice_id
        """The practice this host serves: what its web front (:mod:`hookspecs.refhost.web`) puts
        into each plugin page's :class:`hookspecs.pages.PageContext`, and what a plugin serving
        one practice compares it with (the reference host holds exactly one practice)."""
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = PracticeStore(self.root / "host" / "practice.db", clock=self.clock.now)
        self.pm: pluggy.PluginManager = plugins if plugins is not None else plugin_manager()
        self.in_fleet = plugins is not None
        """One practice of a many-practice host (:class:`hookspecs.refhost.fleet.RefFleet`): its
        plugins are the fleet's, started and stopped once by the fleet (``pm_startup`` receives
        the fleet), and this practice only calls their practice-scoped hooks."""
        self.hook_failures: list[HookFailure] = []
        """Every exception a plugin raised into the host: (hook, plugin, repr of the error)."""
        self.plugin_load_failures: list[PluginLoadFailure] = []
        """Entry points that could not be imported or registered."""
        self._lock = threading.RLock()
        self._records_lock = threading.Lock()
        self._enabled: dict[str, bool] = {}
        self._started: set[str] = set()
        self._running = False
        self._secret: bytes | None = None
        if load_entrypoints and not self.in_fleet:
            self.load_entrypoints()

    # -- plugins ---------------------------------------------------------------------------------

    def load_entrypoints(self) -> list[str]:
        """Load every ``pet_manager`` entry point not loaded yet; failures are kept, not raised.

        :return: the names of the plugins loaded now.
        """
        loaded, failures = load_entrypoint_plugins(self.pm, PROJECT_NAME)
        with self._lock:
            self.plugin_load_failures.extend(failures)
        if self._running:
            for name in loaded:
                self._start_plugin(name)
        return loaded

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an extra plugin (a module or an object with hookimpls), as a test does.

        If the host is already running and the plugin is on, it receives ``pm_startup`` now, so
        every running plugin has seen the host object.
        """
        registered = self.pm.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin name {name!r} is blocked")
        if self._running:
            self._start_plugin(registered)
        return registered

    def unregister(self, name: str) -> None:
        """Remove a plugin; a running one receives ``pm_shutdown`` first."""
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            raise KeyError(f"no plugin named {name!r}")
        with self._lock:
            was_started = name in self._started
            self._started.discard(name)
        if was_started:
            self._call("pm_shutdown", {}, only=name)
        self.pm.unregister(name=name)

    def plugin_names(self) -> list[str]:
        """The names of every registered plugin, in registration order."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def is_enabled(self, plugin: str) -> bool:
        """Whether ``plugin`` is installed and switched on (on unless the admin switched it off)."""
        if self.pm.get_plugin(plugin) is None:
            return False
        with self._lock:
            if plugin not in self._enabled:
                stored = self.store.plugin_enabled(plugin)
                self._enabled[plugin] = True if stored is None else stored
            return self._enabled[plugin]

    def enable_plugin(self, name: str) -> None:
        """The admin switches ``name`` on: it is started if needed, then ``on_settings_saved``."""
        self._require_plugin(name)
        if self.is_enabled(name):
            return
        self.store.set_plugin_enabled(name, True)
        with self._lock:
            self._enabled[name] = True
        if self._running:
            self._start_plugin(name)
        self._call("on_settings_saved", {"plugin": name, "settings": self.settings(name)})

    def disable_plugin(self, name: str) -> None:
        """The admin switches ``name`` off: from now on none of its hooks is called.

        It is not shut down: what it has queued stays queued (its background work can check
        :meth:`is_enabled`), and ``pm_shutdown`` still reaches it when the host stops.
        """
        self._require_plugin(name)
        self.store.set_plugin_enabled(name, False)
        with self._lock:
            self._enabled[name] = False

    def _require_plugin(self, name: str) -> None:
        if self.pm.get_plugin(name) is None:
            raise KeyError(f"no plugin named {name!r}")

    def _off_plugins(self) -> list[object]:
        return [
            p for n, p in self.pm.list_name_plugin() if p is not None and not self.is_enabled(n)
        ]

    def _start_plugin(self, name: str) -> None:
        if self.in_fleet or not self.is_enabled(name):
            return  # a fleet's plugins are started once, by the fleet
        with self._lock:  # decide under the lock, call outside it: pm_startup may start threads
            if name in self._started:
                return
            self._started.add(name)
        self._call("pm_startup", {"host": self}, only=name)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the host has started its plugins (and not stopped them)."""
        return self._running

    def start(self) -> None:
        """Call ``pm_startup(host=self)`` on every plugin that is on."""
        if self._running:
            return
        self._running = True
        for name in self.plugin_names():
            self._start_plugin(name)

    def stop(self) -> None:
        """Call ``pm_shutdown()`` on every plugin that was started, then release the database.

        Plugins switched off meanwhile are shut down too: their threads must stop with the host.
        """
        if self._running:
            self._running = False
            with self._lock:
                started, self._started = sorted(self._started), set()
            for name in started:
                self._call("pm_shutdown", {}, only=name)
        self.store.close()

    def close(self) -> None:
        """Release the database without calling plugins (for a host that was never started)."""
        self.store.close()

    def __enter__(self) -> RefHost:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- calling hooks ---------------------------------------------------------------------------

    def _record_failure(self, failure: HookFailure, exc: BaseException) -> None:
        with self._lock:
            self.hook_failures.append(failure)

    def _call(
        self,
        hook: str,
        kwargs: Mapping[str, Any],
        *,
        only: str | None = None,
        firstresult: bool = False,
        failures: list[HookFailure] | None = None,
    ) -> list[tuple[str, Any]]:
        """Call ``hook`` on each plugin that is on (or on ``only``), isolated; never raises."""
        if only is not None:
            skip = [p for n, p in self.pm.list_name_plugin() if p is not None and n != only]
        else:
            skip = self._off_plugins()

        def on_failure(failure: HookFailure, exc: BaseException) -> None:
            self._record_failure(failure, exc)
            if failures is not None:
                failures.append(failure)

        caller = getattr(self.pm.hook, hook, None)
        if (
            isinstance(caller, pluggy.HookCaller)
            and caller.spec is not None
            and "practice_id" in caller.spec.argnames
            and "practice_id" not in kwargs
        ):
            kwargs = {**kwargs, "practice_id": self.practice_id}  # every call names its practice
        return call_each_plugin(
            self.pm, hook, kwargs, skip=skip, on_failure=on_failure, firstresult=firstresult
        )

    def fire(self, hook: str, /, **kwargs: Any) -> list[Any]:
        """Call ``hook`` with exactly these keyword arguments, storing nothing.

        For tests that hand plugins malformed records on purpose:
        ``host.fire("on_invoice_created", invoice={"id": 7})``. Plugins that are off are skipped
        and a plugin that raises is recorded in :attr:`hook_failures`, as for every call.

        :return: the non-``None`` results in call order (at most one for a firstresult hook).
        :raises ValueError: no such hook. :raises TypeError: an argument the spec names is missing.
        """
        caller = getattr(self.pm.hook, hook, None)
        if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
            raise ValueError(f"the host has no hook named {hook!r}")
        missing = [a for a in caller.spec.argnames if a not in kwargs and a not in ADDED_ARGUMENTS]
        if missing:
            raise TypeError(f"{hook}() needs keyword argument(s) {', '.join(missing)}")
        first = bool(caller.spec.opts.get("firstresult"))
        return [result for _, result in self._call(hook, kwargs, firstresult=first)]

    # -- admin actions ---------------------------------------------------------------------------

    def save_plugin_settings(self, plugin: str, settings: Mapping[str, Any]) -> list[str]:
        """The admin saves ``plugin``'s settings page.

        Every plugin that is on sees ``validate_settings``; if any returns an error (or ``plugin``
        itself raises while checking), nothing is stored and the errors are returned. Otherwise
        the settings are stored and ``on_settings_saved`` is called.

        :return: the errors to show the admin; empty when the settings were saved.
        """
        if self.pm.get_plugin(plugin) is None:
            return [f"no plugin named {plugin!r} is installed"]
        if not self.is_enabled(plugin):
            return [f"plugin {plugin!r} is switched off: switch it on to change its settings"]
        try:
            submitted = json.loads(json.dumps(settings))
        except (TypeError, ValueError) as exc:
            return [f"settings must be JSON-compatible: {exc}"]
        if not isinstance(submitted, dict):
            return ["settings must be a JSON object"]
        failures: list[HookFailure] = []
        results = self._call(
            "validate_settings", {"plugin": plugin, "settings": submitted}, failures=failures
        )
        errors: list[str] = []
        for _, result in results:
            if isinstance(result, str):
                errors.append(result)
            elif isinstance(result, list | tuple):
                errors.extend(str(e) for e in result)
        if any(f.plugin == plugin for f in failures):
            errors.append(f"plugin {plugin!r} failed while checking its settings; see the host log")
        if errors:
            return errors
        self.store.save_plugin_settings(plugin, submitted, self._timestamp())
        self._call("on_settings_saved", {"plugin": plugin, "settings": self.settings(plugin)})
        return []

    def start_contact_sync(self, location_id: str | None = None) -> None:
        """The admin presses "Start contact sync"."""
        self._call("start_contact_sync", {"location_id": location_id})

    def backfill(self, location_id: str | None = None, since: date | None = None) -> None:
        """The admin presses "Start syncing data"."""
        self._call("backfill", {"location_id": location_id, "since": since})

    def sync_status(self, location_id: str | None = None) -> dict[str, Any] | None:
        """What the accounting dashboard shows: the first plugin's non-``None`` answer."""
        results = self._call("sync_status", {"location_id": location_id}, firstresult=True)
        return cast("dict[str, Any]", results[0][1]) if results else None

    # -- the practice ----------------------------------------------------------------------------

    def add_location(self, location: Mapping[str, Any]) -> Location:
        """Add a site. The host checks its own ids: a bad id, zone, currency or country, or an id
        already taken, raises :class:`ValueError`."""
        loc = dict(location)
        problems: list[str] = []
        if not isinstance(loc.get("id"), str) or not _LOCATION_ID.match(loc["id"]):
            problems.append("id must be 1-64 of a-z, 0-9, '-', '_' (starting with a letter/digit)")
        if not isinstance(loc.get("name"), str) or not loc["name"].strip():
            problems.append("name must be a non-empty string")
        try:
            ZoneInfo(str(loc.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {loc.get('timezone')!r} is not an IANA zone")
        if not isinstance(loc.get("currency"), str) or not re.fullmatch(
            r"[A-Z]{3}", loc["currency"]
        ):
            problems.append("currency must be an ISO 4217 code such as 'AUD'")
        if not isinstance(loc.get("country"), str) or not re.fullmatch(r"[A-Z]{2}", loc["country"]):
            problems.append("country must be an ISO 3166-1 alpha-2 code such as 'AU'")
        if not problems and self.location(loc["id"]) is not None:
            problems.append(f"location {loc['id']!r} already exists")
        if problems:
            raise ValueError("invalid location: " + "; ".join(problems))
        self.store.add_location(loc)
        return cast(Location, loc)

    def location(self, location_id: str) -> Location | None:
        """One location by id, or ``None``."""
        for loc in self.locations():
            if loc["id"] == location_id:
                return loc
        return None

    def today(self, location_id: str) -> date:
        """Today's business date at a location: the clock's time in the location's zone."""
        loc = self.location(location_id)
        if loc is None:
            raise KeyError(f"no location {location_id!r}")
        return local_date(self.clock.now(), loc["timezone"])

    def _timestamp(self) -> str:
        return self.clock.now().isoformat()

    def _defaults(self, record: dict[str, Any], kind: Kind, date_field: str | None) -> None:
        """Fill what the caller left out (never overriding what it gave): id, number, dates,
        currency, timestamps. Called with the records lock held."""
        record.setdefault("id", str(uuid.uuid4()))
        if "number" not in record:
            record["number"] = self.store.max_number(kind) + 1
        loc = self.location(record["location_id"]) if "location_id" in record else None
        if loc is not None:
            if date_field is not None:
                record.setdefault(date_field, self.today(loc["id"]).isoformat())
            if kind != "clients":
                record.setdefault("currency", loc["currency"])
        record.setdefault("updated_at", self._timestamp())

    def _create(self, kind: Kind, record: dict[str, Any], date_field: str | None) -> dict[str, Any]:
        with self._records_lock:
            self._defaults(record, kind, date_field)
            if self.store.exists(kind, str(record["id"])):
                raise ValueError(f"{kind} id {record['id']!r} already exists")
            self.store.insert(kind, record)
        return record

    def _change(self, kind: Kind, changes: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Merge ``changes`` into the stored record; a new ``updated_at`` unless the caller set one.

        :return: the stored record and whether it existed before.
        """
        with self._records_lock:
            previous = self.store.get(kind, str(changes["id"])) if "id" in changes else None
            if previous is None:
                record = dict(changes)
                self._defaults(record, kind, None)
            else:
                record = {**previous, **changes}
                if record.get("updated_at") == previous.get("updated_at"):
                    record["updated_at"] = self._timestamp()
            self.store.insert(kind, record, replace=True)
        return record, previous is not None

    @staticmethod
    def _with_total(record: dict[str, Any]) -> None:
        if "total" not in record and isinstance(record.get("lines"), list):
            try:
                lat = str(record.get("line_amount_types", "inclusive"))
                record["total"] = document_total(record["lines"], lat)
            except Exception:  # malformed lines: store as given, without a total
                logger.debug("record %s: total not computable from its lines", record.get("id"))

    def save_client(self, client: Mapping[str, Any]) -> dict[str, Any]:
        """Create or change a customer (merged into the stored one by ``id``); ``on_client_saved``.

        Missing ``id``/``number``/``updated_at`` are assigned; ``number`` continues the business's
        single customer sequence.
        """
        record, _ = self._change("clients", client)
        self._call("on_client_saved", {"client": record})
        return record

    def create_invoice(self, invoice: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new invoice and call ``on_invoice_created``.

        What the caller omits is filled the way the host would: ``id``, the next ``number``,
        ``date`` (today at the location), ``due_date`` (= date), ``currency`` (the location's),
        ``status`` ``open``, ``line_amount_types`` ``inclusive``, ``total`` (see
        :mod:`hookspecs.refhost.money`), ``updated_at`` (the clock).
        """
        record = dict(invoice)
        record.setdefault("status", "open")
        record.setdefault("line_amount_types", "inclusive")
        record.setdefault("lines", [])
        self._with_total(record)
        with self._records_lock:
            self._defaults(record, "invoices", "date")
            record.setdefault("due_date", record.get("date"))
            if self.store.exists("invoices", str(record["id"])):
                raise ValueError(f"invoice id {record['id']!r} already exists")
            self.store.insert("invoices", record)
        self._call("on_invoice_created", {"invoice": record})
        return record

    def update_invoice(self, invoice: Mapping[str, Any]) -> dict[str, Any]:
        """Change an invoice (``id`` required; the given keys replace the stored ones) and call
        ``on_invoice_updated`` with the whole invoice. New ``lines`` without a ``total`` get the
        total recomputed."""
        if self.store.get("invoices", str(invoice.get("id"))) is None:
            raise KeyError(f"no invoice {invoice.get('id')!r}")
        changes = dict(invoice)
        if "lines" in changes and "total" not in changes:
            stored = self.store.get("invoices", str(changes["id"])) or {}
            merged = {**stored, **changes}
            merged.pop("total", None)
            self._with_total(merged)
            if "total" in merged:
                changes["total"] = merged["total"]
        record, _ = self._change("invoices", changes)
        self._call("on_invoice_updated", {"invoice": record})
        return record

    def void_invoice(self, invoice_id: str, *, updated_at: str | None = None) -> dict[str, Any]:
        """Void an invoice (status ``voided``) and call ``on_invoice_voided``.

        Voiding one already voided changes nothing and calls nothing. The host does not refuse to
        void a paid invoice: real staff do, and what Xero then says is the plugin's to handle.
        """
        stored = self.store.get("invoices", invoice_id)
        if stored is None:
            raise KeyError(f"no invoice {invoice_id!r}")
        if stored.get("status") == "voided":
            return stored
        changes: dict[str, Any] = {"id": invoice_id, "status": "voided"}
        if updated_at is not None:
            changes["updated_at"] = updated_at
        record, _ = self._change("invoices", changes)
        self._call("on_invoice_voided", {"invoice": record})
        return record

    def create_credit_note(self, credit_note: Mapping[str, Any]) -> dict[str, Any]:
        """Store a credit note (optionally against ``invoice_id``); ``on_credit_note_created``.
        Defaults as for :meth:`create_invoice`."""
        record = dict(credit_note)
        record.setdefault("line_amount_types", "inclusive")
        record.setdefault("lines", [])
        self._with_total(record)
        record = self._create("credit_notes", record, "date")
        self._call("on_credit_note_created", {"credit_note": record})
        return record

    def record_payment(self, payment: Mapping[str, Any]) -> dict[str, Any]:
        """Store money received and call ``on_payment_recorded``. ``amount`` defaults to the sum
        of the allocations; anything above them is an overpayment. ``paid_date`` defaults to
        today at the location."""
        record = dict(payment)
        record.setdefault("allocations", [])
        record.setdefault("method", "cash")
        if "amount" not in record:
            try:
                record["amount"] = money(
                    sum((Decimal(str(a["amount"])) for a in record["allocations"]), Decimal(0))
                )
            except Exception:
                logger.debug("payment %s: amount not computable", record.get("id"))
        record = self._create("payments", record, "paid_date")
        self._call("on_payment_recorded", {"payment": record})
        return record

    def record_payout(self, payout: Mapping[str, Any]) -> dict[str, Any]:
        """Store a card processor's payout and call ``on_payout_recorded``.

        ``method`` defaults to ``stripe``, ``fees`` to ``0.00``, ``refund_ids`` to none,
        ``gross`` to the stored payments it names minus the stored refunds, ``amount`` to
        ``gross`` − ``fees``; ``paid_date`` to today at the location. The host does not check
        that the numbers add up: a processor's odd payout is the plugin's to report.
        """
        record = dict(payout)
        record.setdefault("method", "stripe")
        record.setdefault("fees", "0.00")
        record.setdefault("payment_ids", [])
        record.setdefault("refund_ids", [])
        try:
            if "gross" not in record:
                record["gross"] = money(
                    self._sum_of("payments", record["payment_ids"])
                    - self._sum_of("refunds", record["refund_ids"])
                )
            if "amount" not in record:
                record["amount"] = money(Decimal(record["gross"]) - Decimal(record["fees"]))
        except Exception:
            logger.debug("payout %s: gross or amount not computable", record.get("id"))
        record = self._create("payouts", record, "paid_date")
        self._call("on_payout_recorded", {"payout": record})
        return record

    def _sum_of(self, kind: Kind, ids: list[str]) -> Decimal:
        """The amounts of stored records of ``kind`` (a missing one counts nothing)."""
        total = Decimal(0)
        for record_id in ids:
            stored = self.store.get(kind, str(record_id))
            if stored is not None:
                total += Decimal(str(stored.get("amount", "0")))
        return total

    def record_deposit(self, deposit: Mapping[str, Any]) -> dict[str, Any]:
        """Store a deposit taken, or a change to one (the stay invoiced: ``allocations`` given),
        and call ``on_deposit_recorded`` with the whole deposit each time.

        A new deposit gets what :meth:`record_payment` gives a payment (``id``, the next
        ``number``, ``paid_date`` today, the location's ``currency``), ``method`` ``card`` and no
        allocations. A known ``id`` merges the given keys into the stored deposit, as
        :meth:`save_client` does, with a new ``updated_at`` unless one is given.
        """
        changes = dict(deposit)
        if "id" in changes and self.store.exists("deposits", str(changes["id"])):
            record, _ = self._change("deposits", changes)
        else:
            changes.setdefault("allocations", [])
            changes.setdefault("method", "card")
            record = self._create("deposits", changes, "paid_date")
        self._call("on_deposit_recorded", {"deposit": record})
        return record

    def record_refund(self, refund: Mapping[str, Any]) -> dict[str, Any]:
        """Store money given back and call ``on_refund_recorded``.

        It names the credit it comes out of: ``credit_note_id``, ``payment_id`` (the payment's
        excess) or ``deposit_id``. ``method`` defaults to ``cash``, ``paid_date`` to today at the
        location. The host stores what it is given (a refund naming no credit, or two, is the
        plugin's to refuse), as it does every record.
        """
        record = dict(refund)
        record.setdefault("method", "cash")
        record = self._create("refunds", record, "paid_date")
        self._call("on_refund_recorded", {"refund": record})
        return record

    # -- the Host services offered to plugins ----------------------------------------------------

    def locations(self) -> list[Location]:
        """The practice's locations (the Host service; see :class:`hookspecs.host.Host`)."""
        return cast("list[Location]", self.store.locations())

    def iter_history(
        self,
        kind: HistoryKind,
        location_id: str | None = None,
        since: date | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream stored records oldest first (clients by number), in pages of
        :attr:`history_page_size`, so memory stays flat however long the history.
        ``changed_since``: only those stored (created or changed) at or after that moment of
        :attr:`clock`, read from an index.

        ``kind`` is checked now; the records are read lazily as the iterator is consumed. Records
        created while a plugin iterates appear if they sort after its position.
        Clients of a location are those created there **and** those with any document there (a
        customer of another site who boarded here must exist in this site's organisation too).
        """
        checked = self._kind(kind)
        if since is not None and (isinstance(since, datetime) or not isinstance(since, date)):
            raise TypeError(f"since must be a business date (datetime.date), not {since!r}")
        if changed_since is not None and (
            not isinstance(changed_since, datetime) or changed_since.tzinfo is None
        ):
            raise TypeError(f"changed_since must be a timezone-aware datetime: {changed_since!r}")
        return self._pages(checked, location_id, since, changed_since)

    def _pages(
        self,
        kind: Kind,
        location_id: str | None,
        since: date | None,
        changed_since: datetime | None,
    ) -> Iterator[dict[str, Any]]:
        after: SortKey | None = None
        while True:
            page = self.store.page(
                kind,
                location_id=location_id,
                since=since,
                after=after,
                limit=self.history_page_size,
                changed_since=changed_since,
            )
            for _key, record in page:
                yield record
            if len(page) < self.history_page_size:
                return
            after = page[-1][0]

    def get_record(self, kind: HistoryKind, record_id: str) -> dict[str, Any] | None:
        """One record by kind and id, or ``None`` (the Host service)."""
        return self.store.get(self._kind(kind), record_id)

    @staticmethod
    def _kind(kind: str) -> Kind:
        if kind not in KINDS:
            raise ValueError(f"unknown history kind {kind!r}; expected one of {', '.join(KINDS)}")
        return kind

    def data_dir(self, plugin: str) -> Path:
        """A directory of the plugin's own, made on first use (the Host service); a name that
        is not a plugin's (a path, ``..``) is refused."""
        if not _PLUGIN_NAME.match(plugin) or plugin in {".", ".."}:
            raise ValueError(f"not a plugin name: {plugin!r}")
        path = self.root / "plugins" / plugin
        path.mkdir(parents=True, exist_ok=True)
        return path

    def now(self) -> datetime:
        """The host clock's current moment (the Host service)."""
        return self.clock.now()

    def settings(self, plugin: str) -> dict[str, Any]:
        """A fresh copy each call: a plugin editing it changes nothing stored."""
        return self.store.plugin_settings(plugin)

    def secret(self, plugin: str) -> bytes:
        """HMAC-SHA256 of the plugin's name under the host secret: stable, 32 bytes, distinct per
        plugin, and never stored in the plugin's own directory."""
        key = self._host_secret()
        return hmac.new(
            key, b"pet_manager plugin secret\x00" + plugin.encode(), hashlib.sha256
        ).digest()

    def _host_secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                path = self.root / "host" / "secret.key"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    secret = path.read_bytes()
                else:
                    secret = os.urandom(32)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(secret)
                if len(secret) != 32:
                    raise ValueError(f"{path} is damaged: expected 32 bytes")
                self._secret = secret
            return self._secret
