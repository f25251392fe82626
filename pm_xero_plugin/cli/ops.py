"""Operator verbs of ``pm-xero``: ``status``, ``preview``, ``worker`` and ``connect``.

They run *beside* a host, not inside it: each opens the host's data directory (laid out as the
reference host lays it out: ``<dir>/host/practice.db``, ``<dir>/plugins/xero/ledger.sqlite3`` and
``tokens.sqlite3``) without starting the host or firing a hook, and builds an
:class:`~pm_xero_plugin.core.engine.Engine` on the same ledger file. The ledger is safe to share
with
the running host and with other ``pm-xero worker`` processes: every write checks the state it
expects and claims carry leases.

Heavy imports (the engine, the reference host, httpx, rich) happen inside the verbs so that
``pm-xero --help`` stays fast.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.fleet.run import FleetSettings
    from pm_xero_plugin.ledger.backends import LedgerBackends
    from pm_xero_plugin.ledger.postgres_store import PgStore
    from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime
    from pm_xero_plugin.xero.auth import Connection
    from pm_xero_plugin.xero.ratelimit import Limits
    from pm_xero_plugin.xero.tokens import TokenStorage

__all__ = [
    "DATA_DIR_ENV",
    "Opened",
    "check_data_dir",
    "connect_command",
    "data_dir_option",
    "open_data_dir",
    "preview_command",
    "status_command",
    "to_json",
    "worker_command",
]

DATA_DIR_ENV = "PM_XERO_DATA_DIR"
DEFAULT_DATA_DIR = "./pm-xero-data"
PLUGIN = "xero"
_ENV_HELP = (
    "the Xero app is not configured: set PM_XERO_CLIENT_ID and PM_XERO_CLIENT_SECRET "
    "(and PM_XERO_URL for a Xero-compatible server such as the sandbox, PM_XERO_REDIRECT_URI "
    "for the redirect URI registered with the app)"
)

RECORD_KINDS = (
    "contact",
    "invoice",
    "credit_note",
    "allocation",
    "payment",
    "overpayment",
    "deposit",
    "deposit_allocation",
    "credit_note_refund",
    "overpayment_refund",
    "deposit_refund",
    "payout_fee",
    "payout",
)
"""The ledger's kinds (:data:`pm_xero_plugin.ledger.states.KINDS`; kept literal so that
``--help`` does not import the ledger)."""

STATUS_STATES = (
    "waiting",
    "ready",
    "sending",
    "synced",
    "retrying",
    "failed",
    "excluded",
    "rejected",
    "held",
    "all",
)
"""``status --state`` values: the ledger's states (:data:`pm_xero_plugin.ledger.states.STATES`,
literal for the same reason), ``held`` (waiting for an admin) and ``all``."""

_MIN_FREE_BYTES = 1 << 20
"""Below this much free space SQLite cannot even open its write-ahead log."""

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(func: F) -> F:
    """``--data-dir DIR``: the host's data directory (env ``PM_XERO_DATA_DIR``)."""
    option = click.option(
        "--data-dir",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=DATA_DIR_ENV,
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help=f"The host's data directory (env {DATA_DIR_ENV}).",
    )
    return option(func)


class _Installed:
    """Stands for the add-on in the CLI's plugin manager.

    The host answers ``is_enabled("xero")`` only for an installed plugin; registering this
    hookless marker (instead of the real plugin module) lets the engine read the admin's on/off
    switch while guaranteeing that no hook of ours can run in the CLI process."""


@dataclass
class Opened:
    """A host data directory opened for an operator's verb."""

    host: RefHost
    engine: Engine
    store: PgStore | None = None
    """The PostgreSQL ledger's store when ``PM_XERO_LEDGER`` names one: Xero's limits and the
    practice's tokens are kept there too, as the host's add-on and the fleet keep them."""


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _writable(directory: Path) -> OSError | None:
    """``None`` when a file can be created in ``directory``, else why not (a probe, not
    ``os.access``: root passes every permission check, a read-only mount still refuses it)."""
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".pm-xero-probe-"):
            return None
    except OSError as exc:
        return exc


