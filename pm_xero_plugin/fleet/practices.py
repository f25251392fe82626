"""The practices of a fleet root, each opened on first use: its host, engine and Xero side.

A many-practice host keeps one ordinary host data directory per practice under its root (the
reference host's :class:`~hookspecs.refhost.fleet.RefFleet`: ``root/fleet.json`` and
``root/practices/<practice id>/``). A fleet worker must not open thousands of them at start:
with a PostgreSQL ledger it learns which practices have work from the ledger and opens those;
on SQLite ledgers (one file per practice) it has to look into each, so it opens them all.

Opening one practice is what ``pm-xero worker --data-dir <practice>`` does for its only one
(``cli/ops.py``: ``open_data_dir`` and ``_runtime``): the host opened without starting it or
firing a hook, an engine on the practice's ledger, and a
:class:`~pm_xero_plugin.sync.runtime.XeroRuntime` that re-reads the settings the host saved.
What the fleet shares between practices – the doorbell, Xero's limits and the token store when
they are kept in PostgreSQL – is handed in; everything else is the practice's own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.ledger.interface import Dependants, Ledger
from pm_xero_plugin.xero.ratelimit import Clock, Limits
from pm_xero_plugin.xero.tokens import TokenStorage

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from hookspecs.refhost.clock import Clock as HostClock
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime

__all__ = [
    "FLEET_FILE",
    "PRACTICES_DIR",
    "LedgerOpener",
    "OpenPractice",
    "PracticeOptions",
    "PracticeUnavailable",
    "Practices",
    "is_fleet_root",
    "practice_ids",
]

log = logging.getLogger("pm_xero_plugin.fleet.practices")

PLUGIN = "xero"
FLEET_FILE = "fleet.json"
"""The fleet root's list of practices (written by the host: :data:`hookspecs.refhost.fleet.
FLEET_FILE`)."""
PRACTICES_DIR = "practices"
"""Where the practices' data directories are: ``<root>/practices/<practice id>/``."""

RETRY_OPEN_SECONDS = 60.0
"""How long a practice that could not be opened is left alone before it is tried again."""


def is_fleet_root(path: Path) -> bool:
    """Whether ``path`` is a many-practice host's root (not one practice's data directory), as
    the reference host says (:meth:`~hookspecs.refhost.fleet.RefFleet.is_fleet_root`)."""
    from hookspecs.refhost.fleet import RefFleet

    return RefFleet.is_fleet_root(path)


def practice_ids(root: Path) -> list[str]:
    """The practices under ``root`` whose host data is there, in the fleet's order (its list,
    then any folder it does not list yet); a practice being created, its database not written
    yet, is found on a later look."""
    from hookspecs.refhost.fleet import PRACTICE_ID

    folder = root / PRACTICES_DIR
    try:
        listed = json.loads((root / FLEET_FILE).read_text(encoding="utf-8")).get("practices")
    except (OSError, ValueError, AttributeError):
        listed = None
    ids = [i for i in listed if isinstance(i, str)] if isinstance(listed, list) else []
    if folder.is_dir():
        ids += sorted(entry.name for entry in folder.iterdir() if entry.name not in ids)
    return [
        i
        for i in dict.fromkeys(ids)
        if PRACTICE_ID.fullmatch(i) and (folder / i / "host" / "practice.db").is_file()
    ]


class LedgerOpener(Protocol):
    """Opens one practice's ledger: :class:`pm_xero_plugin.ledger.backends.LedgerBackends`
    (SQLite in the practice's folder, or its view of the PostgreSQL ledger)."""

    def open(
        self,
        practice_id: str,
        data_dir: Path,
        *,
        clock: Callable[[], datetime],
        dependants: Dependants,
    ) -> Ledger:
        """The practice's ledger."""
        ...


class PracticeUnavailable(Exception):
    """A practice could not be opened (its data is missing or unusable): the fleet serves the
    others, and tries this one again later."""


class _Installed:
    """Stands for the add-on in each practice's plugin manager (as in ``cli/ops.py``): the host
    answers ``is_enabled("xero")`` only for an installed plugin, and no hook of ours can run."""


@dataclass(frozen=True)
class PracticeOptions:
    """How each practice's Xero side is built (the same for every practice of the fleet)."""

    config: AppConfig
    """The Xero app (from the environment)."""
    transport: httpx.BaseTransport | None = None
    """An httpx transport for every practice's client (tests mount the sandbox here)."""
    clock: Clock | None = None
    """Monotonic time for the limiter, the client and the worker (default: the real one)."""
    host_clock: HostClock | None = None
    """The hosts' clock (default: the system's)."""
    batch_size: int = 50
    lease_seconds: int = 600
    limiter: Limits | None = None
    """Xero's limits shared by every practice (PostgreSQL); ``None``: each practice's own."""
    tokens: Callable[[str, bytes, Path], TokenStorage] | None = None
    """A practice's token store from its id, secret and data directory (PostgreSQL: the
    host's add-on keeps them there too); ``None``: the file in its data directory."""
    ledgers: LedgerOpener | None = None
    """Where the practices' ledgers are; ``None``: the SQLite file in each one's folder."""
    request_hook: Callable[[httpx.Request], None] | None = None
    """Sees every Accounting request (tests check them against Xero's spec)."""
    response_hook: Callable[[httpx.Response], None] | None = None
    """Sees every answer from Xero, from the practice's first call on (the metrics)."""


@dataclass
class OpenPractice:
    """One practice, opened: what the fleet worker routes to."""

    practice_id: str
    index: int
    """Its number in this process (order of opening): tells its rows apart from another
    practice's rows of the same id (each SQLite ledger counts from 1)."""
    host: RefHost
    engine: Engine
    runtime: XeroRuntime

    def close(self) -> None:
        """Stop its Xero side, close its engine and host (each even if another failed)."""
        for step in (self.runtime.stop, self.engine.close, self.host.close):
            try:
                step()
            except Exception:
                log.warning("xero: closing practice %s failed", self.practice_id, exc_info=True)


class Practices:
    """The practices a fleet worker serves, each opened on first use and kept open.

    :param root: the fleet root.
    :param options: how each practice's Xero side is built.
    :param only: serve only these practices (``--practice``); empty: every one.
    :param doorbell: rung by every practice's engine when rows become ready; the worker waits
        on it.
    """

    def __init__(
        self,
        root: Path,
        options: PracticeOptions,
        *,
        only: tuple[str, ...] = (),
        doorbell: Doorbell | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root)
        self.options = options
        self.only = tuple(dict.fromkeys(only))
        self.doorbell = doorbell or Doorbell()
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._open: dict[str, OpenPractice] = {}
        self._by_index: list[OpenPractice] = []
        self._failed: dict[str, tuple[float, str]] = {}
        """Practices that could not be opened -> (when, on our clock; why)."""

    # -- which practices ---------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """The practices served: ``only`` as given, or every practice under the root."""
        return list(self.only) if self.only else practice_ids(self.root)

    def serves(self, practice_id: str) -> bool:
        """Whether this worker serves ``practice_id`` (a PostgreSQL ledger names every practice
        of the fleet, and practices of other roots)."""
        from hookspecs.refhost.fleet import PRACTICE_ID

        if self.only:
            return practice_id in self.only
        if not PRACTICE_ID.fullmatch(practice_id):  # never a path outside the root
            return False
        return (self.root / PRACTICES_DIR / practice_id / "host" / "practice.db").is_file()

    def missing(self) -> list[str]:
        """Practices of ``only`` that have no data under the root (a typo, most likely)."""
        return [
            p for p in self.only if not self._folder(p).joinpath("host", "practice.db").is_file()
        ]

    def unavailable(self) -> dict[str, str]:
        """Practices that could not be opened, and why."""
        with self._lock:
            return {p: why for p, (_at, why) in self._failed.items()}

    # -- opening ---------------------------------------------------------------------------------

    # An open practice is found without the lock (a dict read, a list index: atomic): the
    # sending threads ask for theirs all the time, and must not wait while the loop opens
    # another practice (its charts read from Xero).

    def opened(self) -> list[OpenPractice]:
        """The practices open now, in the order they were opened."""
        return list(self._by_index)

    def open_ids(self) -> Collection[str]:
        """The ids of the practices open now (a live view: do not keep it)."""
        return self._open.keys()

    def by_index(self, index: int) -> OpenPractice:
        """The open practice of that number (see :attr:`OpenPractice.index`)."""
        return self._by_index[index]

    def get(self, practice_id: str) -> OpenPractice:
        """The practice, opened now if it was not yet.

        :raises PracticeUnavailable: it cannot be opened (again within a minute of a failure).
        """
        found = self._open.get(practice_id)
        if found is not None:
            return found
        with self._lock:
            found = self._open.get(practice_id)
            if found is not None:
                return found
            failed = self._failed.get(practice_id)
            if failed is not None and self._monotonic() - failed[0] < RETRY_OPEN_SECONDS:
                raise PracticeUnavailable(failed[1])
            try:
                opened = self._open_practice(practice_id, len(self._by_index))
            except Exception as exc:
                why = f"practice {practice_id} cannot be opened: {type(exc).__name__}: {exc}"
                log.warning("xero: %s; trying again in %.0f s", why, RETRY_OPEN_SECONDS)
                self._failed[practice_id] = (self._monotonic(), why)
                raise PracticeUnavailable(why) from exc
            self._failed.pop(practice_id, None)
            self._by_index.append(opened)  # its number is its place here: append first
            self._open[practice_id] = opened
        return opened

    def open_all(self) -> list[OpenPractice]:
        """Open every practice served (those that cannot be opened are left out, said once)."""
        for practice_id in self.ids():
            if practice_id not in self._open:
                try:
                    self.get(practice_id)
                except PracticeUnavailable:
                    continue
        return self.opened()

    def _folder(self, practice_id: str) -> Path:
        return self.root / PRACTICES_DIR / practice_id

    def _open_practice(self, practice_id: str, index: int) -> OpenPractice:
        from hookspecs.refhost import RefHost
        from pm_xero_plugin.core.engine import Engine
        from pm_xero_plugin.core.gates import DependantGates

        folder = self._folder(practice_id)
        if not (folder / "host" / "practice.db").is_file():
            raise PracticeUnavailable(f"no host data at {folder}")
        host = RefHost(
            folder,
            clock=self.options.host_clock,
            load_entrypoints=False,
            practice_id=practice_id,
        )
        engine: Engine | None = None
        try:
            host.register(_Installed(), name=PLUGIN)
            ledger = None
            if self.options.ledgers is not None:
                ledger = self.options.ledgers.open(
                    practice_id,
                    host.data_dir(PLUGIN),
                    clock=host.now,
                    dependants=DependantGates(self.doorbell),
                )
            engine = Engine(host, ledger, doorbell=self.doorbell)
            runtime = self._runtime(host, engine, practice_id)
            try:
                runtime.refresh_connections()
            except Exception:
                runtime.stop()
                raise
        except BaseException:
            if engine is not None:
                engine.close()
            host.close()
            raise
        log.info("xero: practice %s opened", practice_id)
        return OpenPractice(practice_id, index, host, engine, runtime)

    def _runtime(self, host: RefHost, engine: Engine, practice_id: str) -> XeroRuntime:
        from pm_xero_plugin.sync.runtime import XeroRuntime

        options = self.options
        secret = host.secret(PLUGIN)
        data_dir = host.data_dir(PLUGIN)
        tokens = (
            options.tokens(practice_id, secret, data_dir) if options.tokens is not None else None
        )

        def saved() -> Mapping[str, Any]:
            return host.settings(PLUGIN)

        runtime = XeroRuntime(
            engine,
            options.config,
            secret=secret,
            data_dir=data_dir,
            transport=options.transport,
            request_hook=options.request_hook,
            worker_threads=1,  # its own worker never runs: the fleet's sends for it
            limiter=options.limiter,
            clock=options.clock,
            batch_size=options.batch_size,
            lease_seconds=options.lease_seconds,
            doorbell=self.doorbell,
            saved_settings=saved,
            tokens=tokens,
        )
        if options.response_hook is not None:
            runtime.http.event_hooks["response"].append(options.response_hook)
        return runtime

    def close(self) -> None:
        """Close every open practice."""
        with self._lock:
            opened, self._by_index, self._open = self._by_index, [], {}
        for practice in opened:
            practice.close()
