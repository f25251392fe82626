"""The fleet's world: many practices on one served sandbox, worker processes, and the checks.

What the fleet's end-to-end test and bench share:

- a plan (:func:`plan_fleet`): practices of one or two locations, each location mapped to an
  organisation of its own practice (two locations may share one, told apart by tracking), a few
  practices busy enough that their organisation meets Xero's 60 calls a minute;
- the practices' history (:func:`populate`), written through the reference host's own
  generator, and each practice set up as its admin would (:func:`set_up_practice`: "Connect to
  Xero" through the sandbox's auto-consent authorize page, account codes from the
  organisation's chart, settings, contact sync, start date, back-sync);
- ``pm-xero sandbox`` as a process on loopback (:func:`served_sandbox`) and ``pm-xero worker``
  processes that can be SIGKILLed and started again (:class:`Workers`);
- the checks, made *independently* of the ledger – from the sandbox's books read back over
  HTTP and the host's own records (:func:`check_fleet_books`), and from the sandbox's own peak
  counters (:func:`check_within_limits`).

Every practice sends its documents with prefixes carrying its tag (``P007INV12``), so a record
of one practice found in another's organisation names the practice it came from; the tag is
taken off again before the books are compared with the host's records by
:func:`support.e2e_expect.check_books`, the same check the single-practice end-to-end tests make.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from hookspecs.refhost import RefHost, generate_practice
from pm_xero_plugin.demo import practice
from support.sandbox_helpers import pm_xero_command, start_sandbox_cli

HISTORY_FROM = date(2024, 12, 1)
HISTORY_TO = date(2025, 3, 2)
START_DATE = date(2025, 1, 1)
"""Documents dated from here are eligible (the back-sync's start); those before never reach Xero."""

XERO_CONCURRENT = 5
XERO_PER_MINUTE = 60
"""Xero's real per-organisation limits, which the served sandbox enforces and counts."""

_TAGGED = re.compile(r"P(\d{3})(?=(?:C|INV|CN|PAY)\d)")
"""A practice's tag at the start of a number it sent: ``P007`` of ``P007INV12``."""


@dataclass(frozen=True)
class PracticePlan:
    """One practice of the fleet: its id, its generator seed and size, its locations' layout."""

    practice_id: str
    number: int
    seed: int
    locations: int
    shared: bool
    """Two locations in one organisation (tracking tells them apart)."""
    clients: int

    @property
    def tag(self) -> str:
        """What the practice's document numbers start with (``P007``)."""
        return f"P{self.number:03d}"

    @property
    def organisations(self) -> int:
        """How many organisations its locations are connected to."""
        return 1 if self.locations == 1 or self.shared else 2

    def prefixes(self) -> dict[str, str]:
        """The add-on's number prefixes for this practice: the tag, then the usual ones."""
        return {kind: self.tag + prefix for kind, prefix in practice.PREFIXES.items()}


BUSY_CLIENTS = 150
"""Customers of a busy practice: some 75 calls in batches of 5, more than Xero's minute allows."""


def plan_fleet(
    practices: int, *, busy: int = 0, busy_clients: int = BUSY_CLIENTS
) -> list[PracticePlan]:
    """``practices`` practices: of every ten, six with one location, three with two locations
    in two organisations and one with two locations sharing one; the first ``busy`` have
    ``busy_clients`` customers at one location (an organisation that meets Xero's minute), the
    rest 3 to 6 customers a location."""
    if practices > 999:
        raise ValueError("practice tags have three digits")
    plans = []
    for n in range(1, practices + 1):
        shape = n % 10
        locations = 1 if shape < 6 or n <= busy else 2
        plans.append(
            PracticePlan(
                practice_id=f"practice-{n:03d}",
                number=n,
                seed=1000 + n,
                locations=locations,
                shared=shape == 9 and locations == 2,
                clients=busy_clients if n <= busy else (3 + n % 4) * locations,
            )
        )
    return plans


def organisations_needed(plans: Sequence[PracticePlan]) -> int:
    """How many organisations the sandbox must hold for ``plans``."""
    return sum(p.organisations for p in plans)


def populate(host: RefHost, plan: PracticePlan) -> None:
    """Write the practice's history (customers, invoices, credit notes, payments) with the
    reference host's generator, before the add-on hears of any of it."""
    generate_practice(
        host,
        seed=plan.seed,
        locations=plan.locations,
        clients=plan.clients,
        start=HISTORY_FROM,
        end=HISTORY_TO,
    )


def assign_organisations(host: RefHost, plan: PracticePlan, free: list[str]) -> dict[str, str]:
    """Location id -> tenant id for the practice, taking its organisations off ``free``."""
    locations = [loc["id"] for loc in host.locations()]
    orgs = [free.pop(0) for _ in range(plan.organisations)]
    return {loc: orgs[min(i, len(orgs) - 1)] for i, loc in enumerate(locations)}


def set_up_practice(
    host: RefHost, runtime: Any, plan: PracticePlan, tenants: Mapping[str, str]
) -> None:
    """The practice's admin: "Connect to Xero" for each location (the sandbox consents to the
    organisation given), settings with account codes from each organisation's chart and the
    practice's prefixes, contact sync, then the start date and the back-sync."""
    with httpx.Client(timeout=30.0) as browser:
        for location_id, tenant in tenants.items():
            connections = practice.authorize(runtime, location_id, browser, tenant)
            assert tenant in {c.tenant_id for c in connections}, (plan.practice_id, location_id)
    locations = list(host.locations())
    codes = {t: practice.account_codes(runtime, t) for t in sorted(set(tenants.values()))}
    practice.ensure_tracking_options(runtime, locations, tenants)
    settings = practice.practice_settings(locations, tenants, codes, None)
    settings["prefixes"] = plan.prefixes()
    _save(host, settings)
    host.start_contact_sync(None)
    _save(host, dict(settings, start_date=START_DATE.isoformat()))
    host.backfill(None, None)


def _save(host: RefHost, settings: Mapping[str, Any]) -> None:
    errors = host.save_plugin_settings("xero", settings)
    assert errors == [], errors


@dataclass
class Fleet:
    """The many-practice reference host running the add-on, every practice set up: its plans,
    each practice's host and location -> organisation map."""

    plans: list[PracticePlan]
    host: Any
    """The :class:`~hookspecs.refhost.fleet.RefFleet`."""
    hosts: dict[str, RefHost]
    tenants: dict[str, dict[str, str]]

    def ledger(self, practice_id: str) -> Any:
        """The practice's ledger, through the add-on running in this process."""
        from pm_xero_plugin import plugin

        engine = plugin.get_engine(practice_id)
        assert engine is not None, self.hosts[practice_id].hook_failures
        return engine.ledger

    def open_rows(self) -> int:
        """Rows of every practice still on their way to Xero (see :func:`unsettled`)."""
        return sum(unsettled(self.ledger(p.practice_id)) for p in self.plans)

    def synced(self) -> dict[str, int]:
        """Rows synced, by kind, over every practice."""
        out: dict[str, int] = {}
        for plan in self.plans:
            for row in self.ledger(plan.practice_id).counts():
                if row["state"] == "synced":
                    out[row["kind"]] = out.get(row["kind"], 0) + int(row["n"])
        return out

    def held(self) -> dict[str, int]:
        """Rows waiting, by gate, other than a payment of an invoice dated before the start date
        (which never goes): after a drain, anything here was held back by mistake (a gate such
        as ``connection`` that a worker closed)."""
        out: dict[str, int] = {}
        for plan in self.plans:
            for row in self.ledger(plan.practice_id).counts():
                if row["state"] == "waiting" and row["gate"] != "invoice_before_start":
                    out[row["gate"]] = out.get(row["gate"], 0) + int(row["n"])
        return out

    def owners(self) -> dict[str, str]:
        """Organisation -> the tag of the practice it belongs to."""
        return {t: p.tag for p in self.plans for t in self.tenants[p.practice_id].values()}

    def organisations_of(self, plans: Sequence[PracticePlan]) -> set[str]:
        """The organisations of ``plans``."""
        return {t for p in plans for t in self.tenants[p.practice_id].values()}

    def check_books(self, books: Mapping[str, Any]) -> None:
        """No organisation holds another practice's records, and each practice's books are
        exactly what its host says they must be (:func:`check_practice_books`)."""
        assert foreign_records(books, self.owners()) == {}, "a record in another practice's books"
        for plan in self.plans:
            pid = plan.practice_id
            try:
                check_practice_books(self.hosts[pid], plan, self.tenants[pid], books)
            except AssertionError as exc:
                rows = [r for r in self.ledger(pid).counts() if r["state"] != "synced"]
                raise AssertionError(f"{exc}; its ledger's rows not synced: {rows}") from exc


@contextmanager
def running_fleet(
    root: Path, plans: list[PracticePlan], organisations: Sequence[str], *, threads: int = 8
) -> Iterator[Fleet]:
    """A :class:`~hookspecs.refhost.fleet.RefFleet` at ``root`` with every practice of
    ``plans``: its history written, the fleet started (``pm_startup`` once), then each
    practice's admin connecting and starting the sync (:func:`set_up_practice`), ``threads``
    practices at a time – each step waits on the sandbox's answers, as a browser would.
    The Xero app and the ledger come from the environment (``PM_XERO_URL``,
    ``PM_XERO_LEDGER``…); stopped at the end."""
    from hookspecs.refhost.fleet import RefFleet
    from pm_xero_plugin import plugin

    fleet = RefFleet(root)
    hosts: dict[str, RefHost] = {}
    for plan in plans:
        hosts[plan.practice_id] = fleet.add_practice(plan.practice_id)
        populate(hosts[plan.practice_id], plan)
    free = list(organisations)
    tenants = {p.practice_id: assign_organisations(hosts[p.practice_id], p, free) for p in plans}
    fleet.start()
    try:

        def one(plan: PracticePlan) -> None:
            runtime = plugin.get_runtime(plan.practice_id)
            assert runtime is not None, hosts[plan.practice_id].hook_failures
            set_up_practice(hosts[plan.practice_id], runtime, plan, tenants[plan.practice_id])

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, plans))
        yield Fleet(plans, fleet, hosts, tenants)
    finally:
        fleet.stop()