def check_data_dir(data_dir: Path, *, create: bool = False, write: bool = True) -> Path:
    """The one check of ``--data-dir`` every verb makes before it opens anything.

    It must be a directory (or, with ``create``, be creatable as one), and writable when the
    verb writes – which every verb that opens the ledger does, SQLite keeping its lock files
    beside the database. Each refusal is one line naming the directory and what to do (exit 2).

    :param create: make the directory if it is missing (the demo); otherwise a missing
        directory is left for :func:`open_data_dir` to report.
    :param write: the verb writes there (every verb but a pure read).
    :raises BadInput: the directory is a file, cannot be created, or is not writable.
    :raises RunFailure: the disk it is on is full (SQLite would only say "disk I/O error").
    """
    from pm_xero_plugin.cli.boundary import BadInput, RunFailure

    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise BadInput(f"--data-dir {path} is a file, not a directory: give a directory")
    if not path.exists():
        existing = _nearest_existing(path.parent)
        if existing.exists() and not existing.is_dir():
            raise BadInput(
                f"--data-dir {path} cannot be created: {existing} is a file, not a directory"
            )
        if not create:
            return path
        from pm_xero_plugin.private_files import private_folder

        try:
            private_folder(path)  # 0700: it will hold customers' details and Xero's tokens
        except OSError as exc:
            raise BadInput(
                f"--data-dir {path} cannot be created ({exc.strerror or exc}): give a "
                "directory you can write to"
            ) from None
    problem = _writable(path) if write or create else None
    if problem is None and write:
        for sub in (path / "host", path / "plugins" / PLUGIN):
            if sub.is_dir():
                problem = problem or _writable(sub)
    if problem is None and path.exists():
        free = shutil.disk_usage(path).free
        if free < _MIN_FREE_BYTES:
            raise RunFailure(
                f"the disk holding --data-dir {path} is full ({free // 1024} KB free): free "
                "some space, then run the same command again (what was recorded is kept)"
            )
    if problem is not None:
        raise BadInput(
            f"--data-dir {path} is read-only ({problem.strerror or problem}): this verb "
            "writes its databases and their lock files there; use a writable copy of the "
            "directory"
        )
    return path


@contextmanager
def open_data_dir(data_dir: Path, *, write: bool = True) -> Iterator[Opened]:
    """Open the host and an engine on ``data_dir`` (never started, no hooks); close both.

    :param write: whether the verb changes anything (see :func:`check_data_dir`; SQLite needs
        a writable directory to open the ledger even for reading, so this only words the
        refusal, it cannot open a read-only copy).
    :raises BadInput: the directory is not usable, or holds no host data (a typo must not
        create an empty practice somewhere).
    """
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.core.engine import Engine

    data_dir = check_data_dir(data_dir, write=write)
    practice = Path(data_dir) / "host" / "practice.db"
    if not practice.is_file():
        raise BadInput(
            f"{data_dir} is not a host data directory (no {practice}); "
            f"pass --data-dir or set {DATA_DIR_ENV}"
        )
    if not write:
        problem = _writable(practice.parent) or _writable(Path(data_dir))
        if problem is not None:
            raise BadInput(
                f"--data-dir {data_dir} is read-only ({problem.strerror or problem}): SQLite "
                "cannot open its databases there even to read them; copy the directory "
                "somewhere writable and pass that"
            )
    host = RefHost(data_dir, load_entrypoints=False, practice_id=practice_id_of_dir(data_dir))
    engine: Engine | None = None
    ledgers: LedgerBackends | None = None
    try:
        host.register(_Installed(), name=PLUGIN)
        url = checked_ledger_url()
        ledger = None
        if url is not None:  # the practice's rows of the PostgreSQL ledger
            from pm_xero_plugin.core.gates import DependantGates
            from pm_xero_plugin.ledger.backends import LedgerBackends

            ledgers = LedgerBackends()
            ledger = ledgers.open(
                host.practice_id,
                host.data_dir(PLUGIN),
                clock=host.now,
                dependants=DependantGates(),
                url=url,
            )
        engine = Engine(host, ledger)
        store = ledgers.store(url) if ledgers is not None and url is not None else None
        yield Opened(host, engine, store)
    finally:
        if engine is not None:
            engine.close()
        if ledgers is not None:
            ledgers.close()
        host.close()


def practice_id_of_dir(data_dir: Path) -> str:
    """The practice a host data directory holds: its folder's name for a practice of a
    many-practice host (``<root>/practices/<id>``), else the one-practice host's
    ``practice-1`` – the ids the add-on's rows carry in a shared PostgreSQL ledger."""
    from hookspecs.refhost.fleet import RefFleet
    from pm_xero_plugin.addon import ONE_PRACTICE

    folder = Path(data_dir).resolve()
    if folder.parent.name == "practices" and RefFleet.is_fleet_root(folder.parent.parent):
        return folder.name
    return ONE_PRACTICE


