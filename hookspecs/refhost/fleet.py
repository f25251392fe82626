"""The reference host in many-practice mode: one process, one set of plugins, many practices.

Pet Manager is a hosted service: one host process serves many practices, each with its own
locations, records, settings, secret and plugin switches. :class:`RefFleet` is that host for
tests, the demo and plugin authors: it implements :class:`hookspecs.host.Practices`, gives
``pm_startup`` itself (once, for the process) and serves each practice through an ordinary
:class:`~hookspecs.refhost.host.RefHost` that shares the fleet's plugins and names its practice
on every practice-scoped hook call (``practice_id``).

Files under ``root``: ``fleet.json`` (the practice ids, in the order they were added) and
``practices/<practice_id>/`` – each an ordinary reference host's data directory (its own
``host/practice.db``, ``host/secret.key`` and ``plugins/<name>/``), so every tool that takes one
practice's directory (``pm-xero status --data-dir …``) works on one practice of a fleet::

    fleet = RefFleet(tmp_path / "fleet", clock=clock)
    a, b = fleet.add_practice("kennels-north"), fleet.add_practice("groomers-south")
    fleet.start()                                    # pm_startup(host=fleet), once
    a.create_invoice({...})        # on_invoice_created(invoice=..., practice_id="kennels-north")
    fleet.stop()                                     # pm_shutdown(), once
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from types import TracebackType

import pluggy

from hookspecs import PROJECT_NAME, plugin_manager
from hookspecs.calling import (
    HookFailure,
    PluginLoadFailure,
    call_each_plugin,
    load_entrypoint_plugins,
)
from hookspecs.refhost.clock import Clock, SystemClock
from hookspecs.refhost.host import RefHost

__all__ = ["FLEET_FILE", "PRACTICE_ID", "RefFleet"]

FLEET_FILE = "fleet.json"
"""The file at a fleet's root that lists its practices (and says the directory is a fleet)."""

PRACTICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""What a practice id may be: it names a directory, so no separators and no dot-dot."""


class RefFleet:
    """A host of many practices (see the module's docstring). Safe to call from any thread.

    :param root: the fleet's directory (created if missing; an existing fleet is reopened with
        its practices).
    :param clock: the clock every practice shares (the host's ``now``).
    :param load_entrypoints: load the ``pet_manager`` entry points (the installed plugins).
    """

    def __init__(
        self, root: Path | str, clock: Clock | None = None, load_entrypoints: bool = True
    ) -> None:
        self.root = Path(root)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.pm: pluggy.PluginManager = plugin_manager()
        self.hook_failures: list[HookFailure] = []
        """Exceptions plugins raised into the fleet's own calls (``pm_startup``,
        ``pm_shutdown``)."""
        self.plugin_load_failures: list[PluginLoadFailure] = []
        self._lock = threading.RLock()
        self._hosts: dict[str, RefHost] = {}
        self._running = False
        self.root.mkdir(parents=True, exist_ok=True)
        for practice_id in self._listed():
            self._open(practice_id)
        if load_entrypoints:
            _, failures = load_entrypoint_plugins(self.pm, PROJECT_NAME)
            self.plugin_load_failures.extend(failures)

    @staticmethod
    def is_fleet_root(path: Path | str) -> bool:
        """Whether ``path`` is a fleet's root (it holds :data:`FLEET_FILE`)."""
        return (Path(path) / FLEET_FILE).is_file()

    # -- practices -------------------------------------------------------------------------------

    def _listed(self) -> list[str]:
        try:
            data = json.loads((self.root / FLEET_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        ids = data.get("practices", []) if isinstance(data, dict) else []
        return [i for i in ids if isinstance(i, str) and PRACTICE_ID.fullmatch(i)]

    def _write_list(self) -> None:
        path = self.root / FLEET_FILE
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps({"practices": list(self._hosts)}, indent=1), "utf-8")
        os.replace(partial, path)  # a reader never sees half a list

    def _open(self, practice_id: str) -> RefHost:
        host = RefHost(
            self.root / "practices" / practice_id,
            clock=self.clock,
            load_entrypoints=False,
            practice_id=practice_id,
            plugins=self.pm,
        )
        if self._running:
            host.start()
        self._hosts[practice_id] = host
        return host

    def add_practice(self, practice_id: str) -> RefHost:
        """A new practice (or the existing one of that id): its host, started with the fleet.

        :raises ValueError: ``practice_id`` cannot name a directory (see :data:`PRACTICE_ID`).
        """
        if not PRACTICE_ID.fullmatch(practice_id):
            raise ValueError(
                f"practice id {practice_id!r}: use letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)"
            )
        with self._lock:
            host = self._hosts.get(practice_id)
            if host is None:
                host = self._open(practice_id)
                self._write_list()
            return host

    def practices(self) -> list[str]:
        """Every practice's id, in the order they were added (:class:`hookspecs.host.Practices`)."""
        with self._lock:
            return list(self._hosts)

    def practice(self, practice_id: str) -> RefHost:
        """One practice's host (:class:`hookspecs.host.Practices`).

        :raises KeyError: no practice of that id.
        """
        with self._lock:
            host = self._hosts.get(practice_id)
        if host is None:
            raise KeyError(practice_id)
        return host

    # -- plugins and lifecycle -------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin for every practice; a running fleet gives it ``pm_startup`` now."""
        registered = self.pm.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin name {name!r} is blocked")
        if self._running:
            self._call("pm_startup", registered)
        return registered

    def _record(self, failure: HookFailure, exc: BaseException) -> None:
        with self._lock:
            self.hook_failures.append(failure)

    def _call(self, hook: str, only: str | None = None) -> None:
        kwargs = {"host": self} if hook == "pm_startup" else {}
        skip = [p for n, p in self.pm.list_name_plugin() if p is not None and only not in (None, n)]
        call_each_plugin(self.pm, hook, kwargs, skip=skip, on_failure=self._record)

    @property
    def running(self) -> bool:
        """Whether the fleet has started its plugins (and not stopped them)."""
        return self._running

    def start(self) -> None:
        """Start every practice's host, then ``pm_startup(host=fleet)`` once per plugin."""
        with self._lock:
            if self._running:
                return
            self._running = True
            hosts = list(self._hosts.values())
        for host in hosts:
            host.start()
        self._call("pm_startup")

    def stop(self) -> None:
        """``pm_shutdown()`` once per plugin, then release every practice's database."""
        with self._lock:
            was_running, self._running = self._running, False
            hosts = list(self._hosts.values())
        if was_running:
            self._call("pm_shutdown")
        for host in hosts:
            host.stop()

    def close(self) -> None:
        """Release every practice's database without calling plugins (never started)."""
        for host in self.practices():
            self.practice(host).close()

    def __enter__(self) -> RefFleet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