# -- the sandbox as a process ---------------------------------------------------------------------


@dataclass
class ServedSandbox:
    """``pm-xero sandbox`` running on loopback: its URL and organisations (in creation order)."""

    url: str
    tenants: list[str]
    process: subprocess.Popen[str]

    def get(self, path: str, *, timeout: float = 60.0) -> Any:
        """``GET path`` on the sandbox's inspection API, as JSON."""
        answer = httpx.get(self.url + path, timeout=timeout)
        answer.raise_for_status()
        return answer.json()

    def books(self) -> dict[str, Any]:
        """Every organisation's books (``/sandbox/state``)."""
        found: dict[str, Any] = self.get("/sandbox/state")
        return found

    def peaks(self) -> dict[str, dict[str, int]]:
        """The limits' peak counters per organisation (``/sandbox/limits/peaks``)."""
        found: dict[str, dict[str, int]] = self.get("/sandbox/limits/peaks")
        return found

    def app_environment(self) -> dict[str, str]:
        """What a host or ``pm-xero worker`` needs to reach this sandbox as its Xero."""
        from pm_xero_plugin.sandbox.host_settings import environment

        return environment(self.url, "sandbox-client", "sandbox-secret")


@contextmanager
def served_sandbox(orgs: int, spec_path: str, *flags: str) -> Iterator[ServedSandbox]:
    """``pm-xero sandbox --port 0 --orgs ORGS FLAGS`` at Xero's real limits and its own clock
    (one sandbox second per second, unless ``--time-scale`` is among ``flags``); stopped with
    SIGTERM at the end."""
    proc, url, banner = start_sandbox_cli(
        "--orgs", str(orgs), "--seed", "14", *flags, spec_path=spec_path
    )
    try:
        tenants = re.findall(r"^\s+tenant:\s+(\S+)", banner, flags=re.MULTILINE)
        assert len(tenants) == orgs, banner[-2000:]
        yield ServedSandbox(url, tenants, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


# -- worker processes ----------------------------------------------------------------------------


@dataclass
class Workers:
    """``pm-xero worker`` processes on one data directory (their output in ``logs``): started,
    SIGKILLed and started again by index, stopped with SIGTERM."""

    args: list[str]
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    """The exit statuses of the processes SIGKILLed (``-9`` each)."""
    runs: int = 0

    def start(self, n: int) -> None:
        """Start ``n`` more workers."""
        for _ in range(n):
            self.processes.append(self._spawn())

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"worker-{self.runs}.log").open("wb")
        try:
            return subprocess.Popen(
                [*pm_xero_command(), "worker", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        finally:
            out.close()  # the child holds its own copy

    def kill_and_restart(self, index: int) -> None:
        """SIGKILL worker ``index`` (its claims stay taken until their lease ends) and start a
        new one in its place."""
        proc = self.processes[index]
        proc.send_signal(signal.SIGKILL)
        self.killed.append(proc.wait(timeout=30))
        self.processes[index] = self._spawn()

    def alive(self) -> list[bool]:
        """Which workers are still running."""
        return [p.poll() is None for p in self.processes]

    def stop(self) -> list[int]:
        """SIGTERM every worker (each finishes or releases what it holds) and their exit
        statuses; one that will not stop in 60 s is killed."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.processes:
            try:
                codes.append(proc.wait(timeout=60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(timeout=10))
        return codes

    def output(self) -> str:
        """Every worker's log, one after another (for an assertion's message)."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob("worker-*.log"))
        )