def checked_ledger_url() -> str | None:
    """``PM_XERO_LEDGER``'s PostgreSQL URL (``None``: SQLite files).

    :raises BadInput: it is set to something that is not a PostgreSQL URL (named, in words).
    """
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.ledger.backends import ledger_url

    try:
        return ledger_url()
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def to_json(value: Any) -> str:
    """JSON with dates as ISO strings and money as decimal strings."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime | date):
            return obj.isoformat()
        if isinstance(obj, Decimal):
            return str(obj)
        if isinstance(obj, set | frozenset | tuple):
            return sorted(obj)
        return str(obj)

    return json.dumps(value, indent=2, sort_keys=True, default=default)


def _app_config(data_dir: Path | None = None) -> AppConfig:
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.demo.state import app_config

    config = app_config(data_dir)  # the environment's, else a demo's recorded in data_dir
    if config is None:
        raise BadInput(_ENV_HELP)
    _check_config(config)
    return config


def _check_config(config: AppConfig) -> None:
    """The environment's URLs, checked before anything is opened (exit 2 naming the variable)."""
    from pm_xero_plugin.cli.boundary import BadInput

    for name, value in (("PM_XERO_URL", config.url), ("PM_XERO_REDIRECT_URI", config.redirect_uri)):
        problem = None if value is None else url_problem(value)
        if problem is not None:
            raise BadInput(f"{name}={value!r} is not a URL ({problem}): fix or unset it")


def _runtime(
    opened: Opened,
    config: AppConfig,
    threads: int = 4,
    *,
    batch_size: int = 50,
    lease_seconds: int = 600,
) -> XeroRuntime:
    from pm_xero_plugin.sync.runtime import XeroRuntime

    secret, data_dir = opened.host.secret(PLUGIN), opened.host.data_dir(PLUGIN)
    limiter: Limits | None = None
    tokens: TokenStorage | None = None
    if opened.store is not None:  # what the host and every worker share: see sync.shared_xero
        from pm_xero_plugin.sync.shared_xero import shared_limits, shared_tokens

        limiter = shared_limits(opened.store.side_pool("limits"), config.oauth().api_url)
        tokens = shared_tokens(opened.store.pool, opened.host.practice_id, secret, data_dir)
    return XeroRuntime(
        opened.engine,
        config,
        secret=secret,
        data_dir=data_dir,
        limiter=limiter,
        tokens=tokens,
        worker_threads=threads,
        batch_size=batch_size,
        lease_seconds=lease_seconds,
        saved_settings=lambda: opened.host.settings(PLUGIN),
    )


def url_problem(value: str) -> str | None:
    """Why ``value`` is not the root URL of a Xero-compatible server, or ``None``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 – raises ValueError for a port that is not a number
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it needs http:// or https:// and a host"
    return None


def _url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    problem = url_problem(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r} is not a URL ({problem}), e.g. http://127.0.0.1:8765")
    return value


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _check_location(opened: Opened, location_id: str | None) -> None:
    """An unknown ``--location`` is the person's mistake: exit 2 listing the known ones."""
    from pm_xero_plugin.cli.boundary import BadInput

    if location_id is None:
        return
    known = opened.engine.locations()
    if location_id not in known:
        names = ", ".join(sorted(str(loc) for loc in known)) or "none"
        raise BadInput(f"unknown location {location_id!r} (known: {names})")


# -- status -----------------------------------------------------------------------------------


