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
nothing twice; with a later ``--today`` the practice first lives through the days in between.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx

__all__ = ["SIZES", "DemoError", "DemoOptions", "run_demo"]

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
KINDS_OUT = ("contacts", "invoices", "credit_notes", "payments")


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


@dataclass
class DemoOptions:
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


@dataclass
class DemoResult:
    start_date: dict[str, str] = field(default_factory=dict)
    tenants: dict[str, str] = field(default_factory=dict)
    eligible: dict[str, dict[str, int]] = field(default_factory=dict)
    synced: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: dict[str, dict[str, int]] = field(default_factory=dict)
    api_calls: int = 0
    live_latency_s: list[float] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    data_dir: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "start_date": self.start_date,
            "tenants": self.tenants,
            "eligible": self.eligible,
            "synced": self.synced,
            "failed": self.failed,
            "api_calls": self.api_calls,
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
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._base, self._t0 = moment, time.monotonic()

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._base += delta
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def today(self, tz: str | ZoneInfo) -> date:
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        return self.now().astimezone(zone).date()


# -- progress -----------------------------------------------------------------------------------


class _Reporter:
    """Progress bars and lines on stderr (rich), or nothing with ``quiet``/``--json``."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, quiet=quiet)

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]›[/] {text}")

    @contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=self.quiet,
        ) as progress:
            task = progress.add_task(label, total=max(total, 1))

            def update(done: int, new_total: int) -> None:
                progress.update(task, completed=done, total=max(new_total, 1))

            yield update


# -- the run ------------------------------------------------------------------------------------


def _find_spec(explicit: Path | None) -> Path | None:
    from pm_xero_plugin.sandbox import find_spec

    return Path(explicit) if explicit else find_spec()


def _state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "demo.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = data_dir / "demo.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the demo; raises :class:`DemoError` with a clear message when it cannot go on."""
    from hookspecs.refhost import RefHost, generate_practice, simulate_days
    from pm_xero_plugin import plugin

    if options.size not in SIZES:
        raise DemoError(f"--size must be one of {', '.join(SIZES)}")
    size = SIZES[options.size]
    report = _Reporter(options.quiet)
    data_dir = Path(options.data_dir or tempfile.mkdtemp(prefix="pm-xero-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    state = _state(data_dir)
    today = options.today or date.fromisoformat(state.get("today", date.today().isoformat()))
    if state.get("today") and today < date.fromisoformat(state["today"]):
        raise DemoError(
            f"--today {today} is before the practice's last day {state['today']}: "
            "time only moves forward"
        )
    result = DemoResult(data_dir=str(data_dir))

    with ExitStack() as stack:
        # Xero: the embedded sandbox on loopback, or the server the user named.
        sandbox = None
        if options.xero_url:
            url = options.xero_url.rstrip("/")
            report.step(f"Xero-compatible server at {url}")
        else:
            from pm_xero_plugin.sandbox import Sandbox, SandboxClock

            spec = _find_spec(options.spec)
            sandbox = Sandbox(
                orgs=2,
                spec_path=spec,
                clock=SandboxClock(time_scale=1.0),
                state_path=data_dir / "sandbox-state.json",
                seed=options.seed,
            )
            server = sandbox.serve(port=0)
            stack.callback(server.shutdown)
            url = server.url
            checked = "bodies checked against Xero's spec" if spec else "no spec: bodies unchecked"
            report.step(f"embedded Xero sandbox on {url} ({checked})")

        os.environ.update(
            {
                "PM_XERO_URL": url,
                "PM_XERO_CLIENT_ID": options.client_id,
                "PM_XERO_CLIENT_SECRET": options.client_secret,
                "PM_XERO_WORKER": "thread",
            }
        )
        opening = datetime.combine(today, dtime(8, 0), ZoneInfo("Australia/Sydney"))
        clock = RunningClock(opening.astimezone(UTC))
        host = RefHost(data_dir, clock=clock)
        stack.callback(host.close)

        if not state.get("generated"):
            report.step(f"building a {options.size} practice (seed {options.seed})")
            summary = generate_practice(
                host,
                seed=options.seed,
                clients=size["clients"],
                start=today - timedelta(days=size["days"]),
                end=today - timedelta(days=1),
            )
            state.update(generated=True, seed=options.seed, today=today.isoformat())
            _save_state(data_dir, state)
            report.step(
                "practice: " + ", ".join(f"{summary.total(k)} {k}" for k in sorted(summary.counts))
            )

        host.start()
        stack.callback(host.stop)
        runtime = plugin.get_runtime()
        engine = plugin.get_engine()
        if runtime is None or engine is None:
            failures = "; ".join(str(f) for f in host.plugin_load_failures + host.hook_failures)
            raise DemoError(f"the Xero add-on did not start: {failures or 'see the log'}")

        last_day = date.fromisoformat(state.get("today", today.isoformat()))
        if today > last_day:
            report.step(f"the practice lives through {last_day + timedelta(days=1)} … {today}")
            simulate_days(host, last_day + timedelta(days=1), today, seed=options.seed + 1)
            clock.set(opening.astimezone(UTC))
            state["today"] = today.isoformat()
            _save_state(data_dir, state)

        locations = host.locations()
        tenants = _connect_all(host, runtime, locations, report, state, data_dir)
        result.tenants = {loc["id"]: tenants[loc["id"]] for loc in locations}

        settings = _settings(host, runtime, locations, tenants, state)
        start = options.start_date or (
            date.fromisoformat(state["start_date"])
            if state.get("start_date")
            else (today - timedelta(days=120)).replace(day=1)
        )
        settings["start_date"] = None if not state.get("start_date") else state["start_date"]
        _save_settings(host, settings)

        report.step("contact sync")
        host.start_contact_sync(None)
        _wait(engine, runtime, report, "contacts", options.timeout, kinds=("contact",))

        report.step(f"start date {start}: back-syncing everything dated on or after it")
        settings["start_date"] = start.isoformat()
        _save_settings(host, settings)
        state["start_date"] = start.isoformat()
        _save_state(data_dir, state)
        host.backfill(None, None)
        _wait(engine, runtime, report, "back-sync", options.timeout)

        rounds = options.live_rounds if options.live_rounds is not None else size["live_rounds"]
        if rounds:
            report.step(f"the practice keeps working ({rounds} rounds of new records)")
            state["runs"] = int(state.get("runs", 0)) + 1
            _save_state(data_dir, state)
            seed = options.seed * 1000 + state["runs"]
            result.live_latency_s = _live(host, engine, runtime, today, rounds, seed)
            _wait(engine, runtime, report, "live", options.timeout)
        state["today"] = today.isoformat()
        _save_state(data_dir, state)

        result.start_date = {loc["id"]: start.isoformat() for loc in locations}
        _fill_counts(engine, result, locations)
        result.api_calls = (
            sandbox.api_calls() if sandbox is not None else runtime.worker.stats.api_calls
        )
        result.status = host.sync_status(None) or {}
    return result


# -- steps --------------------------------------------------------------------------------------


def _connect_all(
    host: Any,
    runtime: Any,
    locations: Sequence[Mapping[str, Any]],
    report: _Reporter,
    state: dict[str, Any],
    data_dir: Path,
) -> dict[str, str]:
    """Connect every location through the real authorisation-code flow (the sandbox consents at
    once and redirects with ``code`` and ``state``; we follow the redirect as a browser would)."""
    chosen: dict[str, str] = dict(state.get("tenants", {}))
    organisations: list[str] = list(state.get("organisations", []))
    with httpx.Client(timeout=10.0) as browser:
        for index, loc in enumerate(locations):
            key = loc["id"]
            if key in chosen and runtime.connection_ok(key):
                continue
            url = runtime.connect_url(key)
            if organisations:
                url += f"&tenant={organisations[_TENANT_PLAN[index % 3] % len(organisations)]}"
            answer = browser.get(url, follow_redirects=False)
            if answer.status_code not in (302, 303) or "location" not in answer.headers:
                raise DemoError(
                    f"Connect to Xero for {loc['name']}: the authorize page answered "
                    f"{answer.status_code}, not a redirect"
                )
            params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
            connections = runtime.complete_connect(params)
            if not organisations:
                organisations = [c.tenant_id for c in connections]
            wanted = organisations[_TENANT_PLAN[index % 3] % len(organisations)]
            if wanted not in {c.tenant_id for c in connections}:
                wanted = connections[0].tenant_id
            chosen[key] = wanted
            names = {c.tenant_id: c.tenant_name for c in connections}
            report.step(f"connected {loc['name']} → {names.get(wanted, wanted)}")
    state.update(tenants=chosen, organisations=organisations)
    _save_state(data_dir, state)
    return chosen


def _pick(accounts: list[dict[str, Any]], *words: str, types: tuple[str, ...] = ()) -> str | None:
    active = [a for a in accounts if a.get("Status") == "ACTIVE" and a.get("Code")]
    for word in words:
        for account in active:
            if word.lower() in str(account.get("Name", "")).lower() and (
                not types or account.get("Type") in types
            ):
                return str(account["Code"])
    if types:
        for account in active:
            if account.get("Type") in types:
                return str(account["Code"])
    return None


def _codes_for(runtime: Any, tenant_id: str) -> dict[str, Any]:
    """Account codes chosen from the organisation's own chart, the way an admin would."""
    connection = runtime.connection_for_any(tenant_id)
    accounts = runtime.client.accounts(tenant_id, connection)
    rates = runtime.client.tax_rates(tenant_id, connection)
    revenue = ("REVENUE", "SALES", "OTHERINCOME")
    default = _pick(accounts, "Sales", types=revenue) or "200"
    income = {"default": default}
    for category, word in (
        ("boarding", "Boarding"),
        ("daycare", "Daycare"),
        ("grooming", "Grooming"),
        ("retail", "Retail"),
        ("extras", "Extras"),
    ):
        income[category] = _pick(accounts, word, types=revenue) or default
    bank = _pick(accounts, "Business Bank", types=("BANK",)) or "090"
    clearing = _pick(accounts, "Clearing", types=("BANK",)) or bank
    output = {str(r.get("TaxType")): r for r in rates if str(r.get("Status", "ACTIVE")) == "ACTIVE"}
    tax_types: dict[str, str] = {}
    for tax_type, rate in output.items():
        if "OUTPUT" not in tax_type or rate.get("CanApplyToRevenue") is False:
            continue
        percent = str(rate.get("EffectiveRate") or rate.get("DisplayTaxRate") or "0")
        key = format(float(percent), "g")
        tax_types.setdefault(key, tax_type)
    return {
        "income": income,
        "credit_notes": default,
        "payments": {
            "cash": bank,
            "card": clearing,
            "eftpos": clearing,
            "bank_transfer": bank,
            "stripe": clearing,
            "voucher": bank,
        },
        "overpayments": _pick(accounts, "Accounts Receivable") or "610",
        "rounding": _pick(accounts, "Rounding") or "860",
        "tax_types": tax_types,
    }


def _settings(
    host: Any,
    runtime: Any,
    locations: Sequence[Mapping[str, Any]],
    tenants: dict[str, str],
    state: dict[str, Any],
) -> dict[str, Any]:
    shared = {t for t in tenants.values() if list(tenants.values()).count(t) > 1}
    settings: dict[str, Any] = {
        "enabled": True,
        "prefixes": {"client": "C", "invoice": "INV", "credit_note": "CN", "payment": "PAY"},
        "organisation_mode": "per_location",
        "locations": {
            loc["id"]: {
                "tenant_id": tenants[loc["id"]],
                "connection_enabled": True,
                "tracking_option": loc["name"] if tenants[loc["id"]] in shared else None,
            }
            for loc in locations
        },
        "tracking_category": "Location" if shared else None,
        "account_codes": {t: _codes_for(runtime, t) for t in sorted(set(tenants.values()))},
        "start_date": state.get("start_date"),
        "rounding_tolerance": "0.02",
    }
    for tenant_id in shared:
        names = [loc["name"] for loc in locations if tenants[loc["id"]] == tenant_id]
        runtime.ensure_tracking_options(tenant_id, "Location", names)
    return settings


def _save_settings(host: Any, settings: dict[str, Any]) -> None:
    errors = host.save_plugin_settings("xero", settings)
    if errors:
        raise DemoError("the settings were refused:\n  " + "\n  ".join(errors))


def _open_rows(engine: Any, kinds: tuple[str, ...] | None) -> tuple[int, int]:
    """(settled, total) over the ledger rows of ``kinds`` that the rules will send."""
    settled = total = 0
    for row in engine.ledger.counts():
        if kinds and row["kind"] not in kinds:
            continue
        state, gate = row["state"], row.get("gate")
        if state in ("excluded", "rejected"):
            continue
        if state == "waiting" and gate in _HELD_GATES:
            continue
        total += row["n"]
        if state in ("synced", "failed"):
            settled += row["n"]
    return settled, total


_HELD_GATES = {
    "before_start_date",
    "invoice_before_start",
    "lock_date",
    "start_date_future",
    "start_date_unset",
}
"""Gates that hold a record until an admin acts or a date passes: not counted as due now."""


def _wait(
    engine: Any,
    runtime: Any,
    report: _Reporter,
    label: str,
    timeout: float,
    kinds: tuple[str, ...] | None = None,
) -> None:
    from pm_xero_plugin import plugin

    # Contact sync, back-sync and catch-up run as the add-on's background jobs: first let them
    # record everything, then wait for the worker to settle it.
    if not plugin.wait_for_jobs(timeout):
        raise DemoError(f"{label}: the add-on's background jobs did not finish in {timeout:.0f} s")
    runtime.worker.notify()
    deadline = time.monotonic() + timeout
    settled, total = _open_rows(engine, kinds)
    with report.bar(label, total) as update:
        while True:
            settled, total = _open_rows(engine, kinds)
            update(settled, total)
            if settled >= total:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{label}: {total - settled} records still not settled after {timeout:.0f} s"
                    " – see `pm-xero status`"
                )
            time.sleep(0.2)


def _live(host: Any, engine: Any, runtime: Any, today: date, rounds: int, seed: int) -> list[float]:
    """New records as a live practice makes them; returns created → synced latencies."""
    from hookspecs.refhost import live_day

    rng = random.Random(seed * 100_000 + today.toordinal())
    latencies: list[float] = []
    for _ in range(rounds):
        before = engine.ledger.max_row_id()
        created_at = time.monotonic()
        live_day(host, today, rng, per_day=1)
        runtime.worker.notify()
        pending = set(engine.ledger.row_ids_after(before))
        while pending and time.monotonic() - created_at < 30:
            done = engine.ledger.settled_among(pending)
            latencies.extend(time.monotonic() - created_at for _ in done)
            pending -= done
            # Rows the rules hold (a payment whose invoice is before the start date) are not
            # due: they are not waited for, and not counted as latency.
            pending = {r for r in pending if not _held(engine.ledger.get(r))}
            time.sleep(0.02)
    return latencies


def _held(row: Any) -> bool:
    return row is None or (row.state == "waiting" and row.gate in _HELD_GATES)


def _fill_counts(engine: Any, result: DemoResult, locations: Sequence[Mapping[str, Any]]) -> None:
    names = {"contact": "contacts", "invoice": "invoices", "credit_note": "credit_notes"}
    names.update(payment="payments", overpayment="payments")
    for loc in locations:
        for bucket in (result.eligible, result.synced, result.failed):
            bucket[loc["id"]] = dict.fromkeys(KINDS_OUT, 0)
    for row in engine.ledger.counts():
        kind = names.get(row["kind"])
        loc = row.get("location_id")
        if kind is None or loc not in result.eligible:
            continue
        state, gate = row["state"], row.get("gate")
        if state in ("excluded", "rejected") or (state == "waiting" and gate in _HELD_GATES):
            continue
        result.eligible[loc][kind] += row["n"]
        if state == "synced":
            result.synced[loc][kind] += row["n"]
        elif state == "failed":
            result.failed[loc][kind] += row["n"]