def worker_environment(
    sandbox: ServedSandbox, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a worker process: this one's, without a developer's ``PM_XERO_*``,
    with the sandbox as Xero and ``extra`` (the ledger's URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PM_XERO_")}
    env.update(sandbox.app_environment())
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def unsettled(ledger: Any) -> int:
    """Rows of one practice's ledger on their way to Xero: ready, sending or retrying, or
    waiting for another row (or the contact sync) to get there first – not those held back
    for good, such as a payment of an invoice dated before the start date."""
    from pm_xero_plugin.ledger.states import DEPENDENCY_GATES, Gate

    passing = (*DEPENDENCY_GATES, Gate.CONTACT_SYNC)
    return sum(
        int(r["n"])
        for r in ledger.counts()
        if r["state"] in ("ready", "sending", "retrying")
        or (r["state"] == "waiting" and r["gate"] in passing)
    )


def wait_until(done: Callable[[], bool], seconds: float, *, every: float = 1.0) -> bool:
    """Poll ``done`` until it is true or ``seconds`` have passed; whether it became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(every)
    return done()


# -- the checks ------------------------------------------------------------------------------------


@dataclass
class _Books:
    """What :func:`support.e2e_expect.check_books` reads the sandbox through: its books."""

    state: dict[str, Any]

    def inspect(self) -> dict[str, Any]:
        return self.state


@dataclass
class _PracticeView:
    """The parts of an end-to-end ``World`` that :mod:`support.e2e_expect` reads: one practice's
    host, its location -> organisation map and the sandbox's books (untagged)."""

    host: RefHost
    tenants: dict[str, str]
    sandbox: _Books

    @property
    def locations(self) -> list[Mapping[str, Any]]:
        return list(self.host.locations())


def tags_in(value: Any) -> set[str]:
    """Every practice tag found at the start of a number anywhere in ``value`` (a book)."""
    if isinstance(value, str):
        return {f"P{m}" for m in _TAGGED.findall(value)}
    if isinstance(value, dict):
        return set().union(*(tags_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(tags_in(v) for v in value)) if value else set()
    return set()


def untagged(value: Any, tag: str) -> Any:
    """``value`` with ``tag`` taken off every number that starts with it."""
    if isinstance(value, str):
        return re.sub(rf"{tag}(?=(?:C|INV|CN|PAY)\d)", "", value)
    if isinstance(value, dict):
        return {k: untagged(v, tag) for k, v in value.items()}
    if isinstance(value, list):
        return [untagged(v, tag) for v in value]
    return value


def foreign_records(books: Mapping[str, Any], owner_tag: Mapping[str, str]) -> dict[str, set[str]]:
    """Organisation -> the tags of other practices found in its books (empty: none anywhere).

    ``owner_tag``: tenant id -> the tag of the practice it belongs to; an organisation no
    practice owns must hold nobody's records."""
    found = {}
    for tenant, book in books.items():
        others = tags_in(book) - {owner_tag.get(tenant, "")}
        if others:
            found[tenant] = others
    return found


def check_practice_books(
    host: RefHost, plan: PracticePlan, tenants: Mapping[str, str], books: Mapping[str, Any]
) -> None:
    """Every eligible record of the practice exactly once in its own organisation(s), with the
    host's totals, nothing of its own before the start date and nothing extra
    (:func:`support.e2e_expect.check_books` on the books with the practice's tag taken off)."""
    from support.e2e_expect import check_books, expected

    own = {t: untagged(books[t], plan.tag) for t in set(tenants.values())}
    view = _PracticeView(host, dict(tenants), _Books(own))
    exp = expected(view, START_DATE)  # type: ignore[arg-type]
    try:
        check_books(view, exp)  # type: ignore[arg-type]
    except AssertionError as exc:
        raise AssertionError(f"{plan.practice_id}: {exc}; {_missing(exp, own)}") from exc


def _missing(exp: Any, books: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per organisation, the contacts and invoices expected and not found (for a message)."""
    out = {}
    for tenant, book in books.items():
        contacts = {c.get("ContactNumber") for c in book["contacts"]}
        invoices = {i.get("InvoiceNumber") for i in book["invoices"]}
        out[tenant] = {
            "contacts": sorted(exp.contacts.get(tenant, set()) - contacts),
            "invoices": sorted(set(exp.invoices.get(tenant, {})) - invoices),
        }
    return out


def check_within_limits(peaks: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """No organisation ever above Xero's 5 calls in flight or 60 in any minute, by the
    sandbox's own counters; the highest of each, for the report."""
    over = {
        t: dict(p)
        for t, p in peaks.items()
        if p["peak_in_flight"] > XERO_CONCURRENT or p["peak_per_minute"] > XERO_PER_MINUTE
    }
    assert over == {}, f"{len(over)} organisations above Xero's limits: {over}"
    return {
        "peak_in_flight": max((p["peak_in_flight"] for p in peaks.values()), default=0),
        "peak_per_minute": max((p["peak_per_minute"] for p in peaks.values()), default=0),
        "calls": sum(p["calls"] for p in peaks.values()),
    }