@click.command("status")
@data_dir_option
@click.option("--location", "location_id", help="Only this location.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATUS_STATES),
    help="List the rows in this state (repeatable; 'held': waiting for an admin; 'all').",
)
@click.option("--kind", type=click.Choice(RECORD_KINDS), help="List only rows of this kind.")
@click.option("--search", help="List rows whose number, id, message or reason contains this text.")
@click.option("--all", "show_all", is_flag=True, help="List every matching row, not a screenful.")
@click.option("--json", "as_json", is_flag=True, help="Print the dashboard data as JSON.")
@click.option(
    "--practice",
    "practice_id",
    help="On a many-practice host's root: this practice's dashboard (without it: every "
    "practice, those needing attention first).",
)
def status_command(
    data_dir: Path,
    location_id: str | None,
    states: tuple[str, ...],
    kind: str | None,
    search: str | None,
    show_all: bool,
    as_json: bool,
    practice_id: str | None,
) -> None:
    """The accounting dashboard: per organisation and location, what is synced, waiting and
    failed, with Xero's message and what to do, and why rows are excluded. --state, --kind,
    --search list matching rows instead (each with its reason and ways out); --all lists every
    one. On a many-practice host's root: which practices need attention and why (--practice ID
    for one practice's dashboard)."""
    chosen = _practice_dir(data_dir, practice_id)
    if chosen is None:
        return  # the operator's list of every practice was printed
    data_dir = chosen
    from pm_xero_plugin.dashboard.rows import RowFilter, excluded_summary, find
    from pm_xero_plugin.dashboard.status import build as build_status

    wanted = RowFilter(
        states=states,
        kind=kind,
        location_id=location_id,
        search=search,
        limit=None if show_all else (200 if as_json else 20),
    )
    with open_data_dir(data_dir, write=False) as opened:
        _check_location(opened, location_id)
        _check_stored_tokens(opened)
        status = build_status(opened.engine, location_id)
        excluded = excluded_summary(opened.engine, location_id)
        rows, total = find(opened.engine, wanted) if wanted.narrowed or show_all else ([], 0)
    for section in status.get("sections") or []:
        key = (section.get("location_id") or "", section.get("tenant_id") or "")
        section["excluded"] = excluded.get(key, [])
    if wanted.narrowed:
        status["filter"] = wanted.as_json()
        status["rows"], status["rows_total"] = rows, total
    elif show_all:  # the dashboard with every row needing attention, not the first 200
        status["failures"], status["failures_total"] = rows, total
    if as_json:
        click.echo(to_json(status))
        return
    from pm_xero_plugin.dashboard.render import print_rows, print_status

    if wanted.narrowed:
        print_rows(rows, total, wanted.describe(), shown=None if show_all else 20)
    else:
        print_status(status, max_failures=len(rows) if show_all else None)


def _practice_dir(data_dir: Path, practice_id: str | None) -> Path | None:
    """The one practice's directory a verb works on; on a fleet root without ``--practice``,
    prints the operator's list of every practice and returns ``None``."""
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.fleet.practices import is_fleet_root, practice_ids

    root = Path(data_dir)
    if not is_fleet_root(root):
        if practice_id is not None:
            raise BadInput(f"--practice: {root} holds one practice, not a many-practice host")
        return data_dir
    ids = practice_ids(root)
    if practice_id is not None:
        if practice_id not in ids:
            known = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
            raise BadInput(f"--practice {practice_id!r}: no such practice in {root} ({known})")
        return root / "practices" / practice_id
    from datetime import UTC

    from pm_xero_plugin.cli.fleet_status import fleet_json, fleet_lines, print_fleet

    lines = fleet_lines(root, checked_ledger_url(), ids, datetime.now(UTC))
    if click.get_current_context().params.get("as_json", False):
        click.echo(to_json(fleet_json(lines)))
    else:
        print_fleet(lines, root)
    return None


def _check_stored_tokens(opened: Opened) -> None:
    """``pm-xero status`` sends nothing, so it would never meet stored tokens it cannot read:
    it looks, so that its health section says so (as the host's dashboard does)."""
    from pm_xero_plugin.sync.runtime import check_stored_tokens
    from pm_xero_plugin.xero.tokens import TokenStore

    path = Path(opened.host.data_dir(PLUGIN)) / "tokens.sqlite3"
    if path.is_file():
        check_stored_tokens(opened.engine, TokenStore(path, opened.host.secret(PLUGIN)))


# -- preview ----------------------------------------------------------------------------------


