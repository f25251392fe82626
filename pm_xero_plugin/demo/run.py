"""``pm-xero demo``: a multi-site practice synced end to end, the way an admin would do it.

It runs the real pieces – the reference host with this plugin loaded through its entry point,
the real OAuth flow, the ledger, the worker and the client over HTTP on loopback – against the
embedded Xero sandbox (or any Xero-compatible root given with ``--xero-url``):

1. build (or reuse, with ``--data-dir``) a practice: three locations, two of them with their own
   organisation and the third sharing the first one's, told apart by a tracking category;
2. connect each location through "Connect to Xero" (authorize → callback → ``/connections``);
3. map account codes from each organisation's own chart of accounts;
4. run the contact sync, set the start date and back-sync;
5. keep the practice running for a while (new bookings, payments) – each record reaches Xero
   within seconds – and end with the dashboard.

Run again on the same ``--data-dir`` it resumes where it stopped (after a kill too) and sends
nothing twice; with a later ``--today`` the practice first lives through the days in between,
one day at a time (a run killed mid-way lives the rest of them next time). The data directory
remembers which Xero it used (:mod:`pm_xero_plugin.demo.state`), so ``pm-xero preview`` and
``pm-xero worker`` on it reach the same books afterwards.

What the screen shows while records travel is :mod:`pm_xero_plugin.demo.progress`: what reached
Xero, waits on Xero's limits as waits, and why it stopped waiting when nothing could move.

With ``--serve`` the run ends by serving the practice's pages on loopback until Ctrl-C
(:mod:`pm_xero_plugin.demo.serve`, through :attr:`DemoOptions.afterwards`). With
``--practices N`` one host process serves N practices (:mod:`pm_xero_plugin.demo.fleet`, which
runs this module's steps for each of them).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shlex
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from pm_xero_plugin.demo import practice
from pm_xero_plugin.demo import state as demo_state
from pm_xero_plugin.demo.progress import (
    HELD_BY_RULES,
    Reporter,
    Tally,
    WaitOutcome,
    ledger_counts,
    stalled_lines,
    tally,
    wait_until_settled,
)
from pm_xero_plugin.private_files import private_folder, write_private

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sandbox import Sandbox
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = [
    "SIZES",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "print_result",
    "run_demo",
    "shown_command",
]

SIZES: dict[str, dict[str, int]] = {
    "small": {"clients": 240, "days": 540, "live_rounds": 4},
    "medium": {"clients": 600, "days": 730, "live_rounds": 6},
    "large": {"clients": 2000, "days": 1095, "live_rounds": 8},
}
"""Practice sizes. ``small`` keeps a run at Xero's real limits well under five minutes."""

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
_TENANT_PLAN = (0, 1, 0)
"""Location i connects to organisation _TENANT_PLAN[i]: the third shares the first's."""
KINDS_OUT = ("contacts", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds")
"""What ``--json`` counts per location: the host's records (a payout's fee spend, a deposit's
allocations and credit allocations ride with their record and are not counted apart)."""
_COUNTED_AS = {
    "contact": "contacts",
    "invoice": "invoices",
    "credit_note": "credit_notes",
    "payment": "payments",
    "overpayment": "payments",
    "payout": "payouts",
    "deposit": "deposits",
    "credit_note_refund": "refunds",
    "overpayment_refund": "refunds",
    "deposit_refund": "refunds",
}
"""The ledger kind each count of :data:`KINDS_OUT` is the rows of."""
ROUND_SECONDS = 30.0
"""A live round's records are waited for at most this long before the next round is made; the
slow ones are still followed (and timed) until they reach Xero."""


def shown_command(*args: str) -> str:
    """A ``pm-xero`` command as the demo prints it for a person to run: written the way
    ``pm-xero`` was started, so that it runs as printed (:mod:`pm_xero_plugin.invocation`)."""
    from pm_xero_plugin.invocation import pm_xero

    return pm_xero(*args)


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


@dataclass
class DemoOptions:
    """The ``pm-xero demo`` command line (see its ``--help`` for each option)."""

    data_dir: Path | None = None
    xero_url: str | None = None
    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET
    start_date: date | None = None
    today: date | None = None
    size: str = "small"
    seed: int = 7
    spec: Path | None = None
    live_rounds: int | None = None
    quiet: bool = False
    timeout: float = 600.0
    redirect_uri: str | None = None
    """The Xero app's redirect URI for this run (``--serve``: the served pages' callback), set
    for the add-on and registered with the embedded sandbox; ``None``: the add-on's default."""
    webhook_url: str | None = None
    """Where Xero's webhooks reach the served pages (``--serve``): the add-on gets a webhook key
    for the run, and :func:`subscribe_webhooks` subscribes the demo's Xero once they serve."""
    afterwards: Callable[[RefHost, DemoResult], None] | None = None
    """Called at the end of the run with the host still running and the sandbox still served
    (``--serve`` prints the result and serves the practice here); everything stops after it."""


@dataclass
class DemoResult:
    """What a run did, for the closing screen (:func:`print_result`) and ``--json``."""

    start_date: dict[str, str] = field(default_factory=dict)
    tenants: dict[str, str] = field(default_factory=dict)
    eligible: dict[str, dict[str, int]] = field(default_factory=dict)
    synced: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: dict[str, dict[str, int]] = field(default_factory=dict)
    api_calls: int = 0
    live_latency_s: list[float] = field(default_factory=list)
    """Created → in Xero, for every live record that reached Xero (and only those)."""
    live_due: int = 0
    """Live records due to reach Xero (the live bar's total)."""
    status: dict[str, Any] = field(default_factory=dict)
    data_dir: str = ""
    temporary: bool = False
    """The data directory is a new temporary one the person did not choose."""
    problems: list[str] = field(default_factory=list)
    """Why a phase stopped before everything reached Xero (empty: nothing to say)."""
    failed_run: bool = False
    """Xero refused records, or they did not arrive in time: the run failed (exit 1)."""
    sandbox_state: str | None = None
    """The embedded sandbox's books (it ends with the demo; the verbs serve it again)."""
    xero_url: str = ""
    """The root of the Xero this run used (the embedded sandbox's, or ``--xero-url``)."""
    webhook_key: str | None = field(default=None, repr=False)
    """The webhook key the add-on was given for the run (``--serve``); never printed."""

    @property
    def live_reached(self) -> int:
        """Live records that reached Xero."""
        return len(self.live_latency_s)

    def live_p95(self) -> float | None:
        """The 95th percentile of the live records' created → in Xero (``None``: none)."""
        ordered = sorted(self.live_latency_s)
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary (its keys are pinned by the tests and the README)."""
        p95 = self.live_p95()
        return {
            "start_date": self.start_date,
            "tenants": self.tenants,
            "eligible": self.eligible,
            "synced": self.synced,
            "failed": self.failed,
            "api_calls": self.api_calls,
            "live": {
                "due": self.live_due,
                "reached_xero": self.live_reached,
                "p95_seconds": None if p95 is None else round(p95, 3),
            },
            "problems": self.problems,
            "data_dir": self.data_dir,
        }


class RunningClock:
    """The host clock for the demo: a chosen date whose time runs at real speed.

    Retries and leases are scheduled on the host clock, so it must move by itself; a test's
    :class:`~hookspecs.refhost.ManualClock` would freeze them. ``set`` jumps (simulated days).
    """

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """The chosen moment plus the real time since it was set."""
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (time runs on from there)."""
        with self._lock:
            self._base, self._t0 = moment, time.monotonic()

    def advance(self, delta: timedelta) -> datetime:
        """Jump ``delta`` ahead; returns the new now."""
        with self._lock:
            self._base += delta
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def today(self, tz: str | ZoneInfo) -> date:
        """Today's date in the time zone ``tz``."""
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        return self.now().astimezone(zone).date()


# -- the run ------------------------------------------------------------------------------------


def _find_spec(explicit: Path | None) -> Path | None:
    from pm_xero_plugin.sandbox import find_spec

    return Path(explicit) if explicit else find_spec()


def _state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "demo.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    write_private(data_dir / "demo.json", json.dumps(state, indent=2))


@contextmanager
def _private_files() -> Iterator[None]:
    """Everything the demo's host writes is its user's only, like the add-on's own files: the
    practice's database holds customers' names, emails and phones (the reference host leaves
    modes to the umask, as a real host decides its own)."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _kept_where(data_dir: Path) -> str:
    return (
        f"data kept in {data_dir} (a new temporary directory): run again with "
        f"--data-dir {shlex.quote(str(data_dir))} to resume, or remove it with "
        f"rm -r {shlex.quote(str(data_dir))}"
    )


@dataclass
class _Run:
    """What every phase of one run shares: its options, screen, data directory, the practice's
    remembered state (``demo.json``), the practice's day and the result being filled in."""

    options: DemoOptions
    size: Mapping[str, int]
    report: Reporter
    data_dir: Path
    state: dict[str, Any]
    today: date
    result: DemoResult

    def save_state(self) -> None:
        """Remember ``state`` in the data directory (atomically: a kill leaves the old one)."""
        _save_state(self.data_dir, self.state)


@dataclass
class _Plugin:
    """The add-on as the host started it: its engine and its Xero side."""

    engine: Engine
    runtime: XeroRuntime


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the demo; raises :class:`DemoError` with a clear message when it cannot go on."""
    with _private_files():
        return _run_demo(options)


def _run_demo(options: DemoOptions) -> DemoResult:
    run = _begin(options)
    with ExitStack() as stack:
        url, sandbox = _serve_xero(stack, run)
        run.result.xero_url = url
        if options.webhook_url is not None:
            run.result.webhook_key = secrets.token_urlsafe(32)
        host = _open_host(stack, run, url)
        _build_practice(host, run)
        plugin = _start_plugin(stack, host)
        _live_through(host, run.state, run.data_dir, run.today, options.seed, run.report)
        locations = host.locations()
        tenants = _connect_all(host, plugin.runtime, locations, run.report, run.state, run.data_dir)
        run.result.tenants = {loc["id"]: tenants[loc["id"]] for loc in locations}
        settings, start = _first_settings(host, plugin, locations, tenants, run)
        waiter = _Waiter(
            plugin.engine,
            plugin.runtime,
            run.report,
            dict(run.state.get("organisation_names", {})),
            run.data_dir,
            options.timeout,
            run.result,
            jobs_running=_jobs_running,
        )
        _contact_sync(host, run, waiter)
        _back_sync(host, run, waiter, settings, start)
        _keep_working(host, plugin, run, waiter)
        run.state["today"] = run.today.isoformat()
        run.save_state()
        _fill_result(run, host, plugin, sandbox, locations, start)
        if options.afterwards is not None:
            options.afterwards(host, run.result)
    return run.result


def _begin(options: DemoOptions) -> _Run:
    """Check the options, open the data directory (a new temporary one unless given) and read
    what earlier runs remembered there; the practice's day only moves forward."""
    if options.size not in SIZES:
        raise DemoError(f"--size must be one of {', '.join(SIZES)}")
    report = Reporter(options.quiet)
    temporary = options.data_dir is None
    data_dir = private_folder(options.data_dir or tempfile.mkdtemp(prefix="pm-xero-demo-"))
    if temporary:
        report.step(_kept_where(data_dir))
    state = _state(data_dir)
    today = options.today or date.fromisoformat(state.get("today", date.today().isoformat()))
    if state.get("today") and today < date.fromisoformat(state["today"]):
        raise DemoError(
            f"--today {today} is before the practice's last day {state['today']}: "
            "time only moves forward"
        )
    result = DemoResult(data_dir=str(data_dir), temporary=temporary)
    return _Run(options, SIZES[options.size], report, data_dir, state, today, result)


def _serve_xero(stack: ExitStack, run: _Run, orgs: int = 2) -> tuple[str, Sandbox | None]:
    """Xero for the run: the server the person named, or the embedded sandbox on loopback on
    this practice's saved books (or the one already serving them; a new one holds ``orgs``
    organisations); remembered in the data directory for the verbs. Returns its root and the
    sandbox if this run serves it."""
    options = run.options
    xero = demo_state.DemoXero(
        client_id=options.client_id,
        client_secret=options.client_secret,
        url=options.xero_url.rstrip("/") if options.xero_url else None,
        seed=options.seed,
        orgs=orgs,
    )
    sandbox = None
    if xero.url is not None:
        url = xero.url
        run.report.step(f"Xero-compatible server at {url}")
        if options.redirect_uri is not None:
            run.report.step(
                f"Connect to Xero from the pages needs {options.redirect_uri} registered as a "
                "redirect URI of that server's app"
            )
    else:
        spec = _find_spec(options.spec)
        try:
            url, sandbox = stack.enter_context(
                demo_state.serve_saved_sandbox(
                    run.data_dir, xero, spec, redirect_uris=_extra(options.redirect_uri)
                )
            )
        except demo_state.StateClaimed as claimed:
            raise DemoError(
                f"{claimed}: stop the process that serves it, then run the demo again"
            ) from None
        run.result.sandbox_state = str(run.data_dir / demo_state.STATE_FILE)
        if sandbox is None:
            run.report.step(f"this practice's Xero sandbox, already served on {url}")
            if options.redirect_uri is not None:
                run.report.step(
                    f"Connect to Xero from the pages needs {options.redirect_uri} registered "
                    "with that sandbox: start it with --redirect-uri for that URL"
                )
        else:
            checked = "bodies checked against Xero's spec" if spec else "no spec: unchecked"
            run.report.step(f"embedded Xero sandbox on {url} ({checked})")
    demo_state.save(run.data_dir, xero)
    return url, sandbox


def _extra(redirect_uri: str | None) -> tuple[str, ...]:
    return (redirect_uri,) if redirect_uri is not None else ()


@contextmanager
def _plugin_configured(
    url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str | None = None,
    *,
    webhook_key: str | None = None,
) -> Iterator[None]:
    """The Xero app in the environment for the block (restored afterwards).

    The environment is the host contract's only channel for it: the host loads the add-on
    through its entry point and the add-on reads its app at ``pm_startup``
    (:meth:`~pm_xero_plugin.sync.runtime.AppConfig.from_env`) – on purpose, so that a client
    secret never sits in the host's settings table in clear. The demo is the operator here.
    """
    wanted = {
        **demo_state.environment(url, client_id, client_secret),
        "PM_XERO_WORKER": "thread",
        **({"PM_XERO_REDIRECT_URI": redirect_uri} if redirect_uri is not None else {}),
        **({"PM_XERO_WEBHOOK_KEY": webhook_key} if webhook_key is not None else {}),
    }
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _open_host(stack: ExitStack, run: _Run, url: str) -> RefHost:
    """The reference host on the data directory, its clock at 08:00 in Sydney on the practice's
    day and running at real speed, with the add-on configured for ``url`` (not started yet)."""
    from hookspecs.refhost import RefHost

    options = run.options
    stack.enter_context(
        _plugin_configured(
            url,
            options.client_id,
            options.client_secret,
            options.redirect_uri,
            webhook_key=run.result.webhook_key,
        )
    )
    opening = datetime.combine(run.today, dtime(8, 0), ZoneInfo("Australia/Sydney"))
    host = RefHost(run.data_dir, clock=RunningClock(opening.astimezone(UTC)))
    stack.callback(host.close)
    return host


def _build_practice(host: RefHost, run: _Run) -> None:
    """The practice's history, made once per data directory (a re-run finds it there)."""
    from hookspecs.refhost import generate_practice

    if run.state.get("generated"):
        return
    options, today = run.options, run.today
    run.report.step(f"building a {options.size} practice (seed {options.seed})")
    summary = generate_practice(
        host,
        seed=options.seed,
        clients=run.size["clients"],
        start=today - timedelta(days=run.size["days"]),
        end=today - timedelta(days=1),
        money_flows=True,
    )
    run.state.update(generated=True, seed=options.seed, today=today.isoformat())
    run.save_state()
    run.report.step(
        "practice: " + ", ".join(f"{summary.total(k)} {k}" for k in sorted(summary.counts))
    )


def _start_plugin(stack: ExitStack, host: RefHost) -> _Plugin:
    """Start the host (which starts the add-on) and take the add-on's engine and Xero side
    through its public accessors; the host stops when the run ends."""
    from pm_xero_plugin import plugin

    host.start()
    stack.callback(host.stop)
    runtime = plugin.get_runtime()
    engine = plugin.get_engine()
    if runtime is None or engine is None:
        failures = "; ".join(str(f) for f in host.plugin_load_failures + host.hook_failures)
        raise DemoError(f"the Xero add-on did not start: {failures or 'see the log'}")
    return _Plugin(engine, runtime)


def _jobs_running() -> bool:
    """Whether the add-on's background jobs (contact sync, back-sync) are still enqueuing."""
    from pm_xero_plugin import plugin

    return not plugin.wait_for_jobs(0)


def _live_through(
    host: RefHost, state: dict[str, Any], data_dir: Path, today: date, seed: int, report: Reporter
) -> None:
    """Live through the days since the practice's last day, one day at a time, each recorded as
    lived once it is: a run killed on the way lives only the days still to come (and the day it
    was in again, with new ids: the generator keys each day's stream by the host's numbering)."""
    from hookspecs.refhost import simulate_days

    last_day = date.fromisoformat(state.get("today", today.isoformat()))
    if today <= last_day:
        return
    report.step(f"the practice lives through {last_day + timedelta(days=1)} … {today}")
    day = last_day + timedelta(days=1)
    while day <= today:
        simulate_days(host, day, day, seed=seed + 1, money_flows=True)
        state["today"] = day.isoformat()
        _save_state(data_dir, state)
        day += timedelta(days=1)


def _first_settings(
    host: RefHost,
    plugin: _Plugin,
    locations: Sequence[Mapping[str, Any]],
    tenants: dict[str, str],
    run: _Run,
) -> tuple[dict[str, Any], date]:
    """Save the settings without a start date yet (a re-run keeps the one it had), after
    checking the start date the run will use – a refused date (later than what already reached
    Xero) ends here, with nothing announced and nothing sent. Returns the settings and it."""
    settings = _settings(host, plugin.runtime, locations, tenants, run.state)
    start = run.options.start_date or (
        date.fromisoformat(run.state["start_date"])
        if run.state.get("start_date")
        else (run.today - timedelta(days=120)).replace(day=1)
    )
    refused = plugin.engine.validate_settings({**settings, "start_date": start.isoformat()})
    if refused:
        raise DemoError(f"start date {start} was refused: " + "; ".join(refused))
    settings["start_date"] = None if not run.state.get("start_date") else run.state["start_date"]
    _save_settings(host, settings)
    return settings, start


def _contact_sync(host: RefHost, run: _Run, waiter: _Waiter) -> None:
    """Match and send the practice's clients, and wait until they are in Xero."""
    run.report.step("contact sync")
    host.start_contact_sync(None)
    waiter.wait("contacts", kinds=("contact",))


def _back_sync(
    host: RefHost, run: _Run, waiter: _Waiter, settings: dict[str, Any], start: date
) -> None:
    """Set the start date and back-sync everything dated on or after it; wait for it."""
    _start_back_sync(host, run, settings, start)
    waiter.wait("back-sync")


def _start_back_sync(host: RefHost, run: _Run, settings: dict[str, Any], start: date) -> None:
    """Save the start date (remembered for a re-run) and start the back-sync from it."""
    run.report.step(f"start date {start}: back-syncing everything dated on or after it")
    settings["start_date"] = start.isoformat()
    _save_settings(host, settings)
    run.state["start_date"] = start.isoformat()
    run.save_state()
    host.backfill(None, None)


def _keep_working(host: RefHost, plugin: _Plugin, run: _Run, waiter: _Waiter) -> None:
    """Rounds of new records as a live practice makes them, each timed until it is in Xero."""
    options = run.options
    rounds = options.live_rounds if options.live_rounds is not None else run.size["live_rounds"]
    if not rounds:
        return
    run.report.step(f"the practice keeps working ({rounds} rounds of new records)")
    run.state["runs"] = int(run.state.get("runs", 0)) + 1
    run.save_state()
    live = _Live(
        host,
        plugin.engine,
        plugin.runtime,
        run.today,
        rounds,
        f"{options.seed}:{run.state['runs']}",
    )
    waiter.wait_live(live)
    run.result.live_latency_s = live.latencies
    run.result.live_due = live.tally().total
    waiter.wait("the rest", quiet_when_settled=True)


def _fill_result(
    run: _Run,
    host: RefHost,
    plugin: _Plugin,
    sandbox: Sandbox | None,
    locations: Sequence[Mapping[str, Any]],
    start: date,
) -> None:
    """What reached Xero per location and kind, the API calls and the dashboard's status."""
    result = run.result
    result.start_date = {loc["id"]: start.isoformat() for loc in locations}
    _fill_counts(plugin.engine, result, locations)
    result.failed_run = result.failed_run or any(
        n for per_kind in result.failed.values() for n in per_kind.values()
    )
    result.api_calls = (
        sandbox.api_calls() if sandbox is not None else plugin.runtime.worker.stats.api_calls
    )
    result.status = host.sync_status(None) or {}


# -- steps --------------------------------------------------------------------------------------


def _connect_all(
    host: RefHost,
    runtime: XeroRuntime,
    locations: Sequence[Mapping[str, Any]],
    report: Reporter,
    state: dict[str, Any],
    data_dir: Path,
) -> dict[str, str]:
    """Connect every location through the real authorisation-code flow (the sandbox consents at
    once and redirects with ``code`` and ``state``; we follow the redirect as a browser would)."""
    chosen: dict[str, str] = dict(state.get("tenants", {}))
    organisations: list[str] = list(state.get("organisations", []))
    known: dict[str, str] = dict(state.get("organisation_names", {}))
    with httpx.Client(timeout=10.0) as browser:
        for index, loc in enumerate(locations):
            key = loc["id"]
            if key in chosen and runtime.connection_ok(key):
                continue
            planned = (
                organisations[_TENANT_PLAN[index % 3] % len(organisations)]
                if organisations
                else None
            )
            try:
                connections = practice.authorize(runtime, key, browser, planned)
            except practice.NotARedirect as refused:
                raise DemoError(f"Connect to Xero for {loc['name']}: {refused}") from None
            if not organisations:
                organisations = [c.tenant_id for c in connections]
            wanted = organisations[_TENANT_PLAN[index % 3] % len(organisations)]
            if wanted not in {c.tenant_id for c in connections}:
                wanted = connections[0].tenant_id
            chosen[key] = wanted
            names = {c.tenant_id: c.tenant_name for c in connections}
            known.update(names)
            report.step(f"connected {loc['name']} → {names.get(wanted, wanted)}")
    state.update(tenants=chosen, organisations=organisations, organisation_names=known)
    _save_state(data_dir, state)
    return chosen


def _settings(
    host: RefHost,
    runtime: XeroRuntime,
    locations: Sequence[Mapping[str, Any]],
    tenants: dict[str, str],
    state: dict[str, Any],
) -> dict[str, Any]:
    codes = {t: practice.account_codes(runtime, t) for t in sorted(set(tenants.values()))}
    settings = practice.practice_settings(locations, tenants, codes, state.get("start_date"))
    practice.ensure_tracking_options(runtime, locations, tenants)
    return settings


def _save_settings(host: RefHost, settings: dict[str, Any]) -> None:
    errors = host.save_plugin_settings("xero", settings)
    if errors:
        raise DemoError("the settings were refused:\n  " + "\n  ".join(errors))


# -- waiting for Xero -------------------------------------------------------------------------


class _Waiter:
    """Waits for each phase with a bar of what reached Xero, and keeps what went wrong."""

    def __init__(
        self,
        engine: Engine,
        runtime: XeroRuntime,
        report: Reporter,
        names: Mapping[str, str],
        data_dir: Path,
        timeout: float,
        result: DemoResult,
        *,
        jobs_running: Callable[[], bool],
    ) -> None:
        self.engine, self.runtime, self.report = engine, runtime, report
        self.names, self.data_dir, self.timeout, self.result = names, data_dir, timeout, result
        self._busy = jobs_running
        """Whether background jobs are still enqueuing the phase's rows (not settled yet)."""

    def _explain(self, found: Tally) -> list[str]:
        see = shown_command("status", "--data-dir", str(self.data_dir))
        from pm_xero_plugin.dashboard.status import build as build_status

        return stalled_lines(found, build_status(self.engine, None), see)

    def _outcome(self, label: str, outcome: WaitOutcome) -> None:
        for line in outcome.why:
            self.report.line(line, label=f"{label} stopped:")
        self.result.problems.extend(f"{label}: {line}" for line in outcome.why)
        if outcome.timed_out or outcome.tally.failed_total:
            self.result.failed_run = True

    def wait(
        self, label: str, kinds: tuple[str, ...] | None = None, quiet_when_settled: bool = False
    ) -> None:
        """Wait until the phase's rows are in Xero, or cannot get there (then say why)."""
        self.engine.doorbell.ring()

        def look() -> Tally:
            return tally(ledger_counts(self.engine.ledger), kinds)

        if quiet_when_settled and not self._busy() and look().settled:
            return
        outcome = wait_until_settled(
            look,
            report=self.report,
            label=label,
            timeout=self.timeout,
            limiter=self.runtime.limiter,
            names=self.names,
            explain=self._explain,
            busy=self._busy,
        )
        self._outcome(label, outcome)

    def wait_live(self, live: _Live) -> None:
        """Follow the live rounds (``live`` makes each one) until their records are in Xero."""
        outcome = wait_until_settled(
            live.tally,
            report=self.report,
            label="live",
            timeout=self.timeout + ROUND_SECONDS * live.rounds,
            limiter=self.runtime.limiter,
            names=self.names,
            explain=self._explain,
            busy=live.busy,
            poll=0.05,
            on_poll=live.step,
        )
        self._outcome("live", outcome)


class _Live:
    """New records as a live practice makes them, and how long each took to reach Xero.

    A round's records are made together; each is timed from the moment its round began (so a
    record made late in the round is, if anything, timed as slower than it was) to the first
    look that finds it synced. Only records that reached Xero are timed; records the rules hold
    (a payment whose invoice is before the start date) or that were excluded (voided before they
    were ever sent) are not due and leave the count; failed ones are counted as failed.
    """

    def __init__(
        self,
        host: RefHost,
        engine: Engine,
        runtime: XeroRuntime,
        today: date,
        rounds: int,
        seed: str,
    ) -> None:
        self.host, self.engine, self.runtime, self.today = host, engine, runtime, today
        self.rounds = rounds
        self.rng = random.Random(f"demo-live:{seed}:{today.isoformat()}")
        self.made = 0
        self.round_began = 0.0
        self.round_rows: set[int] = set()
        self.pending: dict[int, float] = {}  # row id → when its round began
        self.rows: dict[int, tuple[str, str, str, str | None]] = {}  # tenant, kind, state, gate
        self.latencies: list[float] = []

    def busy(self) -> bool:
        return self.made < self.rounds

    def step(self) -> None:
        """Look at the live rows; make the next round once this one's records are in Xero (or
        cannot get there, or have taken ``ROUND_SECONDS``)."""
        self._look()
        if not self.busy():
            return
        round_open = self.round_rows & set(self.pending)
        moving = any(self.rows[r][2] in ("ready", "sending", "retrying") for r in round_open)
        if self.made and moving and time.monotonic() - self.round_began < ROUND_SECONDS:
            return
        self._make_round()

    def _make_round(self) -> None:
        from hookspecs.refhost import live_day

        ledger = self.engine.ledger
        before = ledger.max_row_id()
        self.round_began = time.monotonic()
        live_day(self.host, self.today, self.rng, per_day=1)
        self.engine.doorbell.ring()
        self.made += 1
        self.round_rows = set(ledger.row_ids_after(before))
        for row_id in self.round_rows:
            self.pending[row_id] = self.round_began
        self._look()

    def _look(self) -> None:
        ledger = self.engine.ledger
        now = time.monotonic()
        for row_id, began in list(self.pending.items()):
            row = ledger.get(row_id)
            if row is None:
                del self.pending[row_id]
                self.rows.pop(row_id, None)
                continue
            self.rows[row_id] = (row.tenant_id, row.kind, row.state, row.gate)
            if row.state == "synced":
                self.latencies.append(now - began)
                del self.pending[row_id]
            elif row.state in ("failed", "excluded", "rejected") or (
                row.state == "waiting" and row.gate in HELD_BY_RULES
            ):
                del self.pending[row_id]

    def tally(self) -> Tally:
        found = Tally()
        for tenant_id, kind, state, gate in self.rows.values():
            found.add(tenant_id, kind, state, gate, 1)
        return found


# -- the result --------------------------------------------------------------------------------


def _fill_counts(
    engine: Engine, result: DemoResult, locations: Sequence[Mapping[str, Any]]
) -> None:
    names = _COUNTED_AS
    for location in locations:
        for bucket in (result.eligible, result.synced, result.failed):
            bucket[location["id"]] = dict.fromkeys(KINDS_OUT, 0)
    for row in ledger_counts(engine.ledger):
        kind = names.get(row["kind"])
        loc = row.get("location_id")
        if kind is None or loc not in result.eligible:
            continue
        state, gate = row["state"], row.get("gate")
        if state in ("excluded", "rejected") or (state == "waiting" and gate in HELD_BY_RULES):
            continue
        result.eligible[loc][kind] += row["n"]
        if state == "synced":
            result.synced[loc][kind] += row["n"]
        elif state == "failed":
            result.failed[loc][kind] += row["n"]


def print_result(result: DemoResult, as_json: bool = False) -> int:
    """Print the end of the demo (the JSON summary, or the dashboard and what to do next) and
    return the exit status: 1 when the run failed (Xero refused records, or they did not arrive
    in time), else 0."""
    import click

    if as_json:
        click.echo(json.dumps(result.summary(), indent=2, sort_keys=True))
        return 1 if result.failed_run else 0
    from pm_xero_plugin.dashboard.render import print_status

    print_status(result.status, max_failures=3)
    p95 = result.live_p95()
    if result.live_due:
        left = result.live_due - result.live_reached
        click.echo(
            f"live records: {result.live_reached} of {result.live_due} reached Xero"
            + (f", p95 {p95:.2f} s after they were created" if p95 is not None else "")
            + (f"; {left} did not" if left else "")
        )
    for problem in result.problems:
        click.echo(f"stopped waiting – {problem}")
    click.echo(f"Accounting API calls: {result.api_calls}")
    data_dir = result.data_dir
    if result.temporary:
        kept = _kept_where(Path(data_dir))
        click.echo(kept[:1].upper() + kept[1:])  # not str.capitalize(): it lowercases the path
    else:
        click.echo(f"Data kept in {data_dir}: run the same command again to resume.")
    click.echo(f"See it all: {shown_command('status', '--data-dir', data_dir)}")
    click.echo(
        "Prove its books match Xero's (reads them back, lists what differs): "
        f"{shown_command('reconcile', '--data-dir', data_dir)}"
    )
    if result.sandbox_state:
        click.echo(
            f"Its Xero's books are kept in {result.sandbox_state}: "
            f"{shown_command('preview', '--data-dir', data_dir)} and "
            f"{shown_command('worker', '--data-dir', data_dir)} serve them again by themselves; "
            "to look at them in a browser or from a host: "
            f"{shown_command('sandbox', '--state', result.sandbox_state, '--port', '8765')}"
        )
    return 1 if result.failed_run else 0


def subscribe_webhooks(result: DemoResult, webhook_url: str) -> list[str]:
    """Subscribe the demo's Xero to the served pages' webhook endpoint, as the developer portal
    does (the sandbox runs Xero's intent-to-receive check against it first), and say how to play
    the bookkeeper who works on in Xero. One line when that Xero takes no subscription."""
    if result.webhook_key is None or not result.xero_url:
        return []
    try:
        answer = httpx.put(
            f"{result.xero_url}/sandbox/webhooks",
            json={"url": webhook_url, "key": result.webhook_key},
            timeout=15.0,
        )
        said = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        said = {}
    status = str(said.get("status") or "")
    if status != "OK":
        why = f" ({status})" if status else ""
        return [f"Xero's webhooks: this Xero took no subscription{why}; reconcile on demand."]
    tenant = next(iter(result.tenants.values()), "<tenant id>")
    return [
        f"Xero's webhooks: the sandbox sends them to {webhook_url} (signed; intent to receive OK).",
        "Play the bookkeeper in Xero, then see the Books page (a minute at most): e.g.",
        f"  curl -X POST {result.xero_url}/sandbox/xero/{tenant}/Contacts/<ContactID> "
        "-H 'Content-Type: application/json' -d '{\"EmailAddress\": \"new@example.com\"}'",
    ]