@click.command("preview")
@data_dir_option
@click.option("--start-date", callback=_date, help="The date to preview (default: the saved one).")
@click.option("--location", "location_id", help="Only this location.")
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
@click.option("--no-lookup", is_flag=True, help="Do not look the numbers up in Xero.")
def preview_command(
    data_dir: Path,
    start_date: date | None,
    location_id: str | None,
    as_json: bool,
    no_lookup: bool,
) -> None:
    """What a start date would send: per organisation and kind, counts and totals, how many
    Xero already has by number (linked, not duplicated), and what would be held."""
    from pm_xero_plugin.cli.boundary import BadInput, RunFailure
    from pm_xero_plugin.dashboard.preview import preview
    from pm_xero_plugin.demo.state import app_config
    from pm_xero_plugin.xero.errors import XeroError

    check_data_dir(data_dir, write=False)
    config = None if no_lookup else app_config(data_dir)
    if config is not None:
        _check_config(config)
    with open_data_dir(data_dir, write=False) as opened:
        _check_location(opened, location_id)
        runtime = _runtime(opened, config) if config is not None else None
        try:
            report = preview(
                opened.engine,
                opened.host,
                start_date,
                location_id=location_id,
                client=runtime.client if runtime else None,
                connection_for=runtime.connection_for if runtime else None,
            )
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        except XeroError as exc:
            raise RunFailure(
                f"looking the numbers up in Xero failed ({exc}); run with --no-lookup to "
                "preview without them"
            ) from None
        finally:
            if runtime is not None:
                runtime.stop()
    if runtime is None and not no_lookup:
        report["lookup_note"] = f"not looked up in Xero: {_ENV_HELP}"
    for org in report.get("organisations") or []:
        for numbers in (org.get("kinds") or {}).values():
            # what the add-on synced is in Xero too (already_in_xero counts only the others)
            found = numbers.get("already_in_xero")
            synced = int(numbers.get("already_synced") or 0)
            numbers["in_xero"] = None if found is None else synced + int(found)
    if as_json:
        click.echo(to_json(report))
        return
    from pm_xero_plugin.dashboard.render import print_preview

    print_preview(report)


# -- worker -----------------------------------------------------------------------------------


@click.command("worker")
@data_dir_option
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--once", is_flag=True, help="Return once nothing is ready or in flight.")
@click.option("--max-seconds", type=click.FloatRange(min=0), help="Stop after this long.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 50),
    default=50,
    show_default=True,
    help="Elements per request (Xero recommends at most 50).",
)
@click.option(
    "--lease-seconds",
    type=click.IntRange(10, 3600),
    default=600,
    show_default=True,
    help="How long a claimed batch is this worker's (longer than one request can take); a "
    "killed worker's rows return after it.",
)
@click.option(
    "--progress-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="A status line on stderr this often, when something changed (0: none).",
)
@click.option(
    "--practice",
    "practices",
    multiple=True,
    help="On a many-practice host's root: serve only this practice (repeatable).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="On a many-practice host's root: serve /metrics (Prometheus) and /healthz on this "
    "port (0: none).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address the metrics port listens on.",
)
@click.option(
    "--stop-seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="On a many-practice host's root: how long SIGTERM waits for batches in flight before "
    "leaving them to other workers (0: as long as they take).",
)
def worker_command(
    data_dir: Path,
    threads: int,
    once: bool,
    max_seconds: float | None,
    batch_size: int,
    lease_seconds: int,
    progress_seconds: float,
    practices: tuple[str, ...],
    metrics_port: int,
    metrics_host: str,
    stop_seconds: float,
) -> None:
    """Send what the ledger says is ready, in the foreground (several may share one ledger:
    claims carry leases), with a status line every few seconds on stderr. SIGTERM stops it
    cleanly after the batches in flight; so does Ctrl-C (exit 130: run it again to go on).

    On a many-practice host's root (its fleet.json and practices/<id>/) one process serves
    every practice; with PM_XERO_LEDGER=postgresql://… any number of processes, on any number
    of machines, share the work."""
    from pm_xero_plugin.cli.boundary import BadInput
    from pm_xero_plugin.dashboard.worker_progress import WorkerProgress
    from pm_xero_plugin.fleet.practices import is_fleet_root

    check_data_dir(data_dir)  # before a demo's recorded Xero is looked for (or served) there
    config = _app_config(data_dir)
    if is_fleet_root(Path(data_dir)):
        from pm_xero_plugin.fleet.run import FleetSettings

        fleet = FleetSettings(
            Path(data_dir),
            config,
            only=practices,
            threads=threads,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
        _fleet_worker(fleet, once, max_seconds, progress_seconds, stop_seconds)
        return
    if practices or metrics_port:
        raise BadInput(
            f"--practice and --metrics-port need a many-practice host's root; {data_dir} is "
            "one practice's data directory (run without them)"
        )
    with open_data_dir(data_dir) as opened:
        runtime = _runtime(
            opened, config, threads, batch_size=batch_size, lease_seconds=lease_seconds
        )
        previous: dict[signal.Signals, Any] = {}
        stopped_by: list[int] = []

        def stop(signum: int, _frame: FrameType | None) -> None:
            stopped_by.append(signum)
            runtime.worker.stop()

        if threading.current_thread() is threading.main_thread():  # signals need the main thread
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, stop)
        progress = WorkerProgress(
            runtime.worker,
            opened.engine.ledger,
            runtime.limiter,
            opened.host.now,
            lambda text: click.echo(text, err=True),
            every=progress_seconds,
        )
        started = time.monotonic()
        try:
            runtime.refresh_connections()
            progress.start()
            stats = runtime.worker.run(until_idle=once, max_seconds=max_seconds)
        finally:
            progress.stop()
            for restored, handler in previous.items():
                signal.signal(restored, handler)
            runtime.stop()
    click.echo(
        f"pm-xero worker: synced {stats.synced}, failed {stats.failed}, "
        f"retrying {stats.retrying}, {stats.api_calls} API calls in "
        f"{time.monotonic() - started:.1f} s; held back {stats.limit_waits} times by Xero's limits"
    )
    if signal.SIGINT in stopped_by:
        raise click.Abort()  # the boundary: exit 130 and how to go on


def _fleet_worker(
    fleet: FleetSettings,
    once: bool,
    max_seconds: float | None,
    progress_seconds: float,
    stop_seconds: float,
) -> None:
    """``pm-xero worker`` on a many-practice host's root (:mod:`pm_xero_plugin.fleet`): the
    same signals, status lines and summary as for one practice. SIGTERM stops claiming, lets
    the batches in flight finish (for ``stop_seconds`` at most: then the process ends and its
    claims are taken over as a killed worker's are), gives back what had not begun, retires."""
    import os

    from pm_xero_plugin.cli.boundary import BadInput, RunFailure
    from pm_xero_plugin.fleet.run import FleetRefused, ProgressLines, Watchdog, open_fleet

    def echo(text: str) -> None:
        click.echo(f"pm-xero worker: {text}", err=True)

    started = time.monotonic()
    stopped_by: list[int] = []
    try:
        with open_fleet(fleet, notice=echo) as running:

            def summary() -> str:
                stats = running.worker.stats
                return (
                    f"pm-xero worker: synced {stats.synced}, failed {stats.failed}, "
                    f"retrying {stats.retrying}, {stats.api_calls} API calls in "
                    f"{time.monotonic() - started:.1f} s; held back {stats.limit_waits} times "
                    f"by Xero's limits; {len(running.practices.opened())} practices"
                )

            def abandon() -> None:
                running.worker.ledger.give_back_unbegun()
                echo(
                    f"batches still in flight {stop_seconds:.0f} s after the stop; leaving "
                    "them to the other workers (they look them up in Xero before sending again)"
                )
                click.echo(summary())
                os._exit(0)

            watchdog = Watchdog(stop_seconds, abandon)

            def stop(signum: int, _frame: FrameType | None) -> None:
                stopped_by.append(signum)
                watchdog.arm()
                # it writes the ledgers: not inside the handler, which interrupts the loop
                threading.Thread(target=running.worker.stop, args=(0,), daemon=True).start()

            previous: dict[signal.Signals, Any] = {}
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGTERM, signal.SIGINT):
                    previous[signum] = signal.signal(signum, stop)
            if running.metrics_url:
                url = running.metrics_url
                echo(f"metrics on {url}/metrics, health on {url}/healthz")
            progress = ProgressLines(running.progress_line, echo, progress_seconds)
            try:
                progress.start()
                running.worker.run(until_idle=once, max_seconds=max_seconds)
            finally:
                watchdog.disarm()
                progress.stop()
                for restored, handler in previous.items():
                    signal.signal(restored, handler)
            line = summary()
    except FleetRefused as exc:
        raise (BadInput if exc.usage else RunFailure)(str(exc)) from None
    click.echo(line)
    if signal.SIGINT in stopped_by:
        raise click.Abort()


# -- connect ----------------------------------------------------------------------------------

_STAGING = "{location}#connecting-{nonce}"
"""The token-store key a new connection is kept under until it has been checked: the location's
own key (its working connection) is only replaced once everything succeeded."""


@click.command("connect")
@data_dir_option
@click.argument("location_id")
@click.option("--tenant", "tenant_id", help="The organisation to map the location to.")
@click.option(
    "--client-credentials",
    is_flag=True,
    help="A Xero Custom Connection (client_credentials grant) instead of the browser flow.",
)
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for Xero to send the browser back.",
)
def connect_command(
    data_dir: Path,
    location_id: str,
    tenant_id: str | None,
    client_credentials: bool,
    no_browser: bool,
    timeout_s: float,
) -> None:
    """Connect a location to Xero and record which organisation it syncs to.

    All or nothing: the new tokens are checked (the organisation is reachable, the settings it
    implies validate) before anything is saved; if any check fails nothing changes – the
    location's previous connection keeps working – and the exit status is non-zero. With
    several organisations it asks which one (or, without a terminal, lists them for --tenant)."""
    import secrets

    from pm_xero_plugin.cli.boundary import BadInput

    check_data_dir(data_dir)  # before a demo's recorded Xero is looked for (or served) there
    config = _app_config(data_dir)
    with open_data_dir(data_dir) as opened:
        if location_id not in opened.engine.locations():
            known = ", ".join(sorted(str(loc) for loc in opened.engine.locations())) or "none"
            raise BadInput(f"unknown location {location_id!r} (known: {known})")
        runtime = _runtime(opened, config)
        staging = _STAGING.format(location=location_id, nonce=secrets.token_hex(4))
        try:
            connections = _new_tokens(
                runtime, staging, location_id, client_credentials, no_browser, timeout_s
            )
            click.echo("Organisations these tokens reach:")
            for c in connections:
                click.echo(f"  {c.tenant_id}  {c.tenant_name}")
            chosen = _choose(connections, tenant_id, location_id)
            _check_reachable(runtime, staging, chosen)
            saved = _settings_for(opened, location_id, chosen)
            _commit(opened, runtime, staging, location_id, saved)
            runtime.refresh_connections()
        finally:
            runtime.tokens.delete(staging)
            runtime.stop()
    click.echo(
        f"Location {location_id} now syncs to organisation {chosen} (saved; a running host "
        "applies it at its next start or settings save)."
    )


def _new_tokens(
    runtime: XeroRuntime,
    staging: str,
    location_id: str,
    client_credentials: bool,
    no_browser: bool,
    timeout_s: float,
) -> list[Connection]:
    """Get tokens under the staging key and the organisations they reach."""
    import errno
    from urllib.parse import urlsplit

    from pm_xero_plugin.cli.boundary import BadInput, RunFailure
    from pm_xero_plugin.xero.auth import client_credentials_token, run_loopback_connect
    from pm_xero_plugin.xero.errors import XeroError

    redirect = runtime.oauth.redirect_uri
    try:
        if client_credentials:
            client_credentials_token(runtime.oauth, runtime.tokens, staging, http=runtime.http)
            return runtime.provider.connections(staging)

        def show(url: str) -> None:
            click.echo(f"Open this URL to connect {location_id} to Xero:\n{url}")
            if not no_browser and not webbrowser.open(url):
                click.echo("No web browser could be started here: open the URL above yourself.")
            click.echo(
                f"Waiting up to {timeout_s:.0f} s for Xero to send the browser back to "
                f"{redirect} (Ctrl-C to give up)…"
            )

        return run_loopback_connect(
            runtime.oauth,
            runtime.tokens,
            staging,
            open_browser=show,
            http=runtime.http,
            timeout=timeout_s,
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        port = urlsplit(redirect).port
        raise RunFailure(
            f"the redirect port {port} ({redirect}) is already in use: stop what uses it, or "
            "register another loopback redirect URI with the Xero app and set "
            "PM_XERO_REDIRECT_URI to it"
        ) from None
    except ValueError as exc:  # not a loopback redirect URI
        raise BadInput(f"PM_XERO_REDIRECT_URI={redirect!r}: {exc}") from None
    except XeroError as exc:
        if "timed out waiting" in str(exc):
            raise RunFailure(
                f"Xero was not connected: no redirect came back within {timeout_s:.0f} s; "
                "nothing was changed – run pm-xero connect again (or --timeout longer)"
            ) from None
        raise RunFailure(f"Xero was not connected ({exc}); nothing was changed") from None


def _choose(connections: list[Connection], tenant_id: str | None, location_id: str) -> str:
    """The organisation the location syncs to: ``--tenant``, the only one, or the admin's pick
    (a numbered prompt on a terminal; without one, exit 2 listing them for ``--tenant``)."""
    from pm_xero_plugin.cli.boundary import BadInput, RunFailure

    ids = [c.tenant_id for c in connections]
    listing = "; ".join(f"{c.tenant_id} ({c.tenant_name or 'no name'})" for c in connections)
    if tenant_id is not None:
        if tenant_id not in ids:
            raise BadInput(
                f"organisation {tenant_id} is not among the connected ones: {listing or 'none'}"
                "; nothing was changed"
            )
        return tenant_id
    if not ids:
        raise RunFailure(
            "these tokens reach no Xero organisation (the admin chose none?); nothing was "
            "changed – connect again and pick one"
        )
    if len(ids) == 1:
        return ids[0]
    if not sys.stdin.isatty():
        raise BadInput(
            f"several organisations: {listing}; run again with --tenant TENANT_ID "
            "(nothing was changed)"
        )
    for number, c in enumerate(connections, 1):
        click.echo(f"  {number}) {c.tenant_name or c.tenant_id}  [{c.tenant_id}]")
    picked: int = click.prompt(
        f"Which organisation should {location_id} sync to?",
        type=click.IntRange(1, len(ids)),
    )
    return ids[picked - 1]


def _check_reachable(runtime: XeroRuntime, staging: str, tenant_id: str) -> None:
    """The new tokens must really reach the organisation: read its chart of accounts (the
    settings check uses it too)."""
    from pm_xero_plugin.cli.boundary import RunFailure
    from pm_xero_plugin.xero.client import waiting_for_limits
    from pm_xero_plugin.xero.errors import XeroError

    try:
        with waiting_for_limits():  # a minute used up by a worker is waited for, and said
            runtime.client.accounts(tenant_id, staging)
    except XeroError as exc:
        raise RunFailure(
            f"organisation {tenant_id} is not reachable with the new connection ({exc}); "
            "nothing was changed"
        ) from None


def _settings_for(opened: Opened, location_id: str, tenant_id: str) -> dict[str, Any]:
    """The host's saved settings with the location mapped to the organisation, validated
    exactly as the settings page would (schema, account codes against the chart, the
    start-date lock, moves of a location whose records are already in another organisation).

    :raises RunFailure: they do not validate; nothing was saved.
    """
    from pm_xero_plugin.cli.boundary import RunFailure

    saved = dict(opened.host.settings(PLUGIN) or {})
    locations = dict(saved.get("locations") or {})
    entry = dict(locations.get(location_id) or {})
    entry.update(tenant_id=tenant_id, connection_enabled=True)
    locations[location_id] = entry
    saved["locations"] = locations
    errors = opened.engine.validate_settings(saved)
    if errors:
        raise RunFailure(
            f"not connected: mapping {location_id} to {tenant_id} makes settings that are "
            f"refused ({'; '.join(errors)}); nothing was changed, the previous connection "
            "still works"
        )
    return saved


def _commit(
    opened: Opened, runtime: XeroRuntime, staging: str, location_id: str, saved: dict[str, Any]
) -> None:
    """Move the checked tokens to the location's key and save the settings – the old tokens
    are put back if saving the settings fails, so a half-done connect never remains.

    Saved through the host's store, not ``save_plugin_settings`` (that validates through hooks
    of a running host); a running host picks them up at its next start or settings save."""
    tokens = runtime.tokens
    new = tokens.load(staging)
    if new is None:  # cannot happen: the staging tokens were just read
        raise RuntimeError("the new tokens vanished before they were saved")
    old = tokens.load(location_id)
    old_grant = tokens.grant_type(location_id)
    old_tenants = tokens.tenant_ids(location_id)
    tokens.save(
        location_id,
        new,
        grant_type=tokens.grant_type(staging) or "authorization_code",
        tenant_ids=tokens.tenant_ids(staging),
    )
    try:
        if dict(opened.host.settings(PLUGIN) or {}) != saved:
            opened.host.store.save_plugin_settings(PLUGIN, saved, opened.host.now().isoformat())
        opened.engine.apply_settings(saved, catch_up=False)
    except BaseException:
        if old is None:
            tokens.delete(location_id)
        else:
            tokens.save(
                location_id,
                old,
                grant_type=old_grant or "authorization_code",
                tenant_ids=old_tenants,
            )
        raise
